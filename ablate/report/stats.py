"""How sure a number is: Student t confidence intervals over seeds, and effects against a reference run.

A study's conclusions are differences between runs; from one seed a reader cannot
tell an effect from run-to-run noise. With several seeds (``seeds = 3``), every
number is a mean with a 95 % confidence interval (Student t over the seeds), and
every difference to a reference run is a paired one (seed by seed, the same seeds
sharing the same data order) or, where seeds do not pair, Welch's unpaired one.
An effect table's cells are one family of tests: a cell is *marked* where its
p-value, Holm-adjusted over the table, is below 5 % (``adjust=None``: where its own
interval excludes zero). What cannot be tested says so instead of being averaged
or marked: a diverged seed (+-inf), identical seeds (no spread), and a seed not
finished (its latest epoch is not a final one; see :func:`summarize`).

Student's t comes from :mod:`ablate.report.student_t`, so that the engine needs no scipy;
the frames of intervals that report tables show are built in
:mod:`ablate.report.interval_frames`.
"""

from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.schema import SEED
from ablate.report.student_t import t_cdf, t_quantile
from ablate.study.seeds import base_runs

CONFIDENCE = 0.95
KEYS = ("split", "component", "radius", "metric", "attack", "eps", "variant")   # what one number is, besides the run


ROUND_OFF = 1e-12      # spreads and effects this small are zero: fractions in [0, 1] carry no such digits


class Interval(NamedTuple):
    """A mean, the half-width of its confidence interval (NaN below two values) and the p-value of "the mean
    is zero" (NaN where no test is possible); ``n`` values used. With ``diverged`` values (+-inf: a seed whose
    run diverged) mean, half-width and p are NaN: a mean without them would hide them."""

    mean: float
    half_width: float
    n: int
    diverged: int = 0
    p: float = np.nan

    @property
    def identical(self) -> bool:
        """Two or more values and no spread: identical seeds, usually a seed that was not applied."""
        return bool(self.n >= 2 and self.half_width <= ROUND_OFF)

    @property
    def excludes_zero(self) -> bool:
        """The interval lies on one side of zero (by more than round-off: equal runs are no effect), and it
        has a spread (identical seeds show nothing about noise)."""
        return bool(np.isfinite(self.half_width) and not self.identical
                    and abs(self.mean) > self.half_width + ROUND_OFF)


# --------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------

def finite_and_diverged(values: Iterable[float]) -> tuple[np.ndarray, int]:
    """The finite values, and how many are +-inf (diverged); NaN is a missing value, neither."""
    x = np.asarray(list(values), dtype=float)
    return x[np.isfinite(x)], int(np.isinf(x).sum())


def t_test(mean: float, se: float, df: float, n: int, confidence: float) -> Interval:
    """The Student t interval and two-sided p-value of a mean with standard error ``se`` on ``df`` degrees of
    freedom; no p-value without a spread (identical values test nothing)."""
    p = 2 * t_cdf(-abs(mean) / se, df) if se > ROUND_OFF else np.nan
    return Interval(mean, t_quantile((1 + confidence) / 2, df) * se, n, 0, p)


def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student t interval of ``values`` (NaNs are missing values, dropped); any +-inf makes the whole
    interval diverged (see :class:`Interval`) instead of vanishing from the mean."""
    x, diverged = finite_and_diverged(values)
    if diverged:
        return Interval(np.nan, np.nan, len(x), diverged)
    if len(x) == 0:
        return Interval(np.nan, np.nan, 0)
    if len(x) < 2:
        return Interval(float(x.mean()), np.nan, len(x))
    return t_test(float(x.mean()), x.std(ddof=1) / math.sqrt(len(x)), len(x) - 1, len(x), confidence)


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """B - A over pairs (a[i], b[i]), both present: the t interval of the differences (``n`` pairs); a pair
    with a diverged side is a diverged difference (inf - inf is not a missing one)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    present = ~(np.isnan(a) | np.isnan(b))
    with np.errstate(invalid="ignore"):                                   # inf - inf: replaced just below
        differences = np.where(np.isfinite(a) & np.isfinite(b), b - a, np.inf)
    return t_interval(differences[present].tolist(), confidence)


