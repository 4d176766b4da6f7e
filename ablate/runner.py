"""Running a recipe: one directory per run, skip what is finished, resume what is not.

Layout of ``<out>/<recipe>/``: ``recipe.json`` (the plan), ``results.csv`` (every
run's metrics in one tidy table) and one folder per run, ``<run>-<hash of its
resolved config>/`` (see :mod:`ablate.schema`). A recipe is expanded once
(:func:`prepare`), the runs that still need training are handed to a launcher
(:mod:`ablate.launchers`), and whatever they left on disk is gathered into
``results.csv`` and the report (:func:`run_study`). :func:`run_recipe` does both.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ablate.checkpoint import write_csv, write_json
from ablate.datasets import load_full
from ablate.errors import AblateError
from ablate.launchers import DEFAULT, PARALLEL, LaunchContext, Launcher, find_launcher, merge_options
from ablate.plugins import PluginRegistry, get_registry
from ablate.progress import Progress, SilentProgress
from ablate.recipe import Recipe, Run, expand, load_recipe
from ablate.run_conditions import check_conditions
from ablate.runs import needs_training, read_json, run_status
from ablate.schema import JOBS, METRICS, PLAN, RESULTS, SEED, concat_results, folder_under, result_columns


class RecipeFailed(AblateError):
    """Some runs of a recipe failed; the others finished and their results are saved."""


# --------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------

def plan(recipe: str | Path | Recipe, scale: str | None = None, overrides=(),
         registry: PluginRegistry | None = None, only: list[str] | None = None) -> tuple[Recipe, list[Run]]:
    """Load and expand a recipe (the runs ``only`` names, all without it), validating everything; nothing is
    trained."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return recipe, expand(recipe, scale, overrides, registry, only)


def plan_table(runs: list[Run], out_dir: Path | None = None, registry: PluginRegistry | None = None,
               wide: bool = False) -> pd.DataFrame:
    """One row per run: what ``--dry-run`` shows.

    Plugins list only the parameters that differ from their defaults (a run's full
    values are in its config.json), unless ``wide``; numbers read as people write them.
    """
    registry = registry or get_registry()
    rows = []
    for run in runs:
        s = run.settings
        rows.append({"run": run.name, "plugins": plugins_label(run.plugins, None if wide else registry) or "-",
            "dataset": s.dataset, "model": f"{s.model} x{format_number(float(s.width))}", "epochs": s.epochs,
            "batch": s.batch_size, "lr": format_number(s.lr), "radii": " ".join(format_number(r) for r in s.radii) or "-",
            "status": run_status(out_dir / run.dir_name)[0] if out_dir else "", "hash": run.short_hash,
            "dir": run.dir_name})
    return pd.DataFrame(rows)


def plugins_label(plugins, registry: PluginRegistry | None = None) -> str:
    """``dropout, pgd(steps=2, step_size=0.015)``: each plugin (``(name, values)`` pairs or a dict) and its
    values, only those that differ from the defaults the ``registry`` declares; all of them without one."""
    labels = []
    for name, values in (plugins.items() if isinstance(plugins, dict) else plugins):
        defaults = {p.name: p.default for p in registry.plugins[name].cls.params} if registry else {}
        shown = [f"{key}={format_value(value)}" for key, value in values.items()
                 if key not in defaults or value != defaults[key]]
        labels.append(f"{name}({', '.join(shown)})" if shown else name)
    return ", ".join(labels)


def format_value(value: Any) -> str:
    """A parameter's value for a table: numbers via :func:`format_number`, lists item by item."""
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(format_value(v) for v in value)}]"
    return format_number(value)


def format_number(value: Any) -> str:
    """A number as people write it: the shorter of ``0.015`` and ``1e-4`` (``100`` for a whole float)."""
    if not isinstance(value, float) or not math.isfinite(value):
        return str(value)
    decimal = np.format_float_positional(value, trim="-")
    scientific = np.format_float_scientific(value, trim="-", exp_digits=1).replace("e+", "e")
    return scientific if len(scientific) < len(decimal) else decimal


