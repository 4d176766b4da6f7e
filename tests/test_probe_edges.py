"""The probe at its edges: round-off components are blank images, and examples are never drawn at a
radius where one component is empty."""

import pandas as pd
import pytest
import torch
from torch import nn

from ablate import Data, Settings
from ablate.spectral.example_grid import example_radius, nontrivial
from ablate.spectral.frequency import split
from ablate.spectral.probe_report import write_probe_report
from ablate.spectral.prober import Prober, split_probe
from ablate.spectral.scaling import ROUND_OFF, model_input, to_float, without_round_off


class Peak(nn.Module):
    """Class 0 for a blank image, class 1 for anything with a visible positive peak, and it records its inputs."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        peak = x.flatten(1).amax(dim=1)
        return torch.stack([0.5 - peak, peak - 0.5], dim=1)


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(24, 3, 32, 32, generator=gen) * 255).round().to(torch.uint8)
    return x, torch.randint(0, 2, (24,), generator=gen)


def test_round_off_hfc_is_exactly_zero_after_normalising(images):
    x, _ = images
    pixels = to_float(x)
    for r in (23, 24, 40):
        low, high = split(pixels, r)
        assert 0 < float(high.abs().max()) < 1e-5             # split stays exact: round-off, not zeros
        stretched = model_input(high, "max")
        assert float(stretched.abs().max()) > 0.5              # what the probe fed the model before
        assert torch.equal(model_input(without_round_off(high, pixels), "max"), torch.zeros_like(high))
        assert torch.equal(without_round_off(low, pixels), low)


def test_only_round_off_is_dropped():
    original = torch.ones(2, 1, 4, 4)
    component = torch.stack([torch.full((1, 4, 4), ROUND_OFF * 0.5), torch.full((1, 4, 4), ROUND_OFF * 2)])
    kept = without_round_off(component, original)
    assert torch.equal(kept[0], torch.zeros(1, 4, 4)) and torch.equal(kept[1], component[1])
    assert without_round_off(original, original) is original


def test_probe_accuracy_past_the_last_bin_is_the_blank_image_accuracy(images):
    x, y = images
    model = Peak()
    result = Prober(x, y, split_probe([4, 23, 30]), normalize="max", batch_size=8)(model)
    blank = float((y == 0).float().mean())               # Peak calls a blank image class 0
    for r in (23, 30):
        assert result.accuracy("high", r) == pytest.approx(blank)
        assert result.accuracy("low", r) == result.accuracy("original")
    assert result.accuracy("high", 4) == pytest.approx(float((y == 1).float().mean()))


def test_probe_rows_at_ordinary_radii_are_unchanged(images):
    """Round-off handling changes nothing where both components are real: the model sees model_input of split."""
    x, y = images
    model = Peak()
    Prober(x, y, split_probe([2, 8]), normalize="max", batch_size=24)(model)
    low, high = split(to_float(x), [2, 8])
    fed = torch.cat(model.seen[1:])
    expected = torch.cat([model_input(v, "max") for v in (low[0], low[1], high[0], high[1])])
    assert torch.equal(fed, expected)


def report(radii, hfc_only):
    return pd.DataFrame({"radius": radii, "hfc_only": hfc_only})


def test_example_radius_skips_trivial_radii():
    radii = [0, 0.5, 1, 4, 8, 16, 23, 30]
    counts = [900, 0, 5, 40, 40, 10, 800, 800]          # r = 0 and r >= 23 have the most, as on real data
    assert not nontrivial(0, 32, 32) and not nontrivial(23, 32, 32) and nontrivial(2, 32, 32)
    assert not nontrivial(1, 32, 32) and nontrivial(1, 32, 32, inclusive=True)   # dist < 1: the mean alone
    assert example_radius(report(radii, counts), 32, 32) == 4          # first listed on ties
    assert example_radius(report([0, 23, 30], [5, 5, 5]), 32, 32) is None
    assert example_radius(report([0, 0.5, 1, 2], [9, 9, 9, 1]), 32, 32) == 2       # a flat LFC says nothing
    assert example_radius(report([0, 0.5, 1], [1, 1, 1]), 32, 32, inclusive=True) == 1


def test_write_probe_report_draws_a_nontrivial_radius_or_the_one_asked(images, tmp_path):
    x, y = images
    data = Data(x, y, x, y, ["blank", "peak"])
    settings = Settings(report_radii=[0, 2, 8, 23, 30], eval_batch_size=24)
    chosen = write_probe_report(Peak(), data, settings, tmp_path / "a").attrs["example_radius"]
    assert chosen is not None and nontrivial(chosen, 32, 32)
    asked = write_probe_report(Peak(), data, settings, tmp_path / "b", example_at=5)
    assert asked.attrs["example_radius"] == 5 and list(asked["radius"]) == [0, 2, 8, 23, 30]
    settings.report_radii = [0, 30]
    assert write_probe_report(Peak(), data, settings, tmp_path / "c").attrs["example_radius"] is None
    assert (tmp_path / "c" / "examples.png").exists()
