"""Projected wall time of a whole recipe at its paper scale on this device, from a few timed epochs.

    python benchmarks/paper_scale.py figure5 [--jobs 5] [--epochs-timed 2] [--device cuda]
        [--goal-min 90] [--slowdown X] [--train-images N] [--set KEY=VALUE] [--smoke]

Every run of the recipe at its paper (default) scale is trained for ``--epochs-timed``
epochs (the first one is warm-up, not counted) with its own model, plugins and
settings, the probe every epoch, on synthetic images of CIFAR's shape and of the real
size (50,000 training / 10,000 test 32x32x3 uint8 images: a GPU machine may have no
CIFAR-10; ``--train-images`` times fewer training images, at the same seconds per
step). Each warm epoch is fed, as the recipe's ETA does, to the one cost model
(:class:`ablate.core.progress.StepCost`, per kind of run: :func:`ablate.execution.calibration.cost_kind`),
which projects each run's whole training (its epochs x its steps on its real data
size) and the recipe's total.

With ``--jobs N`` the runs are scheduled as ``--jobs`` does (longest first, each to the
worker that is free first, as :func:`ablate.execution.scheduling.makespan` does), and the
concurrency slowdown (how much longer an epoch takes when N copies of a run share the
device than alone) slows only the time when runs overlap: :func:`overlapped_makespan`
follows the schedule, and while k runs train side by side each goes 1 / slowdown(k) as
fast as alone, slowdown(k) running linearly from 1 (alone) to the measured one at N; once
the short runs end, the long one has the device to itself. The slowdown is measured here
(N copies of the cheapest run side by side, after the same warm-up) unless ``--slowdown``
states it.

Not counted: loading the real data, each run's final evaluation (the probe report,
attacks), process start-up. Prints one ``RESULT key=value ...`` line per run and one
for the recipe (benchmarks/device_check.sh collects them). ``--smoke`` (or
``PAPER_SCALE_SMOKE=1``) shrinks the data and the model for a dry run on a CPU: its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ablate.core.device import resolve_device
from ablate.core.progress import StepCost, format_duration
from ablate.core.registry import get_registry
from ablate.execution.calibration import cost_kind, epoch_times
from ablate.execution.launchers.processes import worker_threads
from ablate.execution.runner import plan
from ablate.execution.scheduling import makespan
from ablate.study.expansion import Run
from ablate.study.run_sizes import split_sizes

PAPER_DATA = (50_000, 10_000)       # CIFAR-10's training and test images
SMOKE_DATA = (100, 50)
SMOKE_SETTINGS = {"width": 0.125}


@dataclass
class Timed:
    """The warm epochs of one run, timed on ``train_images`` / ``test_images``, and its real size."""

    name: str
    kind: tuple
    train_images: int
    test_images: int
    batch_size: int
    epochs: list[tuple[float, float]]       # warm epochs: (training seconds, evaluation seconds)
    real_train: int
    real_test: int
    real_epochs: int

    @property
    def real_steps(self) -> int:
        return -(-self.real_train // self.batch_size)

    def real_epoch(self, train_s: float, eval_s: float) -> float:
        """A timed epoch at the real size: the same seconds per training step and per test image."""
        steps = -(-self.train_images // self.batch_size)
        return self.real_steps * train_s / steps + eval_s * self.real_test / self.test_images


@dataclass
class Projection:
    per_run: dict[str, float]               # seconds of each run alone
    sequential: float                       # their sum: --jobs 1
    wall: float                             # the recipe's wall time with ``jobs`` workers
    jobs: int
    slowdown: float
    workers: dict[str, int]                 # which worker trains each run


def project(timed: list[Timed], jobs: int = 1, slowdown: float = 1.0) -> Projection:
    """The recipe's projected seconds from its runs' timed epochs, through :class:`StepCost` as the ETA does."""
    cost = StepCost()
    for run in timed:
        for train_s, eval_s in run.epochs:
            cost.record(run.kind, run.real_steps, run.real_epoch(train_s, eval_s))
    per_run = {run.name: cost.estimate([(run.kind, run.real_epochs * run.real_steps)]) for run in timed}
    factor = slowdown if jobs > 1 else 1.0
    wall, workers = overlapped_makespan(list(per_run.values()), jobs, factor)
    return Projection(per_run, sum(per_run.values()), wall, jobs, factor, dict(zip(per_run, workers)))


def overlapped_makespan(alone: list[float], jobs: int, slowdown: float) -> tuple[float, list[int]]:
    """``(wall time, worker of each run)`` of runs taking ``alone`` seconds each by themselves, scheduled as
    :func:`makespan` schedules them (longest first, each to the worker free first, lowest number on ties),
    where k runs side by side each progress at 1 / (1 + (slowdown - 1) (k - 1) / (jobs - 1)) of their speed
    alone: the slowdown measured for ``jobs`` copies applies only while runs overlap."""
    queue = sorted(range(len(alone)), key=lambda i: (-alone[i], i))
    if jobs <= 1 or slowdown == 1.0:
        return makespan(alone, jobs)
    left = {}                                   # run -> seconds of work (alone) still to do
    worker_of = {}                              # run -> its worker, while it trains
    assigned = [0] * len(alone)
    now, free = 0.0, list(range(jobs))
    while queue or left:
        while queue and free:
            run, worker = queue.pop(0), free.pop(0)
            left[run], worker_of[run], assigned[run] = alone[run], worker, worker
        rate = 1 / (1 + (slowdown - 1) * (len(left) - 1) / (jobs - 1))
        step = min(left.values()) / rate
        now += step
        for run in list(left):
            left[run] -= step * rate
            if left[run] <= 1e-9 * max(1.0, alone[run]):
                del left[run]
                free.append(worker_of.pop(run))
        free.sort()
    return now, assigned


def timing_copy(run: Run, data: tuple[int, int], epochs: int, device: str) -> Run:
    """``run`` on synthetic CIFAR-shaped data of ``data`` sizes for ``epochs`` epochs, probing every epoch."""
    small = copy.deepcopy(run)
    s = small.settings
    s.set("dataset", f"synthetic:train={data[0]},test={data[1]}", "paper_scale")
    for key, value in {"train_size": 0, "test_size": 0, "epochs": epochs, "probe_every": 1, "device": device}.items():
        s.set(key, value, "paper_scale")
    return small


def time_runs(runs: list[Run], data: tuple[int, int], epochs: int, device: str,
              clock: Callable[[], float] = time.perf_counter, say: Callable[[str], None] = print) -> list[Timed]:
    """Each run's warm epochs (all but the first of ``epochs``) timed with ``clock``, one run after the other."""
    registry = get_registry()
    timed = []
    for run in runs:
        real = split_sizes(run, registry) or data
        steps, times = epoch_times(timing_copy(run, data, epochs, device), registry, clock)
        warm = times[1:] or times
        timed.append(Timed(run.name, cost_kind(run, *real), data[0], data[1], run.settings.batch_size, warm,
                           real[0], real[1], run.settings.epochs))
        say(f"  {run.name}: {len(warm)} warm epoch(s) of {steps} steps: "
            + ", ".join(f"{a:.2f} s training + {b:.2f} s evaluation" for a, b in warm))
    return timed


