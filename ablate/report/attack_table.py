"""Accuracy under attack (Table 2): the final evaluation's rows, one per run, variant, attack and eps.

The rows come from the ``attack``, ``eps`` and ``variant`` columns of the results
(see ``ablate_evaluate``); a blank variant is the trained model, ``final``.
Variants are ordered and named by the plugins, through :class:`Labels`. The
accuracy is ``metric = "accuracy"`` (an attack at a fixed eps) unless another
metric is named, such as the ``attacks`` plugin's ``linf_accuracy`` (the share of
images whose closest adversarial is farther than eps); the clean accuracy comes along.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console

from ablate.report.labels import FINAL, Labels
from ablate.report.results import StudyResults
from ablate.report.uncertainty import print_summary

TITLE = "Table 2: accuracy under attack at a fixed eps (pixels in [0, 1])"
NO_ATTACK = "none"                   # the clean accuracy's row: attack "none", eps 0
FIRST_ATTACKS = [NO_ATTACK, "fgsm", "pgd"]
# The minimal-eps evaluation's rows (the attacks plugin's mode = "minimal"): per run, variant and attack,
# the median of each image's smallest successful eps (eps blank) and the accuracy curve it implies.
MIN_EPS_MEDIAN = "median_min_eps"      # the attacks plugin's search = "bisect": each image's smallest successful eps
MIN_EPS_CURVE = "min_eps_accuracy"
LINF_MEDIAN = "median_linf"             # search = "foolbox": each image's closest adversarial's L-inf distance
LINF_CURVE = "linf_accuracy"
LINF_FAILED = "linf_failed"             # search = "foolbox": images the search found no adversarial for (distance 0)


def attack_order(attacks: pd.Series) -> list[str]:
    """``none`` (clean) first, then FGSM, PGD, then any other attack by name."""
    found = list(dict.fromkeys(attacks))
    return [a for a in FIRST_ATTACKS if a in found] + sorted(a for a in found if a not in FIRST_ATTACKS)


def attack_rows(results: pd.DataFrame, labels: Labels = Labels(), metric: str = "accuracy") -> pd.DataFrame:
    """The final evaluation's accuracies (``metric``, and the clean accuracy): one row per run, variant,
    attack and eps (the latest)."""
    clean = (results["attack"] == NO_ATTACK) & (results["metric"] == "accuracy")
    rows = results[results["attack"].notna() & ((results["metric"] == metric) | clean)].copy()
    rows["variant"] = rows["variant"].astype(object).fillna(FINAL)
    rows.loc[rows["attack"] == NO_ATTACK, "eps"] = np.nan
    rows = rows.sort_values("epoch", kind="stable")
    rows = rows.groupby(["run", "variant", "attack", "eps"], sort=False, dropna=False).tail(1)
    runs = list(dict.fromkeys(results["run"]))
    attacks = attack_order(rows["attack"])
    order = rows.apply(lambda r: (runs.index(r["run"]), labels.variant_order(r["variant"]), attacks.index(r["attack"]),
                                  0.0 if math.isnan(r["eps"]) else r["eps"]), axis=1) if len(rows) else []
    return rows.assign(order=order).sort_values("order")[["run", "variant", "attack", "eps", "value"]]


def attack_frame(results: pd.DataFrame, labels: Labels = Labels(), metric: str = "accuracy") -> pd.DataFrame:
    """Table 2: accuracy (``metric``) indexed by (run, variant); columns clean, then each attack at each eps."""
    rows = attack_rows(results, labels, metric)
    names = rows.apply(lambda r: "clean" if r["attack"] == NO_ATTACK else f"{r['attack'].upper()} {r['eps']:g}",
                       axis=1) if len(rows) else pd.Series(dtype=str)
    index = pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(rows["run"], rows["variant"]))), names=["run", "variant"])
    frame = pd.DataFrame(np.nan, index=index, columns=list(dict.fromkeys(names)))
    for (run, variant, value), name in zip(rows[["run", "variant", "value"]].itertuples(index=False), names):
        frame.loc[(run, variant), name] = value
    return frame


def print_attack_table(study: StudyResults, console: Console, frame: pd.DataFrame, labels: Labels = Labels(),
                       reference: Sequence[str] = ("natural",), title: str = TITLE) -> None:
    """:func:`attack_frame` as a summary table, each variant under its short label and its labeller's heading;
    with several seeds, means ± intervals and each run's effect against ``reference`` variant by variant."""
    variants = frame.index.get_level_values("variant")
    level = labels.variant_heading(variants)
    frame = frame.rename_axis(["run", level])
    print_summary(study, console, frame, title, reference=reference, lower_is_better=(),
                  row_labels={level: {v: labels.variant(v, short=True) for v in variants}})


def minimal_eps_results(results: pd.DataFrame, labels: Labels = Labels(), median: str = MIN_EPS_MEDIAN,
                        curve: str = MIN_EPS_CURVE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The minimal-eps rows for a report: the median per (run, variant) and attack, and the curves
    (columns ``run, variant, attack, eps, value``, as :func:`ablate.report.plots.attack_figure` draws them).
    ``median`` and ``curve`` name the rows' metrics."""
    columns = ["run", "variant", "attack", "eps", "value"]
    if "metric" not in results or not results["metric"].isin([median, curve]).any():
        return pd.DataFrame(), pd.DataFrame(columns=columns)
    rows = results[results["metric"].isin([median, curve])].copy()
    rows["variant"] = rows["variant"].astype(object).fillna(FINAL)
    rows = rows.sort_values("epoch", kind="stable")
    rows = rows.groupby(["run", "variant", "attack", "metric", "eps"], sort=False, dropna=False).tail(1)
    runs = list(dict.fromkeys(results["run"]))
    rows = rows.assign(order=[(runs.index(r), labels.variant_order(v)) for r, v in zip(rows["run"], rows["variant"])])
    rows = rows.sort_values(["order", "attack", "eps"], kind="stable")
    medians = rows[rows["metric"] == median].pivot_table(index=["run", "variant"], columns="attack", values="value",
                                                         sort=False)
    return medians, rows.loc[rows["metric"] == curve, columns]
