"""How much memory a run takes at its peak, and the budget the workers on one device share.

``--jobs N`` puts several runs on one device; a run that would not fit next to the
others must wait rather than crash with out-of-memory. :func:`run_memory` estimates a
run's peak before it starts, conservatively, from what it will hold:

* the model: its parameters, their gradients and two optimizer moments (Adam's, the
  most any built-in optimizer keeps), float32: 4 x the parameters' bytes;
* activations: every module's output for one image (a forward pass of two images on the
  CPU, in float32 even where the run computes in bf16), times the batch size, times
  :data:`ACTIVATION_FACTOR` (the backward pass's gradients of them, cuDNN workspaces);
  at least the evaluation's largest layer at ``eval_batch_size``, twice (input and output);
* the data kept on the device (the whole training and test split as loaded, uint8
  images); on the CPU twice (the process's cached full data set and the run's copy);
* the probes' cached copies: for each probe and split, its distinct variant images in
  float32, all of them (conservative: a probe keeps them only within its share of the
  memory free when it is built, else makes them again each pass);
* :data:`PROCESS_RESERVE` for the process itself (a CUDA context and the caching
  allocator's slack, or torch's own memory in a CPU process).

:class:`SharedBudget` is the device's budget in bytes (free device memory when the
first worker asks, times :data:`SAFETY`; available RAM on the CPU; or a fixed size),
taken by each run before it starts and given back when it ends. Runs are admitted in
the order they asked (a large run is not overtaken forever by small ones); a run
larger than the whole budget waits until the device is idle and then runs alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Callable

import torch

from ablate.core.device import free_memory
from ablate.core.modes import in_mode
from ablate.core.registry import PluginRegistry
from ablate.core.structs import ModelParts
from ablate.data.loading import load_full
from ablate.spectral.prober import Prober
from ablate.spectral.probes import plan_probes
from ablate.study.expansion import Run
from ablate.train.models import build_model

SAFETY = 0.9                    # of the free memory at start: other processes and fragmentation take the rest
ACTIVATION_FACTOR = 2           # activations kept for backward, and their gradients while it runs
PROCESS_RESERVE = 512 * 2**20   # a CUDA context + allocator slack, or torch in a CPU process
GiB = 2**30


@dataclass
class MemoryNeed:
    """A run's estimated peak memory on its device, by part, in bytes."""

    model: int
    activations: int
    data: int
    probes: int
    reserve: int = PROCESS_RESERVE

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def describe(self) -> str:
        parts = ", ".join(f"{f.name} {gib(getattr(self, f.name))}" for f in fields(self))
        return f"{gib(self.total)} ({parts})"


def gib(size: float) -> str:
    return f"{size / GiB:.2f} GiB"


def run_memory(run: Run, registry: PluginRegistry, device: str) -> MemoryNeed:
    """``run``'s estimated peak memory when it trains on ``device`` (see the module's docstring).

    Computed on the CPU without touching the device: the model is built as the trainer builds it
    (its plugins' parts and changes included) and run once on two images."""
    s = run.settings
    full = load_full(s.dataset, s, registry)
    train = s.train_size or len(full.y_train)
    test = s.test_size or len(full.y_test)
    hook = registry.run_manager(run.plugins).hook
    parts = ModelParts()
    hook.ablate_model_parts(parts=parts, settings=s)
    model = build_model(s, full.num_classes, parts, in_channels=full.x_train.shape[1], registry=registry)
    hook.ablate_modify_model(model=model, settings=s)
    model_bytes = 4 * sum(p.numel() * p.element_size() for p in model.parameters())
    per_image, largest = activation_bytes(model, tuple(full.x_train.shape[1:]))
    activations = max(ACTIVATION_FACTOR * s.batch_size * per_image, 2 * s.eval_batch_size * largest)
    image_bytes = full.x_train[0].numel() * full.x_train.element_size()
    data = (train + test) * (image_bytes + full.y_train.element_size())
    if torch.device(device).type == "cpu":
        data *= 2
    return MemoryNeed(model_bytes, activations, data, probe_bytes(run, registry, full, train, test))


def activation_bytes(model: torch.nn.Module, image_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(bytes of every module's float32 output for one image, bytes of the largest one)``."""
    sizes: list[int] = []

    def record(module, inputs, output):
        if isinstance(output, torch.Tensor):
            sizes.append(4 * output[0].numel())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with in_mode(model, train=False), torch.no_grad():
            model(torch.zeros((2, *image_shape)))
    finally:
        for handle in handles:
            handle.remove()
    inputs = 4 * int(torch.Size(image_shape).numel())
    return inputs + sum(sizes), max(sizes + [inputs])


def probe_bytes(run: Run, registry: PluginRegistry, full, train: int, test: int) -> int:
    """The probes' cached variant images: each probe's distinct variants (made of one image here) x its images,
    float32 (conservative: a probe keeps fewer when its share of the free memory is smaller, and bf16 copies
    under bf16 precision)."""
    s = run.settings
    one = {"test": (full.x_test[:1], full.y_test[:1], test)}
    if s.probe_train:
        one["train"] = (full.x_train[:1], full.y_train[:1], train)
    total = 0
    for probe in plan_probes(registry.registry("probes"), s, f"run {run.name}"):
        for name, (x, y, count) in one.items():
            distinct = len(Prober(x, y, probe.variants, split_name=name, originals=False,
                                  normalize=s.normalize).firsts)
            size = distinct * min(probe.limit or count, count) * 4 * x[0].numel()
            total += size
    return total


def device_budget(device: str) -> int:
    """Bytes the runs on ``device`` may take together: its free memory now (CUDA) or the available RAM,
    times :data:`SAFETY`."""
    return int(free_memory(torch.device(device)) * SAFETY)


def budget_key(device: str) -> str:
    """One budget per physical device: ``cuda`` is ``cuda:0``, every CPU is ``cpu``."""
    place = torch.device(device)
    return f"cuda:{place.index or 0}" if place.type == "cuda" else place.type


class SharedBudget:
    """A device's memory budget shared by worker processes: take bytes before a run, give them back after.

    Made in the parent with a multiprocessing context and handed to the workers when they start.
    ``size`` 0: measured by the first worker that asks (:func:`device_budget`, in that worker, so that
    the parent never opens the GPU)."""

    def __init__(self, context, size: int = 0) -> None:
        self.condition = context.Condition()
        self.size = context.RawValue("d", float(size))
        self.used = context.RawValue("d", 0.0)
        self.holders = context.RawValue("i", 0)
        self.next_ticket = context.RawValue("i", 0)
        self.serving = context.RawValue("i", 0)

    def acquire(self, need: int, measure: Callable[[], int]) -> tuple[float, float, float]:
        """Wait until ``need`` bytes fit (in turn); ``(bytes taken, budget size, seconds waited)``.

        A need beyond the whole budget takes all of it: it waits until nothing else runs."""
        with self.condition:
            if self.size.value <= 0:
                self.size.value = float(max(1, measure()))
            size = self.size.value
            taken = float(min(need, size))
            ticket = self.next_ticket.value
            self.next_ticket.value += 1
            started = time.monotonic()
            self.condition.wait_for(lambda: self.serving.value == ticket and
                                    (self.holders.value == 0 or self.used.value + taken <= size))
            self.serving.value += 1
            self.used.value += taken
            self.holders.value += 1
            self.condition.notify_all()
            return taken, size, time.monotonic() - started

    def release(self, taken: float) -> None:
        with self.condition:
            self.used.value = max(0.0, self.used.value - taken)
            self.holders.value -= 1
            self.condition.notify_all()
