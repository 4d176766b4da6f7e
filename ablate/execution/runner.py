"""Running a recipe: one directory per run, skip what is finished, resume what is not.

Layout of ``<out>/<recipe>/``: ``recipe.json`` (the plan), ``results.csv`` (every
run's metrics in one tidy table) and one folder per run, ``<run>-<hash of its
resolved config>/`` (see :mod:`ablate.core.schema`). A recipe is expanded once
(:func:`prepare`), checked against its data (:mod:`ablate.execution.preflight`), the runs
that still need training are handed to a launcher (:mod:`ablate.execution.launchers`), and
whatever they left on disk is gathered into ``results.csv`` and the report
(:func:`run_study`). :func:`run_recipe` does both, asked what ``ablate recipe`` is asked
(:class:`ablate.execution.recipe_options.RecipeOptions`). ``--dry-run`` shows the plan
(:mod:`ablate.execution.plan_table`), recipe.json records it (:mod:`ablate.execution.plan_file`) and
``ablate status`` reads it back (:mod:`ablate.execution.recipe_status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.files import remove_stale_temp_files, write_csv
from ablate.core.progress import Progress, SilentProgress
from ablate.core.registry import PluginRegistry, get_registry
from ablate.core.schema import METRICS, RESULTS, SEED, concat_results, file_in, folder_under, result_columns
from ablate.execution.launchers import DEFAULT, PARALLEL, LaunchContext, Launcher, find_launcher, merge_options
from ablate.execution.plan_file import save_plan
from ablate.execution.preflight import check_against_data, make_folder
from ablate.execution.recipe_options import RecipeOptions
from ablate.execution.run_conditions import check_conditions
from ablate.execution.run_folder import needs_training, run_status
from ablate.report import print_report
from ablate.study.expansion import Run, expand
from ablate.study.recipe_file import Recipe, load_recipe

# Other processes may run the same study (other --run selections, other hosts): a temp file of the study
# folder's atomic writes (recipe.json, results.csv, jobs.json, each written in well under a second) older
# than this is a killed process's, not a write in flight.
TEMP_FILE_STALE_S = 60


class RecipeFailed(AblateError):
    """Some runs of a recipe failed; the others finished and their results are saved."""


def plan(recipe: str | Path | Recipe, scale: str | None = None, overrides=(),
         registry: PluginRegistry | None = None, only: list[str] | None = None) -> tuple[Recipe, list[Run]]:
    """Load and expand a recipe (the runs ``only`` names, all without it), validating everything; nothing is
    trained."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return recipe, expand(recipe, scale, overrides, registry, only)


@dataclass
class Study:
    """A recipe resolved for one invocation: its runs, expanded once, and the launcher that trains them."""

    recipe: Recipe
    options: RecipeOptions
    runs: list[Run]
    launcher: Launcher
    launcher_options: dict[str, Any]        # the recipe's [launcher] table under the options'
    registry: PluginRegistry


def prepare(recipe: str | Path | Recipe, options: RecipeOptions | None = None, *,
            registry: PluginRegistry | None = None) -> Study:
    """Expand the recipe and choose its launcher, checking everything; nothing is trained.

    The launcher's options are the recipe's ``[launcher]`` table, overridden by
    ``options.launcher_options``, then by ``jobs``/``devices``; ``jobs > 1`` with the default
    launcher picks the process pool. ``options.only`` keeps the runs of those names.
    """
    options = options or RecipeOptions()
    registry = registry or get_registry()
    recipe, runs = plan(recipe, options.scale, options.overrides, registry, options.only)
    launcher = PARALLEL if options.jobs > 1 and options.launcher == DEFAULT else options.launcher
    workers = {"jobs": options.jobs} if options.jobs > 1 else {}
    if options.devices:
        workers["devices"] = list(options.devices)
    merged = merge_options(launcher, registry, (recipe.launcher, f"{recipe.path}: launcher"),
                           (options.launcher_options or {}, "--launcher-opt"), (workers, "--jobs/--devices"))
    layouts = registry.registry("reports")
    if recipe.report not in layouts:
        raise AblateError(f"{recipe.path}: report: unknown report layout {recipe.report!r}; known layouts: "
                          f"{', '.join(sorted(layouts))} (see `ablate plugins`)")
    chosen = find_launcher(launcher, registry)
    chosen.check(runs, merged)
    return Study(recipe, options, runs, chosen, merged, registry)


