"""--jobs: the workers report their epochs, and the recipe shows one bar (terminal) or summary lines (elsewhere)."""

from __future__ import annotations

import io
import multiprocessing
import re

from rich.console import Console
from test_progress import fake_run
from test_runner import RUNS

from ablate.core.progress import ConsoleProgress
from ablate.execution.pool_progress import PoolProgress, QueueProgress
from ablate.execution.runner import run_recipe

RUN_NAMES = ["vanilla", "adversarial", "mixup"]


def pool(terminal: bool = False, quiet: bool = False, jobs: int = 2) -> tuple[PoolProgress, io.StringIO]:
    """Three runs of 4 epochs x 10 steps (adversarial with pgd) on a console that is or is not a terminal."""
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=terminal)
    runs = [fake_run("vanilla"), fake_run("adversarial", "pgd"), fake_run("mixup", "mixup")]
    return PoolProgress(ConsoleProgress(console, quiet=quiet), runs, [40, 40, 40], jobs,
                        multiprocessing.get_context("spawn")), out


def test_workers_reports_travel_through_the_queue_and_set_the_eta():
    progress, out = pool()
    worker = QueueProgress(progress.queue, "vanilla")         # what a worker process holds
    worker.start_epochs(0, 4, 10)
    worker.epoch_end(1, 4, {"test_accuracy": 0.5}, 10.0)     # 1 s per plain step
    progress.close()                                         # handles what is queued, then stops listening
    assert progress.done == [10, 0, 0] and progress.running == {0}
    # left: vanilla 30 steps on one worker, then mixup (40, costed at the plain rate) after it;
    # adversarial (40) on the other worker: max(30 + 40, 40) s
    assert progress.eta() == "1 min 10 s"
    assert out.getvalue() == ""                               # nothing ended, no summary due yet


def test_not_a_terminal_one_line_per_finished_run_and_a_summary_now_and_then():
    progress, out = pool()
    progress.SUMMARY_EVERY_S = 0.0
    progress.handle("vanilla", "start", 0)
    progress.handle("adversarial", "start", 0)
    progress.handle("vanilla", "epoch", 10, 10, 10.0)
    progress.handle("adversarial", "epoch", 10, 10, 50.0)     # pgd: 5 s per step, costed apart
    progress.end_run(fake_run("vanilla"), None)
    progress.end_run(fake_run("adversarial", "pgd"), "boom")
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "ablate: recipe: 0/3 runs done, 2 training, 8% of steps, ETA 1 min 10 s"
    assert lines[1] == "ablate: recipe: 0/3 runs done, 2 training, 17% of steps, ETA 2 min 30 s"   # 30 x 5 s
    assert re.fullmatch(r"\[1/3 vanilla\] finished \(\d+ s\); recipe 42%, ETA 2 min 30 s", lines[2])
    assert re.fullmatch(r"\[2/3 adversarial\] failed: boom \(\d+ s\); recipe 42%, ETA 40 s", lines[3])
    assert re.fullmatch(r"ablate: 3 runs trained in \d+ s by 2 workers: 1 finished, 1 failed", lines[4])
    assert len(lines) == 5


def test_quiet_shows_failures_only():
    progress, out = pool(quiet=True)
    progress.SUMMARY_EVERY_S = 0.0
    progress.handle("vanilla", "epoch", 10, 10, 10.0)
    progress.end_run(fake_run("vanilla"), None)
    progress.end_run(fake_run("mixup"), "boom")
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines[:1]] == ["[2/3 mixup] failed: boom"]
    assert lines[1].endswith("1 finished, 1 failed") and len(lines) == 2


def test_a_terminal_gets_one_recipe_bar_instead_of_lines():
    progress, out = pool(terminal=True)
    progress.SUMMARY_EVERY_S = 0.0
    progress.handle("vanilla", "start", 0)
    progress.handle("vanilla", "epoch", 20, 10, 20.0)          # its second epoch: 2 s per step
    task = progress.bar.tasks[0]
    assert task.completed == 20 and task.total == 120
    assert task.description == "recipe: 0/3 runs done, 1 training, 17% of steps"
    assert task.fields["info"] == "ETA 2 min 00 s"           # max(20 + 40, 40) steps x 2 s
    progress.end_run(fake_run("vanilla"), None)
    assert progress.bar.tasks[0].completed == 40
    progress.close()
    assert "summary" not in out.getvalue() and "ablate: recipe:" not in out.getvalue()   # no periodic lines
    assert "[1/3 vanilla] finished" in out.getvalue()


def test_two_jobs_report_the_recipe_from_the_workers(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(PoolProgress, "SUMMARY_EVERY_S", 0.0)      # a line per worker epoch
    out = io.StringIO()
    run_recipe(write_recipe(RUNS), out=tmp_path, jobs=2, report=False,
               progress=ConsoleProgress(Console(file=out, width=200), device="cpu"))
    lines = out.getvalue().splitlines()
    summaries = [line for line in lines if line.startswith("ablate: recipe: ")]
    assert len(summaries) == 4                                    # 2 runs x 2 epochs, reported by the workers
    assert all(re.search(r"ETA (\d+ s|\d+ min \d+ s)$", line) for line in summaries)
    finished = [line for line in lines if re.match(r"\[\d/2 (vanilla|dropout)\] finished", line)]
    assert len(finished) == 2 and finished[-1].startswith("[2/2 ") and "recipe 100%, ETA 0 s" in finished[-1]
    assert lines[-1].startswith("ablate: 2 runs trained in ") and lines[-1].endswith("by 2 workers: 2 finished")
