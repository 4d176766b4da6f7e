"""How big a run is before it trains: its data sizes and its optimizer steps, as the trainer counts them.

The progress display's ETA, the estimate of `ablate recipes` and the order of
``--jobs`` all count steps here, so that they count what the trainer takes.
"""

from __future__ import annotations

import math

from ablate.core.registry import PluginRegistry
from ablate.data.loading import load_full
from ablate.study.expansion import Run

# Sizes of the full data sets that need a download; a listing must not download them to count.
FULL_TRAIN_SIZE = {"cifar10": 50_000, "cifar100": 50_000}
FULL_TEST_SIZE = {"cifar10": 10_000, "cifar100": 10_000}


def epoch_steps(train_images: int, batch_size: int) -> int:
    """Optimizer steps of one epoch: every batch, the last one smaller when the images do not divide evenly."""
    return math.ceil(train_images / batch_size)


def training_steps(run: Run, train_images: int) -> int:
    """Optimizer steps of all of ``run``'s epochs on ``train_images`` images."""
    return run.settings.epochs * epoch_steps(train_images, run.settings.batch_size)


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
    """Optimizer steps of each run, for the progress display's ETA (a data size unknown here is loaded)."""
    return [training_steps(run, data_sizes(run, registry)[0]) for run in runs]


def run_steps(run: Run, registry: PluginRegistry) -> int | None:
    """The optimizer steps a run takes; None when its data size is unknown without loading it."""
    sizes = split_sizes(run, registry)
    return None if sizes is None else training_steps(run, sizes[0])
