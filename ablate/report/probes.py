"""Probe sections of a report: each registered probe tabulates and draws its own rows.

A probe registered with ``components``, ``table`` and ``figure``
(:class:`ablate.Probe`) is shown wherever its components appear in the results:
its table (one row per run, accuracies) in the report and in ``ablate compare``,
and its figure written as ``<probe>.<fmt>`` beside the recipe's results. The
engine knows no probe's rows; ``split`` is shown by the layouts themselves.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from rich.console import Console

from ablate.probes import as_probe
from ablate.report.results import Study
from ablate.report.tables import extremes, print_figure, summary_table


def present_probes(results: pd.DataFrame, probes: dict[str, tuple]) -> dict[str, object]:
    """``{name: Probe}`` of the registered probes that have rows in ``results`` and say how to show them."""
    found = {}
    for name, (entry, _, _) in sorted(probes.items()):
        probe = as_probe(entry)
        if probe.components and results["component"].isin(probe.components).any():
            found[name] = probe
    return found


def probe_summary(results: pd.DataFrame, runs: Sequence[str], probes: dict[str, tuple]) -> pd.DataFrame:
    """Every shown probe's table side by side, one row per run of ``runs`` (NaN where a run has none)."""
    tables = [probe.table(results) for probe in present_probes(results, probes).values() if probe.table]
    frame = pd.concat(tables, axis=1) if tables else pd.DataFrame()
    return frame.reindex(index=list(runs)).rename_axis("run")


def print_probes(study: Study, console: Console, formats: Sequence[str], probes: dict[str, tuple]) -> None:
    """Each shown probe's table on the console and its figure on disk."""
    for name, probe in present_probes(study.results, probes).items():
        if probe.table:
            frame = probe.table(study.results).reindex(index=study.runs).rename_axis("run").dropna(how="all")
            console.print(summary_table(frame, f"probe {name}: test accuracy per run (latest epoch)",
                                        extremes(frame), width=console.width))
        if probe.figure:
            print_figure(console, probe.figure(study.results, study.runs), study.out_dir, name, formats)
