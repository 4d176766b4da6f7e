"""The dry-run table: one row per run, what ``ablate recipe --dry-run`` shows, made to fit the console.

Plugins are listed with the parameters that differ from their defaults, and numbers
read as people write them (:mod:`ablate.report.value_text`, which the HTML report labels runs with too).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from ablate.core.registry import PluginRegistry, get_registry
from ablate.execution.run_folder import run_status
from ablate.report.value_text import format_number, plugins_label
from ablate.study.expansion import Run

SHARED_COLUMNS = ("dataset", "model", "radii")     # shown once, under the table, when every run has the same
WRAPPING = ("plugins", "radii")                    # the columns that wrap (between numbers, for the radii)


def plan_table(runs: list[Run], out_dir: Path | None = None, registry: PluginRegistry | None = None,
               wide: bool = False) -> pd.DataFrame:
    """One row per run: what ``--dry-run`` shows.

    Plugins list only the parameters that differ from their defaults (a run's full
    values are in its config.json), unless ``wide``; numbers read as people write them.
    """
    registry = registry or get_registry()
    rows = []
    for run in runs:
        s = run.settings
        rows.append({"run": run.name, "plugins": plugins_label(run.plugins, None if wide else registry) or "-",
            "dataset": s.dataset, "model": f"{s.model} x{format_number(float(s.width))}", "epochs": s.epochs,
            "batch": s.batch_size, "lr": format_number(s.lr), "radii": " ".join(format_number(r) for r in s.radii) or "-",
            "status": run_status(out_dir / run.dir_name)[0] if out_dir else "", "hash": run.short_hash,
            "dir": run.dir_name})
    return pd.DataFrame(rows)


def print_plan(frame: pd.DataFrame, title: str, wide: bool, console: Console) -> None:
    """The dry-run table, made to fit the console: run names and numbers are never cut.

    A value that every run shares is printed once under the table, and runs show
    their folder's hash instead of the whole folder name; the plugins and radii columns
    are the ones that wrap. ``wide`` shows every column and is as wide as its content needs.
    """
    shared = [] if wide else [c for c in SHARED_COLUMNS if frame[c].nunique() == 1]
    caption = ", ".join(f"{column} {frame[column].iloc[0]}" for column in shared)
    frame = frame.drop(columns=shared + (["hash"] if wide else ["dir"]))
    table = Table(title=title, caption=f"every run: {caption}" if caption else None, caption_justify="left")
    for column in frame.columns:
        whole = column not in WRAPPING and not wide
        table.add_column(column, no_wrap=whole, overflow="fold",
                         min_width=max(len(str(v)) for v in [column, *frame[column]]) if whole else None,
                         justify="right" if column in ("epochs", "batch", "lr") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    target = Console(file=console.file, width=needed) if wide and needed > console.width else console
    target.print(table)