def welch_interval(a: Iterable[float], b: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """B - A of two unpaired samples: Welch's interval (Welch-Satterthwaite degrees of freedom); ``n`` is the
    smaller sample."""
    (a, diverged_a), (b, diverged_b) = finite_and_diverged(a), finite_and_diverged(b)
    n = min(len(a), len(b))
    if diverged_a or diverged_b:
        return Interval(np.nan, np.nan, n, diverged_a + diverged_b)
    if n == 0:
        return Interval(np.nan, np.nan, 0)
    mean = float(b.mean() - a.mean())
    if n < 2:
        return Interval(mean, np.nan, n)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return Interval(mean, 0.0, n)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t_test(mean, math.sqrt(va + vb), df, n, confidence)


def effect(reference: pd.Series, other: pd.Series, confidence: float = CONFIDENCE) -> Interval:
    """``other - reference``, two series indexed by seed: paired over the seeds both have (two or more),
    else Welch's unpaired interval."""
    both = reference.dropna().index.intersection(other.dropna().index)
    if len(both) >= 2:
        return paired_interval(reference[both], other[both], confidence)
    return welch_interval(reference, other, confidence)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values of a family of tests: the k-th smallest p times the number of tests
    not yet rejected, never below an earlier one. Marking where these are below 5 % keeps the chance of any
    false mark in the family at 5 % (marking each raw p below 5 % does not). NaNs are no test: not counted."""
    p = np.asarray(p, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


ADJUSTMENTS = ("holm", None)


def adjusted(p: Sequence[float], adjust: str | None = "holm") -> np.ndarray:
    """The p-values of one family of effects as marks compare them: Holm-adjusted, or raw with None."""
    if adjust not in ADJUSTMENTS:
        raise AblateError(f"adjust={adjust!r}: expected 'holm' (marks controlled over the table) or None (raw)")
    return holm(p) if adjust else np.asarray(p, dtype=float)


def significant(p: Sequence[float], adjust: str | None = "holm", confidence: float = CONFIDENCE) -> np.ndarray:
    """Which effects of one family are marked: adjusted p below 1 - confidence (NaN p: never)."""
    with np.errstate(invalid="ignore"):
        return adjusted(p, adjust) < 1 - confidence


# --------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------

def partial_runs(rows: pd.DataFrame) -> set[str]:
    """Runs whose latest epoch is behind that of another seed of theirs: not finished, their numbers are not
    final ones (rows need ``run``, ``base`` and ``epoch``)."""
    if "epoch" not in rows or rows["epoch"].isna().all():
        return set()
    last = rows.groupby("run")["epoch"].max()
    group_last = last.groupby(rows.groupby("run")["base"].first()).transform("max")
    return set(last.index[last < group_last])


def summarize(results: pd.DataFrame, by: Sequence[str] = KEYS, reference: str | None = None,
              confidence: float = CONFIDENCE, adjust: str | None = "holm") -> pd.DataFrame:
    """Means and confidence intervals over seeds of each run's final numbers, as a tidy table.

    ``results`` is a results table (``ablate.report.load_results``); every number
    is taken at the last epoch that measured it, per run, seed and ``by`` key. Runs
    that differ only by seed (``vanilla``, ``vanilla-s1``) are one row group. The
    table has ``run``, the ``by`` columns, ``n`` (the values used), ``mean``,
    ``half_width``, ``low``, ``high``, ``diverged`` (values that are +-inf: then
    mean and interval are NaN), ``identical`` (n >= 2 values without spread:
    usually a seed that was not applied) and ``partial``: a seed whose latest
    epoch is behind its run's other seeds is not pooled with their final numbers
    but is a row of its own, named by its run, with ``partial`` true and no effect.

    With ``reference`` (a run name), also ``effect``, ``effect_half_width``,
    ``effect_low``, ``effect_high``, ``effect_n`` (the pairs, or the smaller
    sample where seeds do not pair), ``p`` (the paired t-test's, Welch's where
    seeds do not pair; NaN without spread), ``p_adjusted`` and ``marked``
    (``p_adjusted`` < 1 - confidence). ``adjust="holm"`` adjusts the p-values of
    all the table's effects as one family (Holm's step-down), so that the chance
    of any false mark is at most 1 - confidence; ``adjust=None`` leaves them raw
    (each effect marked where its interval excludes zero).
    """
    by = list(by)
    missing = [c for c in ["run", "value", *by] if c not in results]
    if missing:
        raise AblateError(f"summarize: the results have no column {missing[0]!r}; pass a results table "
                          f"(ablate.report.load_results) and by= columns it has")
    adjusted([], adjust)                                              # refuse an unknown adjust before any work
    rows = results.copy()
    rows[SEED] = rows[SEED] if SEED in rows else 0.0
    rows["base"] = base_runs(rows)
    if "epoch" in rows:
        rows = rows.sort_values("epoch", kind="stable")
    final = rows.groupby(["run", SEED, *by], dropna=False, sort=False).agg(value=("value", "last"),
                                                                          base=("base", "first")).reset_index()
    final["partial"] = final["run"].isin(partial_runs(rows))
    final["row"] = final["run"].where(final["partial"], final["base"])
    if reference is not None and reference not in set(final["base"]):
        raise AblateError(f"summarize: reference={reference!r} is not a run of these results; runs: "
                          f"{', '.join(dict.fromkeys(final['base']))}")
    table = []
    for key, group in final.groupby(["row", "partial", *by], dropna=False, sort=False):
        interval = t_interval(group["value"], confidence)
        row = dict(zip(["run", "partial", *by], key)) | {"n": interval.n, "mean": interval.mean,
                                                         "half_width": interval.half_width}
        row |= {"low": interval.mean - interval.half_width, "high": interval.mean + interval.half_width,
                "diverged": interval.diverged, "identical": interval.identical}
        if reference is not None:
            row |= effect_columns(final, group, reference, dict(zip(by, key[2:])), confidence)
        table.append(row)
    frame = pd.DataFrame(table)
    if reference is not None and len(frame):
        frame["p_adjusted"] = adjusted(frame["p"], adjust)
        frame["marked"] = significant(frame["p"], adjust, confidence)
    return frame


def effect_columns(final: pd.DataFrame, group: pd.DataFrame, reference: str, keys: dict,
                   confidence: float) -> dict:
    """A summary row's effect against the reference run's finished seeds with the same ``by`` keys (none for a
    partial row)."""
    found = Interval(np.nan, np.nan, 0)
    if not group["partial"].iloc[0]:
        same = (final["base"] == reference) & ~final["partial"]
        for column, value in keys.items():
            same &= final[column].isna() if pd.isna(value) else final[column] == value
        found = effect(final[same].set_index(SEED)["value"], group.set_index(SEED)["value"], confidence)
    return {"effect": found.mean, "effect_half_width": found.half_width, "effect_low": found.mean - found.half_width,
            "effect_high": found.mean + found.half_width, "effect_n": found.n, "p": found.p}
