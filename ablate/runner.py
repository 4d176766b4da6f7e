"""Running a recipe: one directory per run, skip what is finished, resume what is not.

Layout of ``<out>/<recipe>/``: ``recipe.json`` (the plan), ``results.csv`` (every
run's metrics in one tidy table) and one folder per run, ``<run>-<hash of its
resolved config>/``, holding ``config.json``, ``metrics.csv``, ``checkpoint.pt``
and a marker of how it ended: ``done.json`` or ``failed.json`` (``running.json``
while a process works on it). A run's status is read from these files, so the
sequential runner, worker processes and cluster jobs all keep it the same way.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import ablate
from ablate.checkpoint import write_csv, write_json
from ablate.datasets import load_data, load_full
from ablate.errors import AblateError
from ablate.plugins import PluginRegistry, get_registry
from ablate.progress import Progress, SilentProgress
from ablate.recipe import Recipe, Run, expand, load_recipe
from ablate.schema import CHECKPOINT, CONFIG, DONE, FAILED, JOBS, METRICS, PLAN, RESULTS, RUNNING, concat_results
from ablate.trainer import Trainer, resolve_device


class RecipeFailed(AblateError):
    """Some runs of a recipe failed; the others finished and their results are saved."""


# --------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------

def plan(recipe: str | Path | Recipe, scale: str | None = None, overrides=(),
         registry: PluginRegistry | None = None) -> tuple[Recipe, list[Run]]:
    """Load and expand a recipe, validating everything; nothing is trained."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return recipe, expand(recipe, scale, overrides, registry)


def plan_table(runs: list[Run], out_dir: Path | None = None) -> pd.DataFrame:
    """One row per run: what ``--dry-run`` shows."""
    rows = []
    for run in runs:
        s = run.settings
        rows.append({"run": run.name, "plugins": ", ".join(
            f"{n}({', '.join(f'{k}={v}' for k, v in p.items())})" for n, p in run.plugins) or "-",
            "dataset": s.dataset, "model": f"{s.model} x{s.width:g}", "epochs": s.epochs,
            "batch": s.batch_size, "lr": s.lr, "radii": " ".join(f"{r:g}" for r in s.radii),
            "status": run_status(out_dir / run.dir_name)[0] if out_dir else "", "dir": run.dir_name})
    return pd.DataFrame(rows)


def save_plan(out_dir: Path, recipe: Recipe, scale: str | None, overrides, runs: list[Run]) -> None:
    """recipe.json: what the recipe expanded to, enough for `ablate status`, `report` and workers."""
    write_json(out_dir / PLAN, {
        "recipe": recipe.name, "description": recipe.description, "report": recipe.report,
        "scale": scale or "paper", "source": str(Path(recipe.path).resolve()), "overrides": list(overrides),
        "runs": [{"name": r.name, "dir": r.dir_name, "plugins": dict(r.plugins), "settings": r.settings.as_dict(),
                  **dict(zip(("status", "error"), run_status(out_dir / r.dir_name)))} for r in runs]})


def run_status(run_dir: Path) -> tuple[str, str | None]:
    """(status, error) of a run from its folder: finished, failed, running, partial or pending."""
    if (run_dir / DONE).exists():
        return "finished", None
    if (run_dir / RUNNING).exists():
        owner = json.loads((run_dir / RUNNING).read_text())
        if owner.get("host") != socket.gethostname() or pid_alive(owner.get("pid", -1)):
            return "running", None
    if (run_dir / FAILED).exists():
        return "failed", json.loads((run_dir / FAILED).read_text()).get("error")
    if (run_dir / CHECKPOINT).exists():
        return "partial", None
    return "pending", None


def recipe_status(out_dir: Path) -> pd.DataFrame:
    """One row per run of a recipe's output folder: its status, epochs done, and why it failed."""
    plan_path = out_dir / PLAN
    if not plan_path.exists():
        raise AblateError(f"{out_dir}: no {PLAN} here; point at OUT/RECIPE, a folder `ablate recipe` wrote")
    plan_data = json.loads(plan_path.read_text())
    jobs_path = out_dir / JOBS
    jobs = json.loads(jobs_path.read_text()) if jobs_path.exists() else {}
    rows = []
    for entry in plan_data["runs"]:
        run_dir = out_dir / entry["dir"]
        state, error = run_status(run_dir)
        epochs = pd.read_csv(run_dir / METRICS)["epoch"].max() if (run_dir / METRICS).exists() else 0
        rows.append({"run": entry["name"], "status": state, "epochs": f"{epochs}/{entry['settings']['epochs']}",
                     "job": jobs.get(entry["name"], ""), "error": error or ""})
    return pd.DataFrame(rows)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------

