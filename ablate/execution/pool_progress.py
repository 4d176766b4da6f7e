"""Progress of runs trained in worker processes (``--jobs N``): one recipe-wide bar, or summary lines.

Each worker reports its run's epochs through a queue (:class:`QueueProgress`: the
run, the epoch, its steps and seconds); in the launching process :class:`PoolProgress`
feeds them to the same :class:`ablate.core.progress.StepCost` the sequential display
uses and shows, on a terminal, one bar for the whole recipe (runs finished of all,
how many are training, the ETA), elsewhere (a log file, CI) one line per finished
run and a summary line every ``SUMMARY_EVERY_S``. The ETA shares the remaining
steps of every run out among the workers in the order the pool takes them.
"""

from __future__ import annotations

import threading
import time

from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as RichProgress

from ablate.core.progress import Progress, StepCost, format_duration, run_kind


class QueueProgress(Progress):
    """A worker's progress: sends each run's epochs to the launching process."""

    def __init__(self, queue, run: str) -> None:
        self.queue, self.run, self.steps = queue, run, 0

    def start_epochs(self, start, epochs, steps):
        self.steps = steps
        self.queue.put((self.run, "start", start * steps))

    def epoch_end(self, epoch, epochs, summary, seconds):
        self.queue.put((self.run, "epoch", epoch * self.steps, self.steps, float(seconds)))


class PoolProgress:
    """The recipe's progress in the launching process, from its workers' reports and its finished runs."""

    SUMMARY_EVERY_S = 60.0

    def __init__(self, progress: Progress, runs: list, steps_per_run: list[int], jobs: int, context,
                 weights: dict | None = None) -> None:
        self.console = getattr(progress, "console", None)
        self.quiet = getattr(progress, "quiet", False) or self.console is None
        self.names = [run.name for run in runs]
        self.kinds = [run_kind(run) for run in runs]
        self.steps = list(steps_per_run)
        self.jobs = jobs
        self.done = [0] * len(runs)              # steps done per run
        self.running: set[int] = set()
        self.finished: dict[int, str] = {}       # run index -> outcome
        self.began: dict[int, float] = {}
        self.cost = StepCost(weights)
        self.started = self.last_line = time.perf_counter()
        self.lock = threading.Lock()
        self.queue = context.Queue()
        self.bar = None
        if self.console is not None and self.console.is_terminal and not self.quiet:
            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                    console=self.console, transient=True)
            self.task = self.bar.add_task(self.description(), total=max(1, sum(self.steps)), info="")
            self.bar.start()
        self.listener = threading.Thread(target=self.listen, daemon=True)
        self.listener.start()

    def listen(self) -> None:
        while True:
            message = self.queue.get()
            if message is None:
                return
            with self.lock:
                self.handle(*message)

    def handle(self, run: str, event: str, done: int, steps: int = 0, seconds: float = 0.0) -> None:
        """A worker's report: its run started (``done`` steps already, when resumed) or ended an epoch."""
        index = self.names.index(run)
        self.running.add(index)
        self.began.setdefault(index, time.perf_counter())
        self.done[index] = done
        if event == "epoch":
            self.cost.record(self.kinds[index], steps, seconds)
            if self.bar is None and not self.quiet and time.perf_counter() - self.last_line >= self.SUMMARY_EVERY_S:
                self.say(f"ablate: {self.description()}, ETA {self.eta()}")
        self.show()

    def end_run(self, run, error: str | None, note: str = "") -> None:
        """The launcher learnt that ``run`` ended: one line (``note`` added to its time), and the bar moves on."""
        with self.lock:
            index = self.names.index(run.name)
            self.running.discard(index)
            self.finished[index] = "failed" if error else "finished"
            if not error:
                self.done[index] = self.steps[index]
            seconds = time.perf_counter() - self.began.get(index, self.started)
            if error or not self.quiet:
                self.say(f"[{len(self.finished)}/{len(self.names)} {run.name}] "
                         f"{f'failed: {error}' if error else 'finished'} ({format_duration(seconds)}{note}); "
                         f"recipe {self.percent():.0f}%, ETA {self.eta()}")
            self.show()

    def close(self) -> None:
        self.queue.put(None)
        self.listener.join(timeout=10)
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.finished and self.console is not None:
            outcomes = list(self.finished.values())
            counts = ", ".join(f"{outcomes.count(o)} {o}" for o in dict.fromkeys(outcomes))
            self.say(f"ablate: {len(self.names)} runs trained in {format_duration(time.perf_counter() - self.started)} "
                     f"by {self.jobs} workers: {counts}")

    # what is shown ---------------------------------------------------------------

    def say(self, line: str) -> None:
        self.last_line = time.perf_counter()
        self.console.print(line, highlight=False, markup=False)     # run names are not markup

    def description(self) -> str:
        return (f"recipe: {len(self.finished)}/{len(self.names)} runs done, {len(self.running)} training, "
                f"{self.percent():.0f}% of steps")

    def show(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=sum(self.done), description=self.description(),
                            info=f"ETA {self.eta()}")

    def percent(self) -> float:
        return 100 * sum(self.done) / max(1, sum(self.steps))

    def eta(self) -> str:
        """The time left: each unfinished run's steps at its kind's measured rate, given to the worker that
        frees up first (runs in training first, then the others in the order the pool takes them)."""
        order = sorted((i for i in range(len(self.names)) if i not in self.finished),
                       key=lambda i: (i not in self.running, i))
        free = [0.0] * self.jobs
        for index in order:
            seconds = self.cost.estimate([(self.kinds[index], max(0, self.steps[index] - self.done[index]))])
            if seconds is None:
                return "?"
            free[free.index(min(free))] += seconds
        return format_duration(max(free, default=0.0))

