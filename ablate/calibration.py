"""How long a recipe takes on this machine: the estimate `ablate recipes` shows.

The estimate uses the recipe ETA's cost model (:class:`ablate.progress.StepCost`):
seconds per optimizer step, the epoch's evaluation included, per kind of run; a
recipe's time is each run's steps at its kind's rate. The rates come from a short
calibration instead of from the epochs of a running recipe: for each kind (the
plugins that take part, as :func:`ablate.progress.run_kind`, and the model, width,
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

Before anything is measured, a listing shows a rough figure instead (:func:`rough_seconds`):
each run's steps at its plugins' step weight, each step the model's training FLOPs for a batch
(counted on the meta device: nothing is computed), at a typical speed of the device type
(:func:`rough_rate`), not this machine's. It leaves out the evaluation and the probes.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from ablate.checkpoint import write_json
from ablate.config import Settings
from ablate.datasets import load_full
from ablate.device import resolve_device
from ablate.errors import AblateError
from ablate.models import build_model
from ablate.plugins import PluginRegistry
from ablate.progress import StepCost, format_duration, run_kind
from ablate.recipe import DEFAULT_SCALE, Run, builtin_recipes, expand, load_recipe
from ablate.runs import read_json
from ablate.schema import CALIBRATION
from ablate.trainer import Trainer

CALIBRATION_STEPS = 2
ROUGH = "(rough)"                # marks an estimate of the static model, nothing measured
CALIBRATION_TEST_IMAGES = 250    # a larger test set's evaluation is timed on this many and scaled up
CALIBRATION_VERSION = 3          # bump when the measurement changes: older cached rates are not reused
# Training-set sizes of the full data sets that need a download; a listing must not download them to count.
FULL_TRAIN_SIZE = {"cifar10": 50_000, "cifar100": 50_000}
FULL_TEST_SIZE = {"cifar10": 10_000, "cifar100": 10_000}
# Rough float32 training speeds (FLOP/s) for the estimate shown before anything is measured: a CPU thread
# trains the CIFAR ResNet18 at about 1e10 (2 threads of a 2-core machine measured 1e10 to 5e10); GPUs vary
# by tenfold between generations, these are mid-range ones.
ROUGH_FLOPS_PER_CPU_THREAD = 1e10
ROUGH_FLOPS = {"cuda": 1e13, "mps": 2e12}


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/ablate/calibration.json``, else ``~/.cache/ablate/calibration.json``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "ablate" / CALIBRATION


def split_sizes(run: Run, registry: PluginRegistry) -> tuple[int, int] | None:
    """``(training images, test images)`` of a run, without downloading anything; None when unknown."""
    s = run.settings
    name = s.dataset.partition(":")[0]
    if (not s.train_size or not s.test_size) and name in FULL_TRAIN_SIZE:
        return s.train_size or FULL_TRAIN_SIZE[name], s.test_size or FULL_TEST_SIZE[name]
    if s.train_size and s.test_size:
        return s.train_size, s.test_size
    if name != "synthetic":
        return None
    full = load_full(s.dataset, s, registry)
    return s.train_size or len(full.y_train), s.test_size or len(full.y_test)


def data_sizes(run: Run, registry: PluginRegistry) -> tuple[int, int]:
    """:func:`split_sizes`, else counted from the data set loaded (the process keeps it for the run)."""
    sizes = split_sizes(run, registry)
    if sizes is None:
        full = load_full(run.settings.dataset, run.settings, registry)
        sizes = run.settings.train_size or len(full.y_train), run.settings.test_size or len(full.y_test)
    return sizes


def steps_per_run(runs: list[Run], registry: PluginRegistry) -> list[int]:
    """Optimizer steps of each run (as the trainer counts them), for the progress display's ETA."""
    return [run.settings.epochs * math.ceil(data_sizes(run, registry)[0] / run.settings.batch_size) for run in runs]


def run_steps(run: Run, registry: PluginRegistry) -> int | None:
    """The optimizer steps a run takes (as the trainer counts them); None when its data size is unknown."""
    sizes = split_sizes(run, registry)
    return None if sizes is None else run.settings.epochs * math.ceil(sizes[0] / run.settings.batch_size)


def cost_kind(run: Run, train_images: int, test_images: int) -> tuple[str, ...]:
    """What a step of ``run`` costs depends on, for the calibration: its plugins (as for the recipe ETA,
    :func:`ablate.progress.run_kind`), its model, width and batch size, and how many images an epoch sees."""
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
    per_epoch = math.ceil(sizes[0] / run.settings.batch_size)
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


def step_weights(runs: list[Run], registry: PluginRegistry) -> dict[tuple, float]:
    """``{kind: relative_step_cost}`` of the runs' kinds (:func:`ablate.progress.run_kind`): how a recipe ETA
    costs a kind of run before its first epoch is measured (a PGD run after plain ones)."""
    return {run_kind(run): relative_step_cost(run, registry) for run in runs}


