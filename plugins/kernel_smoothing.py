"""Kernel smoothing after training: the smoothed models of Table 2 and Figure 7.

Section 6 of the paper smooths the trained kernels of the FIRST conv layer, with
no retraining: every 3x3 spatial slice is convolved with
``[[rho, rho, rho], [rho, 1, rho], [rho, rho, rho]]`` ("same" size, symmetric
border, no renormalisation, channels never mixed); rho = 1.0 is the headline value.
The maths is :func:`ablate.train.kernels.smooth_kernels`. For each ``rho`` this plugin
offers a smoothed copy of the final model named ``smooth{rho}`` (``smooth1.0``) to
the final evaluation, next to the unsmoothed ``final`` model; list ``attacks`` in
the same run to get Table 2. ``layers = "all"`` smooths every conv with a kernel
larger than 1x1, an extension beyond the paper.

The plugin owns what its names mean in reports: the labels of its variants
("smoothing ρ=1", short "ρ=1"; the unsmoothed model "no smoothing") and their
order, and the ``adversarial`` layout (Table 2 and Figure 7; with ``attacks`` in
``mode = "minimal"`` or ``"both"``, the minimal perturbations: with ``search =
"foolbox"`` Table 2 as the official code measured it and the median L-inf distance
of the closest adversarial, with ``search = "bisect"`` the median minimal eps and
its accuracy curve). That layout lives
here rather than with ``attacks`` because what sets it apart is smoothing: the
accuracy-under-attack table itself is the engine's (the generic layout shows it
too), while Figure 7 re-smooths each run's first-layer kernels with this plugin's
maths, and Table 2's rows are this plugin's variants.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

import ablate
from ablate import Param
from ablate.api import (
    FINAL,
    LAYER_CHOICES,
    LINF_CURVE,
    LINF_FAILED,
    LINF_MEDIAN,
    Labels,
    VariantLabel,
    attack_figure,
    attack_frame,
    attack_rows,
    first_layer_kernels,
    minimal_eps_results,
    new_figure,
    print_attack_table,
    print_figure,
    smooth_kernels,
    smoothed_copy,
)

VARIANT = re.compile(r"smooth(?:ing)?[-_=]?(\d+(?:\.\d*)?|\.\d+)")
HEADLINE_RHO = 1.0      # Figure 7's rho when no smoothed variant was evaluated
OFFICIAL_TITLE = ("Table 2 as the official code measured it: share of test images whose closest adversarial "
                  "(foolbox's FGSM/PGD search) is farther than eps")
MINIMAL_TITLE = "Median minimal eps per test image (larger: more robust)"
LINF_TITLE = "Median L-inf distance of the closest adversarial per test image (foolbox's search; larger: more robust)"


def variant_name(rho: float) -> str:
    """The name of the model smoothed with ``rho`` in the results' ``variant`` column: ``smooth1.0``."""
    return f"smooth{float(rho)}"


def smoothing_rho(variant: str) -> float | None:
    """The rho of a variant name such as ``smooth1.0``; None for other variants."""
    match = VARIANT.fullmatch(str(variant))
    return float(match.group(1)) if match else None


def smoothing_label(variant: str) -> VariantLabel | None:
    """``final`` -> "no smoothing" (short "none"); ``smooth1.0`` -> "smoothing ρ=1" ("ρ=1"), ordered by rho."""
    if variant == FINAL:
        return VariantLabel("no smoothing", "none", 0.0)
    rho = smoothing_rho(variant)
    return None if rho is None else VariantLabel(f"smoothing ρ={rho:g}", f"ρ={rho:g}", rho)


class KernelSmoothing(ablate.Plugin):
    """Smooth the first conv layer's kernels after training (section 6), one model per rho."""

    name = "kernel_smoothing"
    params = [
        Param("rho", list, [1.0], "weights of the eight neighbours in the 3x3 mask, one model each", items=float,
              minimum=0.0),
        Param("layers", str, "first", "'first': the first conv layer (paper); 'all': every conv "
              "with a kernel larger than 1x1", choices=LAYER_CHOICES),
    ]
    variant_heading = "smoothing"

    @classmethod
    def variant_label(cls, variant):
        """``smooth1.0`` is "smoothing ρ=1", the unsmoothed ``final`` "no smoothing" (:func:`smoothing_label`)."""
        return smoothing_label(variant)

    @ablate.hookimpl
    def ablate_final_models(self, model, settings):
        return {variant_name(rho): smoothed_copy(model, float(rho), self.args.layers) for rho in self.args.rho}

    @ablate.hookimpl
    def ablate_register_reports(self, register):
        register("adversarial", adversarial_layout,
                 help="Table 2 and Figure 7: attacks, smoothing, first-layer kernels")


