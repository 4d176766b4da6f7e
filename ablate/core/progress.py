"""What a user sees while a study trains: a live display on a terminal, plain lines elsewhere.

The trainer and the runner report to a :class:`Progress`; :class:`SilentProgress`
ignores everything (library use, tests), :class:`ConsoleProgress` shows run i of N,
the current epoch and batch, and an ETA for the whole recipe from a :class:`StepCost`.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress


class Progress:
    """Receives progress events; every method is optional to override."""

    def start_recipe(self, runs: list, steps_per_run: list[int], weights: dict | None = None,
                     measured: dict | None = None) -> None: ...
    def start_run(self, index: int, run) -> None: ...
    def start_epochs(self, start: int, epochs: int, steps: int) -> None: ...
    def batch(self, step: int, steps: int, loss) -> None: ...
    def epoch_end(self, epoch: int, epochs: int, summary: dict, seconds: float) -> None: ...
    def end_run(self, run, status: str, seconds: float) -> None: ...
    def close(self) -> None: ...


class SilentProgress(Progress):
    """Reports nothing."""


class StepCost:
    """Seconds per optimizer step, learnt from every epoch measured so far, per kind of run.

    The one cost model behind time estimates. An epoch's seconds (its training
    steps plus its evaluation) are added to its kind's totals, so a rate is the
    mean over all epochs so far and does not jump with one slow epoch on a shared
    machine. Runs of one kind (the same plugins) share a rate: a step with PGD
    costs several plain ones. A kind not measured yet is costed from the measured
    ones through ``weights`` (kind -> a step's cost in plain steps, as the plugins
    declare it: :func:`ablate.execution.rough_estimate.relative_step_cost`), else at the
    cheapest rate measured, until its own first epoch.
    """

    def __init__(self, weights: dict | None = None) -> None:
        self.totals: dict = {}           # kind -> [steps, seconds]
        self.weights = dict(weights or {})

    def record(self, kind, steps: int, seconds: float) -> None:
        totals = self.totals.setdefault(kind, [0, 0.0])
        totals[0] += steps
        totals[1] += seconds

    def seconds_per_step(self, kind) -> float | None:
        """The kind's mean; else, for a kind with a weight, the cheapest measured seconds per plain step times
        its weight; else the cheapest measured kind's; else None (nothing measured yet)."""
        rates = {k: seconds / steps for k, (steps, seconds) in self.totals.items() if steps}
        if kind in rates or not rates:
            return rates.get(kind)
        if kind in self.weights:
            return min(rate / self.weights.get(k, 1.0) for k, rate in rates.items()) * self.weights[kind]
        return min(rates.values())

    def estimate(self, work) -> float | None:
        """Seconds for ``work``, pairs of (kind, steps); None until something was measured."""
        total = 0.0
        for kind, steps in work:
            rate = self.seconds_per_step(kind)
            if rate is None:
                return None
            total += rate * steps
        return total