def provenance(run: Run) -> dict[str, Any]:
    """What a result needs to be trusted later: versions, revision, device."""
    return {"ablate_version": ablate.__version__, "git_revision": git_revision(),
            "torch_version": torch.__version__, "device": str(resolve_device(run.settings.device)),
            "host": platform.node(), "python": platform.python_version(), "seed": run.settings.seed}


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(ablate.__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def describe_failure(exc: BaseException, registry: PluginRegistry) -> str:
    """One line for a failed run, naming the plugin whose code raised, when one did."""
    if isinstance(exc, AblateError):
        return str(exc)
    modules = {info.cls.__module__: name for name, info in registry.plugins.items()}
    culprit = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module in modules:
            culprit = modules[module]
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return f"plugin {culprit!r} raised {text}" if culprit else text


def execute_run(run: Run, run_dir: Path, recipe_name: str, scale: str | None,
                registry: PluginRegistry, progress: Progress) -> str | None:
    """Train one run (resuming it if it has a checkpoint) and mark how it ended.

    Returns None when it finished, else the one-line reason it failed.
    Ctrl-C and kills propagate, leaving the last epoch's checkpoint to resume from.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / FAILED).unlink(missing_ok=True)
    write_json(run_dir / RUNNING, {"host": socket.gethostname(), "pid": os.getpid(),
                                   "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    started = time.perf_counter()
    try:
        write_json(run_dir / CONFIG, {"run": run.name, "recipe": recipe_name, "scale": scale or "paper",
                                             "settings": run.settings.as_dict(), "plugins": run.plugins,
                                             "hash": run.short_hash, **provenance(run)})
        Trainer(run, run_dir, registry, progress).fit()
    except Exception as exc:
        error = describe_failure(exc, registry)
        write_json(run_dir / FAILED, {"error": error, "traceback": traceback.format_exc()})
        return error
    finally:
        (run_dir / RUNNING).unlink(missing_ok=True)
    write_json(run_dir / DONE, {"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "seconds": round(time.perf_counter() - started, 3)})
    return None


# --------------------------------------------------------------------------
# A whole recipe
# --------------------------------------------------------------------------

def steps_per_run(runs: list[Run], registry: PluginRegistry) -> list[int]:
    steps = []
    for run in runs:
        s = run.settings
        n = s.train_size or len(load_full(s.dataset, s, registry).y_train)     # the count only: no subset copy
        steps.append(s.epochs * math.ceil(n / s.batch_size))
    return steps


def run_recipe(recipe: str | Path | Recipe, scale: str | None = None, overrides=(), out: str | Path = "runs",
               *, fail_fast: bool = False, progress: Progress | None = None, console=None,
               formats=("png",), report: bool = True, registry: PluginRegistry | None = None,
               only: list[str] | None = None, jobs: int = 1, devices: list[str] | None = None,
               launcher: str = "local", launcher_options: dict | None = None) -> pd.DataFrame:
    """Run every run of a recipe that has not finished; return all runs' metrics.

    Finished runs are skipped, a half-finished one resumes from its checkpoint. A
    failing run is reported and the others go on (``fail_fast`` stops at the first);
    :class:`RecipeFailed` is raised at the end if any failed. ``jobs > 1`` trains
    runs in parallel worker processes, one device each; ``launcher="slurm"`` submits
    them as cluster jobs (see :mod:`ablate.launchers`).
    """
    registry = registry or get_registry()
    recipe, runs = plan(recipe, scale, overrides, registry)
    if only:
        unknown = sorted(set(only) - {r.name for r in runs})
        if unknown:
            raise AblateError(f"--run {unknown[0]!r}: no such run in {recipe.name}; runs: "
                              f"{', '.join(r.name for r in runs)}")
        runs = [r for r in runs if r.name in only]
    out_dir = Path(out) / recipe.name
    for dataset in {r.settings.dataset: r.settings for r in runs}.values():
        load_data(dataset, registry=registry)      # a missing dataset stops here, before any training
    save_plan(out_dir, recipe, scale, overrides, runs)
    todo = [r for r in runs if run_status(out_dir / r.dir_name)[0] not in ("finished", "running")]
    errors: dict[str, str] = {}
    try:
        if launcher == "slurm":
            from ablate.launchers import submit_to_cluster
            submit_to_cluster(out_dir, recipe, scale, overrides, todo, launcher_options or {}, progress)
        elif jobs > 1:
            from ablate.launchers import run_in_workers
            errors = run_in_workers(out_dir, scale, overrides, todo, jobs, devices, fail_fast, progress)
        else:
            errors = run_sequentially(out_dir, recipe, scale, runs, registry, fail_fast, progress or SilentProgress())
    finally:
        save_plan(out_dir, recipe, scale, overrides, runs)
        results = collect_results(out_dir, runs)
        if len(results):
            write_csv(out_dir / RESULTS, results)
    if report and console is not None and len(results):
        from ablate.report import print_report
        print_report(out_dir, console, formats)
    if errors:
        listed = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise RecipeFailed(f"{len(errors)} of {len(runs)} runs failed ({listed}); the others' results are in "
                           f"{out_dir / RESULTS}. Fix the cause and run the same command again: finished runs "
                           f"are skipped")
    return results


def run_sequentially(out_dir: Path, recipe: Recipe, scale, runs: list[Run], registry: PluginRegistry,
                     fail_fast: bool, progress: Progress) -> dict[str, str]:
    errors: dict[str, str] = {}
    progress.start_recipe(runs, steps_per_run(runs, registry))
    try:
        for index, run in enumerate(runs):
            run_dir = out_dir / run.dir_name
            progress.start_run(index, run)
            state = run_status(run_dir)[0]
            if state in ("finished", "running"):
                progress.end_run(run, "skipped (finished before)" if state == "finished" else
                                 "skipped: another live process is training it (see its running.json)", 0.0)
                continue
            started = time.perf_counter()
            error = execute_run(run, run_dir, recipe.name, scale, registry, progress)
            progress.end_run(run, f"failed: {error}" if error else "finished", time.perf_counter() - started)
            if error:
                errors[run.name] = error
                if fail_fast:
                    raise RecipeFailed(f"run {run.name!r} failed: {error}")
    finally:
        progress.close()
    return errors


def collect_results(out_dir: Path, runs: list[Run]) -> pd.DataFrame:
    """Every run's metrics.csv, in recipe order, as one tidy table."""
    return concat_results(pd.read_csv(out_dir / r.dir_name / METRICS) for r in runs
                          if (out_dir / r.dir_name / METRICS).exists())
