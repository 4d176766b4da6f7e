"""The band-pass probe: accuracy on rings of the spectrum (which band carries the evidence?).

``split`` cuts the spectrum once, at a radius; ``bandpass`` cuts it into rings. For
edges ``r0 < r1 < ... < rk``, band i holds the frequencies inside the disc of
``r_{i+1}`` and outside the disc of ``r_i``, each disc exactly split's LFC mask
(``dist < r``, or ``dist <= r`` with ``inclusive``, centred on bin ``(H//2, W//2)``);
an inner edge of 0 is the empty disc, so the first band starts at the zero frequency
and the band ``[0, r)`` IS split's LFC at r. ``"max"`` as the last edge means past
every frequency, so the last band is split's HFC at ``r_{k-1}``. Edges that start at
0 and end at ``max`` tile the spectrum: the bands add up to the image.

One forward transform per batch serves every band: the LFC at every edge comes from
:func:`ablate.split` (one ``rfft2``, one ``irfft2`` per edge), and a band is the
difference of two of them. With ``complement = true`` each band also gives "all but
this band" (component ``band_removed``), the image minus the band.

Rows: component ``band`` (and ``band_removed``), ``radius`` the inner edge and
``radius_outer`` the outer one (``inf`` for ``max``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import ablate
from ablate import Param
from ablate.api import new_figure

MAX = "max"
COMPONENTS = ("band", "band_removed")


def bands(images, edges, inclusive=False, complement=False):
    """The band between each pair of consecutive edges, then (``complement``) the image without it."""
    radii = [float(e) for e in edges if e != MAX and float(e) > 0]
    discs = dict(zip(radii, ablate.split(images, radii, inclusive=inclusive)[0])) if radii else {}

    def disc(edge):
        if edge == MAX:
            return images
        return discs[float(edge)] if float(edge) > 0 else None

    found, removed = [], []
    for inner, outer in zip(edges, edges[1:]):
        labels = {"radius": inner, "radius_outer": math.inf if outer == MAX else outer}
        inside, hole = disc(outer), disc(inner)
        band = inside if hole is None else inside - hole
        found.append(ablate.Variant({"component": "band", **labels}, band))
        if complement:
            removed.append(ablate.Variant({"component": "band_removed", **labels}, images - band))
    return found + removed


def check_edges(values: dict, where: str) -> dict:
    """Edges are numbers >= 0 in increasing order, at least two; only the last may be ``"max"``."""
    edges = values["edges"]
    canonical = []
    for i, edge in enumerate(edges):
        if edge == MAX and i == len(edges) - 1:
            canonical.append(MAX)
            continue
        if isinstance(edge, bool) or not isinstance(edge, (int, float)) or not math.isfinite(edge) or edge < 0:
            raise ablate.AblateError(f"{where}.edges[{i}]: found {edge!r}; edges are radii >= 0 in DFT bins, "
                                     f"and the last may be \"max\" (past every frequency)")
        canonical.append(int(edge) if float(edge).is_integer() else float(edge))
    numbers = [e for e in canonical if e != MAX]
    if len(canonical) < 2 or any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise ablate.AblateError(f"{where}.edges: found {edges!r}; give at least two edges in increasing order, "
                                 f"e.g. [0, 4, 8, 16, \"max\"]")
    return {**values, "edges": canonical}


# --------------------------------------------------------------------------
# Reports: accuracy per band
# --------------------------------------------------------------------------

def band_label(inner, outer) -> str:
    return f"{float(inner):g}-{'max' if math.isinf(float(outer)) else f'{float(outer):g}'}"


def band_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The test-set accuracy rows of the band probe, with a ``band`` label, in band order."""
    rows = results[results["component"].isin(COMPONENTS) & (results["metric"] == "accuracy")
                   & (results["split"] == "test")].copy()
    if "radius_outer" not in rows:
        return rows.iloc[0:0].assign(band=[])
    rows["radius_outer"] = pd.to_numeric(rows["radius_outer"], errors="coerce")
    rows["band"] = [band_label(a, b) for a, b in zip(rows["radius"], rows["radius_outer"])]
    return rows.sort_values(["radius", "epoch"], kind="stable")


def band_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: accuracy on each band (``band 0-4``) and without it (``no 0-4``), latest epoch."""
    rows = band_rows(results)
    columns = {}
    for (component, band), group in rows.groupby(["component", "band"], sort=False):
        latest = group.sort_values("epoch", kind="stable").groupby("run")["value"].last()
        columns[f"{'band' if component == 'band' else 'no'} {band}"] = latest
    return pd.DataFrame(columns)


def band_figure(results: pd.DataFrame, runs):
    """Accuracy per band: one line per run at its latest epoch (one line per epoch for a single run)."""
    rows = band_rows(results)
    rows = rows[rows["component"] == "band"]
    fig, (ax,) = new_figure(1, panel_size=(6.0, 3.6))
    if rows.empty:
        ax.text(0.5, 0.5, "no band-pass results yet", ha="center", va="center")
        ax.set_axis_off()
        return fig
    order = list(dict.fromkeys(rows["band"]))
    shown = [r for r in runs if (rows["run"] == r).any()]
    if len(shown) == 1:
        mine = rows[rows["run"] == shown[0]]
        epochs = sorted(mine["epoch"].unique())
        epochs = [epochs[int(i)] for i in np.unique(np.linspace(0, len(epochs) - 1, min(6, len(epochs))).round())]
        lines = [(f"{shown[0]}, epoch {e:g}", mine[mine["epoch"] == e]) for e in epochs]
    else:
        lines = [(run, rows[rows["run"] == run].sort_values("epoch").groupby("band").last().reset_index())
                 for run in shown]
    for label, line in lines:
        values = line.groupby("band")["value"].last().reindex(order)
        ax.plot(range(len(order)), values.values, marker="o", label=label)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("band (inner-outer radius, DFT bins)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return fig


class BandpassProbe(ablate.Plugin):
    """The band-pass probe: accuracy on rings of the spectrum between consecutive edges."""

    name = "bandpass_probe"

    @ablate.hookimpl
    def ablate_register_probes(self, register):
        register("bandpass", ablate.Probe(bands, params=[
            Param("edges", list, [0, 4, 8, 12, 16, MAX], "band edges in DFT bins, increasing; the last may be "
                  "\"max\" (past every frequency)"),
            Param("inclusive", bool, False, "False: a disc is dist < r (official code); True: dist <= r"),
            Param("complement", bool, False, "also evaluate each image without the band"),
        ], check=check_edges, components=COMPONENTS, table=band_table, figure=band_figure),
            help="accuracy on the band of the spectrum between each pair of edges (rings)")
