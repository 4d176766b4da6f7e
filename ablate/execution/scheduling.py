"""The order ``--jobs`` trains runs in: longest first, by measured seconds or, without them, by steps.

:func:`run_costs` costs each run from the calibration cache (:mod:`ablate.execution.calibration`)
when it has every run's kind, else by the documented rule (steps times
:func:`ablate.execution.rough_estimate.relative_step_cost`); :func:`makespan` is what a pool
of workers then does with them.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core.files import read_json
from ablate.core.progress import StepCost, run_kind
from ablate.core.registry import PluginRegistry
from ablate.execution.calibration import cache_path, calibration_key, cost_kind, epoch_seconds
from ablate.execution.rough_estimate import relative_step_cost
from ablate.study.expansion import Run
from ablate.study.run_sizes import data_sizes, training_steps


def step_weights(runs: list[Run], registry: PluginRegistry) -> dict[tuple, float]:
    """``{kind: relative_step_cost}`` of the runs' kinds (:func:`ablate.core.progress.run_kind`): how a recipe ETA
    costs a kind of run before its first epoch is measured (a PGD run after plain ones)."""
    return {run_kind(run): relative_step_cost(run, registry) for run in runs}


def run_costs(runs: list[Run], registry: PluginRegistry, device: str,
              path: Path | None = None) -> tuple[list[float], str]:
    """``(cost of each run, unit)``: what the scheduler orders runs by, nothing measured for it.

    Seconds on ``device`` (``"s"``) when the calibration cache (:func:`ablate.execution.calibration.estimate`) has every
    run's kind, as :class:`ablate.core.progress.StepCost` costs them; else the documented rule: steps times
    :func:`ablate.execution.rough_estimate.relative_step_cost` (``"plain steps"``). A data size that cannot be known
    without loading counts as the data loaded."""
    cached, cost, work, units = read_json(path or cache_path()), StepCost(), [], []
    for run in runs:
        sizes = data_sizes(run, registry)
        steps = training_steps(run, sizes[0])
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
