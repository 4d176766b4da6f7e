"""The study's figures: accuracy curves per run, attack curves, probe counts.

Each ``*_figure`` function returns a matplotlib ``Figure`` (one panel per run or
per attack) so that it can be inspected; :func:`save` writes it once per format.
matplotlib is imported inside the functions, so that ``import ablate`` and the
tables do not pay for it: the report's tables import this module, and so do
``ablate plugins`` and ``ablate recipes`` (measured on a CPU, best of 5:
``import ablate.report.plots`` 2.14 s, 2.64 s with matplotlib at the top;
``python -X importtime``: 0.38 s of matplotlib). Figures are drawn on the Agg canvas: no display,
no pyplot state shared between threads. With several seeds per run, a run's
curves are the mean over its seeds with a shaded 95 % confidence band. A figure that belongs to one plugin's
layout lives with that plugin (Figure 7's kernels in ``kernel_smoothing``) and
builds on :func:`new_figure` and :func:`save`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.schema import file_in
from ablate.report.stats import t_interval
from ablate.study.seeds import base_runs

# Train and test are drawn last, on top of the probe curves, thick and black with a white edge, so that
# neither hides under an LFC curve; solid and dashed tell them apart in colour and in greyscale print.
# LFC and HFC curves differ in line style (solid, dotted) as well as radius colour, so they too survive
# greyscale (viridis also darkens monotonically with the radius).
CURVE_ON_TOP = 5
TRAIN_STYLE = {"color": "black", "linewidth": 2.4, "linestyle": "-", "zorder": CURVE_ON_TOP}
TEST_STYLE = {"color": "black", "linewidth": 2.4, "linestyle": (0, (5, 2)), "zorder": CURVE_ON_TOP + 1}
COMPONENT_LINESTYLE = {"low": "-", "high": ":"}
COMPONENT_LINEWIDTH = {"low": 1.3, "high": 1.8}      # dots need a little more width to read as a line
COMPONENT_NAME = {"low": "LFC", "high": "HFC"}


def outlined(style: dict) -> dict:
    """``style`` with a white edge under the line, so that it stands out from the curves it crosses."""
    from matplotlib import patheffects  # noqa: PLC0415 (matplotlib: start-up)

    edge = [patheffects.Stroke(linewidth=style["linewidth"] + 2, foreground="white"), patheffects.Normal()]
    return {**style, "path_effects": edge}


def new_figure(panels: int, columns: int = 3, panel_size: tuple[float, float] = (4.2, 3.2)):
    """A figure with exactly ``panels`` axes laid out in rows of ``columns``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (matplotlib: start-up)
    from matplotlib.figure import Figure  # noqa: PLC0415 (matplotlib: start-up)

    columns = max(1, min(columns, panels))
    rows = max(1, math.ceil(panels / columns))
    fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(rows, columns, squeeze=False).ravel()
    for extra in grid[panels:]:
        fig.delaxes(extra)
    return fig, list(grid[:panels])


