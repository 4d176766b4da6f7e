"""The statistics of ablate.stats against scipy.stats, on fixed numbers, and summarize() on planted effects."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ablate.stats import paired_interval, summarize, t_cdf, t_interval, t_quantile, welch_interval

A = [0.61, 0.64, 0.59, 0.66, 0.62]
B = [0.66, 0.70, 0.62, 0.69, 0.68]


@pytest.mark.parametrize("df", [1, 2, 4, 7.3, 30, 200])
def test_t_quantile_and_cdf_match_scipy(df):
    for p in (0.6, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)
    for t in (-3.0, -0.4, 0.0, 1.2, 5.0):
        assert t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-12)


def test_t_interval_matches_scipy():
    mean, half, n = t_interval(A)
    low, high = scipy_stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=scipy_stats.sem(A))
    assert (mean - half, mean + half, n) == (pytest.approx(low), pytest.approx(high), 5)


def test_one_value_has_a_mean_and_no_interval():
    mean, half, n = t_interval([0.5, float("nan")])
    assert (mean, n) == (0.5, 1) and np.isnan(half)


def test_paired_interval_matches_scipy():
    found = paired_interval(A, B)
    diffs = np.subtract(B, A)
    low, high = scipy_stats.t.interval(0.95, len(A) - 1, loc=diffs.mean(), scale=scipy_stats.sem(diffs))
    assert (found.mean - found.half_width, found.mean + found.half_width) == (pytest.approx(low), pytest.approx(high))
    assert scipy_stats.ttest_rel(B, A).pvalue < 0.05 and found.excludes_zero


def test_welch_interval_matches_scipy():
    a, b = A, [0.70, 0.52, 0.75, 0.58]
    found = welch_interval(a, b)
    result = scipy_stats.ttest_ind(b, a, equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert (found.mean - found.half_width, found.mean + found.half_width) == (pytest.approx(low), pytest.approx(high))
    assert found.excludes_zero == (result.pvalue < 0.05)


def planted(effects: dict[str, float], seeds=range(4)) -> pd.DataFrame:
    """Results of runs whose test accuracy is a shared per-seed noise plus a planted effect."""
    noise = np.random.default_rng(7).normal(0, 0.02, size=len(seeds))
    rows = []
    for run, shift in effects.items():
        for seed, e in zip(seeds, noise):
            name = run if seed == 0 else f"{run}-s{seed}"
            for epoch in (1, 2):
                rows.append({"run": name, "epoch": epoch, "split": "test", "component": "original",
                             "metric": "accuracy", "value": 0.6 + shift + e + (0 if epoch == 2 else -0.3),
                             "seed": seed})
    return pd.DataFrame(rows)


def test_summarize_marks_a_planted_effect_and_not_a_null_one():
    table = summarize(planted({"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0}), by=["split", "metric"],
                      reference="vanilla").set_index("run")
    assert list(table.index) == ["vanilla", "mixup", "dropout"]
    assert (table["n"] == 4).all()
    assert table.loc["mixup", "effect"] == pytest.approx(0.05) and table.loc["mixup", "marked"]
    assert not table.loc["dropout", "marked"] and not table.loc["vanilla", "marked"]
    assert table.loc["vanilla", "mean"] == pytest.approx(0.6 + np.random.default_rng(7).normal(0, 0.02, 4).mean())
    assert (table["low"] < table["mean"]).all() and (table["mean"] < table["high"]).all()


def test_summarize_names_an_unknown_reference():
    from ablate import AblateError
    with pytest.raises(AblateError, match="reference='nope'"):
        summarize(planted({"vanilla": 0.0}), by=["split"], reference="nope")


def test_summarize_is_public_api():
    import ablate
    assert ablate.summarize is summarize
