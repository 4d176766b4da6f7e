"""How sure a number is: Student t confidence intervals over seeds, and effects against a reference run.

A study's conclusions are differences between runs; from one seed a reader cannot
tell an effect from run-to-run noise. With several seeds (``seeds = 3``), every
number is a mean with a 95 % confidence interval (Student t over the seeds), and
every difference to a reference run is a paired one (seed by seed, the same seeds
sharing the same data order) or, where seeds do not pair, Welch's unpaired one.
An effect is *marked* when its interval excludes zero.

The t quantile is computed here (regularised incomplete beta by continued
fraction, then bisection) so that the engine needs no scipy; the tests check it
against scipy.stats.
"""

from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from ablate.errors import AblateError
from ablate.schema import SEED
from ablate.seeds import base_runs

CONFIDENCE = 0.95
KEYS = ("split", "component", "radius", "metric", "attack", "eps", "variant")   # what one number is, besides the run


class Interval(NamedTuple):
    """A mean and the half-width of its confidence interval (NaN below two values); ``n`` values."""

    mean: float
    half_width: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        """The interval lies on one side of zero (by more than round-off: equal runs are no effect)."""
        return bool(np.isfinite(self.half_width) and abs(self.mean) > self.half_width + 1e-12)


# --------------------------------------------------------------------------
# Student t
# --------------------------------------------------------------------------

def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0 or x >= 1:
        return float(x >= 1)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (any positive df, not only whole ones)."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (0.5 < p < 1), by bisection on :func:`t_cdf`."""
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


# --------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------

def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and half-width of the Student t interval of ``values`` (NaNs dropped)."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return Interval(np.nan, np.nan, 0)
    if len(x) < 2:
        return Interval(float(x.mean()), np.nan, len(x))
    spread = x.std(ddof=1) / math.sqrt(len(x))
    return Interval(float(x.mean()), t_quantile((1 + confidence) / 2, len(x) - 1) * spread, len(x))


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """B - A over pairs (a[i], b[i]), both present: the t interval of the differences."""
    return t_interval((np.asarray(b, dtype=float) - np.asarray(a, dtype=float)).tolist(), confidence)


