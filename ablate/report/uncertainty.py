"""Summary tables over seeds: mean ± confidence interval per run, and each run's effect against a reference.

With one seed per run a layout's table is exactly what it always was. With
several (``seeds = 3``; runs ``vanilla``, ``vanilla-s1``, ``vanilla-s2``), the
repeats of a run become one row: each cell is the mean over seeds ± the half-width
of its 95 % Student t interval, ``n`` says how many seeds, and best / worst are
marked on the means. A second table shows each run minus the layout's reference
run, paired seed by seed (:mod:`ablate.stats`), marked where its interval
excludes zero: a difference that the seeds' noise does not explain.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from rich.console import Console
from rich.markup import escape

from ablate.report.results import Study
from ablate.report.tables import LEGEND, MARKS, extremes, summary_table
from ablate.stats import CONFIDENCE, effect_frames, seed_groups

CI_NOTE = (f"mean ± half-width of the {CONFIDENCE:.0%} confidence interval over n seeds (Student t)")


def is_seeded(study: Study) -> bool:
    """Whether some run of the study has more than one seed."""
    groups = pd.Series(study.base_runs())
    return bool(groups.duplicated().any())


def pick_reference(study: Study, candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` that is a (base) run of the study, else the study's first run."""
    groups = list(dict.fromkeys(study.base_runs().values()))
    return next((c for c in candidates if c in groups), groups[0] if groups else None)


def print_summary(study: Study, console: Console, frame: pd.DataFrame, title: str, legend: str = "",
                  reference: Sequence[str] | None = (), extra: dict[str, dict] | None = None,
                  lower_is_better: Sequence[str] = ("gap",), row_labels: dict[str, dict] | None = None) -> None:
    """Print a summary frame (one row per run, or per ``(run, variant)``) as a table, its legend, and with
    several seeds the effects.

    ``reference`` lists the preferred reference runs of the layout (the first found is used; the study's
    first run otherwise); None shows no effect table (Table 1 has no reference). ``row_labels`` renames
    index values per index level (see :func:`summary_table`).
    """
    legend = LEGEND + (f"; {legend}" if legend else "")
    if not is_seeded(study):
        console.print(summary_table(frame, title, study=study, extra=extra, width=console.width,
                                    marks=extremes(frame, lower_is_better), row_labels=row_labels))
        console.print(legend)
        return
    base = study.base_runs()
    means, halves, counts = seed_groups(frame, base)
    console.print(summary_table(means, title, marks=extremes(means, lower_is_better), study=study,
                                extra=regroup(extra, base), width=console.width, spread=halves, counts=counts,
                                row_labels=row_labels))
    console.print(f"{legend}; {CI_NOTE}; best / worst on the means")
    chosen = None if reference is None else pick_reference(study, reference)
    if chosen is None or len(means) < 2:
        return
    effects, effect_halves, real = effect_frames(frame, base, study.seeds(), chosen)
    marks = {(row, column): "real" for row in real.index for column in real.columns if real.loc[row, column]}
    console.print(summary_table(effects, f"Effect vs {escape(chosen)}: run - {escape(chosen)}, in points",
                                marks=marks, width=console.width, spread=effect_halves,
                                counts=counts.reindex(effects.index), signed=True, row_labels=row_labels))
    console.print(f"mean paired difference over seeds ± half-width of its {CONFIDENCE:.0%} interval (Student t; "
                  f"Welch where seeds do not pair); [{MARKS['real'][0]}]{MARKS['real'][1]}[/] where the "
                  f"interval excludes zero")


def regroup(extra: dict[str, dict] | None, base: dict[str, str]) -> dict[str, dict] | None:
    """Text columns ``{name: {run: text}}`` keyed by base run (a run's repeats share their texts)."""
    if extra is None:
        return None
    return {name: {base.get(run, run): text for run, text in texts.items()} for name, texts in extra.items()}
