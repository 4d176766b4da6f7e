"""A number depends only on what its row names (issue 22, item 1): with a model whose prediction depends on
the rest of its evaluation batch (BatchNorm on batch statistics, the official kind), a variant's results
must not change with the variants, probes or memory budget beside it, and the minimal-eps search must
judge every image beside the same images throughout."""

from __future__ import annotations

import torch
from torch import nn

from ablate.any_model.probe_model import measure
from ablate.spectral.prober import Prober
from ablate.spectral.probes import Variant
from ablate.spectral.scaling import model_input
from ablate.train.attacks import minimal_eps, pgd

N, BATCH = 23, 5          # 23 images in batches of 5: a stream of variants would straddle batches


def batch_stat_model() -> nn.Module:
    """Logits that move with the batch's statistics in eval mode too (track_running_stats=False)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (N, 3, 8, 8), dtype=torch.uint8, generator=generator), torch.arange(N) % 3


def scaled_copies(count: int):
    """A probe of ``count`` variants: variant j is the image times (1 - j / 20)."""
    def variants(x: torch.Tensor) -> list[Variant]:
        return [Variant({"component": "scaled", "radius": j}, x * (1 - j / 20)) for j in range(count)]
    return variants


def reference_loss(model: nn.Module, images: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image, the cross-entropy of ``images`` evaluated alone in batches BATCH * b .. BATCH * (b + 1)."""
    with torch.no_grad():
        return torch.cat([nn.functional.cross_entropy(model(images[s:s + BATCH]), y[s:s + BATCH], reduction="none")
                          for s in range(0, len(images), BATCH)])


def first_variant_loss(count: int, max_bytes: int | None) -> float:
    x, y = images()
    prober = Prober(x, y, scaled_copies(count), batch_size=BATCH, max_bytes=max_bytes, normalize="none")
    result = prober(batch_stat_model().eval())
    return next(r["value"] for r in result.rows if r["metric"] == "loss" and r["component"] == "scaled"
                and r["radius"] == 0)


def test_a_variant_is_evaluated_alone_whatever_is_probed_beside_it_and_whatever_the_memory():
    x, y = images()
    model = batch_stat_model().eval()
    expected = float(reference_loss(model, model_input(x, "none"), y).double().mean())
    one_image = 4 * x[0].numel()
    budgets = {"cached": None,
               "uncached, a chunk of 10 images": 9 * one_image * 10,
               "uncached, less than a batch of every variant": 9 * one_image * 2}
    for count in (1, 4, 9):
        for budget, max_bytes in budgets.items():
            assert abs(first_variant_loss(count, max_bytes) - expected) < 1e-6, (count, budget)


def test_ablate_probe_batches_alike_at_any_max_memory():
    x, y = images()
    model = batch_stat_model().eval()
    found = [measure(model, (x, y), radii=[2], batch_size=BATCH, max_memory=memory, device="cpu")
             for memory in (2**30, 40_000)]
    for key in found[0].correct:
        assert torch.equal(found[0].correct[key], found[1].correct[key]), key
    losses = [{(r["component"], r["radius"]): r["value"] for r in f.rows if r["metric"] == "loss"} for f in found]
    assert all(abs(losses[0][k] - losses[1][k]) < 1e-6 for k in losses[0])


def test_the_minimal_eps_search_attacks_the_whole_batch_every_time():
    x, y = images()
    x = x.float() / 255
    model = batch_stat_model().eval()
    sizes = []

    def attack(model, x, y, eps):
        sizes.append(len(x))
        return pgd(model, x, y, eps, steps=3, step_size=eps / 2)

    found = minimal_eps(attack, model, x, y, max_eps=0.5, grid=5, tolerance=0.01)
    assert len(sizes) > 2 and set(sizes) == {N}
    assert torch.isfinite(found).any() and (found >= 0).all()
