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
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
from rich.table import Table

from ablate.checkpoint import write_json
from ablate.datasets import load_full
from ablate.device import resolve_device
from ablate.errors import AblateError
from ablate.plugins import PluginRegistry
from ablate.progress import StepCost, format_duration, run_kind
from ablate.recipe import DEFAULT_SCALE, Run, builtin_recipes, expand, load_recipe
from ablate.runs import read_json
from ablate.schema import CALIBRATION
from ablate.trainer import Trainer

CALIBRATION_STEPS = 2
CALIBRATION_TEST_IMAGES = 250    # a larger test set's evaluation is timed on this many and scaled up
CALIBRATION_VERSION = 3          # bump when the measurement changes: older cached rates are not reused
# Training-set sizes of the full data sets that need a download; a listing must not download them to count.
FULL_TRAIN_SIZE = {"cifar10": 50_000, "cifar100": 50_000}
FULL_TEST_SIZE = {"cifar10": 10_000, "cifar100": 10_000}


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


def measure(run: Run, registry: PluginRegistry) -> tuple[float, float]:
    """``(seconds per training step, seconds of the evaluation)`` in the second (warm) epoch of ``run``
    (a :func:`calibration_run`), timed as the trainer's epochs are."""
    trainer = Trainer(run, registry=registry)
    trainer.setup()
    step = evaluation = 0.0
    for epoch in (1, 2):
        started = time.perf_counter()
        trainer.train_epoch(epoch)
        trained = time.perf_counter()
        trainer.evaluate(epoch)
        step, evaluation = (trained - started) / trainer.steps_per_epoch(), time.perf_counter() - trained
    return step, evaluation


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
        small = calibration_run(run, sizes[1])
        key = f"v{CALIBRATION_VERSION} {device} torch {torch.__version__} {small.short_hash}"
        if key not in cached:
            if not measuring:
                return None
            say(f"measuring a {'+'.join(run_kind(run)) or 'plain'} step of {run.name} on {device}")
            try:
                cached[key] = list(measure(small, registry))
            except AblateError as exc:
                raise AblateError(f"calibrating run {run.name!r}: {exc}") from None
            changed = True
        step, evaluation = cached[key]
        per_epoch = math.ceil(sizes[0] / run.settings.batch_size)
        cost.record(kind, per_epoch, per_epoch * step + evaluation * sizes[1] / min(sizes[1], CALIBRATION_TEST_IMAGES))
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, cached)
    return cost.estimate(work)


def builtin_overview(registry: PluginRegistry, scales: list[str] | None = None, measuring: bool | None = None,
                     say: Callable[[str], None] = lambda text: None) -> list[dict]:
    """One row per built-in recipe and scale: ``recipe, description, scale, runs, epochs, estimate`` (a text:
    ``about 25 min``, or ``?`` when it cannot be known without downloading or measuring)."""
    rows = []
    for name, path in sorted(builtin_recipes().items()):
        recipe = load_recipe(path)
        for scale in dict.fromkeys([DEFAULT_SCALE, *recipe.scales]):
            if scales and scale not in scales:
                continue
            runs = expand(recipe, scale, registry=registry)
            seconds = estimate(runs, registry, measuring, say=say)
            rows.append({"recipe": name, "description": recipe.description, "scale": scale, "runs": len(runs),
                         "epochs": sum(r.settings.epochs for r in runs),
                         "estimate": "?" if seconds is None else f"about {format_duration(seconds)}"})
    return rows


def overview_table(rows: list[dict]) -> Table:
    """:func:`builtin_overview`'s rows as the table `ablate recipes` prints: each recipe's name and description
    once, on its first scale's row."""
    device = resolve_device("auto")
    table = Table(title="built-in recipes (run one with `ablate recipe NAME --scale SCALE`)",
                  caption=f"estimate: training and per-epoch probes on {device}, measured once and cached; "
                          f"the final evaluation adds a little", caption_justify="left")
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