def save(fig, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format; return the paths."""
    supported = fig.canvas.get_supported_filetypes()
    paths = []
    for fmt in formats:
        fmt = fmt.lower().lstrip(".")
        if fmt not in supported:
            raise AblateError(f"unknown plot format {fmt!r}; choose from png, svg, pdf")
        path = file_in(out_dir, f"{name}.{fmt}")          # a link there would be written through
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths


def radius_colors(radii: Sequence[float]) -> dict[float, tuple]:
    """One colour per radius, the same in every panel."""
    from matplotlib import colormaps  # noqa: PLC0415 (matplotlib: start-up)

    cmap = colormaps["viridis"]
    n = max(1, len(radii) - 1)
    return {r: cmap(0.85 * i / n) for i, r in enumerate(sorted(radii))}


def curve(rows: pd.DataFrame, split: str, component: str, radius: float | None = None) -> pd.Series:
    """Accuracy by epoch for one split/component/radius of one run's epoch rows."""
    pick = (rows["split"] == split) & (rows["component"] == component)
    pick &= rows["radius"].isna() if radius is None else np.isclose(rows["radius"], radius)
    return rows[pick].groupby("epoch")["value"].last().sort_index()


def curve_band(rows: pd.DataFrame, split: str, component: str, radius: float | None = None):
    """``(mean, half-width, diverged)`` by epoch over the runs (seeds) in ``rows``: the mean curve, its 95 %
    Student t interval (NaN half-widths with one seed) and the seeds left out. A seed's infinite value
    (it diverged) would make the mean infinite from there on: the mean and band are over the finite seeds
    at each epoch, and ``diverged`` names the seeds left out somewhere, for the panel's title to say so."""
    by_run = pd.DataFrame({run: curve(part, split, component, radius) for run, part in rows.groupby("run")})
    if by_run.empty:
        return pd.Series(dtype=float), pd.Series(dtype=float), set()
    infinite = np.isinf(by_run)
    diverged = set(by_run.columns[infinite.any(axis=0)])
    by_run = by_run.mask(infinite)
    return by_run.mean(axis=1), by_run.apply(lambda values: t_interval(values).half_width, axis=1), diverged


def banded(ax, mean: pd.Series, half: pd.Series, diverged: set[str] = frozenset(), **style) -> set[str]:
    """Plot a mean curve, and a shaded band of its confidence interval where it has one; returns ``diverged``
    (the seeds left out of it), so that a panel can gather them."""
    if mean.empty:
        return set(diverged)
    line, = ax.plot(mean.index, mean.values, **style)
    if half.notna().any():
        ax.fill_between(mean.index, mean - half, mean + half, color=line.get_color(), alpha=0.15, linewidth=0)
    return set(diverged)


def curves_figure(results: pd.DataFrame, runs: Sequence[str], probe_split: str = "test",
                  train_labels: Mapping[str, str] | None = None):
    """Figure 4/5 (``probe_split="test"``) or Figure 3 (``"train"``): one panel per run.

    Each panel plots, against the epoch, train and test accuracy (on top), and the
    accuracy on the LFC (solid) and HFC (dotted) of the ``probe_split`` set at
    each radius, one colour per radius. Runs with no epoch rows get no panel.
    ``train_labels`` names a run's training accuracy where it is not plain ``train``
    (``train (adversarial examples)``, :meth:`ablate.report.Labels.train_label`): that
    panel gets its own legend entry for the train curve.
    """
    from matplotlib.lines import Line2D  # noqa: PLC0415 (matplotlib: start-up)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 (matplotlib: start-up)

    epochs = results[results["attack"].isna() & (results["metric"] == "accuracy")]
    group = base_runs(epochs)                            # a run's seeds share one panel
    panel_of = dict(zip(epochs["run"], group))
    runs = list(dict.fromkeys(panel_of[r] for r in runs if r in panel_of))
    probe = epochs[(epochs["split"] == probe_split) & epochs["component"].isin(COMPONENT_LINESTYLE)]
    radii = sorted(probe["radius"].dropna().unique())
    colors = radius_colors(radii)
    fig, axes = new_figure(max(1, len(runs)))
    if not runs:
        axes[0].text(0.5, 0.5, "no results yet", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    for ax, run in zip(axes, runs):
        rows = epochs[group == run]
        train_label = (train_labels or {}).get(run, "train")
        diverged = set()
        for split, style, label in (("train", TRAIN_STYLE, train_label), ("test", TEST_STYLE, "test")):
            diverged |= banded(ax, *curve_band(rows, split, "original"), label=label, **outlined(style))
        for component, linestyle in COMPONENT_LINESTYLE.items():
            for r in radii:
                diverged |= banded(ax, *curve_band(rows, probe_split, component, r), linestyle=linestyle,
                                   color=colors[r], linewidth=COMPONENT_LINEWIDTH[component])
        if train_label != "train":
            ax.legend(handles=[h for h in ax.get_lines() if h.get_label() == train_label], loc="lower right",
                      fontsize="x-small")
        seeds = rows["run"].nunique()
        left_out = (f"; {len(diverged)} diverged seed{'s' if len(diverged) > 1 else ''} left out where not finite"
                    if diverged else "")
        ax.set_title(run if seeds == 1 else f"{run} (mean of {seeds} seeds, 95% CI{left_out})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    probe_name = "test" if probe_split == "test" else "train"
    handles = [Line2D([], [], label="train", **TRAIN_STYLE), Line2D([], [], label="test", **TEST_STYLE)]
    handles += [Line2D([], [], color=colors[r], label=f"r = {r:g}") for r in radii]
    handles += [Line2D([], [], color="0.3", linestyle=ls, linewidth=COMPONENT_LINEWIDTH[c],
                       label=f"{COMPONENT_NAME[c]} of {probe_name} set")
                for c, ls in COMPONENT_LINESTYLE.items() if (probe["component"] == c).any()]
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")
    return fig


def attack_figure(table: pd.DataFrame):
    """Accuracy against eps, one panel per attack, one line per model and variant.

    ``table`` has columns ``run, variant, attack, eps, value``; rows whose attack
    is ``none`` are the clean accuracy, drawn at eps = 0 on every line.
    """
    attacks = [a for a in dict.fromkeys(table["attack"]) if a != "none"]
    fig, axes = new_figure(max(1, len(attacks)), columns=2)
    if not attacks:
        axes[0].text(0.5, 0.5, "no attack results yet", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    from matplotlib import colormaps  # noqa: PLC0415 (matplotlib: start-up)

    runs = list(dict.fromkeys(table["run"]))
    variants = list(dict.fromkeys(table["variant"]))
    run_color = {r: colormaps["tab10"](i % 10) for i, r in enumerate(runs)}
    variant_style = {v: ("-", "--", "-.", ":")[i % 4] for i, v in enumerate(variants)}
    for ax, attack in zip(axes, attacks):
        for (run, variant), rows in table.groupby(["run", "variant"], sort=False):
            line = rows[rows["attack"] == attack].groupby("eps")["value"].last().sort_index()
            if line.empty:
                continue
            clean = rows.loc[rows["attack"] == "none", "value"]
            if not clean.empty:
                line = pd.concat([pd.Series([clean.iloc[-1]], index=[0.0]), line])
            ax.plot(line.index, line.values, marker="o", markersize=3, color=run_color[run],
                    linestyle=variant_style[variant], label=f"{run}, {variant}")
        ax.set_title(attack.upper())
        accuracy_axes(ax, "eps (pixels in [0, 1])")
    return fig


PROBE_COLUMNS = {"lfc_only": "LFC only", "hfc_only": "HFC only", "both": "both", "neither": "neither",
                 "lfc_total": "LFC total", "hfc_total": "HFC total"}


def probe_figure(reports: dict[str, pd.DataFrame]):
    """Figure 1's counts against the radius, one panel per run with a probe report."""
    fig, axes = new_figure(max(1, len(reports)))
    if not reports:
        axes[0].text(0.5, 0.5, "no probe reports found", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    for ax, (run, report) in zip(axes, reports.items()):
        report = report.sort_values("radius")
        for column, label in PROBE_COLUMNS.items():
            if column in report:
                style = "--" if column.endswith("total") else "-"
                ax.plot(report["radius"], report[column], linestyle=style, marker=".", label=label)
        ax.set_title(run)
        ax.set_xlabel("radius r")
        ax.set_ylabel("test images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    return fig


def radius_accuracy_figure(results: pd.DataFrame):
    """Accuracy against the radius, one colour per model: LFC solid, HFC dotted, the originals dashed
    (``ablate probe MODEL ...``'s tidy rows, with a ``model`` column)."""
    fig, axes = new_figure(1, panel_size=(6.4, 4.2))
    ax = axes[0]
    rows = results[results["metric"] == "accuracy"]
    colors = [f"C{k % 10}" for k in range(rows["model"].nunique())]
    for color, (model, own) in zip(colors, rows.groupby("model", sort=False)):
        radii = own["radius"].dropna()
        for component, linestyle in COMPONENT_LINESTYLE.items():
            line = own[own["component"] == component].sort_values("radius")
            ax.plot(line["radius"], line["value"], linestyle=linestyle, marker=".", color=color,
                    label=f"{model}: {COMPONENT_NAME[component]}")
        original = own[own["component"] == "original"]["value"]
        if len(original) and len(radii):
            ax.hlines(float(original.iloc[0]), radii.min(), radii.max(), colors=color, linestyles="--",
                      linewidth=0.9, label=f"{model}: original")
    accuracy_axes(ax, "radius r")
    return fig


def accuracy_axes(ax, xlabel: str) -> None:
    """Label a panel of accuracies against ``xlabel``, 0..1, with a grid and a legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")


def parse_formats(text: str) -> list[str]:
    """``--format png,svg`` -> ``["png", "svg"]``, refused before anything runs if matplotlib cannot write one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (matplotlib: start-up)

    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    supported = FigureCanvasAgg.get_supported_filetypes()
    for fmt in formats:
        if fmt not in supported:
            raise AblateError(f"--format {fmt!r}: unknown plot format; choose from png, svg, pdf "
                              f"(or {', '.join(sorted(set(supported) - {'png', 'svg', 'pdf'}))})")
    return formats
