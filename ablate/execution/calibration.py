"""How long a recipe takes on this machine: the measured estimate `ablate recipes` shows, and its cache.

The estimate uses the recipe ETA's cost model (:class:`ablate.core.progress.StepCost`):
seconds per optimizer step, the epoch's evaluation included, per kind of run; a
recipe's time is each run's steps at its kind's rate. The rates come from a short
calibration instead of from the epochs of a running recipe: for each kind (the
plugins that take part, as :func:`ablate.core.progress.run_kind`, and the model, width,
batch size and data size), one run of that kind is trained for two epochs of
:data:`CALIBRATION_STEPS` steps each on synthetic images of CIFAR's shape (32x32,
colour), with its own model, plugins and probes, and its own test set (up to
:data:`CALIBRATION_TEST_IMAGES`, the evaluation scaled up beyond); the second
epoch, warmed up, is timed. An epoch of the real run is then its steps at the
measured step time plus the measured evaluation, which is what ``StepCost`` learns
from. Measurements are cached per device in the user's cache folder
(:func:`cache_path`), so only the first listing pays for them;
``ABLATE_NO_CALIBRATION=1`` turns measuring off (the cache is still read).

Approximations: synthetic images of CIFAR's shape for every data set; probes
counted in every epoch (the built-in recipes probe every epoch); a probe limited to
fewer test images than the run has is scaled up with the test set. Not counted: the
final evaluation (attacks, the probe report) and loading the data.

Before anything is measured, a listing shows a rough figure instead
(:mod:`ablate.execution.rough_estimate`); the same cache orders the runs of ``--jobs``
(:mod:`ablate.execution.scheduling`) and starts a recipe's ETA (:func:`measured_epochs`).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Callable

import torch

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.files import read_json, write_json
from ablate.core.progress import StepCost, run_kind
from ablate.core.registry import PluginRegistry
from ablate.core.schema import CALIBRATION
from ablate.study.expansion import Run
from ablate.study.run_sizes import epoch_steps, run_steps, split_sizes
from ablate.train.trainer import Trainer

CALIBRATION_STEPS = 2
CALIBRATION_TEST_IMAGES = 250    # a larger test set's evaluation is timed on this many and scaled up
CALIBRATION_VERSION = 3          # bump when the measurement changes: older cached rates are not reused


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/ablate/calibration.json``, else ``~/.cache/ablate/calibration.json``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "ablate" / CALIBRATION


def cost_kind(run: Run, train_images: int, test_images: int) -> tuple[str, ...]:
    """What a step of ``run`` costs depends on, for the calibration: its plugins (as for the recipe ETA,
    :func:`ablate.core.progress.run_kind`), its model, width and batch size, and how many images an epoch sees."""
    s = run.settings
    return (*run_kind(run), f"{s.model} width {s.width:g} batch {s.batch_size}",
            f"{train_images} train / {test_images} test images")


def calibration_run(run: Run, test_images: int) -> Run:
    """A small copy of ``run``: :data:`CALIBRATION_STEPS` steps per epoch, 2 epochs, on synthetic images; its
    test set is the run's, up to :data:`CALIBRATION_TEST_IMAGES`."""
    small = copy.deepcopy(run)
    s = small.settings
    train, test = CALIBRATION_STEPS * s.batch_size, min(test_images, CALIBRATION_TEST_IMAGES)
    s.set("dataset", f"synthetic:train={train},test={test}", "calibration")
    s.set("train_size", 0, "calibration")
    s.set("test_size", 0, "calibration")
    s.set("epochs", 2, "calibration")
    return small


def epoch_times(run: Run, registry: PluginRegistry, clock: Callable[[], float] = time.perf_counter,
                ready: Callable[[], object] = lambda: None) -> tuple[int, list[tuple[float, float]]]:
    """``(steps per epoch, [(training seconds, evaluation seconds)] per epoch)`` of ``run``'s
    ``settings.epochs`` epochs, trained from scratch here and timed with ``clock`` as the trainer's epochs are
    (the first epoch pays the warm-up). ``ready`` is called once the run is set up, before its first epoch
    (where copies timed side by side wait for each other)."""
    trainer = Trainer(run, registry=registry)
    trainer.setup()
    ready()
    times = []
    for epoch in range(1, run.settings.epochs + 1):
        started = clock()
        trainer.train_epoch(epoch)
        trained = clock()
        trainer.evaluate(epoch)
        times.append((trained - started, clock() - trained))
    return trainer.steps_per_epoch(), times


