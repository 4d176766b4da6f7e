"""Summary tables: one row per run with the numbers of its last epoch, best and worst marked.

:func:`summary_frame` picks the numbers (fractions, NaN where a run has none);
:func:`summary_table` prints them as rich tables, splitting a table that is wider
than the console into several that repeat the row labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ablate.report import plots
from ablate.report.interval_frames import field
from ablate.report.results import StudyResults

BEST, WORST = "bold green", "red"
# Each mark is a style and a symbol: the symbol survives plain text (NO_COLOR, a file, a screen reader).
MARKS = {"best": (BEST, "▲"), "worst": (WORST, "▼"), "real": ("bold", "*"), "identical": ("yellow", "≡")}
DIVERGED = "red"
LEGEND = f"[{BEST}]▲ best[/] and [{WORST}]▼ worst[/] of each column marked; accuracy in %"


@dataclass(frozen=True)
class Column:
    """One column of a summary: the accuracy of one split and component at one radius."""

    label: str
    split: str
    component: str
    radius: float | None = None


def radius_label(radius: float) -> str:
    return f"r{radius:g}"


def radius_key(radius) -> float | None:
    return None if radius is None or (isinstance(radius, float) and math.isnan(radius)) else round(float(radius), 6)


def latest_accuracies(results: pd.DataFrame) -> dict[tuple, float]:
    """``{(run, split, component, radius): accuracy}`` at the last epoch that measured it.

    The last epoch is taken per key, so a probe run every few epochs, or a run
    still training, shows its most recent numbers.
    """
    rows = results[results["attack"].isna() & (results["metric"] == "accuracy")]
    rows = rows.sort_values("epoch", kind="stable")
    return {(r.run, r.split, r.component, radius_key(r.radius)): r.value for r in rows.itertuples()}


def probed_radii(results: pd.DataFrame, split: str, components: Sequence[str] = ("low", "high")) -> list[float]:
    rows = results[(results["split"] == split) & results["component"].isin(components) & results["attack"].isna()]
    return sorted(rows["radius"].dropna().unique())


def figure5_columns(results: pd.DataFrame) -> list[Column]:
    """Train and test accuracy, then test LFC and HFC accuracy at every probed radius."""
    radii = probed_radii(results, "test")
    return ([Column("train", "train", "original"), Column("test", "test", "original")]
            + [Column(f"LFC {radius_label(r)}", "test", "low", r) for r in radii]
            + [Column(f"HFC {radius_label(r)}", "test", "high", r) for r in radii])


def figure3_columns(results: pd.DataFrame) -> list[Column]:
    """Train and test accuracy, then accuracy on the LFC of the TRAINING set at every radius."""
    radii = probed_radii(results, "train", ("low",))
    return ([Column("train", "train", "original"), Column("test", "test", "original")]
            + [Column(f"train LFC {radius_label(r)}", "train", "low", r) for r in radii])


def summary_frame(results: pd.DataFrame, runs: Sequence[str], columns: Sequence[Column],
                  gap: bool = True) -> pd.DataFrame:
    """Accuracies (fractions) indexed by run; NaN where a run has no such number.

    With ``gap``, a ``gap`` column (train - test) follows ``test``.
    """
    latest = latest_accuracies(results)
    frame = pd.DataFrame(
        {c.label: [latest.get((run, c.split, c.component, radius_key(c.radius)), np.nan) for run in runs]
         for c in columns},
        index=pd.Index(list(runs), name="run"), dtype=float)
    if gap and {"train", "test"} <= set(frame.columns):
        frame.insert(list(frame.columns).index("test") + 1, "gap", frame["train"] - frame["test"])
    return frame


def extremes(frame: pd.DataFrame, lower_is_better: Sequence[str] = ("gap",)) -> dict[tuple, str]:
    """``{(row, column): "best" | "worst"}`` for each column with at least two different values.

    Higher is better except in ``lower_is_better`` columns (the generalisation
    gap); ties are all marked.
    """
    marks = {}
    for column in frame.columns:
        values = frame[column].dropna()
        if values.nunique() < 2:
            continue
        high, low = values.max(), values.min()
        best, worst = (low, high) if column in lower_is_better else (high, low)
        for row, value in values.items():
            if value == best:
                marks[(row, column)] = "best"
            elif value == worst:
                marks[(row, column)] = "worst"
    return marks


def marked(text: str, mark: str | None) -> str:
    """A cell's markup with its mark's style and symbol (see :data:`MARKS`)."""
    if not mark:
        return text
    style, symbol = MARKS[mark]
    return f"[{style}]{text}{symbol}[/]"


def percent(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "[dim]–[/]"
    shown = round(100 * value, 1) + 0.0          # + 0.0 turns -0.0 into 0.0
    return f"{shown:+.1f}" if signed else f"{shown:.1f}"


def interval_cell(interval, signed: bool, fewer: bool) -> str:
    """A cell's markup from its :class:`ablate.report.stats.Interval`: ``mean ± half-width``, ``diverged (k of n)``
    instead where seeds diverged, flagged ≡ where the seeds are identical, ``(n=k)`` where it has ``fewer``
    values than its row."""
    if interval.diverged:
        return f"[{DIVERGED}]diverged ({interval.diverged} of {interval.n + interval.diverged})[/]"
    text = percent(interval.mean, signed)
    if np.isfinite(interval.half_width):
        text += f" ± {100 * interval.half_width:.1f}"
    text = marked(text, "identical" if interval.identical else None)
    return text + (f" (n={interval.n})" if fewer else "")


def shown_counts(intervals: pd.DataFrame) -> pd.DataFrame:
    """Each cell's number of values, 0 where there are none or the cell is diverged (it says its own)."""
    return field(intervals, "n").where(~field(intervals, "diverged").astype(bool), 0)


