"""Several runs on one device: longest run first, each run once, memory admission, the projection's arithmetic."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from ablate.core.registry import get_registry
from ablate.execution.calibration import calibration_key
from ablate.execution.memory import SharedBudget, run_memory
from ablate.execution.recipe_status import recipe_status
from ablate.execution.rough_estimate import relative_step_cost
from ablate.execution.runner import plan, run_recipe
from ablate.execution.scheduling import longest_first, makespan, run_costs
from ablate.study.expansion import expand
from ablate.study.recipe_file import builtin_recipes, load_recipe
from ablate.study.run_sizes import split_sizes

THREE_RUNS = """
    [[runs]]
    name = "vanilla"

    [[runs]]
    name = "dropout"
    plugins = ["dropout"]

    [[runs]]
    name = "adversarial"
    [runs.plugins.pgd]
    steps = 2
"""


LONG_LAST = """
    [[runs]]
    name = "vanilla"

    [[runs]]
    name = "adversarial"
    [runs.plugins.pgd]
    steps = 2
"""


@pytest.fixture(autouse=True)
def one_thread_workers(monkeypatch):
    """Worker processes take one thread each, as this process does: faster on a small shared machine."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def started_and_ended(run_dir: Path) -> tuple[float, float]:
    """When a run started (its config.json is written first) and ended (done.json), as file times."""
    return (run_dir / "config.json").stat().st_mtime_ns, (run_dir / "done.json").stat().st_mtime_ns


def test_the_pgd_run_of_figure5_costs_most_and_goes_first(tmp_path):
    registry = get_registry()
    runs = expand(load_recipe(builtin_recipes()["figure5"]), None, registry=registry)
    costs, unit = run_costs(runs, registry, "cpu", path=tmp_path / "no-cache.json")
    assert unit == "plain steps"           # nothing measured: steps x (1 + the plugins' extra passes)
    assert dict(zip([r.name for r in runs], costs)) == {"vanilla": 50_000, "dropout": 50_000, "mixup": 50_000,
                                                        "batchnorm": 50_000, "adversarial": 550_000}
    assert [r.name for r in longest_first(runs, costs)] == ["adversarial", "vanilla", "dropout", "mixup", "batchnorm"]
    half = expand(load_recipe(builtin_recipes()["figure5"]), None, ["pgd.clean_fraction=0.5"], registry=registry)
    assert relative_step_cost(half[-1], registry) == 6.0


def test_measured_rates_win_over_the_relative_rule(write_recipe, tmp_path):
    registry = get_registry()
    _, runs = plan(write_recipe(THREE_RUNS), None, [], registry)
    cache = tmp_path / "calibration.json"
    measured = {"vanilla": (0.5, 2.0), "dropout": (0.1, 1.0), "adversarial": (0.2, 1.0)}   # s/step, s/evaluation
    cache.write_text(json.dumps({calibration_key(r, split_sizes(r, registry), "cpu"): measured[r.name]
                                 for r in runs}))
    costs, unit = run_costs(runs, registry, "cpu", path=cache)
    assert unit == "s"
    # 240 training images at batch 40: 6 steps an epoch, 2 epochs; 120 test images (under 250: evaluated as is)
    assert costs == pytest.approx([2 * (6 * 0.5 + 2.0), 2 * (6 * 0.1 + 1.0), 2 * (6 * 0.2 + 1.0)])
    assert [r.name for r in longest_first(runs, costs)] == ["vanilla", "adversarial", "dropout"]
    cache.write_text(json.dumps({calibration_key(runs[0], split_sizes(runs[0], registry), "cpu"): [9.0, 9.0]}))
    assert run_costs(runs, registry, "cpu", path=cache)[1] == "plain steps"    # one kind unmeasured: the rule


def test_makespan_schedules_longest_first_onto_the_free_worker():
    assert makespan([1.0, 5.0, 2.0, 2.0], 1) == (10.0, [0, 0, 0, 0])
    # 5 -> w0; 2 -> w1; 2 -> w1 (4); 1 -> w1 (5): both end at 5
    assert makespan([1.0, 5.0, 2.0, 2.0], 2) == (5.0, [1, 0, 1, 1])
    assert makespan([3.0, 3.0], 5)[0] == 3.0


def test_one_worker_trains_the_longest_run_first(write_recipe, tmp_path):
    path = write_recipe(LONG_LAST)
    run_recipe(path, "smoke", out=tmp_path / "out", launcher="processes", launcher_options={"jobs": 1})
    _, runs = plan(path, "smoke", [])
    starts = {r.name: started_and_ended(tmp_path / "out" / "tiny" / r.dir_name)[0] for r in runs}
    assert sorted(starts, key=starts.get) == ["adversarial", "vanilla"]


def test_two_jobs_on_a_repeated_device_train_each_run_once(write_recipe, tmp_path):
    path = write_recipe(LONG_LAST)
    sequential = run_recipe(path, "smoke", out=tmp_path / "seq")
    parallel = run_recipe(path, "smoke", out=tmp_path / "par", jobs=2, devices=["cpu,cpu"])
    pd.testing.assert_frame_equal(sequential, parallel)
    folders = sorted(p.name for p in (tmp_path / "par" / "tiny").iterdir() if p.is_dir())
    assert folders == sorted(p.name for p in (tmp_path / "seq" / "tiny").iterdir() if p.is_dir())
    assert len(folders) == 2
    for folder in folders:                 # trained once: one start, and one row per epoch and metric
        metrics = pd.read_csv(tmp_path / "par" / "tiny" / folder / "metrics.csv")
        assert not metrics.duplicated(["epoch", "split", "component", "radius", "metric"]).any()
        assert (tmp_path / "par" / "tiny" / folder / "done.json").exists()
    results = pd.read_csv(tmp_path / "par" / "tiny" / "results.csv")
    assert sorted(results["run"].unique()) == ["adversarial", "vanilla"]
    assert set(recipe_status(tmp_path / "par" / "tiny")["status"]) == {"finished"}


