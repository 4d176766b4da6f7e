"""The statistics of ablate.report.stats and ablate.report.student_t against scipy.stats, on fixed numbers, and summarize() on planted effects."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ablate import AblateError
from ablate.report.stats import holm, paired_interval, summarize, t_interval, welch_interval
from ablate.report.student_t import t_cdf, t_quantile

A = [0.61, 0.64, 0.59, 0.66, 0.62]
B = [0.66, 0.70, 0.62, 0.69, 0.68]


@pytest.mark.parametrize("df", [1, 2, 4, 7.3, 30, 200])
def test_t_quantile_and_cdf_match_scipy(df):
    for p in (0.6, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)
    for t in (-3.0, -0.4, 0.0, 1.2, 5.0):
        assert t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-12)


def test_t_interval_matches_scipy():
    mean, half, n = t_interval(A)[:3]
    low, high = scipy_stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=scipy_stats.sem(A))
    assert (mean - half, mean + half, n) == (pytest.approx(low), pytest.approx(high), 5)


def test_one_value_has_a_mean_and_no_interval():
    mean, half, n = t_interval([0.5, float("nan")])[:3]
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


def jitter(k: int, count: int, size: float = 0.002) -> np.ndarray:
    """The k-th run's own noise over ``count`` seeds: zero mean, so that a planted effect is exact, yet a
    spread in every paired difference (seeds that move every run alike are identical seeds)."""
    return k * size * (np.arange(count) - (count - 1) / 2)


def planted(effects: dict[str, float], seeds=range(4)) -> pd.DataFrame:
    """Results of runs whose test accuracy is a shared per-seed noise, the run's own jitter and a planted
    effect."""
    noise = np.random.default_rng(7).normal(0, 0.02, size=len(seeds))
    rows = []
    for k, (run, shift) in enumerate(effects.items()):
        for seed, e in zip(seeds, noise + jitter(k, len(seeds))):
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


def holm_reference(p: list[float]) -> list[float]:
    """Holm's step-down, written out here from its definition: the i-th smallest of m p-values is multiplied
    by m - i (i from 0), never falls below the one before it, and is at most 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_summarize_gives_each_runs_t_interval_paired_effect_and_holm_adjusted_p():
    """``ablate.summarize`` on hand-made results, every number recomputed here with scipy from the final
    epoch's values of each seed: the runs' t intervals, their paired effects against vanilla (same seed,
    same row), and Holm's adjustment over the table's three effects."""
    import ablate

    finals = {"vanilla": [0.61, 0.64, 0.59, 0.66], "mixup": [0.66, 0.70, 0.62, 0.69],
              "dropout": [0.60, 0.66, 0.58, 0.67], "batchnorm": [0.64, 0.69, 0.61, 0.71]}
    rows = [{"run": run if seed == 0 else f"{run}-s{seed}", "seed": seed, "epoch": epoch, "split": "test",
             "value": value - (0.3 if epoch == 1 else 0.0)}          # epoch 1 must not count
            for run, values in finals.items() for seed, value in enumerate(values) for epoch in (2, 1)]
    table = ablate.summarize(pd.DataFrame(rows), by=["split"], reference="vanilla").set_index("run")
    assert list(table.index) == list(finals) and (table["n"] == 4).all()
    for run, values in finals.items():
        low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
        assert table.loc[run, ["mean", "low", "high"]].tolist() == pytest.approx([np.mean(values), low, high])
    p = {}
    for run in ("mixup", "dropout", "batchnorm"):
        diffs = np.subtract(finals[run], finals["vanilla"])
        low, high = scipy_stats.t.interval(0.95, 3, loc=diffs.mean(), scale=scipy_stats.sem(diffs))
        assert table.loc[run, ["effect", "effect_low", "effect_high", "effect_n"]].tolist() == pytest.approx(
            [diffs.mean(), low, high, 4])
        p[run] = scipy_stats.ttest_rel(finals[run], finals["vanilla"]).pvalue
        assert table.loc[run, "p"] == pytest.approx(p[run], rel=1e-9)
    assert np.isnan(table.loc["vanilla", "p"])                  # no effect of its own: not in the family
    expected = dict(zip(p, holm_reference(list(p.values()))))
    # batchnorm's 2 * p is below mixup's 3 * p: the step-down lifts it to mixup's; dropout's stays unmarked
    assert 2 * p["batchnorm"] < 3 * p["mixup"] < 0.05 < expected["dropout"]
    assert expected["batchnorm"] == pytest.approx(3 * p["mixup"])
    for run, value in expected.items():
        assert table.loc[run, "p_adjusted"] == pytest.approx(value, rel=1e-9)
        assert table.loc[run, "marked"] == (value < 0.05)


# --------------------------------------------------------------------------
# Issue 22, item 5: what the numbers cannot say, said

INF = float("inf")


def test_a_diverged_value_makes_the_interval_diverged_instead_of_vanishing_from_the_mean():
    found = t_interval([0.6, INF, 0.62, float("nan")])
    assert (found.diverged, found.n) == (1, 2)                    # NaN is missing; inf is a diverged seed
    assert np.isnan(found.mean) and np.isnan(found.half_width) and not found.excludes_zero


def test_a_pair_with_a_diverged_side_is_a_diverged_difference():
    found = paired_interval([0.5, INF, 0.6, 0.7], [0.55, INF, 0.62, -INF])      # inf - inf is no missing pair
    assert (found.diverged, found.n) == (2, 2) and np.isnan(found.mean)
    assert welch_interval([0.5, 0.6], [INF, 0.6, 0.7]).diverged == 1


