"""The probe's cached copies: a budget sized from the free memory, bf16 copies only for bf16 runs,
and float32 copies giving exactly what remaking them every pass gives."""

from __future__ import annotations

import pytest
import torch

import ablate.core.device
from ablate.spectral.prober import Prober, split_probe
from ablate.testing import tiny_data, tiny_model

RADII = [2, 4]
COPIES = 2 * len(RADII)                     # LFC and HFC at each radius


@pytest.fixture
def data():
    return tiny_data(n_test=40, size=16)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return tiny_model(num_classes=4).eval()


def copies_bytes(data, itemsize=4) -> int:
    return COPIES * data.x_test[0].numel() * len(data.y_test) * itemsize


@pytest.mark.parametrize("free_share, cached", [(1.01, True), (0.99, False)])
def test_the_budget_is_a_share_of_the_free_memory(data, monkeypatch, free_share, cached):
    needed = copies_bytes(data)
    free = int(needed * free_share / ablate.core.device.PROBE_MEMORY_SHARE)
    monkeypatch.setattr(ablate.core.device, "free_memory", lambda device: free)
    assert ablate.core.device.probe_budget(torch.device("cpu")) == int(free * ablate.core.device.PROBE_MEMORY_SHARE)
    prober = Prober(data.x_test, data.y_test, split_probe(RADII))
    assert prober.copies_bytes == needed
    assert prober.cached is cached and (prober.cache is not None) is cached


def test_the_free_memory_of_this_machine_is_read():
    free = ablate.core.device.free_memory(torch.device("cpu"))
    assert 0 < free < 2**50


def test_float32_copies_give_exactly_what_remaking_them_gives(data, model, monkeypatch):
    monkeypatch.setattr(ablate.core.device, "free_memory", lambda device: 2**40)
    cached = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16)
    remade = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16, max_bytes=0)
    assert cached.cache.dtype == torch.float32 and remade.cache is None
    assert cached(model).rows == remade(model).rows


def test_bf16_copies_take_half_the_memory_and_agree_under_bf16_autocast(data, model, monkeypatch):
    """Under bf16 autocast the first convolution rounds its input to bf16: bf16 copies give the same logits."""
    monkeypatch.setattr(ablate.core.device, "free_memory", lambda device: 2**40)
    wide = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16)
    compact = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16, cache_dtype=torch.bfloat16)
    assert compact.cache.dtype == torch.bfloat16 and compact.copies_bytes == copies_bytes(data, 2)
    assert compact(model, torch.bfloat16).rows == wide(model, torch.bfloat16).rows


def test_bf16_copies_still_evaluate_without_autocast(data, model, monkeypatch):
    monkeypatch.setattr(ablate.core.device, "free_memory", lambda device: 2**40)
    compact = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16, cache_dtype=torch.bfloat16)
    exact = Prober(data.x_test, data.y_test, split_probe(RADII), batch_size=16)
    near = {tuple(r.values())[:-1]: r["value"] for r in compact(model).rows}
    for row in exact(model).rows:
        assert near[tuple(row.values())[:-1]] == pytest.approx(row["value"], abs=0.1)


def test_other_copy_types_are_refused(data):
    with pytest.raises(ablate.AblateError, match="float32 or bfloat16"):
        Prober(data.x_test, data.y_test, split_probe(RADII), cache_dtype=torch.float16)
