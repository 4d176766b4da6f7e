"""The claims table: one row per check of the recipe's claims, printed with the report and kept as claims.csv.

:mod:`ablate.report.claims` decides each check; this module shows it: the paper's
wording and source, what was compared, ablate's numbers (accuracies in points, as
the other tables show them), the difference with its interval and Holm-adjusted p
when the study has seeds, and the verdict with its reason. The same frame is
written beside results.csv, so that a script can read the verdicts.
"""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ablate.core.errors import AblateError
from ablate.core.schema import CLAIMS
from ablate.report.claims import FAILS, HOLDS, claims_frame, study_claims
from ablate.report.results import StudyResults
from ablate.report.stats import CONFIDENCE
from ablate.study.claim_schema import GAP

TITLE = "The paper's claims, checked by this study"
VERDICT_STYLES = {HOLDS: "bold green", FAILS: "bold red"}          # undecided: yellow


def print_claims(study: StudyResults, console: Console) -> pd.DataFrame | None:
    """Print the claims table of a study whose recipe states claims and write it as claims.csv; None without
    claims. A claims list that recipe.json holds malformed is one warning line, not a failed report."""
    try:
        claims = study_claims(study)
    except AblateError as exc:
        console.print(f"[yellow]claims not checked[/]: {escape(str(exc))}")
        return None
    if not claims:
        return None
    frame = claims_frame(study, claims)
    console.print(claims_table(frame))
    seeded = int(frame["seeded"].sum())
    console.print(
        "difference = run - versus, in points for accuracies; a claim holds where it lies on the claimed side of the "
        "margin. One seed: the point values decide (noise cannot be told apart)" + (
            f"; with seeds: mean paired difference ± half-width of its {CONFIDENCE:.0%} interval (Student t), decided "
            f"where p against the margin, Holm-adjusted over the {seeded} seeded checks, is below "
            f"{1 - CONFIDENCE:.0%}" if seeded else ""))
    try:
        frame.drop(columns=["seeded"]).to_csv(study.out_dir / CLAIMS, index=False)
        console.print(f"wrote {escape(str(study.out_dir / CLAIMS))}")
    except OSError as exc:
        console.print(f"[yellow]{escape(str(study.out_dir / CLAIMS))} not written[/]: {escape(exc.strerror or str(exc))}")
    return frame


def claims_table(frame: pd.DataFrame) -> Table:
    """The checks as a rich table, the claim's wording on its first check, a line between claims."""
    seeded = bool(frame["seeded"].any())
    table = Table(title=TITLE, title_style="italic")
    table.add_column("claim", ratio=3, min_width=24)
    table.add_column("check", ratio=2, min_width=18)
    for name in ("measured", "difference", "claimed", *(["p (Holm)"] if seeded else [])):
        table.add_column(name, justify="right" if name != "claimed" else "left", no_wrap=True)
    table.add_column("verdict", min_width=13)
    rows = list(frame.itertuples(index=False))
    for i, row in enumerate(rows):
        first = i == 0 or (row.claim, row.source) != (rows[i - 1].claim, rows[i - 1].source)
        last = i == len(rows) - 1 or (row.claim, row.source) != (rows[i + 1].claim, rows[i + 1].source)
        claim = Text.assemble(row.claim, ("\n" + row.source, "dim")) if first else Text("")
        scale = 100.0 if row.metric in ("accuracy", GAP) else 1.0
        cells = [claim, Text.assemble(row.what, (f"\n{row.run} vs {row.versus}", "dim")),
                 Text(measured_text(row, scale)), Text(difference_text(row, scale)), Text(claimed_text(row, scale))]
        if seeded:
            cells.append(Text(f"{row.p_holm:.3g}" if row.seeded else ""))
        style = VERDICT_STYLES.get(row.verdict, "yellow")
        cells.append(Text.assemble((row.verdict, style), (f"\n{row.reason}" if row.reason else "", "dim")))
        table.add_row(*cells, end_section=last)
    return table


def number(value: float, scale: float, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{scale * value + 0.0:+.1f}" if scale == 100 else f"{value + 0.0:+.4g}"
    return text if signed else text.lstrip("+")


def claimed_text(row, scale: float) -> str:
    """Where the claim puts the difference: ``> +5``, ``< -0``, ``within ±2``."""
    if row.direction == "about":
        return f"within ±{number(row.margin, scale)}"
    sign = 1 if row.direction == "greater" else -1
    return f"{'>' if sign > 0 else '<'} {number(sign * row.margin, scale, signed=row.margin > 0)}"


def measured_text(row, scale: float) -> str:
    if pd.isna(row.value):
        return "–"
    return f"{number(row.value, scale)} vs {number(row.versus_value, scale)}"


def difference_text(row, scale: float) -> str:
    if pd.isna(row.difference):
        return "–"
    text = number(row.difference, scale, signed=True)
    return text + (f" ± {number(row.half_width, scale)}" if math.isfinite(row.half_width) else "")
