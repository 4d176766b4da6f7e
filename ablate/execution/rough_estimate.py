"""The rough estimate `ablate recipes` shows before anything is measured: a static model of a run's cost.

Each run's steps at its plugins' step weight (:func:`relative_step_cost`), each step
the model's training FLOPs for a batch (counted on the meta device: nothing is
computed), at a typical speed of the device type (:func:`rough_rate`), not this
machine's. It leaves out the evaluation and the probes; the scheduler falls back on
the same step weights where the calibration (:mod:`ablate.execution.calibration`) measured nothing.
"""

from __future__ import annotations

import functools

import torch
from torch.utils.flop_counter import FlopCounterMode

from ablate.core.device import resolve_device
from ablate.core.registry import PluginRegistry
from ablate.study.expansion import Run
from ablate.study.run_sizes import run_steps
from ablate.study.settings import Settings
from ablate.train.models import build_model

ROUGH = "(rough)"                # marks an estimate of the static model, nothing measured
# Rough float32 training speeds (FLOP/s) for the estimate shown before anything is measured: a CPU thread
# trains the CIFAR ResNet18 at about 1e10 (2 threads of a 2-core machine measured 1e10 to 5e10); GPUs vary
# by tenfold between generations, these are mid-range ones.
ROUGH_FLOPS_PER_CPU_THREAD = 1e10
ROUGH_FLOPS = {"cuda": 1e13, "mps": 2e12}


def relative_step_cost(run: Run, registry: PluginRegistry) -> float:
    """A training step of ``run`` in plain steps, where nothing was measured: 1 plus each plugin's
    :meth:`ablate.Plugin.extra_step_cost` (a PGD-10 step counts 11). The evaluation is not counted."""
    return 1.0 + sum(registry.get(name, f"run {run.name}").cls.extra_step_cost(values)
                     for name, values in run.plugins)


def rough_seconds(runs: list[Run], registry: PluginRegistry) -> float | None:
    """Seconds the runs' training steps take by a static model, nothing measured (what a listing shows before
    ``--estimate``): steps times the plugins' step weight (:func:`relative_step_cost`) times a batch's training
    FLOPs, at :func:`rough_rate`. None when a run's data size or its model's FLOPs are unknown."""
    total = 0.0
    for run in runs:
        s = run.settings
        steps, flops = run_steps(run, registry), training_flops(s.model, s.width, registry)
        if steps is None or flops is None:
            return None
        total += steps * relative_step_cost(run, registry) * s.batch_size * flops / rough_rate(s.device)
    return total


@functools.cache
def training_flops(model: str, width: float, registry: PluginRegistry) -> float | None:
    """FLOPs of one training image (forward and backward) through ``model`` at ``width``, on an image of CIFAR's
    shape; counted on the meta device, so nothing is computed. None for a model the meta device cannot run."""
    settings = Settings()
    settings.update({"model": model, "width": width}, "rough estimate")
    try:
        with torch.device("meta"):
            network, image = build_model(settings, 10, registry=registry), torch.zeros(1, 3, 32, 32)
        with FlopCounterMode(display=False) as counter:
            network(image).sum().backward()
    except (RuntimeError, NotImplementedError):
        return None
    return float(counter.get_total_flops())


def rough_rate(device: str) -> float:
    """A typical float32 training speed (FLOP/s) of ``device``'s type, not a measurement of this machine: a CPU
    at :data:`ROUGH_FLOPS_PER_CPU_THREAD` per thread torch uses."""
    kind = resolve_device(device).type
    return ROUGH_FLOPS.get(kind, ROUGH_FLOPS_PER_CPU_THREAD * torch.get_num_threads())


def rough_duration(seconds: float) -> str:
    """``1.3 h``, ``52 min``, ``6 s``: a rough time in its largest unit, without a precision it does not have."""
    value, unit = next((seconds / size, unit) for size, unit in ((3600, "h"), (60, "min"), (1, "s"))
                       if seconds >= size or unit == "s")
    if unit == "s":
        return f"{max(value, 1):.0f} s"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}" if value < 9.95 else f"{value:.0f} {unit}"
