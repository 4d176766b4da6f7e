"""Several runs at once on one machine: a ``concurrent.futures`` pool of worker processes.

Each worker holds one device for its life (devices are reused round-robin when
there are more workers than devices) and, on a CPU, its share of the cores. A
worker receives the resolved run (a :class:`ablate.execution.run_folder.RunTask`) and trains it on
its own device; the device is no part of a run's identity, so the run lands in
the same folder as when it is trained sequentially.

The runs are handed out longest first (:func:`ablate.execution.scheduling.run_costs`: measured
seconds where the calibration cache has them, else steps times the plugins' step cost,
so a PGD run starts first), so that the longest does not run alone at the end. Before
a run starts, its worker takes the run's estimated peak memory
(:func:`ablate.execution.memory.run_memory`) from its device's :class:`ablate.execution.memory.SharedBudget`
and waits while it does not fit next to the runs already on that device.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys

import torch

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.params import Param
from ablate.core.progress import format_duration
from ablate.core.registry import get_registry
from ablate.execution.launchers import LaunchContext, Launcher
from ablate.execution.memory import GiB, SharedBudget, budget_key, device_budget, gib, run_memory
from ablate.execution.pool_progress import PoolProgress, QueueProgress
from ablate.execution.run_folder import RunTask
from ablate.execution.scheduling import longest_first, run_costs, step_weights
from ablate.study.expansion import Run
from ablate.study.run_sizes import steps_per_run
from ablate.study.settings import Settings

_worker_device: str | None = None
_worker_budget: SharedBudget | None = None
_worker_progress = None           # the queue a worker reports its runs' epochs to (see ablate.execution.pool_progress)


class ProcessPoolLauncher(Launcher):
    """Trains up to ``jobs`` runs at once in worker processes, one device each (``--jobs N``)."""

    options = (
        Param("jobs", int, 2, "runs at once, one worker process each", minimum=1),
        Param("devices", list, [], "devices the workers take in turn, e.g. cuda:0,cuda:1 "
                                   "(default: every GPU, or the CPU); one listed twice takes two turns",
              nonempty=False, unique=False),
        Param("memory", float, 0.0, "GiB the runs on one device may take together; 0: its free memory "
                                    "at start (available RAM on the CPU) x 0.9", minimum=0.0),
    )

    def check(self, runs: list[Run], options: dict) -> None:
        """The workers' devices must be on this machine (the runs' own device settings are replaced)."""
        for device in parse_devices(options["devices"]):
            try:
                resolve_device(device)
            except AblateError as exc:
                raise AblateError(f"--devices {device} (for runs {', '.join(r.name for r in runs[:3])}"
                                  f"{', ...' if len(runs) > 3 else ''}): {exc}") from None

    def launch(self, runs: list[Run], context: LaunchContext) -> dict[str, str]:
        """Ctrl-C (or ``fail_fast`` meeting a failure) stops every worker; each run keeps its checkpoint."""
        jobs = context.options["jobs"]
        devices = parse_devices(context.options["devices"]) or default_devices(jobs)
        multiprocessing_context = multiprocessing.get_context("spawn")
        queue = multiprocessing_context.Queue()
        for i in range(jobs):
            queue.put(devices[i % len(devices)])
        fixed = int(context.options["memory"] * GiB)
        budgets = {key: SharedBudget(multiprocessing_context, fixed) for key in map(budget_key, devices)}
        runs = hand_out_order(runs, context, resolve_device(devices[0]).type)
        threads = worker_threads(jobs)
        progress = PoolProgress(context.progress, runs, steps_per_run(runs, context.registry), jobs,
                                multiprocessing_context, step_weights(runs, context.registry))
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing_context,
                                                      initializer=claim_device,
                                                      initargs=(queue, threads, budgets, progress.queue))
        errors: dict[str, str] = {}
        try:
            futures = {pool.submit(train_in_worker, context.task(run)): run for run in runs}
            for future in concurrent.futures.as_completed(futures):
                run = futures[future]
                note = ""
                try:
                    error, note = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    error = "its worker process died (killed, or out of memory); run the same command to resume it"
                progress.end_run(run, error, note)
                if error:
                    errors[run.name] = error
                    if context.fail_fast:
                        stop_workers(pool)
                        return errors
        except BaseException:
            stop_workers(pool)
            raise
        finally:
            progress.close()
        pool.shutdown(wait=True)
        return errors


def hand_out_order(runs: list[Run], context: LaunchContext, device: str) -> list[Run]:
    """The runs longest first (costed as on ``device``), said in one line."""
    costs, unit = run_costs(runs, context.registry, device)
    ordered = longest_first(runs, costs)
    if len(runs) > 1:
        cost_of = {run.name: cost for run, cost in zip(runs, costs)}
        shown = [f"{run.name} ({format_duration(cost_of[run.name]) if unit == 's' else f'{cost_of[run.name]:,.0f}'})"
                 for run in ordered]
        context.say(f"ablate: longest runs first, by {'estimated time' if unit == 's' else unit}: {', '.join(shown)}")
    return ordered


def parse_devices(values: list) -> list[str]:
    """``["cuda:0,cuda:1"]`` or ``["cuda:0", "cuda:1"]`` -> ``["cuda:0", "cuda:1"]``, each checked."""
    devices = [d.strip() for value in values for d in str(value).split(",") if d.strip()]
    for device in devices:
        Settings().set("device", device, "--devices")
    return devices


def default_devices(jobs: int) -> list[str]:
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"] * jobs


def worker_threads(jobs: int) -> int:
    """Each worker's share of the cores, at most ``$OMP_NUM_THREADS`` when it is set (as torch's default)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(threads, int(cap))) if cap.isdigit() else threads


def claim_device(devices, threads: int, budgets: dict[str, SharedBudget], progress=None) -> None:
    """Pool initialiser: pin this worker to the next free device, its memory budget and its share of CPU
    threads; keep the queue its runs report their epochs to."""
    global _worker_device, _worker_budget, _worker_progress
    _worker_device = devices.get()
    _worker_budget = budgets[budget_key(_worker_device)]
    _worker_progress = progress
    torch.set_num_threads(threads)


def train_in_worker(task: RunTask) -> tuple[str | None, str]:
    """What a worker does for one run: wait until its memory fits on the worker's device, train it there.

    Returns the failure (or None) and a note for the run's line (how long it waited for memory)."""
    registry = get_registry()
    try:
        need = run_memory(task.run, registry, _worker_device).total
    except Exception as exc:               # the run itself will say what is wrong with it
        need = 0
        print(f"ablate: [{task.run.name}] no memory estimate ({exc}); it waits for nothing", file=sys.stderr)
    taken, size, waited = _worker_budget.acquire(need, lambda: device_budget(_worker_device))
    if need > size:
        print(f"ablate: [{task.run.name}] needs about {gib(need)}, more than the {gib(size)} budget of "
              f"{_worker_device}: it runs alone there, and may still run out of memory", file=sys.stderr, flush=True)
    try:
        error = task(device=_worker_device, registry=registry, progress=QueueProgress(_worker_progress, task.run.name)
                     if _worker_progress is not None else None)
    finally:
        _worker_budget.release(taken)
    note = f"; waited {format_duration(waited)} for memory on {_worker_device}" if waited >= 1 else ""
    return error, note


def stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop every worker now; their runs resume from the last epoch's checkpoint."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive():
            process.terminate()
    for process in list(getattr(pool, "_processes", {}).values()):
        process.join(timeout=10)
