"""Probe sections of a report: each registered probe tabulates and draws its own rows.

A probe registered with ``components``, ``table`` and ``figure``
(:class:`ablate.Probe`) is shown wherever its components appear in the results:
its table (one row per run, accuracies) in the report and in ``ablate compare``,
and its figure written as ``<probe>.<fmt>`` beside the recipe's results. The
engine knows no probe's rows; ``split`` is shown by the layouts themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
from rich.console import Console
from rich.markup import escape

from ablate.core.errors import AblateError
from ablate.core.files import write_csv
from ablate.core.registry import RegistryEntry, get_registry
from ablate.core.schema import PROBES, results_frame
from ablate.report.results import StudyResults, tidy
from ablate.report.tables import print_figure
from ablate.report.uncertainty import print_summary
from ablate.spectral.prober import planned_probers
from ablate.spectral.probes import as_probe, plan_probes, with_probe_settings


def present_probes(results: pd.DataFrame, probes: dict[str, RegistryEntry]) -> dict[str, object]:
    """``{name: Probe}`` of the registered probes that have rows in ``results`` and say how to show them."""
    found = {}
    for name, entry in sorted(probes.items()):
        probe = as_probe(entry.function)
        if probe.components and results["component"].isin(probe.components).any():
            found[name] = probe
    return found


def probe_summary(results: pd.DataFrame, runs: Sequence[str], probes: dict[str, RegistryEntry]) -> pd.DataFrame:
    """Every shown probe's table side by side, one row per run of ``runs`` (NaN where a run has none)."""
    tables = [probe.table(results) for probe in present_probes(results, probes).values() if probe.table]
    frame = pd.concat(tables, axis=1) if tables else pd.DataFrame()
    return frame.reindex(index=list(runs)).rename_axis("run")


def print_probes(study: StudyResults, console: Console, formats: Sequence[str], probes: dict[str, RegistryEntry],
                 reference: Sequence[str] | None = ()) -> None:
    """Each shown probe's table on the console (with several seeds: means ± intervals, and effects against
    the first of ``reference`` the study has) and its figure on disk."""
    for name, probe in present_probes(study.results, probes).items():
        if probe.table:
            frame = probe.table(study.results).reindex(index=study.runs).rename_axis("run").dropna(how="all")
            print_summary(study, console, frame, f"probe {name}: test accuracy per run (latest epoch)",
                          reference=reference, lower_is_better=())
        if probe.figure:
            print_figure(console, probe.figure(study.results, study.runs), study.out_dir, name, formats)


def evaluate_named_probes(model: torch.nn.Module, data, settings, names: list[str], params: dict[str, dict],
                          out_dir: Path, run: str, console: Console, formats: Sequence[str],
                          registry=None) -> pd.DataFrame:
    """``ablate probe CHECKPOINT --probe NAME``: evaluate the named probes on the test set, write their rows
    (``probes.csv``) and figures in ``out_dir``, print their tables; returns the rows."""
    registry = registry or get_registry()
    unused = sorted(set(params) - set(names))
    if unused:
        raise AblateError(f"--set {unused[0]}.*: probe {unused[0]!r} is not evaluated; add --probe {unused[0]}")
    probes = registry.registry("probes")
    settings.probes, settings.probe_params = list(names), {}
    settings.update(with_probe_settings(probes, {"probe_params": params}, "--set"), "--set")
    planned = plan_probes(probes, settings, "--probe")
    rows = []
    for probe, prober in planned_probers(planned, {"test": (data.x_test, data.y_test)}, normalize=settings.normalize,
                                         batch_size=settings.eval_batch_size):
        rows += [{**row, "run": run, "epoch": None} for row in prober(model).rows]
    frame = results_frame(rows)
    out_dir = Path(out_dir)
    write_csv(out_dir / PROBES, frame)
    console.print(f"wrote {escape(str(out_dir / PROBES))}")
    print_probes(StudyResults(tidy(frame), out_dir, {}), console, formats, {n: probes[n] for n in names})
    return frame