def fewer_values(intervals: pd.DataFrame) -> pd.DataFrame:
    """The cells with fewer values than the most of their row: they say their own ``n``."""
    counts = shown_counts(intervals)
    return counts.gt(0) & counts.lt(counts.max(axis=1), axis=0)


def row_counts(intervals: pd.DataFrame) -> list[str]:
    """The ``n`` column: each row's number of values, a range where its cells differ."""
    texts = []
    for _, counts in shown_counts(intervals).iterrows():
        present = counts[counts > 0]
        low, high = (int(present.min()), int(present.max())) if len(present) else (0, 0)
        texts.append(f"{low}" if low == high else f"{low}–{high}")
    return texts


def summary_table(frame: pd.DataFrame, title: str, marks: dict[tuple, str] | None = None,
                  study: StudyResults | None = None, row_labels: dict[str, dict] | None = None,
                  extra: dict[str, dict] | None = None, width: int | None = None,
                  intervals: pd.DataFrame | None = None, signed: bool = False) -> Group:
    """Rich tables of a summary frame: index columns first, then one column per accuracy.

    ``marks`` colours the best and worst cells; with ``study``, a ``status``
    column appears when a run is not finished; ``row_labels`` renames index
    values per index level; ``extra`` adds text columns ``{name: {row: text}}``
    after the index. With ``intervals`` (:class:`ablate.report.stats.Interval` per cell,
    shaped like ``frame``) a cell reads as :func:`interval_cell` says, and a
    column ``n`` counts the values; ``signed`` shows every number with its sign. Where the table is wider than
    ``width`` (the console's), the accuracy columns go into several tables that repeat the row labels,
    so that no column is cut off or squeezed into ellipses.
    """
    left = label_cells(frame, row_labels, extra)
    statuses = status_cells(frame, study)
    if statuses:
        left["status"] = statuses
    if intervals is not None:
        left["n"] = [(text, len(text)) for text in row_counts(intervals)]
    right = number_cells(frame, extremes(frame) if marks is None else marks, intervals, signed)
    return Group(*chunk_tables(title, left, right, fitting_chunks(left, right, width), len(frame)))


Cell = tuple[str, int]          # a cell's markup and its width on screen


def label_cells(frame: pd.DataFrame, row_labels: dict[str, dict] | None,
                extra: dict[str, dict] | None) -> dict[str, list[Cell]]:
    """The columns that name the rows: one per index level (renamed by ``row_labels``), then ``extra``'s."""
    names = [n or "run" for n in frame.index.names]
    labels = {name: [(row_labels or {}).get(name, {}).get(key, str(key)) for key in frame.index.get_level_values(i)]
              for i, name in enumerate(names)}
    labels.update({name: [texts.get(row, "") for row in frame.index] for name, texts in (extra or {}).items()})
    return {name: [(escape(text), len(text)) for text in texts] for name, texts in labels.items()}


