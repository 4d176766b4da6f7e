"""Figure 1 of the study: per radius, the test images a model gets right on the LFC only, the HFC only,
both or neither, as a table, a file (probe_report.csv) and the examples whose HFC is right and LFC
wrong (Figure 2, examples.png). :class:`ablate.spectral.prober.Prober` measures; this module counts and writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
from rich.table import Table

from ablate.core.errors import AblateError
from ablate.core.schema import EXAMPLES, PROBE_REPORT
from ablate.spectral.example_grid import Captions, example_radius, save_example_grid
from ablate.spectral.frequency import split
from ablate.spectral.prober import Key, Prober, split_probe

REPORT_COLUMNS = ["radius", "lfc_only", "hfc_only", "both", "neither", "lfc_total", "hfc_total"]


def probe_report(correct: dict[Key, torch.Tensor], radii: Sequence[float]) -> pd.DataFrame:
    """One row per radius: how many images are right on the LFC only, the HFC only, both, neither.

    ``correct`` is :attr:`ProbeResult.correct`; the four cells of a row sum to the
    number of images, ``lfc_total``/``hfc_total`` count the images right on each.
    """
    rows = []
    for r in radii:
        missing = [c for c in ("low", "high") if (c, r) not in correct]
        if missing:
            raise AblateError(f"probe report: no per-example results for the {'/'.join(missing)} component "
                              f"at radius {r}; probe with that radius first")
        low, high = correct[("low", r)].bool().cpu(), correct[("high", r)].bool().cpu()
        rows.append({"radius": r,
                     "lfc_only": int((low & ~high).sum()), "hfc_only": int((high & ~low).sum()),
                     "both": int((low & high).sum()), "neither": int((~low & ~high).sum()),
                     "lfc_total": int(low.sum()), "hfc_total": int(high.sum())})
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def report_table(df: pd.DataFrame, title: str = "LFC / HFC probe: test images per cell"):
    """The probe report as a rich table for the console."""
    table = Table(title=title)
    for column in df.columns:
        table.add_column(column.replace("_", " "), justify="right")
    for row in df.itertuples(index=False):
        table.add_row(*(format_cell(v) for v in row))
    return table


def format_cell(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def hfc_only_examples(correct: dict[Key, torch.Tensor], radius: float) -> torch.Tensor:
    """Indices of the images whose HFC is classified right and whose LFC is wrong."""
    low, high = correct[("low", radius)].bool().cpu(), correct[("high", radius)].bool().cpu()
    return torch.nonzero(high & ~low).flatten()


# --------------------------------------------------------------------------
# After training (and `ablate probe`): the report and the examples on disk
# --------------------------------------------------------------------------

def write_probe_report(model: torch.nn.Module, data, settings, out_dir, autocast_dtype=None,
                       example_at: float | None = None) -> pd.DataFrame:
    """Probe ``model`` on the test set at ``settings.report_radii``; write probe_report.csv and examples.png.

    The examples are drawn at ``example_at`` when given (probed too if it is not a
    report radius), else at :func:`ablate.spectral.example_grid.example_radius` of the report.
    Returns the report; ``report.attrs["example_radius"]`` is the radius drawn (None
    when no radius splits the images into two non-empty components).
    """
    radii = list(settings.report_radii)
    probed = radii + ([example_at] if example_at is not None and example_at not in radii else [])
    prober = Prober(data.x_test, data.y_test, split_probe(probed, settings.inclusive),
                    normalize=settings.normalize, batch_size=settings.eval_batch_size, split_name="test")
    result = prober(model, autocast_dtype)
    report = probe_report(result.correct, radii)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report.to_csv(out_dir / PROBE_REPORT, index=False)
    radius = example_at if example_at is not None else example_radius(report, *data.x_test.shape[-2:],
                                                                      settings.inclusive)
    chosen = torch.zeros(0, dtype=torch.long)
    title = "no probed radius leaves both the LFC and the HFC non-empty"
    if radius is not None:
        found = hfc_only_examples(result.correct, radius)
        chosen = found[:8]
        title = f"HFC right, LFC wrong at r = {radius:g} ({len(found)} test images)"
    images = data.x_test[chosen.to(data.x_test.device)]
    low, high = split(images, radius or 0.0, inclusive=settings.inclusive)
    save_example_grid(images, low, high, range(len(chosen)), out_dir / EXAMPLES,
                      Captions(title=title, classes=data.classes, labels=data.y_test[chosen.to(data.y_test.device)],
                               numbers=chosen.tolist()))
    report.attrs["example_radius"] = radius
    return report