def save_plan(out_dir: Path, recipe: Recipe, scale: str | None, overrides, runs: list[Run],
              keep_others: bool = False) -> list[dict]:
    """recipe.json: what the recipe expanded to, enough for `ablate status` and `report`; return its run entries.

    With ``keep_others`` (``--run`` chose ``runs``), the entries of the runs not chosen stay as they were."""
    entries = [{"name": r.name, "dir": r.dir_name, "plugins": dict(r.plugins), "settings": r.settings.as_dict(),
                **dict(zip(("status", "error"), run_status(out_dir / r.dir_name)))} for r in runs]
    if keep_others:
        entries = merged_entries(read_json(out_dir / PLAN).get("runs"), entries)
    write_json(out_dir / PLAN, {
        "recipe": recipe.name, "description": recipe.description, "report": recipe.report,
        "scale": scale or "paper", "source": str(Path(recipe.path).resolve()), "text": recipe_text(recipe),
        "overrides": list(overrides), "runs": entries})
    return entries


def merged_entries(previous, entries: list[dict]) -> list[dict]:
    """recipe.json's previous run entries with ``entries`` in place of those of the same name, new ones last
    (entries that are not a run's, in a damaged file, are dropped)."""
    fresh = {entry["name"]: entry for entry in entries}
    kept = [fresh.pop(entry["name"], entry) for entry in previous or [] if isinstance(entry, dict)
            and isinstance(entry.get("name"), str) and isinstance(entry.get("dir"), str)]
    return kept + list(fresh.values())