def test_a_run_that_does_not_fit_next_to_another_waits_and_both_finish(write_recipe, tmp_path, capfd):
    """A budget smaller than one run: the second worker waits until the first run ends, then runs alone."""
    path = write_recipe(THREE_RUNS.split('[[runs]]\n    name = "adversarial"')[0])
    _, runs = plan(path, "smoke", [])
    need = run_memory(runs[0], get_registry(), "cpu").total
    run_recipe(path, "smoke", out=tmp_path / "out", jobs=2, devices=["cpu"], launcher_options={"memory": need / 2 / 2**30})
    first, second = sorted(started_and_ended(tmp_path / "out" / "tiny" / r.dir_name) for r in runs)
    assert second[0] >= first[1]           # no overlap: the second started after the first ended
    assert set(recipe_status(tmp_path / "out" / "tiny")["status"]) == {"finished"}
    assert capfd.readouterr().err.count("it runs alone there") == 2


def test_the_shared_budget_admits_in_turn_and_runs_an_oversized_need_alone():
    budget = SharedBudget(multiprocessing.get_context("spawn"), size=10)
    events: list[str] = []

    def take(name: str, need: int, hold: threading.Event) -> None:
        taken, size, _ = budget.acquire(need, measure=lambda: pytest.fail("a fixed budget is not measured"))
        events.append(f"{name} in ({taken:g} of {size:g})")
        hold.wait(10)
        events.append(f"{name} out")
        budget.release(taken)

    holds = {name: threading.Event() for name in "abc"}
    threads = {"a": threading.Thread(target=take, args=("a", 6, holds["a"]))}
    threads["a"].start()
    while not events:
        time.sleep(0.01)
    threads["b"] = threading.Thread(target=take, args=("b", 6, holds["b"]))     # 6 + 6 > 10: waits for a
    threads["b"].start()
    time.sleep(0.1)
    threads["c"] = threading.Thread(target=take, args=("c", 30, holds["c"]))    # beyond the budget: alone, after b
    threads["c"].start()
    time.sleep(0.2)
    assert events == ["a in (6 of 10)"]
    holds["a"].set()
    threads["a"].join(5)
    while len(events) < 3:
        time.sleep(0.01)
    time.sleep(0.2)
    assert events == ["a in (6 of 10)", "a out", "b in (6 of 10)"]
    holds["b"].set()
    holds["c"].set()
    for thread in threads.values():
        thread.join(5)
    assert events == ["a in (6 of 10)", "a out", "b in (6 of 10)", "b out", "c in (10 of 10)", "c out"]


def test_a_budget_of_zero_is_measured_once_by_the_first_that_asks():
    budget = SharedBudget(multiprocessing.get_context("spawn"))
    calls = []
    measure = lambda: calls.append(1) or 100
    taken, size, _ = budget.acquire(40, measure)
    budget.release(taken)
    assert (taken, size) == (40, 100) and budget.acquire(70, measure)[:2] == (70, 100) and len(calls) == 1


def test_the_paper_scale_projection_on_a_fake_timer(write_recipe, monkeypatch):
    """benchmarks/paper_scale.py: timed epochs scaled to the real data size, through StepCost, then scheduled."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import paper_scale

    _, runs = plan(write_recipe(THREE_RUNS), None, [])        # 240 / 120 images, batch 40, 2 epochs
    # per run, per timed epoch: (training, evaluation) seconds; the first epoch is warm-up and left out
    seconds = {"vanilla": [(100, 50), (2, 1)], "dropout": [(100, 50), (2, 1)], "adversarial": [(100, 50), (6, 1)]}
    ticks, now = [], 0.0
    for run in runs:
        for training, evaluation in seconds[run.name]:
            ticks += [now, now + training, now + training + evaluation]
            now += training + evaluation
    clock = iter(ticks).__next__
    timed = paper_scale.time_runs(runs, (80, 60), 2, "cpu", clock=clock, say=lambda line: None)
    with pytest.raises(StopIteration):
        clock()                            # three readings per epoch, no more
    # timed on 80 images (2 steps) and 60 test images; the real epoch: 6 steps and 120 test images
    projection = paper_scale.project(timed)
    assert projection.per_run == {"vanilla": 2 * (6 * 2 / 2 + 1 * 120 / 60), "dropout": 16.0,
                                  "adversarial": 2 * (6 * 6 / 2 + 1 * 120 / 60)}
    assert (projection.sequential, projection.wall) == (72.0, 72.0)
    # Two workers, 1.5x slower side by side: adversarial (40 s alone) on one, vanilla then dropout (16 + 16) on
    # the other, each 24 s beside it; by 48 s adversarial has done 32 of its 40 s and finishes alone at 56 s.
    on_two = paper_scale.project(timed, jobs=2, slowdown=1.5)
    assert (on_two.wall, on_two.workers) == (56.0, {"vanilla": 1, "dropout": 1, "adversarial": 0})
    # Three at once, 3x slower: the short runs end at 48 s (16 s of work each); adversarial has done 16 of
    # its 40 s, and does the last 24 alone: 72 s (the slowdown over the whole makespan said 120).
    on_three = paper_scale.project(timed, jobs=3, slowdown=3.0)
    assert on_three.wall == 72.0 and on_three.sequential == 72.0
    assert paper_scale.project(timed, jobs=2, slowdown=1.0).wall == 40.0