def run_kind(run) -> tuple[str, ...]:
    """What a run's step costs depend on, as far as ablate can tell: the plugins that take part."""
    return tuple(run.plugin_names())


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ConsoleProgress(Progress):
    """Run i of N, epoch, batch and ETA: a live bar on a terminal, one line per epoch otherwise.

    After the first batches it prints an estimate of the whole recipe's time on this
    device (from the measured time per step), so a user learns early whether to wait.
    The recipe ETA comes from a :class:`StepCost` fed by every epoch so far; at the
    end one line sums the recipe up.
    """

    ESTIMATE_AFTER_STEPS = 5

    def __init__(self, console: Console | None = None, quiet: bool = False, device: str = "") -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.device = device
        self.runs: list = []
        self.kinds: list = []
        self.steps_per_run: list[int] = []
        self.cost = StepCost()
        self.done_steps = 0            # optimizer steps of the runs already finished (or skipped)
        self.run_index = 0
        self.run_name = ""
        self.run_steps_done = 0
        self.epochs = self.steps = 0
        self.step_started = None
        self.first_step_count = 0
        self.step_seconds: float | None = None
        self.estimated = False
        self.recipe_started = time.perf_counter()
        self.ended: dict[str, int] = {}
        self.bar: RichProgress | None = None

    def start_recipe(self, runs, steps_per_run, weights=None, measured=None):
        """``weights``: a step's cost in plain steps per kind; ``measured``: ``{kind: (steps, seconds)}`` of an
        epoch as `ablate recipes --estimate` measured it, which the ETA starts from."""
        self.runs = runs
        self.kinds = [run_kind(run) for run in runs]
        self.steps_per_run = steps_per_run
        self.cost = StepCost(weights)
        for kind, (steps, seconds) in (measured or {}).items():
            self.cost.record(kind, steps, seconds)
        if runs and all(kind in (measured or {}) for kind in self.kinds):
            self.estimated = True
            self.console.print(f"ablate: estimated time for this recipe on {self.device or 'this device'}: about "
                               f"{format_duration(self.cost.estimate(self.remaining()))} (as `ablate recipes "
                               f"--estimate` measured it; evaluations and probes included)")
        self.recipe_started = time.perf_counter()
        if self.live:
            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[info]}"), console=self.console, transient=True)
            self.bar.start()
            self.recipe_task = self.bar.add_task("recipe", total=max(1, sum(steps_per_run)), info="")
            self.run_task = self.bar.add_task("run", total=1, info="")

    def start_run(self, index, run):
        self.run_index = index
        self.run_name = run.name
        self.run_steps_done = 0
        self.done_steps = sum(self.steps_per_run[:index])

    def start_epochs(self, start, epochs, steps):
        self.epochs, self.steps = epochs, steps
        self.run_steps_done = start * steps
        self.step_started = time.perf_counter()
        self.first_step_count = 0
        if self.bar:
            self.bar.update(self.run_task, total=max(1, epochs * steps), completed=self.run_steps_done,
                            description=escape(f"[{self.run_index + 1}/{len(self.runs)}] {self.run_name}"))
            self.bar.update(self.recipe_task, completed=self.done_steps + self.run_steps_done)

    def batch(self, step, steps, loss):
        self.run_steps_done += 1
        self.first_step_count += 1
        if not self.estimated and self.first_step_count == self.ESTIMATE_AFTER_STEPS:
            self.step_seconds = (time.perf_counter() - self.step_started) / self.ESTIMATE_AFTER_STEPS
            self.estimated = True
            first = StepCost(self.cost.weights)
            first.record(self.kinds[self.run_index], 1, self.step_seconds)
            total = first.estimate(self.remaining())
            self.console.print(f"ablate: estimated time for the rest of this recipe on {self.device or 'this device'}: "
                               f"about {format_duration(total)} (training steps only, from the first steps; "
                               f"evaluations and probes add more)")
        if self.bar and (step % 10 == 0 or step == steps):
            epoch = self.run_steps_done // max(1, self.steps) + (1 if step < steps else 0)
            self.bar.update(self.run_task, completed=self.run_steps_done,
                            info=f"epoch {epoch}/{self.epochs} loss {float(loss):.3f}")
            self.bar.update(self.recipe_task, completed=self.done_steps + self.run_steps_done)

    def remaining(self) -> list[tuple]:
        """The recipe's work still to do: (kind, steps) of this run's rest and of every later run."""
        index = self.run_index
        here = [(self.kinds[index], self.steps_per_run[index] - self.run_steps_done)] if self.kinds else []
        return here + list(zip(self.kinds[index + 1:], self.steps_per_run[index + 1:]))

    def eta(self) -> str:
        seconds = self.cost.estimate(self.remaining())
        return "?" if seconds is None else format_duration(seconds)

    def epoch_end(self, epoch, epochs, summary, seconds):
        if self.kinds:
            self.cost.record(self.kinds[self.run_index], self.steps, seconds)
        eta = self.eta()
        if self.bar:
            self.bar.update(self.recipe_task, info=f"ETA {eta}")
        if self.quiet:
            return
        numbers = "  ".join(f"{k.replace('_', ' ')} {v:.3f}" if "loss" in k else f"{k.replace('_', ' ')} {100 * v:.1f}%"
                            for k, v in summary.items())
        done = 100 * (self.done_steps + self.run_steps_done) / max(1, sum(self.steps_per_run))
        line = (f"[{self.run_index + 1}/{len(self.runs)} {self.run_name}] epoch {epoch}/{epochs}  {numbers}  "
                f"{seconds:.1f} s  recipe {done:.0f}% ETA {eta}")
        self.console.print(line, highlight=False, markup=False)       # run names are not markup

    def end_run(self, run, status, seconds):
        outcome = status.split(":")[0].split(" (")[0]
        self.ended[outcome] = self.ended.get(outcome, 0) + 1
        if not self.quiet or status not in ("finished", "skipped"):
            self.console.print(f"[{self.run_index + 1}/{len(self.runs)} {run.name}] {status} "
                               f"({format_duration(seconds)})", highlight=False, markup=False)

    def close(self):
        if self.bar:
            self.bar.stop()
            self.bar = None
        if self.ended:
            counts = ", ".join(f"{n} {outcome}" for outcome, n in self.ended.items())
            self.console.print(f"ablate: {len(self.runs)} runs trained in "
                               f"{format_duration(time.perf_counter() - self.recipe_started)}: {counts}",
                               highlight=False)