def status_cells(frame: pd.DataFrame, study: StudyResults | None) -> list[Cell] | None:
    """Each row's run status, coloured; None when every run is finished (the column would say nothing)."""
    statuses = []
    if study:
        groups = study.group_statuses()
        runs = [row if isinstance(row, str) else row[0] for row in frame.index]
        statuses = [groups[run] if run in groups else study.status(run) for run in runs]
    if not any(status != "finished" for status in statuses):
        return None
    colours = {"finished": "green", "failed": "red"}
    return [(f"[{colours.get(s, 'yellow')}]{s}[/]", len(s)) for s in statuses]


def number_cells(frame: pd.DataFrame, marks: dict[tuple, str], intervals: pd.DataFrame | None,
                 signed: bool) -> dict[str, list[Cell]]:
    """The accuracy columns: a percentage per cell (or an interval, with ``intervals``), marked best or worst."""
    fewer = fewer_values(intervals) if intervals is not None else None
    right = {}
    for column in frame.columns:
        cells = []
        for row, value in frame[column].items():
            sign = signed or column == "gap"
            text = percent(value, sign) if intervals is None else interval_cell(intervals.loc[row, column], sign,
                                                                                 fewer.loc[row, column])
            text = marked(text, marks.get((row, column)))
            cells.append((text, len(Text.from_markup(text))))
        right[str(column)] = cells
    return right


def fitting_chunks(left: dict[str, list[Cell]], right: dict[str, list[Cell]], width: int | None) -> list[list[str]]:
    """The accuracy columns shared out into as few tables as fit in ``width`` beside the row labels, as evenly
    as that allows (no limit without ``width``; a column too wide alone still gets a table)."""
    def needed(name, cells):        # the column's text, its padding and one border
        return max([len(name), *(w for _, w in cells)]) + 3

    fixed = 1 + sum(needed(n, c) for n, c in left.items())

    def fits(chunk):
        return not width or len(chunk) < 2 or fixed + sum(needed(n, right[n]) for n in chunk) <= width

    chunks, current = [], []
    for name in right:                                   # greedy: as few tables as will fit...
        if not fits(current + [name]):
            chunks.append(current)
            current = []
        current.append(name)
    chunks.append(current)
    size = math.ceil(len(right) / len(chunks))           # ...then the columns shared out evenly
    even = [list(right)[i:i + size] for i in range(0, len(right), size)] or [[]]
    if len(even) == len(chunks) and all(map(fits, even)):
        chunks = even
    return chunks


def chunk_tables(title: str, left: dict[str, list[Cell]], right: dict[str, list[Cell]], chunks: list[list[str]],
                 rows: int) -> list:
    """A titled table per chunk of accuracy columns, each repeating the row labels."""
    parts = []
    for number, chunk in enumerate(chunks):
        parts.append(Text(title if number == 0 else f"{title} (continued)", style="italic"))
        table = Table()
        for name in left:
            table.add_column(name, no_wrap=True)
        for name in chunk:
            table.add_column(name, justify="right")
        for i in range(rows):
            table.add_row(*(cells[i][0] for cells in left.values()), *(right[name][i][0] for name in chunk))
        parts.append(table)
    return parts


def print_figure(console: Console, fig, out_dir: Path, name: str, formats: Sequence[str]) -> None:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format and say so on the console.

    A console that builds a page (:class:`ablate.report.rich_html.PageConsole`) takes the figure itself
    instead: the page embeds it, and nothing is written.
    """
    keep = getattr(console, "keep_figure", None)
    if keep is not None:
        keep(fig, name)
        return
    for path in plots.save(fig, out_dir, name, formats):
        console.print(f"wrote {escape(str(path))}")


def print_image(console: Console, path: Path, caption: str) -> None:
    """Say where an image a run wrote is (its probe examples); a page (see :func:`print_figure`) embeds it."""
    keep = getattr(console, "keep_image", None)
    if keep is not None:
        keep(Path(path).read_bytes(), caption)
        return
    console.print(f"{escape(caption)}: {escape(str(path))}")


def example_caption(run: str) -> str:
    """What a run's examples.png shows, under the image."""
    return f"{run}: test images the HFC classifies right and the LFC wrong"
