"""Reports: a study's tables on the console and its figures on disk.

``ablate report`` and the end of ``ablate recipe`` call :func:`print_report`,
which reads a recipe's output folder (:mod:`ablate.report.results`) and hands it
to the layout the recipe names (``report = "figure5"``); ``ablate compare``
calls :func:`compare`. Layouts are registered through ``ablate_register_reports``:
the engine's own by the built-in plugin ``reports``, others by the plugin that
owns them, so a new layout is one file in one place. A layout is called with the
arguments it names, as hooks are: ``study``, ``console``, ``formats``,
``labels`` (how the plugin classes name variants and training images), ``registry``,
and the older ``results`` and ``out_dir``. Whatever the layout, the recipe's
``[[claims]]`` follow, checked against the study's numbers (:mod:`ablate.report.claims`).

The names below are the building blocks layouts share (summary tables with best
and worst marked, the attack table, figures written once per format).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
from rich.console import Console
from rich.markup import escape

from ablate.core.errors import AblateError
from ablate.core.evaluation import folder_version, older_evaluations_note
from ablate.core.registry import PluginRegistry, RegistryEntry, get_registry
from ablate.report.attack_table import attack_frame, attack_rows, print_attack_table
from ablate.report.claims_table import print_claims
from ablate.report.comparison import compare_results
from ablate.report.labels import FINAL, Labels, VariantLabel
from ablate.report.probe_sections import print_probes, probe_summary
from ablate.report.results import StudyResults, first_layer_kernels, load_results, probe_reports, tidy
from ablate.report.tables import (
    LEGEND,
    Column,
    extremes,
    figure3_columns,
    figure5_columns,
    latest_accuracies,
    print_figure,
    summary_frame,
    summary_table,
)

__all__ = [
    "print_report", "compare", "report_layouts",
    "StudyResults", "load_results", "tidy", "first_layer_kernels", "probe_reports",
    "Labels", "VariantLabel", "FINAL", "print_probes", "probe_summary",
    "Column", "LEGEND", "extremes", "figure3_columns", "figure5_columns", "latest_accuracies", "summary_frame",
    "summary_table", "print_figure", "attack_frame", "attack_rows", "print_attack_table", "print_claims",
]

DEFAULT_LAYOUT = "generic"


def report_layouts(registry: PluginRegistry | None = None) -> dict[str, RegistryEntry]:
    """``{name: RegistryEntry}`` of every registered layout."""
    return (registry or get_registry()).registry("reports")


def print_report(out_dir: Path, console: Console, formats: Sequence[str] = ("png",),
                 layout: str | None = None, registry: PluginRegistry | None = None, claims: bool = True) -> None:
    """Print a recipe output directory's report with its layout (or ``layout``) and write its plots; then, with
    ``claims``, the recipe's claims checked against the results (:mod:`ablate.report.claims_table`)."""
    out_dir = Path(out_dir)
    registry = registry or get_registry()
    recipe, results = load_results(out_dir, console)
    name = layout or recipe.get("report") or DEFAULT_LAYOUT
    layouts = report_layouts(registry)
    if name not in layouts:
        raise AblateError(f"{out_dir}: unknown report layout {name!r}; known layouts: {', '.join(sorted(layouts))}")
    if recipe.get("description"):
        console.print(f"[bold]{escape(str(recipe.get('recipe', out_dir.name)))}[/]: {escape(recipe['description'])}"
                      + (f" (scale {recipe['scale']})" if recipe.get("scale") else ""))
    study = StudyResults(results, out_dir, recipe)
    note = older_evaluations_note({run: v for run in study.runs if (v := folder_version(study.run_dir(run))) is not None})
    if note:
        console.print(f"[yellow]note[/]: {escape(note)}")
    call_layout(name, layouts[name].function, results=results, out_dir=out_dir, console=console, formats=list(formats),
                study=study, labels=Labels.of(registry), registry=registry)
    if claims:
        print_claims(study, console)


def call_layout(name: str, function: Callable, **available) -> None:
    """Call a layout with the arguments it names (all of them if it takes ``**kwargs``)."""
    wanted = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in wanted.values()):
        function(**available)
        return
    unknown = [p for p, spec in wanted.items() if p not in available and spec.default is inspect.Parameter.empty]
    if unknown:
        raise AblateError(f"report layout {name!r} asks for {', '.join(map(repr, unknown))}, which ablate does not "
                          f"give; a layout may take any of: {', '.join(available)}")
    function(**{p: value for p, value in available.items() if p in wanted})


def compare(dir_a: Path, dir_b: Path, console: Console, registry: PluginRegistry | None = None) -> pd.DataFrame:
    """Two result sets side by side (see :func:`ablate.report.comparison.compare_results`); returns the table."""
    registry = registry or get_registry()
    return compare_results(dir_a, dir_b, console, Labels.of(registry), registry.registry("probes"))