def adversarial_layout(study, console, formats, labels):
    """Table 2 (accuracy under FGSM/PGD per model and smoothing); with ``attacks``' minimal modes, Table 2 as
    the official code measured it and the median L-inf distance (foolbox's search), or the median minimal eps
    (bisect), each with its accuracy curve; and Figure 7 (first-layer kernels)."""
    frame = attack_frame(study.results, labels)
    medians, curves = minimal_eps_results(study.results, labels)
    distances, _ = minimal_eps_results(study.results, labels, median=LINF_MEDIAN, curve=LINF_CURVE)
    if frame.empty:
        console.print("[yellow]no attack results yet[/]: the final evaluation writes them after the last epoch")
    else:
        print_attack_table(study, console, frame, labels)
    if not distances.empty:
        official = attack_frame(study.results, labels, metric=LINF_CURVE)
        print_attack_table(study, console, official, labels, title=OFFICIAL_TITLE)
        console.print(minimal_eps_table(distances, None, labels, study.base_runs(), title=LINF_TITLE))
        print_failed_searches(study.results, console, labels)
    if not medians.empty:
        console.print(minimal_eps_table(medians, curves, labels, study.base_runs()))
    study.print_problems(console)
    for metric, name in (("accuracy", "adversarial"), (LINF_CURVE, "adversarial-linf")):
        table = attack_rows(study.results, labels, metric)
        if (table["attack"] != "none").any() or (name == "adversarial" and medians.empty and distances.empty):
            table["variant"] = table["variant"].map(labels.variant)
            print_figure(console, attack_figure(table), study.out_dir, name, formats)
    if not curves.empty:
        curves["variant"] = curves["variant"].map(labels.variant)
        print_figure(console, attack_figure(curves), study.out_dir, "adversarial-minimal", formats)
    # Figure 7 shows the largest rho evaluated (the paper's headline 1.0 when none was).
    rhos = [r for r in map(smoothing_rho, frame.index.get_level_values("variant")) if r is not None]
    kernels = first_layer_kernels(study, console)
    print_figure(console, kernels_figure(kernels, smooth_kernels, max(rhos, default=HEADLINE_RHO)),
                 study.out_dir, "adversarial-kernels", formats)


def print_failed_searches(results: pd.DataFrame, console, labels: Labels = Labels()) -> None:
    """One line under the foolbox tables: how many searches found no adversarial, per run, variant and attack.
    Each such image is recorded at distance 0, as the official code records it (it stores the clean image),
    so a table's share of robust images counts it as fooled at every eps."""
    counts, _ = minimal_eps_results(results, labels, median=LINF_FAILED, curve=LINF_FAILED)
    if counts.empty:
        return
    failing = [f"{run} {labels.variant(variant, short=True)}: "
               + ", ".join(f"{attack.upper()} {int(n)}" for attack, n in row.items() if not math.isnan(n))
               for (run, variant), row in counts.iterrows() if (row.fillna(0) > 0).any()]
    if not failing:
        console.print("foolbox's search found an adversarial for every image searched.")
        return
    console.print("[yellow]foolbox's search found no adversarial for some images[/] (recorded as distance 0, as "
                  "the official code records them: counted as fooled at every eps): " + escape("; ".join(failing)))


