"""HFC/LFC reliance: planted frequency preferences rank as they should; the bootstrap interval covers."""

import math

import pandas as pd
import pytest
import torch

from ablate.any_model.reliance import band_centroid, reliance, separated_pairs

from planted_models import RADII


def test_planted_preferences_rank_as_planted(planted):
    low, high = (reliance(planted[name].correct, RADII, "hfc", resamples=300) for name in ("low reader", "high reader"))
    # both read their band well on the originals; between the bands (r = 4..10) the HFC holds only
    # the high band: the high reader keeps its accuracy, the low reader falls to chance
    assert high.value > 0.9 and low.value < 0.25
    assert high.low > low.high                      # intervals apart: a clear ranking
    assert separated_pairs({"high reader": high, "low reader": low}) == [("high reader", "low reader")]
    lfc_low, lfc_high = (reliance(planted[name].correct, RADII, "lfc", resamples=300) for name in ("low reader", "high reader"))
    assert lfc_low.value > 0.9 and lfc_high.value < 0.25
    assert lfc_low.low <= lfc_low.value <= lfc_low.high


def test_value_is_the_mean_ratio_of_accuracies():
    original = torch.tensor([1, 1, 1, 1, 0], dtype=torch.bool)
    correct = {("original", None): original,
               ("high", 4): torch.tensor([1, 1, 0, 0, 1], dtype=torch.bool),   # 3/5 against 4/5: 0.75
               ("high", 8): torch.tensor([1, 0, 0, 0, 0], dtype=torch.bool)}   # 1/5 against 4/5: 0.25
    found = reliance(correct, [4, 8], "hfc", resamples=50)
    assert found.value == pytest.approx(0.5)
    assert found.per_radius == {4.0: pytest.approx(0.75), 8.0: pytest.approx(0.25)}
    with pytest.raises(KeyError, match="LFC"):
        reliance(correct, [4], "lfc")


def test_no_original_right_is_undefined():
    zeros = torch.zeros(6, dtype=torch.bool)
    found = reliance({("original", None): zeros, ("high", 4): zeros}, [4], "hfc", resamples=20)
    assert math.isnan(found.value) and math.isnan(found.low)


def test_bootstrap_interval_covers_the_true_value_about_95_percent():
    """Simulated models: each image right on the original with p 0.8, on the HFC with p 0.4 at one
    radius and 0.6 at another; true reliance (0.4 / 0.8 + 0.6 / 0.8) / 2 = 0.625."""
    generator = torch.Generator().manual_seed(1)
    covered, trials = 0, 200
    for trial in range(trials):
        draw = lambda p: torch.rand(300, generator=generator) < p        # noqa: E731
        correct = {("original", None): draw(0.8), ("high", 4): draw(0.4), ("high", 8): draw(0.6)}
        found = reliance(correct, [4, 8], "hfc", resamples=400, seed=trial)
        covered += found.low <= 0.625 <= found.high
    assert 0.89 <= covered / trials <= 0.99


def test_interval_is_reproducible_and_independent_of_other_models():
    correct = {("original", None): torch.arange(50) % 3 > 0, ("high", 4): torch.arange(50) % 4 > 0}
    assert reliance(correct, [4], resamples=100) == reliance(dict(correct), [4], resamples=100)


def test_band_centroid_weights_bands_above_chance():
    rows = pd.DataFrame({"component": ["band"] * 3 + ["original"], "metric": ["accuracy"] * 4,
                         "radius": [0.0, 4.0, 8.0, None], "radius_outer": [4.0, 8.0, math.inf, None],
                         "value": [0.1, 0.5, 0.9, 0.95]})
    # weights above chance 0.1: 0, 0.4, 0.8; centres 2, 6, and 8 (the open band at its inner edge)
    assert band_centroid(rows, chance=0.1) == pytest.approx((6 * 0.4 + 8 * 0.8) / 1.2)
    assert math.isnan(band_centroid(rows.assign(value=0.05), chance=0.1))


def test_resamples_with_no_original_right_are_counted_and_said_beside_the_leaderboard():
    from rich.console import Console

    from ablate.any_model.leaderboard import RankedModel, table
    # One original right among 4 images: a resample misses it with chance (3/4)^4, about 32 %.
    original = torch.tensor([1, 0, 0, 0], dtype=torch.bool)
    correct = {("original", None): original, ("high", 4): original}
    found = reliance(correct, [4], "hfc", resamples=400, seed=3)
    generator = torch.Generator().manual_seed(3)
    misses = sum(int((torch.randint(0, 4, (min(64, 400 - s), 4), generator=generator) != 0).all(dim=1).sum())
                 for s in range(0, 400, 64))
    assert found.dropped == misses and 0.2 * 400 < misses < 0.45 * 400
    assert reliance({("original", None): torch.ones(5, dtype=torch.bool), ("high", 4): original[:1].repeat(5)},
                    [4], resamples=50).dropped == 0
    entry = RankedModel("lucky", 4, 0.25, found, found)
    console = Console(record=True, width=300)
    console.print(table([entry], [4], "a test"))
    text = " ".join(console.export_text().split())
    assert f"lucky: {misses} of 400 bootstrap resamples had no original right" in text
