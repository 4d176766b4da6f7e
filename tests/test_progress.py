"""The recipe ETA holds still: a per-step cost learnt from every epoch so far, per kind of run."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from ablate.core.progress import ConsoleProgress, StepCost


def fake_run(name: str, *plugins: str):
    return SimpleNamespace(name=name, plugin_names=lambda: list(plugins))


def test_the_rate_is_the_mean_of_all_epochs_so_far_not_the_last_one():
    cost = StepCost()
    assert cost.estimate([((), 10)]) is None                  # nothing measured yet
    for seconds in (10.0, 10.0, 10.0, 80.0):                  # one slow epoch on a shared machine
        cost.record((), 100, seconds)
    assert cost.seconds_per_step(()) == pytest.approx(110.0 / 400)
    assert cost.estimate([((), 400)]) == pytest.approx(110.0)


def test_pgd_runs_are_costed_separately_and_unseen_kinds_borrow_the_cheapest_rate():
    cost = StepCost()
    cost.record((), 100, 10.0)
    cost.record(("pgd",), 100, 50.0)
    assert cost.seconds_per_step(("pgd",)) == pytest.approx(0.5)
    assert cost.seconds_per_step(("dropout",)) == pytest.approx(0.1)
    assert cost.estimate([((), 10), (("pgd",), 10), (("dropout",), 10)]) == pytest.approx(1 + 5 + 1)


def test_an_unmeasured_kind_is_costed_by_its_weight_until_measured():
    cost = StepCost({(): 1.0, ("pgd",): 11.0, ("mixup",): 1.0})
    cost.record(("mixup",), 100, 20.0)
    cost.record((), 100, 10.0)
    assert cost.seconds_per_step(("pgd",)) == pytest.approx(1.1)      # 11 x the cheapest plain-step rate
    assert cost.seconds_per_step(("dropout",)) == pytest.approx(0.1)  # no weight: the cheapest rate
    cost.record(("pgd",), 100, 50.0)
    assert cost.seconds_per_step(("pgd",)) == pytest.approx(0.5)      # measured: its own


def simulate(epoch_seconds: list[float], weights=None, measured=None) -> list[str]:
    """Two runs of 4 epochs x 10 steps, the first plain, the second with pgd; the printed lines."""
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=200), device="cpu")
    runs = [fake_run("vanilla"), fake_run("adversarial", "pgd")]
    progress.start_recipe(runs, [40, 40], weights, measured)
    times = iter(epoch_seconds)
    for index, run in enumerate(runs):
        progress.start_run(index, run)
        progress.start_epochs(0, 4, 10)
        for epoch in range(1, 5):
            for step in range(1, 11):
                progress.batch(step, 10, 0.5)
            progress.epoch_end(epoch, 4, {"test_accuracy": 0.5}, next(times))
        progress.end_run(run, "finished", 4.0)
    progress.close()
    return out.getvalue().splitlines()


def test_the_eta_uses_every_epoch_and_the_summary_is_one_line():
    lines = simulate([10, 10, 40, 10, 50, 50, 50, 50])
    etas = [line.split("ETA ")[1] for line in lines if "ETA" in line and "epoch" in line]
    # after epoch 3 (40 s): mean 20 s per epoch -> 1 epoch + 4 epochs of run 2 at the plain rate = 100 s,
    # not the 5 x 40 s that the last epoch alone would give
    assert etas[:4] == ["1 min 10 s", "1 min 00 s", "1 min 40 s", "1 min 10 s"]
    assert etas[4:] == ["2 min 30 s", "1 min 40 s", "50 s", "0 s"]          # pgd measured on its own
    assert "recipe 50%" in lines[[i for i, l in enumerate(lines) if "epoch 4/4" in l][0]]
    assert lines[-1].startswith("ablate: 2 runs trained in ") and lines[-1].endswith(": 2 finished")


def test_the_first_estimate_and_the_eta_count_a_pgd_step_as_its_weight():
    lines = simulate([10, 10, 10, 10, 50, 50, 50, 50], weights={(): 1.0, ("pgd",): 5.0})
    first = next(line for line in lines if "estimated time" in line)
    assert "training steps only" in first
    etas = [line.split("ETA ")[1] for line in lines if "ETA" in line and "epoch" in line]
    # 1 s per plain step; the 40 pgd steps at 5x: 200 s, before any pgd epoch was measured
    assert etas[:4] == ["3 min 50 s", "3 min 40 s", "3 min 30 s", "3 min 20 s"]


def test_a_calibrated_recipe_is_estimated_from_the_start_with_its_evaluations():
    lines = simulate([10] * 8, measured={(): (10, 12.0), ("pgd",): (10, 50.0)})
    assert "estimated time for this recipe on cpu: about 4 min 08 s (as `ablate recipes --estimate`" in lines[0]
    assert not any("from the first steps" in line for line in lines)
    etas = [line.split("ETA ")[1] for line in lines if "ETA" in line and "epoch" in line]
    assert etas[0] == "3 min 53 s"          # 30 plain steps at (12 + 10) / 20 s, 40 pgd steps at 5 s
