"""Report tables over seeds: one :class:`ablate.report.stats.Interval` per seed group and column.

A summary frame has one row per seeded run (or per ``(run, variant, ...)``);
these helpers pool each run's seeds into one row of intervals, and each run's
effect against a reference run into one row of paired intervals, as the tables
of :mod:`ablate.report.uncertainty` show them.
"""

from __future__ import annotations

import pandas as pd

from ablate.report.stats import CONFIDENCE, effect, significant, t_interval


def row_group(row, base: dict[str, str]):
    """The seed group of a summary row: its run's base run, or for a row keyed ``(run, variant, ...)`` (Table 2)
    the tuple with the run replaced by its base run, so that only the run's seeds are pooled."""
    if isinstance(row, tuple):
        return (base.get(row[0], row[0]), *row[1:])
    return base.get(row, row)


def group_index(groups: list, like: pd.Index) -> pd.Index:
    """An index of seed groups, named like the summary frame's (a MultiIndex for tuple rows)."""
    if isinstance(like, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(groups, names=like.names)
    return pd.Index(groups, name=like.name)


def field(intervals: pd.DataFrame, name: str) -> pd.DataFrame:
    """One field (``mean``, ``half_width``, ``n``, ...) of every cell of a frame of :class:`ablate.report.stats.Interval`."""
    return pd.DataFrame({c: [getattr(i, name) for i in intervals[c]] for c in intervals.columns},
                        index=intervals.index, columns=intervals.columns)


def interval_frame(cells: dict, groups: list, like: pd.DataFrame) -> pd.DataFrame:
    """``{group: {column: Interval}}`` as a frame of intervals indexed like the summary frame ``like``."""
    return pd.DataFrame({c: [cells[g][c] for g in groups] for c in like.columns},
                        index=group_index(groups, like.index), columns=like.columns, dtype=object)


def seed_groups(frame: pd.DataFrame, base: dict[str, str], confidence: float = CONFIDENCE) -> pd.DataFrame:
    """A summary frame (one row per seeded run, or per ``(run, ...)``) as a frame of :class:`ablate.report.stats.Interval` over
    each seed group's values (:func:`row_group`), in first-seen order; ``base`` maps a run to its group."""
    keys = [row_group(row, base) for row in frame.index]
    groups = list(dict.fromkeys(keys))
    cells = {g: {c: t_interval(frame[[key == g for key in keys]][c], confidence) for c in frame.columns}
             for g in groups}
    return interval_frame(cells, groups, frame)


def effect_frames(frame: pd.DataFrame, base: dict[str, str], seeds: dict[str, float], reference: str,
                  confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per seed group of a run other than ``reference`` and column: the :class:`ablate.report.stats.Interval` of the run minus
    the reference, paired by seed (see :func:`effect`). Rows keyed ``(run, variant)`` are compared with the
    reference run's row of the same variant (NaN where it has none)."""
    keys = [row_group(row, base) for row in frame.index]

    def by_seed(group, column):
        rows = [row for row, key in zip(frame.index, keys) if key == group]
        return pd.Series([frame.loc[row, column] for row in rows],
                         index=[seeds.get(row[0] if isinstance(row, tuple) else row, 0.0) for row in rows],
                         dtype=float)

    def reference_of(group):
        return (reference, *group[1:]) if isinstance(group, tuple) else reference

    def run_of(group):
        return group[0] if isinstance(group, tuple) else group

    groups = [g for g in dict.fromkeys(keys) if run_of(g) != reference]
    cells = {g: {c: effect(by_seed(reference_of(g), c), by_seed(g, c), confidence) for c in frame.columns}
             for g in groups}
    return interval_frame(cells, groups, frame)


def marked_effects(effects: pd.DataFrame, adjust: str | None = "holm", confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Which cells of an effect table (a frame of :class:`ablate.report.stats.Interval`) are marked, the table's cells being one
    family (see :func:`significant`)."""
    p = field(effects, "p")
    return pd.DataFrame(significant(p.to_numpy().ravel(), adjust, confidence).reshape(p.shape),
                        index=p.index, columns=p.columns)
