"""Live curves in TensorBoard: every metric row of every run, as it is recorded.

Install it with ``pip install "ablate[tensorboard]"`` and it joins every run by
itself (``autoload``); it only watches, so it renames no run (``affects_results =
False``: listed in config.json and ``--dry-run``, left out of the hash). Each run
writes event files to ``<out>/<recipe>/tensorboard/<run folder>/`` (the run's
folder name, ``vanilla-c44ab614``, so that a changed run never appends to an old
one's curves); watch a study with ``tensorboard --logdir runs/figure5/tensorboard``.

A row becomes one scalar at step = its epoch, tagged ``split/metric`` followed by
its other non-blank columns (``test/accuracy/component=low/radius=4``; the
``original`` component is left out): the same numbers as results.csv.
"""

from __future__ import annotations

import importlib.util
import math
import weakref

import ablate

FOLDER = "tensorboard"
SKIPPED = ("run", "epoch", "split", "metric", "value")


def available() -> bool:
    """Whether the extra is installed (TensorBoard's writer needs the ``tensorboard`` package)."""
    return importlib.util.find_spec("tensorboard") is not None


def blank(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def tag(row: dict) -> str:
    """``test/accuracy/component=low/radius=4``: a row's scalar name, from its non-blank columns."""
    parts = [str(row["split"]), str(row["metric"])]
    for key, value in row.items():
        if key in SKIPPED or blank(value) or (key == "component" and value == "original"):
            continue
        parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return "/".join(parts)


class TensorBoard(ablate.Plugin):
    """Write every metric row to TensorBoard as it is recorded (<out>/<recipe>/tensorboard/<run>)."""

    name = "tensorboard"
    autoload = available()
    affects_results = False

    def __init__(self, **values) -> None:
        super().__init__(**values)
        self.writer = None

    @ablate.hookimpl
    def ablate_check(self, settings, plugins):
        if not available():
            raise ablate.AblateError('plugin tensorboard: the tensorboard package is not installed; '
                                     'pip install "ablate[tensorboard]", or leave the plugin out')

    @ablate.hookimpl
    def ablate_metrics(self, rows, state):
        if state.run_dir is None:
            return
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 (optional: tensorboard extra)

            self.writer = SummaryWriter(log_dir=str(state.run_dir.parent / FOLDER / state.run_dir.name))
            weakref.finalize(self, self.writer.close)
        for row in rows:
            if not blank(row["value"]):
                self.writer.add_scalar(tag(row), float(row["value"]), global_step=int(row["epoch"]))
        self.writer.flush()