def timed_alongside(run: Run, barrier, threads: int) -> float:
    """In a worker process: the mean warm epoch of ``run`` once every copy is set up (``barrier``)."""
    torch.set_num_threads(threads)
    _, times = epoch_times(run, get_registry(), ready=barrier.wait)
    warm = times[1:] or times
    return statistics.mean(a + b for a, b in warm)


def measure_slowdown(run: Run, alone: float, jobs: int) -> float:
    """A warm epoch of ``jobs`` copies of ``run`` side by side (processes, as ``--jobs`` trains) over ``alone``."""
    context = multiprocessing.get_context("spawn")
    threads = worker_threads(jobs)
    with context.Manager() as manager, concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        barrier = manager.Barrier(jobs)
        side_by_side = list(pool.map(timed_alongside, [run] * jobs, [barrier] * jobs, [threads] * jobs))
    return max(1.0, statistics.mean(side_by_side) / alone)


def report(projection: Projection, timed: list[Timed], recipe: str, device: str, goal_min: float) -> None:
    for run in timed:
        seconds = projection.per_run[run.name]
        print(f"  {run.name:<14} {format_duration(seconds / run.real_epochs):>12} an epoch x {run.real_epochs} "
              f"= {format_duration(seconds)}")
        print(f"RESULT paper_run={run.name} epoch_s={seconds / run.real_epochs:.3f} epochs={run.real_epochs} "
              f"run_min={seconds / 60:.2f} worker={projection.workers[run.name]}")
    met = projection.wall / 60 < goal_min
    print(f"{recipe} at paper scale on {device}: one run after another {format_duration(projection.sequential)}; "
          f"with --jobs {projection.jobs} (slowdown {projection.slowdown:.2f}) {format_duration(projection.wall)}; "
          f"goal < {goal_min:g} min: {'met' if met else 'MISSED'}")
    print(f"RESULT paper_recipe={recipe} device={device.replace(' ', '_')} jobs={projection.jobs} "
          f"slowdown={projection.slowdown:.3f} sequential_min={projection.sequential / 60:.2f} "
          f"projected_min={projection.wall / 60:.2f} goal_min={goal_min:g} met={int(met)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--epochs-timed", type=int, default=2, help="epochs per run; the first is warm-up")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--goal-min", type=float, default=90.0)
    parser.add_argument("--slowdown", type=float, default=None,
                        help="stated concurrency slowdown for --jobs N (default: measured)")
    parser.add_argument("--train-images", type=int, default=None,
                        help="time on fewer training images (default: the real 50,000); the projection "
                             "keeps the real size at the measured seconds per step")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true", default=os.environ.get("PAPER_SCALE_SMOKE") == "1")
    args = parser.parse_args()
    if min(args.jobs, args.epochs_timed, args.train_images or 1) < 1:
        raise SystemExit("--jobs, --epochs-timed and --train-images must be at least 1")
    device = str(resolve_device(args.device))
    overrides = [*(f"{k}={v}" for k, v in SMOKE_SETTINGS.items() if args.smoke), *args.overrides]
    data = SMOKE_DATA if args.smoke else PAPER_DATA
    data = (args.train_images or data[0], data[1])
    _, runs = plan(args.recipe, None, overrides)
    name = device if device == "cpu" else torch.cuda.get_device_name(torch.device(device))
    print(f"{args.recipe}: {len(runs)} runs at paper scale{' (SMOKE sizes)' if args.smoke else ''}, "
          f"{args.epochs_timed} epoch(s) each on {data[0]:,} / {data[1]:,} synthetic images, on {name}, "
          f"torch {torch.__version__}")
    timed = time_runs(runs, data, args.epochs_timed, device)
    slowdown = args.slowdown
    if args.jobs > 1 and slowdown is None:
        per_run = project(timed).per_run
        cheapest = min(timed, key=lambda t: per_run[t.name])
        alone = statistics.mean(a + b for a, b in cheapest.epochs)
        copy_of = timing_copy(next(r for r in runs if r.name == cheapest.name), data, args.epochs_timed, device)
        slowdown = measure_slowdown(copy_of, alone, args.jobs)
        print(f"  {args.jobs} copies of {cheapest.name} side by side: each epoch {slowdown:.2f}x as long as alone "
              f"(throughput {args.jobs / slowdown:.2f}x)")
    report(project(timed, args.jobs, slowdown or 1.0), timed, args.recipe, name, args.goal_min)


if __name__ == "__main__":
    main()
