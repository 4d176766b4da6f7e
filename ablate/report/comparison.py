"""``ablate compare``: two result sets side by side, with B - A per run and number (paired over seeds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.core.registry import RegistryEntry
from ablate.report.attack_table import attack_frame
from ablate.report.labels import Labels
from ablate.report.probe_sections import probe_summary
from ablate.report.results import StudyResults, load_results
from ablate.report.stats import CONFIDENCE, adjusted, effect, significant
from ablate.report.tables import MARKS, figure5_columns, marked, percent, summary_frame


def comparable_summary(results: pd.DataFrame, runs: Sequence[str], labels: Labels = Labels(),
                       probes: dict[str, RegistryEntry] | None = None) -> pd.DataFrame:
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
                    probes: dict[str, RegistryEntry] | None = None) -> pd.DataFrame:
    """Two result sets side by side: A, B and B - A per run and number; returns that table.

    With several seeds, a run's seeds are one row: A and B are means, and B - A is
    paired by seed where both sides have the same seeds (Welch's unpaired interval
    otherwise), ± the half-width of its 95 % interval, ``*`` where it holds after Holm's
    correction over the table's differences, as ``ablate report`` marks its effects
    (columns ``p``, raw, and ``p_adjusted``).
    B - A is green where B is better (higher accuracy, smaller gap) and red where
    worse. Runs found on one side only are listed after the table.
    """
    recipe_a, results_a = load_results(dir_a, console)
    recipe_b, results_b = load_results(dir_b, console)
    names = recipe_a.get("recipe"), recipe_b.get("recipe")
    if all(names) and names[0] != names[1]:
        console.print(f"[yellow]note[/]: A is recipe {escape(str(names[0]))} and B is recipe {escape(str(names[1]))}: "
                      f"runs are matched by name only", highlight=False)
    sides = [Side.of(StudyResults(results, Path(folder), recipe), labels, probes)
             for results, folder, recipe in ((results_a, dir_a, recipe_a), (results_b, dir_b, recipe_b))]
    a, b = sides
    shared = [g for g in a.groups if g in b.groups]
    columns = list(dict.fromkeys(list(a.frame.columns) + list(b.frame.columns)))
    rows = []
    for group in shared:
        for column in columns:
            values_a, values_b = a.by_seed(group, column), b.by_seed(group, column)
            if values_a.isna().all() and values_b.isna().all():
                continue
            found = effect(values_a, values_b)
            rows.append({"run": group, "metric": column, "a": values_a.mean(), "b": values_b.mean(),
                         "diff": found.mean, "half_width": found.half_width, "n": found.n,
                         "p": found.p})
    diffs = pd.DataFrame(rows, columns=["run", "metric", "a", "b", "diff", "half_width", "n", "p"])
    diffs["p_adjusted"] = adjusted(diffs["p"])                  # one family: the whole table, as the report's
    diffs["marked"] = significant(diffs["p"])
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
        text = percent(row.diff, signed=True) + (f" ± {100 * row.half_width:.1f}" if np.isfinite(row.half_width)
                                                 else "")
        table.add_row(escape(row.run) if row.run != previous else "", escape(row.metric), percent(row.a), percent(row.b),
                      f"[{colour}]{marked(text, 'real' if row.marked else None)}[/]")
        previous = row.run
    console.print(table)
    console.print("accuracy in %; B - A in points, [green]green[/] where B is better, [red]red[/] where worse")
    if diffs["half_width"].notna().any():
        console.print(f"several seeds: A and B are means; B - A ± half-width of its {CONFIDENCE:.0%} interval, paired "
                      f"by seed (Welch where seeds do not pair), {MARKS['real'][1]} where the difference holds after "
                      f"Holm's correction over the table's {int(diffs['p'].notna().sum())} tested differences")
    for side, mine, other in (("A", a.groups, b.groups), ("B", b.groups, a.groups)):
        alone = [r for r in mine if r not in other]
        if alone:
            console.print(f"only in {side}: {escape(', '.join(alone))}")
    return diffs


@dataclass
class Side:
    """One result set of a comparison: its summary per run (seeds apart) and which run is whose seed."""

    frame: pd.DataFrame
    base: dict[str, str]
    seeds: dict[str, float]

    @classmethod
    def of(cls, study: StudyResults, labels: Labels, probes) -> "Side":
        runs = list(study.results["run"].unique())
        base, seeds = study.base_runs(), study.seeds()
        return cls(comparable_summary(study.results, runs, labels, probes), {r: base.get(r, r) for r in runs},
                   {r: seeds.get(r, np.nan) for r in runs})

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.base.values()))

    def by_seed(self, group: str, column: str) -> pd.Series:
        """The column's values of a run's seeds, indexed by seed (NaN where this side lacks the column)."""
        runs = [run for run, base in self.base.items() if base == group]
        values = [self.frame.loc[run, column] if column in self.frame else np.nan for run in runs]
        return pd.Series(values, index=[self.seeds[run] for run in runs], dtype=float)
