"""Several runs at once on one machine: a ``concurrent.futures`` pool of worker processes.

Each worker holds one device for its life (devices are reused round-robin when
there are more workers than devices) and, on a CPU, its share of the cores. A
worker receives the resolved run (a :class:`ablate.runs.RunTask`) and trains it on
its own device; the device is no part of a run's identity, so the run lands in
the same folder as when it is trained sequentially.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

from ablate.config import Settings
from ablate.device import resolve_device
from ablate.errors import AblateError
from ablate.launchers import LaunchContext, Launcher
from ablate.launchers.sequential import steps_per_run
from ablate.params import Param
from ablate.recipe import Run
from ablate.runs import RunTask
from ablate.worker_progress import PoolProgress, QueueProgress

_worker_device: str | None = None
_worker_progress = None           # the queue a worker reports its runs' epochs to (see ablate.worker_progress)


class ProcessPoolLauncher(Launcher):
    """Trains up to ``jobs`` runs at once in worker processes, one device each (``--jobs N``)."""

    options = (
        Param("jobs", int, 2, "runs at once, one worker process each", minimum=1),
        Param("devices", list, [], "devices the workers take in turn, e.g. cuda:0,cuda:1 "
                                   "(default: every GPU, or the CPU)"),
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
        threads = max(1, (os.cpu_count() or 1) // jobs)
        progress = PoolProgress(context.progress, runs, steps_per_run(runs, context.registry), jobs,
                                multiprocessing_context)
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing_context,
                                                      initializer=claim_device, initargs=(queue, threads,
                                                                                          progress.queue))
        errors: dict[str, str] = {}
        try:
            futures = {pool.submit(train_in_worker, context.task(run)): run for run in runs}
            for future in concurrent.futures.as_completed(futures):
                run = futures[future]
                try:
                    error = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    error = "its worker process died (killed, or out of memory); run the same command to resume it"
                progress.end_run(run, error)
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


def parse_devices(values: list) -> list[str]:
    """``["cuda:0,cuda:1"]`` or ``["cuda:0", "cuda:1"]`` -> ``["cuda:0", "cuda:1"]``, each checked."""
    devices = [d.strip() for value in values for d in str(value).split(",") if d.strip()]
    for device in devices:
        Settings().set("device", device, "--devices")
    return devices


def default_devices(jobs: int) -> list[str]:
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"] * jobs


def claim_device(devices, threads: int, progress=None) -> None:
    """Pool initialiser: pin this worker to the next free device and its share of CPU threads; keep the
    queue its runs report their epochs to."""
    global _worker_device, _worker_progress
    import torch

    _worker_device = devices.get()
    _worker_progress = progress
    torch.set_num_threads(threads)


def train_in_worker(task: RunTask) -> str | None:
    """What a worker does for one run: train it on the worker's device."""
    return task(device=_worker_device,
                progress=QueueProgress(_worker_progress, task.run.name) if _worker_progress is not None else None)


def stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop every worker now; their runs resume from the last epoch's checkpoint."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive():
            process.terminate()
    for process in list(getattr(pool, "_processes", {}).values()):
        process.join(timeout=10)