def test_p_values_match_scipy():
    assert t_interval(A).p == pytest.approx(scipy_stats.ttest_1samp(A, 0).pvalue, rel=1e-9)
    assert paired_interval(A, B).p == pytest.approx(scipy_stats.ttest_rel(B, A).pvalue, rel=1e-9)
    b = [0.70, 0.52, 0.75, 0.58]
    assert welch_interval(A, b).p == pytest.approx(scipy_stats.ttest_ind(b, A, equal_var=False).pvalue, rel=1e-9)


def test_identical_values_are_flagged_and_test_nothing():
    found = paired_interval([0.5, 0.6, 0.7], [0.55, 0.65, 0.75])       # +0.05 for every seed, to round-off
    assert found.identical and not found.excludes_zero and np.isnan(found.p)
    assert not t_interval([0.5]).identical and not t_interval(A).identical


def test_holm_matches_hand_computed_values():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> 0.06 (never below an earlier)
    assert holm([0.01, 0.04, 0.03, 0.005, np.nan]) == pytest.approx([0.03, 0.06, 0.06, 0.02, np.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_summarize_n_of_an_effect_counts_the_pairs():
    results = planted({"vanilla": 0.0, "mixup": 0.05})
    results = results[results["run"] != "vanilla-s3"]                     # vanilla has 3 seeds, mixup 4
    table = summarize(results, by=["split"], reference="vanilla").set_index("run")
    assert table.loc["mixup", "n"] == 4 and table.loc["vanilla", "n"] == 3
    assert table.loc["mixup", "effect_n"] == 3


def test_summarize_shows_a_diverged_seed_as_such():
    results = planted({"vanilla": 0.0, "mixup": 0.05})
    results.loc[(results["run"] == "mixup-s2") & (results["epoch"] == 2), "value"] = INF
    table = summarize(results, by=["split"], reference="vanilla").set_index("run")
    assert table.loc["mixup", "diverged"] == 1 and table.loc["mixup", "n"] == 3
    assert np.isnan(table.loc["mixup", "mean"]) and np.isnan(table.loc["mixup", "effect"])
    assert not table.loc["mixup", "marked"] and table.loc["vanilla", "diverged"] == 0


def test_summarize_keeps_a_partial_seed_apart():
    results = planted({"vanilla": 0.0, "mixup": 0.05})
    results = results[~((results["run"] == "mixup-s3") & (results["epoch"] == 2))]   # seed 3 still at epoch 1
    table = summarize(results, by=["split"], reference="vanilla")
    pooled = table[(table["run"] == "mixup") & ~table["partial"]].iloc[0]
    apart = table[table["partial"]]
    assert pooled["n"] == 3 and pooled["effect_n"] == 3
    assert pooled["mean"] == pytest.approx(results.query("run in ['mixup', 'mixup-s1', 'mixup-s2'] and epoch == 2")
                                           ["value"].mean())
    assert list(apart["run"]) == ["mixup-s3"] and apart.iloc[0]["n"] == 1 and np.isnan(apart.iloc[0]["effect"])
    assert apart.iloc[0]["mean"] == pytest.approx(results.query("run == 'mixup-s3'")["value"].iloc[0])


def test_summarize_flags_identical_seeds_and_does_not_mark_them():
    results = planted({"vanilla": 0.0, "mixup": 0.05})
    results.loc[results["run"].str.startswith("mixup"), "value"] = 0.7      # mixup's seed was not applied
    table = summarize(results, by=["split"], reference="vanilla").set_index("run")
    assert table.loc["mixup", "identical"] and not table.loc["vanilla", "identical"]
    results.loc[results["run"].str.startswith("vanilla"), "value"] = 0.6    # nor vanilla's: +10 points, no spread
    table = summarize(results, by=["split"], reference="vanilla").set_index("run")
    assert table.loc["mixup", "effect"] == pytest.approx(0.1) and np.isnan(table.loc["mixup", "p"])
    assert not table.loc["mixup", "marked"]


def holm_family(runs: int = 5) -> pd.DataFrame:
    """A reference and ``runs`` runs whose paired differences are 0.03, 0.04, 0.05 over seeds 0-2 (each
    with a raw paired p of about 0.02)."""
    rows = []
    for k, run in enumerate(["vanilla"] + [f"r{i}" for i in range(runs)]):
        for seed, (base, diff) in enumerate(zip((0.60, 0.62, 0.58), (0.03, 0.04, 0.05))):
            rows.append({"run": run if seed == 0 else f"{run}-s{seed}", "seed": seed, "split": "test",
                         "value": base + (diff if k else 0.0)})
    return pd.DataFrame(rows)


def test_summarize_marks_after_holm_over_the_table_and_raw_on_request():
    raw_p = scipy_stats.ttest_rel([0.63, 0.66, 0.63], [0.60, 0.62, 0.58]).pvalue
    assert 0.05 / 5 < raw_p < 0.05                                      # each alone: an interval that excludes zero
    holm_table = summarize(holm_family(), by=["split"], reference="vanilla").set_index("run").drop("vanilla")
    assert holm_table["p"].to_numpy() == pytest.approx([raw_p] * 5)
    assert holm_table["p_adjusted"].to_numpy() == pytest.approx([5 * raw_p] * 5)   # equal p's: all times 5
    assert not holm_table["marked"].any()
    raw = summarize(holm_family(), by=["split"], reference="vanilla", adjust=None).set_index("run").drop("vanilla")
    assert raw["marked"].all() and (raw["effect_low"] > 0).all()
    assert summarize(holm_family(1), by=["split"], reference="vanilla").set_index("run").loc["r0", "marked"]


def test_summarize_refuses_an_unknown_adjustment():
    with pytest.raises(AblateError, match="adjust='bonferroni'"):
        summarize(holm_family(), by=["split"], reference="vanilla", adjust="bonferroni")