def run_recipe(recipe: str | Path | Recipe, scale: str | None = None, overrides=(), out: str | Path = "runs",
               *, progress: Progress | None = None, console=None, registry: PluginRegistry | None = None,
               **options) -> pd.DataFrame:
    """Run every run of a recipe that has not finished; return all runs' metrics.

    Finished runs are skipped, a half-finished one resumes from its checkpoint. A
    failing run is reported and the others go on (``fail_fast=True`` stops at the first);
    :class:`RecipeFailed` is raised at the end if any failed. ``options`` are the other fields of
    :class:`ablate.execution.recipe_options.RecipeOptions`, what ``ablate recipe`` is asked: ``jobs > 1``
    trains runs in parallel worker processes, one device each; ``launcher`` names any registered
    launcher (``"slurm"`` submits cluster jobs), which takes its options from the recipe's
    ``[launcher]`` table and ``launcher_options``.
    """
    chosen = RecipeOptions(scale, list(overrides), out, **options)
    return run_study(prepare(recipe, chosen, registry=registry), progress=progress, console=console)


def run_study(study: Study, *, progress: Progress | None = None, console=None) -> pd.DataFrame:
    """Hand a prepared study's unfinished runs to its launcher; gather results.csv and the report."""
    recipe, runs, registry, options = study.recipe, study.runs, study.registry, study.options
    fail_fast, scale, overrides = options.fail_fast, options.scale, list(options.overrides)
    out_dir = folder_under(Path(options.out), recipe.name)
    for run in runs:
        folder_under(out_dir, run.dir_name)         # every run folder stays under --out
    check_against_data(runs, registry)             # a missing dataset or a size it lacks stops here
    # a run folder trained on other data (or, batch-dependent, at another eval batch size) stops here too
    notes = [note for run in runs if (note := check_conditions(run, out_dir / run.dir_name, registry))]
    make_folder(out_dir)
    save_plan(out_dir, recipe, scale, overrides, runs, options.partial)
    todo = [r for r in runs if needs_training(out_dir / r.dir_name)]
    context = LaunchContext(out_dir, recipe.name, scale, registry, study.launcher_options,
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
        entries = save_plan(out_dir, recipe, scale, overrides, runs, options.partial)
        results = collect_results(out_dir, entries)
        if len(results):
            write_csv(out_dir / RESULTS, results)
        remove_stale_temp_files(out_dir, older_than_s=TEMP_FILE_STALE_S)     # a killed run's half-written files
    if errors and fail_fast:
        name, error = next(iter(errors.items()))
        raise RecipeFailed(f"run {name!r} failed: {error}")
    if (options.report and console is not None and len(results)
            and not study.launcher.detached(study.launcher_options)):      # detached jobs run on: nothing to show yet
        print_report(out_dir, console, options.formats, registry=registry)
    if errors:
        listed = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise RecipeFailed(f"{len(errors)} of {len(runs)} runs failed ({listed}); the others' results are in "
                           f"{out_dir / RESULTS}. Fix the cause and run the same command again: finished runs "
                           f"are skipped")
    return results



def collect_results(out_dir: Path, entries: list[dict]) -> pd.DataFrame:
    """Every run's metrics.csv (recipe.json's run entries, in order) as one tidy table; every row carries its
    run's seed, in the column after the core ones."""
    metrics = [(file_in(folder_under(out_dir, entry["dir"]), METRICS), (entry.get("settings") or {}).get("seed"))
               for entry in entries]
    results = concat_results(pd.read_csv(path).assign(**{SEED: seed}) for path, seed in metrics if path.exists())
    return results.reindex(columns=result_columns([SEED, *results.columns]))
