"""The Fourier heat map probe: a known answer, its symmetry, and a plain per-cell loop to compare with."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate.core.registry import get_registry
from ablate.core.schema import results_frame
from ablate.report.results import tidy
from ablate.spectral.frequency import split
from ablate.spectral.prober import Prober
from ablate.spectral.probes import plan_probe
from ablate_plugins.fourier import basis, cells, heatmap

SIZE = 8


def planned(args):
    return plan_probe(get_registry().registry("probes"), "fourier_heatmap", args, "test")


def accuracy_map(rows) -> dict[tuple[int, int], float]:
    return {(r["row"], r["col"]): r["value"] for r in rows if r["metric"] == "accuracy"}


class LowPassDetector(nn.Module):
    """A fixed linear low-pass filter, then a threshold: class 1 ("noise seen") when the low-passed
    deviation from grey exceeds 0.05, else class 0. Noise below the radius is seen, noise above is not."""

    def __init__(self, radius: float):
        super().__init__()
        self.radius = radius

    def forward(self, x):
        low, _ = split(x - 0.5, self.radius)
        seen = low.abs().amax(dim=(1, 2, 3))
        return torch.stack([torch.full_like(seen, 0.05), seen], dim=1)


def test_a_low_pass_model_errs_exactly_on_the_low_frequencies():
    grey = torch.full((6, 3, SIZE, SIZE), 128, dtype=torch.uint8)
    labels = torch.zeros(6, dtype=torch.long)            # class 0: no noise seen
    probe = planned({"eps": 1.0})
    result = Prober(grey, labels, probe.variants, normalize="none", originals=False)(LowPassDetector(3.0))
    accuracy = accuracy_map(result.rows)
    assert len(accuracy) == SIZE * SIZE
    for (row, col), value in accuracy.items():
        inside = math.hypot(row - SIZE // 2, col - SIZE // 2) < 3.0
        assert value == (0.0 if inside else 1.0), (row, col)
    assert probe.every == "final" and probe.limit == 1000


def test_a_cell_and_its_conjugate_twin_agree_and_are_evaluated_once():
    x = torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    found, twin = cells(SIZE, SIZE, 0)
    assert len(set(twin)) == (SIZE * SIZE + 4) // 2          # 4 cells are their own twin on an even size
    for (u, v), k in zip(found, twin):
        assert torch.allclose(basis(SIZE, SIZE, ((u, v),), "cpu"), basis(SIZE, SIZE, (found[k],), "cpu"), atol=1e-6)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4))
    y = torch.arange(5) % 4
    prober = Prober(x, y, planned({}).variants, originals=False)
    assert len(prober.firsts) == len(set(twin))
    accuracy = accuracy_map(prober(model).rows)
    for row, col in accuracy:
        u, v = row - SIZE // 2, col - SIZE // 2
        mirror = ((-u + SIZE // 2) % SIZE, (-v + SIZE // 2) % SIZE)
        assert accuracy[(row, col)] == accuracy[mirror]


def test_the_basis_is_the_real_part_of_a_unit_fourier_mode():
    for u, v in [(0, 0), (1, 3), (-2, 1), (-4, -4), (3, -4)]:
        onehot = torch.zeros(SIZE, SIZE, dtype=torch.complex128)
        onehot[u % SIZE, v % SIZE] = 1
        mode = torch.fft.ifft2(onehot).real
        expected = (mode / mode.norm()).float()
        assert torch.allclose(basis(SIZE, SIZE, ((u, v),), "cpu")[0], expected, atol=1e-6)


@pytest.mark.parametrize("sign, norm", [("channel", "channel"), ("image", "image")])
def test_sign_and_norm_conventions(sign, norm):
    grey = torch.full((8, 3, SIZE, SIZE), 0.5)
    variants = heatmap(grey, torch.arange(8), eps=0.5, window=3, sign=sign, norm=norm)
    for variant in variants:
        noise = variant.images - grey
        per_channel = noise.flatten(2).norm(dim=2)                     # (n, C)
        if norm == "channel":
            assert torch.allclose(per_channel, torch.full_like(per_channel, 0.5), atol=1e-5)
        else:
            assert torch.allclose(noise.flatten(1).norm(dim=1), torch.full((8,), 0.5), atol=1e-5)
        signs = torch.sign(noise.flatten(2).sum(dim=2) + noise.flatten(2)[..., 0] * 1e-3)
        same = (signs == signs[:, :1]).all(dim=1)
        assert same.all() if sign == "image" else not same.all()


# --------------------------------------------------------------------------
# An independent reference, from the sources (google-research frequency_analysis/freq_heatmap.py,
# gatheluck fhmap/fourier/noise.py) and the sign rule random_signs documents; nothing from fourier.py
# --------------------------------------------------------------------------

def documented_sign(seed: int, image: int, cell: int, channel: int) -> float:
    """random_signs's documented rule, in Python integers wrapped to int64 by hand."""
    def int64(value: int) -> int:
        value &= (1 << 64) - 1
        return value - (1 << 64) if value >> 63 else value

    z = int64((image * 1_000_003 + cell) * 131 + channel + (seed + 1) * 0x9E3779B97F4A7C15)
    z = int64((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9)
    z = int64((z ^ (z >> 27)) * 0x94D049BB133111EB)
    z ^= z >> 31
    return -1.0 if (z >> 17) & 1 else 1.0


def shifted_cells(h: int, w: int) -> dict[tuple[int, int], tuple[int, int]]:
    """``{(row, col) of the fftshifted map: (a, b), its frequency as an index of fft2's output}``,
    read off numpy's fftshift of an index grid."""
    grid = np.fft.fftshift(np.arange(h * w).reshape(h, w))
    return {(row, col): divmod(int(grid[row, col]), w) for row in range(h) for col in range(w)}


def unit_pattern(a: int, b: int, h: int, w: int) -> torch.Tensor:
    """The real image of one frequency: ifft2 of a one-hot spectrum plus its conjugate twin, unit L2 norm."""
    spectrum = np.zeros((h, w), dtype=complex)
    spectrum[a, b] = 1
    spectrum[-a % h, -b % w] = 1                  # the same bin when the frequency is its own twin
    image = np.fft.ifft2(spectrum).real
    return torch.from_numpy(image / np.linalg.norm(image))


def reference_inputs(x: torch.Tensor, eps: float, seed: int = 0, sign: str = "channel",
                     norm: str = "channel") -> dict[tuple[int, int], torch.Tensor]:
    """``{(row, col): clip(x + eps * sign * U, 0, 1)}`` for every cell of the full map, ``x`` = uint8 / 255;
    one sign per image and channel (or per image), the pair of twins signed by its first cell in row-major
    order of the map."""
    n, channels, h, w = x.shape
    pixels = x.double() / 255
    cells = shifted_cells(h, w)
    position = {frequency: cell for cell, frequency in cells.items()}
    scale = eps if norm == "channel" else eps / math.sqrt(channels)
    inputs = {}
    for cell, (a, b) in cells.items():
        first_a, first_b = cells[min(cell, position[(-a % h, -b % w)])]
        signs = torch.tensor([[documented_sign(seed, i, first_a * w + first_b, k if sign == "channel" else 0)
                               for k in range(channels)] for i in range(n)], dtype=torch.float64)
        inputs[cell] = (pixels + scale * signs[:, :, None, None] * unit_pattern(a, b, h, w)).clamp(0, 1)
    return inputs


class Recorder(nn.Module):
    """A model that keeps every batch it is given and answers class 0."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().double().clone())
        return torch.zeros(len(x), 2)


@pytest.mark.parametrize("sign, norm", [("channel", "channel"), ("image", "image")])
def test_the_model_sees_clip_of_x_plus_the_noise_under_every_normalize(sign, norm):
    # dark images: no noisy image reaches 1, so a rescale by the image's maximum ("max") would show
    x = torch.randint(20, 160, (5, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(4), dtype=torch.uint8)
    expected = reference_inputs(x, 2.0, seed=7, sign=sign, norm=norm)
    assert max(float(image.amax()) for image in expected.values()) < 0.99
    assert min(float(image.amin()) for image in expected.values()) == 0.0          # some pixels are clipped
    probe = planned({"eps": 2.0, "seed": 7, "sign": sign, "norm": norm})
    for normalize in ("max", "none"):
        recorder = Recorder()
        Prober(x, torch.zeros(5, dtype=torch.long), probe.variants, normalize=normalize, batch_size=64,
               originals=False)(recorder)
        assert len(recorder.seen) == (SIZE * SIZE + 4) // 2                  # each pair of twins once
        frequency = shifted_cells(SIZE, SIZE)
        covered = set()
        for seen in recorder.seen:
            matches = sorted(cell for cell, image in expected.items() if torch.allclose(seen, image, atol=1e-6))
            pair = {frequency[cell] for cell in matches}
            (a, b) = frequency[matches[0]]                                     # no match: IndexError
            assert pair == {(a, b), (-a % SIZE, -b % SIZE)}, (normalize, matches)     # a cell and its twin
            covered |= set(matches)
        assert covered == set(expected), normalize


def plain_loop(model, x, y, eps, seed=0):
    """The heat map cell by cell, as the public code computes it: one forward pass per frequency, the noisy
    pixels given to the model as they are."""
    result = {}
    for cell, noisy in reference_inputs(x, eps, seed).items():
        with torch.no_grad():
            logits = model(noisy.float())
        result[cell] = ((logits.argmax(1) == y).double().mean().item(), F.cross_entropy(logits, y).item())
    return result


@pytest.mark.parametrize("normalize", ["none", "max"])
def test_the_batched_probe_matches_a_plain_per_cell_loop(normalize):
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (9, 3, SIZE, SIZE), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 3, (9,), generator=gen)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * SIZE * SIZE, 3))
    expected = plain_loop(model, x, y, 2.0)
    cached = Prober(x, y, planned({"eps": 2.0}).variants, normalize=normalize, batch_size=64, originals=False)
    chunked = Prober(x, y, planned({"eps": 2.0}).variants, normalize=normalize, batch_size=7, originals=False,
                     max_bytes=4 * 3 * SIZE * SIZE * 40 * 4)
    assert not chunked.cached
    for result in (cached(model).rows, chunked(model).rows):
        got = {(r["row"], r["col"], r["metric"]): r["value"] for r in result}
        assert len(got) == 2 * len(expected)
        for (row, col), (accuracy, loss) in expected.items():
            assert got[(row, col, "accuracy")] == pytest.approx(accuracy, abs=1e-6)
            assert got[(row, col, "loss")] == pytest.approx(loss, abs=1e-5)


def test_window_keeps_the_central_frequencies_and_the_report_draws_the_map():
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    variants = heatmap(x, torch.arange(3), window=5)
    cells_kept = {(v.labels["row"], v.labels["col"]) for v in variants}
    assert cells_kept == {(r, c) for r in range(6, 11) for c in range(6, 11)}
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 256, 2))
    rows = Prober((x * 255).to(torch.uint8), torch.zeros(3, dtype=torch.long), planned({"window": 5}).variants,
                  originals=False)(model).rows
    frame = tidy(results_frame([{**r, "run": "a", "epoch": 3} for r in rows]))
    probe = get_registry().registry("probes")["fourier_heatmap"].function
    table = probe.table(frame)
    accuracy = frame[frame["metric"] == "accuracy"]["value"]
    assert table.loc["a", "fourier mean"] == pytest.approx(accuracy.mean())
    fig = probe.figure(frame, ["a"])
    assert fig.axes[0].images[0].get_array().shape == (5, 5)