def measure(run: Run, registry: PluginRegistry) -> tuple[float, float]:
    """``(seconds per training step, seconds of the evaluation)`` in the second (warm) epoch of ``run``
    (a :func:`calibration_run`), timed as the trainer's epochs are."""
    steps, times = epoch_times(run, registry)
    trained, evaluation = times[-1]
    return trained / steps, evaluation


def calibration_key(run: Run, sizes: tuple[int, int], device: str) -> str:
    """Where the calibration cache keeps the measurement of ``run``'s kind on ``device``: by the device's type
    (``cuda:1`` is costed as ``cuda``), as the estimate, the scheduler and the recipe ETA all look it up."""
    small = calibration_run(run, sizes[1])
    return f"v{CALIBRATION_VERSION} {torch.device(device).type} torch {torch.__version__} {small.short_hash}"


def epoch_seconds(run: Run, sizes: tuple[int, int], step: float, evaluation: float) -> tuple[int, float]:
    """``(steps, seconds)`` of one epoch of ``run`` from a calibration's measured step and evaluation."""
    per_epoch = epoch_steps(sizes[0], run.settings.batch_size)
    return per_epoch, per_epoch * step + evaluation * sizes[1] / min(sizes[1], CALIBRATION_TEST_IMAGES)


def estimate(runs: list[Run], registry: PluginRegistry, measuring: bool | None = None,
             path: Path | None = None, say: Callable[[str], None] = lambda text: None) -> float | None:
    """Seconds the runs take on this machine, from cached or newly measured rates; None when a run's data
    size is unknown, or a kind has no rate and ``measuring`` is off (default: on unless
    ``$ABLATE_NO_CALIBRATION`` is set). ``say`` hears what is measured.

    Each kind's rate is one epoch as :class:`StepCost` learns it from a running recipe: its steps at the
    measured seconds per step, plus the measured evaluation scaled to the run's test set."""
    if measuring is None:
        measuring = not os.environ.get("ABLATE_NO_CALIBRATION")
    if not runs:
        return 0.0
    path = path or cache_path()
    device = str(resolve_device(runs[0].settings.device))
    work, cost, cached, changed = [], StepCost(), read_json(path), False
    for run in runs:
        steps, sizes = run_steps(run, registry), split_sizes(run, registry)
        if steps is None or sizes is None:
            return None
        kind = cost_kind(run, *sizes)
        work.append((kind, steps))
        if cost.totals.get(kind):
            continue
        key = calibration_key(run, sizes, device)
        if key not in cached:
            if not measuring:
                return None
            say(f"measuring a {'+'.join(run_kind(run)) or 'plain'} step of {run.name} on {device}")
            try:
                cached[key] = list(measure(calibration_run(run, sizes[1]), registry))
            except AblateError as exc:
                raise AblateError(f"calibrating run {run.name!r}: {exc}") from None
            changed = True
        cost.record(kind, *epoch_seconds(run, sizes, *cached[key]))
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, cached)
    return cost.estimate(work)


def measured_epochs(runs: list[Run], registry: PluginRegistry, device: str,
                    path: Path | None = None) -> dict[tuple, tuple[int, float]]:
    """``{run_kind: (steps, seconds)}``: one epoch of each run whose kind the calibration cache measured on
    ``device`` (its evaluation and probes included), what a recipe ETA starts from before its first epoch.
    Reads the cache only; a run whose data size is unknown without loading it is left out."""
    cached, found = read_json(path or cache_path()), {}
    for run in runs:
        sizes = split_sizes(run, registry)
        measured = cached.get(calibration_key(run, sizes, device)) if sizes else None
        if measured:
            found.setdefault(run_kind(run), epoch_seconds(run, sizes, *measured))
    return found