def minimal_eps_table(medians: pd.DataFrame, curves: pd.DataFrame | None, labels: Labels = Labels(),
                      base: dict[str, str] | None = None, title: str = MINIMAL_TITLE) -> Table:
    """Per run and variant, each attack's median minimal eps (or distance); "> max" where most images withstood
    the largest eps tried (the largest eps of that run's ``curves``), "none found" without ``curves`` (foolbox's
    search has no largest eps). With several seeds (``base``: each run's base run), one row per base run and
    variant with ``n`` seeds: the median over the seeds of their medians and, in brackets, the lowest and
    highest (a mean would not do: "> max" is a bound, not a number)."""
    base = base or {}
    seeded = len(set(base.values())) < len(base)
    table = Table(title=title)
    table.add_column("run")
    table.add_column(labels.variant_heading(medians.index.get_level_values("variant")))
    if seeded:
        table.add_column("n", justify="right")
    for attack in medians.columns:
        table.add_column(attack.upper(), justify="right")
    largest = curves.groupby(["run", "attack"])["eps"].max() if curves is not None else None
    groups: dict[tuple, list[str]] = {}
    for run, variant in medians.index:
        groups.setdefault((base.get(run, run) if seeded else run, variant), []).append(run)
    for (group, variant), runs in groups.items():
        cells = []
        for attack in medians.columns:
            values = [v for v in (medians.loc[(run, variant), attack] for run in runs) if not math.isnan(v)]
            tried = None if largest is None else max(largest.get((run, attack), math.inf) for run in runs)
            cells.append(eps_cell(values, tried))
        counts = [str(len(runs))] if seeded else []
        table.add_row(escape(group), escape(labels.variant(variant, short=True)), *counts, *cells)
    return table


def eps_cell(values: list[float], tried: float | None) -> str:
    """One seed's median eps, or the median over seeds with [lowest-highest]; infinity is "> tried", or
    "none found" when ``tried`` is None."""
    def shown(value: float) -> str:
        if math.isfinite(value):
            return f"{value:.4f}"
        return "none found" if tried is None else f"> {tried:g}"
    if len(values) < 2:
        return shown(values[0]) if values else ""
    return f"{shown(float(np.median(values)))} [{shown(min(values))}–{shown(max(values))}]"


def kernel_montage(weight, max_kernels: int = 32, columns: int = 8) -> np.ndarray:
    """A grid image ``(H, W, 3)`` in [0, 1] of the first ``max_kernels`` kernels of a conv weight.

    ``weight`` is ``[out, in, kh, kw]``. A kernel with 3 input channels is shown
    as an RGB patch; otherwise its channels are averaged into a grey patch. Each
    patch is stretched to [0, 1] on its own, so that its shape, not its scale, shows.
    """
    w = np.asarray(weight.detach().float().cpu() if hasattr(weight, "detach") else weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"expected a conv weight [out, in, kh, kw], got shape {w.shape}")
    w = w[:max_kernels]
    patches = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else np.repeat(w.mean(axis=1)[..., None], 3, axis=-1)
    low = patches.min(axis=(1, 2, 3), keepdims=True)
    span = patches.max(axis=(1, 2, 3), keepdims=True) - low
    patches = (patches - low) / np.where(span > 0, span, 1.0)
    count, kh, kw, _ = patches.shape
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    pad = 1
    grid = np.ones((rows * (kh + pad) + pad, columns * (kw + pad) + pad, 3))
    for i, patch in enumerate(patches):
        top, left = pad + (i // columns) * (kh + pad), pad + (i % columns) * (kw + pad)
        grid[top:top + kh, left:left + kw] = patch
    return grid


def kernels_figure(kernels: dict[str, object], smooth, rho: float, max_kernels: int = 32):
    """Figure 7: each run's first-layer kernels, without and (if ``smooth``) with smoothing.

    One panel per run and version: ``2 * len(kernels)`` panels with ``smooth``,
    ``len(kernels)`` without. ``smooth(weight, rho)`` returns the smoothed weight.
    """
    versions = [("no smoothing", None)] + ([(f"smoothing ρ = {rho:g}", smooth)] if smooth else [])
    montages = {run: [kernel_montage(transform(w, rho) if transform else w, max_kernels) for _, transform in versions]
                for run, w in kernels.items()}
    height, width = next(iter(montages.values()))[0].shape[:2] if montages else (1, 1)
    fig, axes = new_figure(max(1, len(kernels) * len(versions)), columns=len(versions),
                                 panel_size=(4.0, 0.4 + 4.0 * height / width))
    if not kernels:
        axes[0].text(0.5, 0.5, "no checkpoints found", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    panels = iter(axes)
    for run, images in montages.items():
        for (label, _), image in zip(versions, images):
            ax = next(panels)
            ax.imshow(image, interpolation="nearest")
            ax.set_title(f"{run}: {label}", fontsize="small")
            ax.set_axis_off()
    return fig
