"""``ablate probe ... --rank``: models ranked by how much they rely on high frequencies, as a table and a page.

Each model probed gets its HFC and LFC reliance (:mod:`ablate.any_model.reliance`: accuracy on
the component over accuracy on the originals, averaged over the probed radii, with a
bootstrap 95 % interval over the test images). Models are sorted by HFC reliance,
highest first; beside each, the ranks below it whose HFC intervals lie wholly under
its own: the differences a reader may cite. The per-radius ratios stay in
``leaderboard.csv`` beside the summary. The page (``--html``) shows the same table,
the accuracy-against-radius figure of all models and each model's example grid, in
one self-contained file (the report's HTML machinery, :mod:`ablate.report.rich_html`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ablate.any_model.reliance import Reliance, reliance
from ablate.report.html import write_document
from ablate.report.rich_html import PageConsole, to_html

PAGE_TITLE = "HFC reliance leaderboard"


@dataclass(frozen=True)
class RankedModel:
    """One model's line of the leaderboard."""

    model: str
    images: int
    accuracy: float          # on the original test images
    hfc: Reliance
    lfc: Reliance


def rank(measured: Sequence, radii: Sequence[float], resamples: int = 2000) -> list[RankedModel]:
    """One :class:`RankedModel` per measured model (:class:`ablate.any_model.probe_model.Measured`), highest HFC reliance first
    (models without a value last, in their given order)."""
    entries = []
    for m in measured:
        original = m.correct[("original", None)]
        entries.append(RankedModel(m.name, len(original), float(original.double().mean()) if len(original) else math.nan,
                             reliance(m.correct, radii, "hfc", resamples), reliance(m.correct, radii, "lfc", resamples)))
    return sorted(entries, key=lambda e: (math.isnan(e.hfc.value), -e.hfc.value if not math.isnan(e.hfc.value) else 0))


def clearly_above(entries: Sequence[RankedModel]) -> list[list[int]]:
    """For each entry, the ranks (1-based) below it whose HFC interval lies wholly under its own."""
    return [[k + 1 for k in range(i + 1, len(entries)) if not entries[i].hfc.overlaps(entries[k].hfc)]
            for i in range(len(entries))]


def frame(entries: Sequence[RankedModel], radii: Sequence[float]) -> pd.DataFrame:
    """The leaderboard as a table (``leaderboard.csv``): rank, the summary numbers with their intervals, and
    the per-radius ratios they average (``hfc_r4`` = acc(HFC at r 4) / acc(original))."""
    rows = []
    for k, e in enumerate(entries):
        row = {"rank": k + 1, "model": e.model, "images": e.images, "accuracy": e.accuracy}
        for name, value in (("hfc", e.hfc), ("lfc", e.lfc)):
            row |= {f"{name}_reliance": value.value, f"{name}_low": value.low, f"{name}_high": value.high}
        for name, value in (("hfc", e.hfc), ("lfc", e.lfc)):
            row |= {f"{name}_r{r:g}": value.per_radius.get(float(r), math.nan) for r in radii}
        rows.append(row)
    return pd.DataFrame(rows)


def interval(value: Reliance) -> str:
    return "n/a" if math.isnan(value.value) else f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}]"


def explanation(radii: Sequence[float]) -> str:
    return (f"reliance = accuracy on the component / accuracy on the original, averaged over r = "
            f"{', '.join(f'{r:g}' for r in radii)}; [95 % bootstrap interval over images]; 'above' lists the "
            f"ranks whose HFC interval lies wholly below this model's")


def dropped_note(entries: Sequence[RankedModel]) -> str:
    """Which models' intervals leave out resamples that had no original right (none: empty)."""
    notes = [f"{e.model}: {e.hfc.dropped} of {e.hfc.resamples} bootstrap resamples had no original right and are "
             f"left out of its intervals" for e in entries if e.hfc.dropped]
    return "; ".join(notes)


def table(entries: Sequence[RankedModel], radii: Sequence[float], what: str) -> Table:
    """The ranked models as a rich table, for the console and the page."""
    note = dropped_note(entries)
    result = Table(title=f"{PAGE_TITLE}: {what}", caption=explanation(radii) + (f". {escape(note)}" if note else ""))
    for column in ("rank", "model", "original", "HFC reliance", "LFC reliance", "above"):
        result.add_column(column, justify="left" if column in ("model", "above") else "right", no_wrap=True)
    for k, (e, below) in enumerate(zip(entries, clearly_above(entries))):
        result.add_row(str(k + 1), Text(e.model), f"{e.accuracy:.3f}", interval(e.hfc), interval(e.lfc),
                       ", ".join(f"#{b}" for b in below))
    return result


def write_page(path: Path, entries: Sequence[RankedModel], radii: Sequence[float], what: str, accuracy_figure=None,
               examples: dict[str, bytes] | None = None) -> Path:
    """The leaderboard as one self-contained HTML page: the table, the accuracy-vs-radius figure of all
    models (a matplotlib figure) and each model's example grid (PNG bytes by model name)."""
    console = PageConsole()
    console.print(table(entries, radii, what))
    console.print(Text(explanation(radii)))
    if accuracy_figure is not None:
        console.keep_figure(accuracy_figure, "accuracy against the radius, every model")
    for name, png in (examples or {}).items():
        console.keep_image(png, f"{name}: HFC right, LFC wrong")
    body = "".join(map(to_html, console.items))
    return write_document(path, PAGE_TITLE, what, f'<section id="leaderboard">{body}</section>')