def welch_interval(a: Iterable[float], b: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """B - A of two unpaired samples: Welch's interval (Welch-Satterthwaite degrees of freedom); ``n`` is the
    smaller sample."""
    a = np.asarray([v for v in a if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in b if np.isfinite(v)], dtype=float)
    if min(len(a), len(b)) == 0:
        return Interval(np.nan, np.nan, 0)
    mean = float(b.mean() - a.mean())
    if min(len(a), len(b)) < 2:
        return Interval(mean, np.nan, min(len(a), len(b)))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return Interval(mean, 0.0, min(len(a), len(b)))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return Interval(mean, t_quantile((1 + confidence) / 2, df) * math.sqrt(va + vb), min(len(a), len(b)))


def effect(reference: pd.Series, other: pd.Series, confidence: float = CONFIDENCE) -> Interval:
    """``other - reference``, two series indexed by seed: paired over the seeds both have (two or more),
    else Welch's unpaired interval."""
    both = reference.dropna().index.intersection(other.dropna().index)
    if len(both) >= 2:
        return paired_interval(reference[both], other[both], confidence)
    return welch_interval(reference, other, confidence)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def row_group(row, base: dict[str, str]):
    """The seed group of a summary row: its run's base run, or for a row keyed ``(run, variant, ...)`` (Table 2)
    the tuple with the run replaced by its base run, so that only the run's seeds are pooled."""
    if isinstance(row, tuple):
        return (base.get(row[0], row[0]), *row[1:])
    return base.get(row, row)


def group_index(groups: list, like: pd.Index) -> pd.Index:
    """An index of seed groups, named like the summary frame's (a MultiIndex for tuple rows)."""
    if isinstance(like, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(groups, names=like.names)
    return pd.Index(groups, name=like.name)


def seed_groups(frame: pd.DataFrame, base: dict[str, str], confidence: float = CONFIDENCE) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """A summary frame (one row per seeded run, or per ``(run, ...)``) as ``(means, half-widths, n)`` indexed
    by seed group (:func:`row_group`), in first-seen order; ``base`` maps a run to its base run."""
    keys = [row_group(row, base) for row in frame.index]
    groups = list(dict.fromkeys(keys))
    means, halves, counts = [], [], []
    for group in groups:
        rows = frame[[key == group for key in keys]]
        intervals = {column: t_interval(rows[column], confidence) for column in frame.columns}
        means.append({c: i.mean for c, i in intervals.items()})
        halves.append({c: i.half_width for c, i in intervals.items()})
        counts.append(len(rows))
    index = group_index(groups, frame.index)
    return (pd.DataFrame(means, index=index, columns=frame.columns), pd.DataFrame(halves, index=index,
            columns=frame.columns), pd.Series(counts, index=index, dtype=int))


def effect_frames(frame: pd.DataFrame, base: dict[str, str], seeds: dict[str, float], reference: str,
                  confidence: float = CONFIDENCE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per seed group of a run other than ``reference`` and column: ``(mean effect, half-width, CI excludes
    zero)`` of the run minus the reference, paired by seed (see :func:`effect`). Rows keyed ``(run, variant)``
    are compared with the reference run's row of the same variant (NaN where it has none)."""
    keys = [row_group(row, base) for row in frame.index]

    def by_seed(group, column):
        rows = [row for row, key in zip(frame.index, keys) if key == group]
        return pd.Series([frame.loc[row, column] for row in rows],
                         index=[seeds.get(row[0] if isinstance(row, tuple) else row, 0.0) for row in rows],
                         dtype=float)

    def reference_of(group):
        return (reference, *group[1:]) if isinstance(group, tuple) else reference

    def run_of(group):
        return group[0] if isinstance(group, tuple) else group

    groups = [g for g in dict.fromkeys(keys) if run_of(g) != reference]
    found = {g: {c: effect(by_seed(reference_of(g), c), by_seed(g, c), confidence) for c in frame.columns}
             for g in groups}
    index = group_index(groups, frame.index)

    def part(pick):
        return pd.DataFrame({c: [pick(found[g][c]) for g in groups] for c in frame.columns}, index=index)
    return (part(lambda i: i.mean), part(lambda i: i.half_width),
            part(lambda i: i.excludes_zero))


def summarize(results: pd.DataFrame, by: Sequence[str] = KEYS, reference: str | None = None,
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Means and confidence intervals over seeds of each run's final numbers, as a tidy table.

    ``results`` is a results table (``ablate.report.load_results``); every number
    is taken at the last epoch that measured it, per run, seed and ``by`` key. Runs
    that differ only by seed (``vanilla``, ``vanilla-s1``) are one row group. The
    table has ``run``, the ``by`` columns, ``n``, ``mean``, ``half_width``, ``low``
    and ``high``; with ``reference`` (a run name), also ``effect``,
    ``effect_half_width``, ``effect_low``, ``effect_high`` and ``marked`` (the
    effect's interval excludes zero), paired by seed where the seeds pair.
    """
    by = list(by)
    missing = [c for c in ["run", "value", *by] if c not in results]
    if missing:
        raise AblateError(f"summarize: the results have no column {missing[0]!r}; pass a results table "
                          f"(ablate.report.load_results) and by= columns it has")
    rows = results.copy()
    rows[SEED] = rows[SEED] if SEED in rows else 0.0
    rows["base"] = base_runs(rows)
    if "epoch" in rows:
        rows = rows.sort_values("epoch", kind="stable")
    keys = ["base", *by]
    final = rows.groupby(["run", SEED, *by], dropna=False, sort=False).agg(value=("value", "last"),
                                                                          base=("base", "first")).reset_index()
    if reference is not None and reference not in set(final["base"]):
        raise AblateError(f"summarize: reference={reference!r} is not a run of these results; runs: "
                          f"{', '.join(dict.fromkeys(final['base']))}")
    table = []
    for key, group in final.groupby(keys, dropna=False, sort=False):
        interval = t_interval(group["value"], confidence)
        row = dict(zip(["run", *by], key)) | {"n": interval.n, "mean": interval.mean,
                                              "half_width": interval.half_width}
        row["low"], row["high"] = interval.mean - interval.half_width, interval.mean + interval.half_width
        if reference is not None:
            same = final["base"] == reference
            for column, value in zip(by, key[1:]):
                same &= final[column].isna() if pd.isna(value) else final[column] == value
            mine = group.set_index(SEED)["value"]
            found = effect(final[same].set_index(SEED)["value"], mine, confidence)
            row |= {"effect": found.mean, "effect_half_width": found.half_width,
                    "effect_low": found.mean - found.half_width, "effect_high": found.mean + found.half_width,
                    "marked": found.excludes_zero}
        table.append(row)
    return pd.DataFrame(table)
