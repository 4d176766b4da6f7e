"""Spreading a recipe's runs over worker processes or cluster jobs.

Each worker or job re-expands the recipe from ``recipe.json``'s source and trains
one run through :func:`ablate.runner.execute_run`, so the sequential runner's rules
hold unchanged: a run's folder, checkpoint and end marker are the same whoever
trains it. Nothing here schedules work itself: local workers are a
``concurrent.futures`` process pool; clusters are reached through submitit.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from ablate.checkpoint import write_json
from ablate.errors import AblateError
from ablate.progress import Progress, SilentProgress, format_duration
from ablate.recipe import Run
from ablate.schema import JOBS, PLAN

_worker_device: str | None = None


# --------------------------------------------------------------------------
# What a worker or a job does
# --------------------------------------------------------------------------

def train_one(source: str, scale: str | None, overrides: list[str], run_name: str, out_dir: str,
              device: str | None = None) -> str | None:
    """Expand the recipe again, find ``run_name`` and train it; return None or the failure."""
    from ablate.plugins import get_registry
    from ablate.runner import execute_run, plan

    device = device or _worker_device
    extra = [f'device="{device}"'] if device else []
    recipe, runs = plan(source, scale, list(overrides) + extra)
    run = next(r for r in runs if r.name == run_name)
    return execute_run(run, Path(out_dir) / run.dir_name, recipe.name, scale, get_registry(), SilentProgress())


def claim_device(devices, threads: int) -> None:
    """Pool initialiser: pin this worker to the next free device and its share of CPU threads."""
    global _worker_device
    import torch

    _worker_device = devices.get()
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------
# Several worker processes on one machine
# --------------------------------------------------------------------------

def default_devices(jobs: int) -> list[str]:
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"] * jobs


def run_in_workers(out_dir: Path, scale, overrides, runs: list[Run], jobs: int, devices: list[str] | None,
                   fail_fast: bool, progress: Progress | None) -> dict[str, str]:
    """Train ``runs`` in up to ``jobs`` worker processes; return {run: failure} for the failed ones.

    Each worker holds one device for its life (devices are reused round-robin when
    there are more jobs than devices) and, on a CPU, ``cores // jobs`` threads.
    Ctrl-C stops every worker; each run keeps its last epoch's checkpoint.
    """
    devices = list(devices or default_devices(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    for i in range(jobs):
        queue.put(devices[i % len(devices)])
    source = json.loads((out_dir / PLAN).read_text())["source"]
    say = getattr(progress, "console", None)
    errors: dict[str, str] = {}
    started = {}
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                                  initializer=claim_device, initargs=(queue, threads))
    try:
        futures = {}
        for run in runs:
            futures[pool.submit(train_one, source, scale, list(overrides), run.name, str(out_dir))] = run
            started[run.name] = time.perf_counter()
        for future in concurrent.futures.as_completed(futures):
            run = futures[future]
            try:
                error = future.result()
            except concurrent.futures.process.BrokenProcessPool:
                error = "its worker process died (killed, or out of memory); run the same command to resume it"
            if say:
                state = f"failed: {error}" if error else "finished"
                say.print(f"[{run.name}] {state} ({format_duration(time.perf_counter() - started[run.name])})",
                          highlight=False)
            if error:
                errors[run.name] = error
                if fail_fast:
                    from ablate.runner import RecipeFailed
                    raise RecipeFailed(f"run {run.name!r} failed: {error}")
    except BaseException:
        stop_workers(pool)
        raise
    pool.shutdown(wait=True)
    return errors


def stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop every worker now; their runs resume from the last epoch's checkpoint."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive():
            process.terminate()
    for process in list(getattr(pool, "_processes", {}).values()):
        process.join(timeout=10)


# --------------------------------------------------------------------------
# Slurm (or submitit's local executor) through submitit
# --------------------------------------------------------------------------

LAUNCHER_KEYS = {
    "cluster": (str, "slurm (default when sbatch exists), local (submitit's local executor) or debug"),
    "partition": (str, "Slurm partition"),
    "time": (int, "time limit per run, minutes"),
    "gpus": (int, "GPUs per run"),
    "cpus": (int, "CPUs per run"),
    "mem_gb": (int, "memory per run, GiB"),
    "parallel": (int, "most runs at once (array parallelism)"),
    "wait": (bool, "wait for the jobs to end (default: submit and return)"),
}


def launcher_options(table: dict[str, Any], where: str) -> dict[str, Any]:
    """Check the `[launcher]` table of a recipe or `--launcher-opt` values."""
    from ablate.params import coerce

    options = {}
    for key, value in table.items():
        if key not in LAUNCHER_KEYS:
            raise AblateError(f"{where}: unknown launcher option {key!r}; known: {', '.join(LAUNCHER_KEYS)}")
        options[key] = coerce(value, LAUNCHER_KEYS[key][0], f"{where}.{key}")
    return options


class RunJob:
    """A submitit job that trains one run; on preemption or timeout it is requeued and resumes."""

    def __call__(self, source, scale, overrides, run_name, out_dir):
        return train_one(source, scale, overrides, run_name, out_dir)

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on preemption or timeout: resubmit the same call.

        ablate's own per-epoch checkpoint makes the resubmitted job resume where the
        last finished epoch left off.
        """
        import submitit

        return submitit.helpers.DelayedSubmission(RunJob(), *args, **kwargs)


def make_executor(folder: Path, options: dict[str, Any]):
    try:
        import submitit
    except ImportError:
        raise AblateError("--launcher slurm needs submitit: pip install 'ablate[cluster]'") from None
    cluster = options.get("cluster")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    parameters = {"timeout_min": options.get("time", 24 * 60), "name": "ablate"}
    if "gpus" in options:
        parameters["gpus_per_node"] = options["gpus"]
    if "cpus" in options:
        parameters["cpus_per_task"] = options["cpus"]
    if "mem_gb" in options:
        parameters["mem_gb"] = options["mem_gb"]
    if "partition" in options:
        parameters["slurm_partition"] = options["partition"]
    if "parallel" in options:
        parameters["slurm_array_parallelism"] = options["parallel"]
    executor.update_parameters(**parameters)
    return executor


def submit_to_cluster(out_dir: Path, recipe, scale, overrides, runs: list[Run], options: dict[str, Any],
                      progress: Progress | None):
    """Submit one job per run (a job array where the executor allows); wait only if asked to."""
    if not runs:
        return []
    executor = make_executor(out_dir / ".submitit", options)
    source = json.loads((out_dir / PLAN).read_text())["source"]
    calls = [(source, scale, list(overrides), run.name, str(out_dir)) for run in runs]
    jobs = executor.map_array(RunJob(), *zip(*calls))
    write_jobs(out_dir, {run.name: job.job_id for run, job in zip(runs, jobs)})
    say = getattr(progress, "console", None)
    if say:
        say.print(f"submitted {len(jobs)} jobs ({', '.join(j.job_id for j in jobs[:3])}{'...' if len(jobs) > 3 else ''}); "
                  f"follow them with `ablate status {out_dir}`", highlight=False)
    if options.get("wait"):
        for job in jobs:
            job.result()
    return jobs


def write_jobs(out_dir: Path, job_ids: dict[str, str]) -> None:
    path = out_dir / JOBS
    known = json.loads(path.read_text()) if path.exists() else {}
    write_json(path, {**known, **job_ids})