def run_costs(runs: list[Run], registry: PluginRegistry, device: str,
              path: Path | None = None) -> tuple[list[float], str]:
    """``(cost of each run, unit)``: what the scheduler orders runs by, nothing measured for it.

    Seconds on ``device`` (``"s"``) when the calibration cache (:func:`estimate`) has every run's kind,
    as :class:`StepCost` costs them; else the documented rule: steps times :func:`relative_step_cost`
    (``"plain steps"``). A data size that cannot be known without loading counts as the data loaded."""
    cached, cost, work, units = read_json(path or cache_path()), StepCost(), [], []
    for run in runs:
        sizes = data_sizes(run, registry)
        steps = run.settings.epochs * math.ceil(sizes[0] / run.settings.batch_size)
        kind = cost_kind(run, *sizes)
        work.append((kind, steps))
        units.append(steps * relative_step_cost(run, registry))
        measured = cached.get(calibration_key(run, sizes, device))
        if measured and not cost.totals.get(kind):
            cost.record(kind, *epoch_seconds(run, sizes, *measured))
    if all(cost.totals.get(kind) for kind, _ in work):
        return [cost.estimate([item]) for item in work], "s"
    return units, "plain steps"


def longest_first(runs: list[Run], costs: list[float]) -> list[Run]:
    """The runs by decreasing cost (ties: recipe order): started first, the longest run does not end last
    alone while the other workers idle."""
    order = sorted(range(len(runs)), key=lambda i: (-costs[i], i))
    return [runs[i] for i in order]


def makespan(durations: list[float], workers: int) -> tuple[float, list[int]]:
    """``(wall time, worker of each run)`` of runs of ``durations`` on ``workers`` workers, longest first, each
    to the worker that is free first (lowest number on ties): what ``--jobs`` does with them."""
    free = [0.0] * max(1, workers)
    assigned = [0] * len(durations)
    for i in sorted(range(len(durations)), key=lambda i: (-durations[i], i)):
        worker = min(range(len(free)), key=lambda w: (free[w], w))
        assigned[i] = worker
        free[worker] += durations[i]
    return max(free), assigned


def builtin_overview(registry: PluginRegistry, scales: list[str] | None = None, measuring: bool | None = None,
                     say: Callable[[str], None] = lambda text: None) -> list[dict]:
    """One row per built-in recipe and scale: ``recipe, description, scale, runs, epochs, estimate`` (a text:
    ``about 25 min`` measured, ``~25 min (rough)`` where nothing is measured yet (:func:`rough_seconds`), or
    ``?`` when it cannot be known without downloading)."""
    rows = []
    for name, path in sorted(builtin_recipes().items()):
        recipe = load_recipe(path)
        for scale in dict.fromkeys([DEFAULT_SCALE, *recipe.scales]):
            if scales and scale not in scales:
                continue
            runs = expand(recipe, scale, registry=registry)
            rows.append({"recipe": name, "description": recipe.description, "scale": scale, "runs": len(runs),
                         "epochs": sum(r.settings.epochs for r in runs),
                         "estimate": estimate_text(runs, registry, measuring, say)})
    return rows


def estimate_text(runs: list[Run], registry: PluginRegistry, measuring: bool | None,
                  say: Callable[[str], None]) -> str:
    """The measured estimate (``about 25 min``), else the rough one (``~25 min (rough)``), else ``?``."""
    seconds = estimate(runs, registry, measuring, say=say)
    if seconds is not None:
        return f"about {format_duration(seconds)}"
    rough = rough_seconds(runs, registry)
    return "?" if rough is None else f"~{rough_duration(rough)} {ROUGH}"


def rough_duration(seconds: float) -> str:
    """``1.3 h``, ``52 min``, ``6 s``: a rough time in its largest unit, without a precision it does not have."""
    value, unit = next((seconds / size, unit) for size, unit in ((3600, "h"), (60, "min"), (1, "s"))
                       if seconds >= size or unit == "s")
    if unit == "s":
        return f"{max(value, 1):.0f} s"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}" if value < 9.95 else f"{value:.0f} {unit}"


def overview_table(rows: list[dict]) -> Table:
    """:func:`builtin_overview`'s rows as the table `ablate recipes` prints: each recipe's name and description
    once, on its first scale's row."""
    device = resolve_device("auto")
    caption = (f"estimate: training and per-epoch probes on {device}, measured once and cached; the final "
               f"evaluation adds a little")
    if any(row["estimate"].endswith(ROUGH) for row in rows):
        caption += (f"\n{ROUGH}: nothing measured yet: the models' FLOPs at a typical {device.type} speed, not "
                    f"this machine's, training steps only (off by several times); `ablate recipes --estimate` "
                    f"measures this machine (minutes, once)")
    table = Table(title="built-in recipes (run one with `ablate recipe NAME --scale SCALE`)", caption=caption,
                  caption_justify="left")
    for column in ("name", "scale", "runs", "epochs", "estimate", "description"):
        table.add_column(column, style="bold" if column == "name" else None,
                         justify="right" if column in ("runs", "epochs") else "left")
    shown = set()
    for row in rows:
        first = row["recipe"] not in shown
        shown.add(row["recipe"])
        table.add_row(row["recipe"] if first else "", row["scale"], str(row["runs"]), str(row["epochs"]),
                      row["estimate"], row["description"] if first else "")
    return table
