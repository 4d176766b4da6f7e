"""``ablate compare``: two result sets side by side, with B - A per run and number."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.report.attack_table import attack_frame
from ablate.report.labels import Labels
from ablate.report.probes import probe_summary
from ablate.report.results import load_results
from ablate.report.tables import figure5_columns, percent, summary_frame


def comparable_summary(results: pd.DataFrame, runs: Sequence[str], labels: Labels = Labels(),
                       probes: dict[str, tuple] | None = None) -> pd.DataFrame:
    """Figure 5's summary, the other probes' tables (``probes``: the registered ones), then each attack
    column per model variant, indexed by run."""
    frame = summary_frame(results, runs, figure5_columns(results))
    if probes:
        frame = frame.join(probe_summary(results, runs, probes))
    attacks = attack_frame(results, labels)
    for (run, variant), values in attacks.iterrows():
        if run not in frame.index:
            continue
        for column, value in values.items():
            frame.loc[run, f"{column}, {labels.variant(variant)}"] = value
    return frame


def compare_results(dir_a: Path, dir_b: Path, console: Console, labels: Labels = Labels(),
                    probes: dict[str, tuple] | None = None) -> pd.DataFrame:
    """Two result sets side by side: A, B and B - A per run and number; returns that table.

    B - A is green where B is better (higher accuracy, smaller gap) and red where
    worse. Runs found on one side only are listed after the table.
    """
    recipe_a, results_a = load_results(dir_a, console)
    recipe_b, results_b = load_results(dir_b, console)
    names = recipe_a.get("recipe"), recipe_b.get("recipe")
    if all(names) and names[0] != names[1]:
        console.print(f"[yellow]note[/]: A is recipe {escape(str(names[0]))} and B is recipe {escape(str(names[1]))}: "
                      f"runs are matched by name only", highlight=False)
    runs_a, runs_b = list(results_a["run"].unique()), list(results_b["run"].unique())
    shared = [r for r in runs_a if r in runs_b]
    a, b = comparable_summary(results_a, shared, labels, probes), comparable_summary(results_b, shared, labels, probes)
    columns = list(dict.fromkeys(list(a.columns) + list(b.columns)))
    a, b = a.reindex(columns=columns), b.reindex(columns=columns)
    rows = [{"run": run, "metric": column, "a": a.loc[run, column], "b": b.loc[run, column],
             "diff": b.loc[run, column] - a.loc[run, column]}
            for run in shared for column in columns
            if not (np.isnan(a.loc[run, column]) and np.isnan(b.loc[run, column]))]
    diffs = pd.DataFrame(rows, columns=["run", "metric", "a", "b", "diff"])
    console.print(escape(f"A = {dir_a}\nB = {dir_b}"), highlight=False)
    table = Table()
    for name, justify in (("run", "left"), ("metric", "left"), ("A", "right"), ("B", "right"), ("B - A", "right")):
        table.add_column(name, justify=justify)
    previous = None
    for row in diffs.itertuples():
        if previous is not None and row.run != previous:
            table.add_section()
        better = -row.diff if row.metric == "gap" else row.diff
        colour = "dim" if np.isnan(row.diff) or round(100 * row.diff, 1) == 0 else "green" if better > 0 else "red"
        table.add_row(escape(row.run) if row.run != previous else "", escape(row.metric), percent(row.a), percent(row.b),
                      f"[{colour}]{percent(row.diff, signed=True)}[/]")
        previous = row.run
    console.print(table)
    console.print("accuracy in %; B - A in points, [green]green[/] where B is better, [red]red[/] where worse")
    for side, mine, other in (("A", runs_a, runs_b), ("B", runs_b, runs_a)):
        alone = [r for r in mine if r not in other]
        if alone:
            console.print(f"only in {side}: {escape(', '.join(alone))}")
    return diffs
