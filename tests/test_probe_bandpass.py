"""The band-pass probe: rings of the spectrum that tile it, agree with split, and keep a frequency in one band."""

from __future__ import annotations

import math

import pytest
import torch

from ablate import AblateError
from ablate.core.registry import get_registry
from ablate.core.schema import results_frame
from ablate.report.results import tidy
from ablate.spectral.frequency import split
from ablate.spectral.prober import Prober
from ablate.spectral.probes import bind_probe


def bandpass(args=None):
    return bind_probe(get_registry().registry("probes"), "bandpass", args or {}, "test")


def images(n=4, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("inclusive", [False, True])
def test_bands_that_tile_the_spectrum_sum_back_to_the_image(inclusive):
    x = images()
    variants = bandpass({"edges": [0, 2, 5.5, 8, "max"], "inclusive": inclusive})(x)
    assert [v.labels["radius"] for v in variants] == [0, 2, 5.5, 8]
    assert [v.labels["radius_outer"] for v in variants] == [2, 5.5, 8, math.inf]
    total = sum(v.images for v in variants)
    assert torch.allclose(total, x, atol=1e-5)


@pytest.mark.parametrize("inclusive", [False, True])
def test_the_band_from_zero_is_splits_lfc_and_the_last_band_its_hfc(inclusive):
    x = images()
    first, middle, last = bandpass({"edges": [0, 4, 8, "max"], "inclusive": inclusive})(x)
    low4, _ = split(x, 4, inclusive=inclusive)
    low8, high8 = split(x, 8, inclusive=inclusive)
    assert torch.equal(first.images, low4)
    assert torch.allclose(middle.images, low8 - low4, atol=1e-6)
    assert torch.allclose(last.images, high8, atol=1e-6)


def test_a_planted_single_frequency_lies_in_exactly_one_band():
    size = 16
    m, n = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for u, v in [(0, 3), (2, 2), (5, 1), (7, 7)]:              # distances 3, 2.83, 5.10, 9.90 from the centre
        planted = torch.cos(2 * math.pi * (u * m + v * n) / size).float().expand(1, 3, size, size)
        variants = bandpass({"edges": [0, 2.5, 4, 6, "max"]})(planted)
        energy = [float(v_.images.pow(2).sum()) for v_ in variants]
        holders = [k for k, e in enumerate(energy) if e > 1e-6]
        dist = math.hypot(u, v)
        expected = next(k for k, (a, b) in enumerate([(0, 2.5), (2.5, 4), (4, 6), (6, math.inf)]) if a <= dist < b)
        assert holders == [expected]
        assert torch.allclose(variants[expected].images, planted, atol=1e-5)


def test_complement_is_the_image_without_the_band():
    x = images()
    variants = bandpass({"edges": [0, 4, "max"], "complement": True})(x)
    assert [v.labels["component"] for v in variants] == ["band", "band", "band_removed", "band_removed"]
    for band, removed in zip(variants[:2], variants[2:]):
        assert removed.labels["radius"] == band.labels["radius"]
        assert torch.allclose(band.images + removed.images, x, atol=1e-6)


@pytest.mark.parametrize("edges, message", [
    ([4], "at least two edges"),
    ([0, 8, 4], "increasing order"),
    ([0, "max", 8], "edges\\[1\\]"),
    ([0, -1], "edges\\[1\\]"),
    ([0, "wide"], "edges\\[1\\]"),
])
def test_bad_edges_are_refused_with_the_key(edges, message):
    with pytest.raises(AblateError, match=message):
        bandpass({"edges": edges})


def test_edges_are_canonical_so_equal_values_bind_equally():
    assert bandpass({"edges": [0.0, 4.0, "max"]}).keywords["edges"] == [0, 4, "max"]


def test_rows_carry_inner_and_outer_radius_and_the_report_tabulates_them():
    x = (images(12) * 255).to(torch.uint8)
    y = torch.arange(12) % 3
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
    result = Prober(x, y, bandpass({"edges": [0, 4, "max"]}), batch_size=5, originals=False)(model)
    frame = results_frame([{**row, "run": "a", "epoch": 1} for row in result.rows])
    assert list(frame["component"]) == ["band"] * 4 and list(frame["radius_outer"]) == [4, 4, math.inf, math.inf]
    probe = get_registry().registry("probes")["bandpass"].function
    table = probe.table(tidy(frame))
    assert list(table.columns) == ["band 0-4", "band 4-max"] and list(table.index) == ["a"]
    accuracy = frame[frame["metric"] == "accuracy"]["value"].tolist()
    assert table.loc["a"].tolist() == pytest.approx(accuracy)
    assert probe.figure(tidy(frame), ["a"]).axes[0].get_lines()
