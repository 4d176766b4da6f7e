"""Slurm (or submitit's local executor) through submitit: one cluster job per run.

Each job receives the resolved run (a :class:`ablate.execution.run_folder.RunTask`) and trains it;
a job that is preempted or reaches its time limit is requeued and resumes from
its last epoch's checkpoint. Job ids go to ``jobs.json`` for ``ablate status``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ablate.core.errors import AblateError
from ablate.core.files import write_json
from ablate.core.params import Param
from ablate.core.schema import JOBS
from ablate.execution.launchers import LaunchContext, Launcher
from ablate.execution.run_folder import RunTask
from ablate.study.expansion import Run

SUBMITIT_FOLDER = ".submitit"
NAME = r"[A-Za-z0-9_.,:-]+"         # Slurm names that a shell line cannot hide behind


class SubmititLauncher(Launcher):
    """Submits one job per run (a job array where the executor allows); waits only if asked to."""

    # Values end up in a generated sbatch script: names match a strict pattern (no newline, space or
    # shell metacharacter can pass), numbers are numbers with sane bounds.
    options = (
        Param("cluster", str, None, "slurm, local (submitit's local executor) or debug",
              choices=("slurm", "local", "debug")),
        Param("partition", str, None, "a Slurm partition name: letters, digits and _ . , : -", pattern=NAME),
        Param("time", int, 24 * 60, "time limit per run, minutes", minimum=1, maximum=525_600),
        Param("gpus", int, None, "GPUs per run", minimum=0, maximum=1024),
        Param("cpus", int, None, "CPUs per run", minimum=1, maximum=100_000),
        Param("mem_gb", int, None, "memory per run, GiB", minimum=1, maximum=1_000_000),
        Param("parallel", int, None, "most runs at once (array parallelism)", minimum=1, maximum=100_000),
        Param("wait", bool, False, "wait for the jobs to end (default: submit and return)"),
    )

    def launch(self, runs: list[Run], context: LaunchContext) -> dict[str, str]:
        """Failures of jobs that were not waited for show in ``ablate status``; only waited ones are returned."""
        jobs = submit(runs, context)
        if not context.options["wait"]:
            return {}
        errors = {}
        for run, job in zip(runs, jobs):
            error = job.result()
            if error:
                errors[run.name] = error
        return errors

    def detached(self, options: dict[str, Any]) -> bool:
        return not options["wait"]


def submit(runs: list[Run], context: LaunchContext) -> list:
    """Submit one job per run; return submitit's jobs."""
    if not runs:
        return []
    executor = make_executor(context.out_dir / SUBMITIT_FOLDER, context.options)
    jobs = executor.map_array(RunJob(), [context.task(run) for run in runs])
    write_jobs(context.out_dir, {run.name: job.job_id for run, job in zip(runs, jobs)})
    ids = ", ".join(job.job_id for job in jobs[:3]) + ("..." if len(jobs) > 3 else "")
    context.say(f"submitted {len(jobs)} jobs ({ids}); follow them with `ablate status {context.out_dir}`")
    return jobs


class RunJob:
    """A submitit job that trains one run; on preemption or timeout it is requeued and resumes."""

    def __call__(self, task: RunTask) -> str | None:
        return task()

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on preemption or timeout: resubmit the same call.

        ablate's own per-epoch checkpoint makes the resubmitted job resume where the
        last finished epoch left off.
        """
        import submitit  # noqa: PLC0415 (optional: cluster extra)

        return submitit.helpers.DelayedSubmission(RunJob(), *args, **kwargs)


def make_executor(folder: Path, options: dict[str, Any]):
    try:
        import submitit  # noqa: PLC0415 (optional: cluster extra)
    except ImportError:
        raise AblateError("--launcher slurm needs submitit: pip install 'ablate[cluster]'") from None
    executor = submitit.AutoExecutor(folder=folder, cluster=options["cluster"])
    parameters = {"timeout_min": options["time"], "name": "ablate"}
    for option, parameter in (("gpus", "gpus_per_node"), ("cpus", "cpus_per_task"), ("mem_gb", "mem_gb"),
                              ("partition", "slurm_partition"), ("parallel", "slurm_array_parallelism")):
        if options[option] is not None:
            parameters[parameter] = options[option]
    executor.update_parameters(**parameters)
    return executor


def write_jobs(out_dir: Path, job_ids: dict[str, str]) -> None:
    path = out_dir / JOBS
    known = json.loads(path.read_text()) if path.exists() else {}
    write_json(path, {**known, **job_ids})