def recipe_text(recipe: Recipe) -> str | None:
    """The recipe file's text as it is run, kept so that a shared report shows what made it."""
    try:
        return Path(recipe.path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def recipe_status(out_dir: Path) -> pd.DataFrame:
    """One row per run of a recipe's output folder: its status, epochs done, and why it failed."""
    plan_path = out_dir / PLAN
    if not plan_path.exists():
        raise AblateError(f"{out_dir}: no {PLAN} here; point at OUT/RECIPE, a folder `ablate recipe` wrote")
    plan_data = read_json(plan_path)
    if not isinstance(plan_data.get("runs"), list):
        raise AblateError(f"{plan_path}: damaged or not written by ablate; run the recipe again with the same "
                          f"--out to rewrite it (finished runs are kept)")
    jobs = read_json(out_dir / JOBS)
    rows = []
    for entry in plan_data["runs"]:
        try:
            run_dir = folder_under(out_dir, entry["dir"])
            name, planned = entry["name"], entry["settings"]["epochs"]
        except (KeyError, TypeError):
            raise AblateError(f"{plan_path}: a run entry is damaged ({str(entry)[:60]}); run the recipe again "
                              f"with the same --out to rewrite it") from None
        state, error = run_status(run_dir)
        rows.append({"run": name, "status": state, "epochs": f"{epochs_done(run_dir)}/{planned}",
                     "job": jobs.get(name, ""), "error": error or ""})
    return pd.DataFrame(rows)


def epochs_done(run_dir: Path) -> int:
    """The last epoch in a run's metrics.csv (0 when it has none, or it is damaged)."""
    try:
        return int(pd.read_csv(run_dir / METRICS)["epoch"].max())
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return 0


# --------------------------------------------------------------------------
# A whole recipe
# --------------------------------------------------------------------------

@dataclass
class Study:
    """A recipe resolved for one invocation: its runs, expanded once, and the launcher that trains them."""

    recipe: Recipe
    scale: str | None
    overrides: list
    runs: list[Run]
    launcher: Launcher
    launcher_options: dict[str, Any]
    registry: PluginRegistry
    partial: bool = False           # --run chose the runs: recipe.json and results.csv keep the others'


def prepare(recipe: str | Path | Recipe, scale: str | None = None, overrides=(), *,
            registry: PluginRegistry | None = None, only: list[str] | None = None, launcher: str = DEFAULT,
            launcher_options: dict | None = None, jobs: int = 1, devices: list[str] | None = None) -> Study:
    """Expand the recipe and choose its launcher, checking everything; nothing is trained.

    The launcher's options are the recipe's ``[launcher]`` table, overridden by
    ``launcher_options``, then by ``jobs``/``devices``; ``jobs > 1`` with the default
    launcher picks the process pool. ``only`` keeps the runs of those names.
    """
    registry = registry or get_registry()
    recipe, runs = plan(recipe, scale, overrides, registry, only)
    if jobs > 1 and launcher == DEFAULT:
        launcher = PARALLEL
    workers = {"jobs": jobs} if jobs > 1 else {}
    if devices:
        workers["devices"] = list(devices)
    options = merge_options(launcher, registry, (recipe.launcher, f"{recipe.path}: launcher"),
                              (launcher_options or {}, "--launcher-opt"), (workers, "--jobs/--devices"))
    layouts = registry.registry("reports")
    if recipe.report not in layouts:
        raise AblateError(f"{recipe.path}: report: unknown report layout {recipe.report!r}; known layouts: "
                          f"{', '.join(sorted(layouts))} (see `ablate plugins`)")
    chosen = find_launcher(launcher, registry)
    chosen.check(runs, options)
    return Study(recipe, scale, list(overrides), runs, chosen, options, registry, partial=bool(only))


def run_recipe(recipe: str | Path | Recipe, scale: str | None = None, overrides=(), out: str | Path = "runs",
               *, fail_fast: bool = False, progress: Progress | None = None, console=None,
               formats=("png",), report: bool = True, registry: PluginRegistry | None = None,
               only: list[str] | None = None, jobs: int = 1, devices: list[str] | None = None,
               launcher: str = DEFAULT, launcher_options: dict | None = None) -> pd.DataFrame:
    """Run every run of a recipe that has not finished; return all runs' metrics.

    Finished runs are skipped, a half-finished one resumes from its checkpoint. A
    failing run is reported and the others go on (``fail_fast`` stops at the first);
    :class:`RecipeFailed` is raised at the end if any failed. ``jobs > 1`` trains
    runs in parallel worker processes, one device each; ``launcher`` names any
    registered launcher (``"slurm"`` submits cluster jobs), which takes its options
    from the recipe's ``[launcher]`` table and ``launcher_options``.
    """
    study = prepare(recipe, scale, overrides, registry=registry, only=only, launcher=launcher,
                    launcher_options=launcher_options, jobs=jobs, devices=devices)
    return run_study(study, out, fail_fast=fail_fast, progress=progress, console=console, formats=formats,
                     report=report)


def run_study(study: Study, out: str | Path = "runs", *, fail_fast: bool = False, progress: Progress | None = None,
              console=None, formats=("png",), report: bool = True) -> pd.DataFrame:
    """Hand a prepared study's unfinished runs to its launcher; gather results.csv and the report."""
    recipe, runs, registry = study.recipe, study.runs, study.registry
    out_dir = folder_under(Path(out), recipe.name)
    for run in runs:
        folder_under(out_dir, run.dir_name)         # every run folder stays under --out
    check_against_data(runs, registry)             # a missing dataset or a size it lacks stops here
    # a run folder trained on other data (or, batch-dependent, at another eval batch size) stops here too
    notes = [note for run in runs if (note := check_conditions(run, out_dir / run.dir_name, registry))]
    make_folder(out_dir)
    save_plan(out_dir, recipe, study.scale, study.overrides, runs, study.partial)
    todo = [r for r in runs if needs_training(out_dir / r.dir_name)]
    context = LaunchContext(out_dir, recipe.name, study.scale, registry, study.launcher_options,
                            progress or SilentProgress(), fail_fast)
    for note in notes:
        context.say(f"ablate: {note}")
    for run in runs:
        state, owner = run_status(out_dir / run.dir_name)
        if state == "running":
            context.say(f"[{run.name}] skipped: another process is training it ({owner})")
    errors: dict[str, str] = {}
    try:
        errors = study.launcher.launch(todo, context)
    finally:
        entries = save_plan(out_dir, recipe, study.scale, study.overrides, runs, study.partial)
        results = collect_results(out_dir, entries)
        if len(results):
            write_csv(out_dir / RESULTS, results)
    if errors and fail_fast:
        name, error = next(iter(errors.items()))
        raise RecipeFailed(f"run {name!r} failed: {error}")
    if report and console is not None and len(results) and not study.launcher.detached(study.launcher_options):
        from ablate.report import print_report
        print_report(out_dir, console, formats, registry=registry)
    if errors:
        listed = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise RecipeFailed(f"{len(errors)} of {len(runs)} runs failed ({listed}); the others' results are in "
                           f"{out_dir / RESULTS}. Fix the cause and run the same command again: finished runs "
                           f"are skipped")
    return results


def check_against_data(runs: list[Run], registry: PluginRegistry) -> None:
    """Load each run's dataset (once per process) and refuse sizes and radii it cannot honour, before training."""
    for run in runs:
        s, where = run.settings, f"run {run.name!r}"
        data = load_full(s.dataset, s, registry)
        for setting, available in (("train_size", len(data.y_train)), ("test_size", len(data.y_test))):
            if getattr(s, setting) > available:
                raise AblateError(f"{where}: {setting}: found {getattr(s, setting)}, but {s.dataset!r} has only "
                                  f"{available} images in that split; use {setting} <= {available} (0 = all)")
        train = s.train_size or len(data.y_train)
        if s.batch_size > train:
            raise AblateError(f"{where}: batch_size: found {s.batch_size}, but the run trains on {train} images; "
                              f"use batch_size <= {train}")
        height, width = data.x_train.shape[-2:]
        for setting in ("radii", "report_radii"):
            check_radii(getattr(s, setting), height, width, f"{where}: {setting}")


def check_radii(radii, height: int, width: int, where: str) -> None:
    """Radii past the spectrum's farthest bin keep every frequency (allowed); past the image diagonal, a typo."""
    diagonal = math.hypot(height, width)
    too_far = [r for r in radii if r > diagonal]
    if too_far:
        farthest = math.hypot(height // 2, width // 2)
        raise AblateError(f"{where}: found {too_far[0]:g}, beyond the diagonal ({diagonal:.1f}) of these "
                          f"{height}x{width} images; the largest useful radius is {math.floor(farthest) + 1}: "
                          f"it already keeps every frequency")


def check_out_folder(out_dir: Path) -> None:
    """Refuse an ``--out`` that cannot be created (under a file, in a folder not ours), without creating it."""
    existing = next(p for p in [out_dir, *out_dir.parents] if p.exists() or p == Path(p.anchor))
    problem = ("is a file" if not existing.is_dir() else
               "is not writable" if not os.access(existing, os.W_OK | os.X_OK) else None)
    if problem:
        raise AblateError(f"--out: cannot write to {out_dir}: {existing} {problem}; choose a folder you can write to")


def make_folder(out_dir: Path) -> None:
    """Create ``--out``/RECIPE, or say in one line why it cannot be (under a file, read-only)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=out_dir)
    except OSError as exc:
        raise AblateError(f"--out: cannot write to {out_dir} ({exc.strerror or type(exc).__name__}); "
                          f"choose a folder you can write to") from None
    probe.close()


def collect_results(out_dir: Path, entries: list[dict]) -> pd.DataFrame:
    """Every run's metrics.csv (recipe.json's run entries, in order) as one tidy table; every row carries its
    run's seed, in the column after the core ones."""
    metrics = [(folder_under(out_dir, entry["dir"]) / METRICS, (entry.get("settings") or {}).get("seed"))
               for entry in entries]
    results = concat_results(pd.read_csv(path).assign(**{SEED: seed}) for path, seed in metrics if path.exists())
    return results.reindex(columns=result_columns([SEED, *results.columns]))
