"""Summary tables over seeds: mean ± confidence interval per run, and each run's effect against a reference.

With one seed per run a layout's table is exactly what it always was. With
several (``seeds = 3``; runs ``vanilla``, ``vanilla-s1``, ``vanilla-s2``), the
repeats of a run become one row: each cell is the mean over seeds ± the half-width
of its 95 % Student t interval, ``n`` says how many seeds, and best / worst are
marked on the means. A second table shows each run minus the layout's reference
run, paired seed by seed (:mod:`ablate.report.stats`), marked where the difference
holds after Holm's correction over the table's cells: a difference that the
seeds' noise does not explain, with at most a 5 % chance of any false mark in the
table. Cells that cannot be averaged or tested say why (diverged, identical
seeds), and a seed not finished is shown apart instead of pooled.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from rich.console import Console
from rich.markup import escape

from ablate.report.interval_frames import effect_frames, field, marked_effects, row_group, seed_groups
from ablate.report.results import APART, StudyResults
from ablate.report.stats import CONFIDENCE
from ablate.report.tables import DIVERGED, LEGEND, MARKS, extremes, fewer_values, summary_table

CI_NOTE = (f"mean ± half-width of the {CONFIDENCE:.0%} confidence interval over the n seeds that have the "
           f"number (Student t)")


def is_seeded(study: StudyResults) -> bool:
    """Whether some run of the study has more than one seed."""
    groups = pd.Series(study.base_runs())
    return bool(groups.duplicated().any())


def pick_reference(study: StudyResults, candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` that is a (base) run of the study, else the study's first run."""
    groups = list(dict.fromkeys(study.base_runs().values()))
    return next((c for c in candidates if c in groups), groups[0] if groups else None)


def interval_notes(intervals: pd.DataFrame) -> list[str]:
    """What the flags found in a table of intervals mean, one line each (only those that occur)."""
    cells = [i for column in intervals.columns for i in intervals[column]]
    notes = []
    if any(i.diverged for i in cells):
        notes.append(f"[{DIVERGED}]diverged (k of n)[/]: k of the n seeds' numbers are infinite (the run "
                     f"diverged); no mean is shown, since leaving them out would hide them")
    if any(i.identical for i in cells):
        notes.append(f"[{MARKS['identical'][0]}]{MARKS['identical'][1]}[/]: every seed gave the same number "
                     f"(no spread): usually a seed that was not applied; never marked as an effect")
    if fewer_values(intervals).any().any():
        notes.append("(n=k): a cell over fewer seeds than its row's n")
    return notes


def print_summary(study: StudyResults, console: Console, frame: pd.DataFrame, title: str, legend: str = "",
                  reference: Sequence[str] | None = (), extra: dict[str, dict] | None = None,
                  lower_is_better: Sequence[str] = ("gap",), row_labels: dict[str, dict] | None = None) -> None:
    """Print a summary frame (one row per run, or per ``(run, variant)``) as a table, its legend, and with
    several seeds the effects.

    ``reference`` lists the preferred reference runs of the layout (the first found is used; the study's
    first run otherwise); None shows no effect table (Table 1 has no reference). ``row_labels`` renames
    index values per index level (see :func:`summary_table`). A seed not finished is a row of its own
    (:meth:`StudyResults.seed_groups`): its latest epoch is not pooled with the other seeds' final ones, nor compared.
    """
    legend = LEGEND + (f"; {legend}" if legend else "")
    if not is_seeded(study):
        console.print(summary_table(frame, title, study=study, extra=extra, width=console.width,
                                    marks=extremes(frame, lower_is_better), row_labels=row_labels))
        console.print(legend)
        return
    rows = study.seed_groups()
    intervals = seed_groups(frame, rows)
    means = field(intervals, "mean")
    console.print(summary_table(means, title, marks=extremes(means, lower_is_better), study=study,
                                extra=regroup(extra, rows), width=console.width, intervals=intervals,
                                row_labels=row_labels))
    console.print(f"{legend}; {CI_NOTE}; best / worst on the means")
    for note in interval_notes(intervals) + apart_note(rows):
        console.print(note)
    chosen = None if reference is None else pick_reference(study, reference)
    pooled = frame[[row_group(row, rows) == row_group(row, study.base_runs()) for row in frame.index]]
    if chosen is not None and len({row_group(row, rows) for row in pooled.index}) >= 2:
        print_effects(study, console, pooled, chosen, row_labels)


def print_effects(study: StudyResults, console: Console, pooled: pd.DataFrame, reference: str,
                  row_labels: dict[str, dict] | None) -> None:
    """The effect table of the pooled rows against ``reference``, its cells one family of tests (Holm)."""
    effects = effect_frames(pooled, study.seed_groups(), study.seeds(), reference)
    real = marked_effects(effects)
    marks = {(row, column): "real" for row in real.index for column in real.columns if real.loc[row, column]}
    title = f"Effect vs {escape(reference)}: run - {escape(reference)}, in points"
    console.print(summary_table(field(effects, "mean"), title, marks=marks, width=console.width, intervals=effects,
                                signed=True, row_labels=row_labels))
    tests = int(field(effects, "p").notna().sum().sum())
    star = f"[{MARKS['real'][0]}]{MARKS['real'][1]}[/]"
    console.print(f"mean paired difference over the n pairs of seeds ± half-width of its {CONFIDENCE:.0%} interval "
                  f"(Student t; Welch where seeds do not pair); {star} where the difference holds after Holm's "
                  f"correction over the table's {tests} tested cells: at most a {1 - CONFIDENCE:.0%} chance of any "
                  f"false {MARKS['real'][1]} in the table")
    for note in interval_notes(effects):
        console.print(note)


def apart_note(rows: dict[str, str]) -> list[str]:
    """The legend of the rows of seeds not finished, where there are any."""
    if not any(row.endswith(APART) for row in rows.values()):
        return []
    return [f"{escape(APART)}: a seed not finished, at its latest epoch; not pooled with the finished seeds' final "
            f"numbers, and not compared"]


def regroup(extra: dict[str, dict] | None, base: dict[str, str]) -> dict[str, dict] | None:
    """Text columns ``{name: {run: text}}`` keyed by base run (a run's repeats share their texts)."""
    if extra is None:
        return None
    return {name: {base.get(run, run): text for run, text in texts.items()} for name, texts in extra.items()}
