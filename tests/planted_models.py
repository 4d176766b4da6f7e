"""Fixed classifiers with planted frequency preferences, for the reliance and leaderboard tests."""

import torch
from torch import nn

from ablate.any_model.probe_model import measure
from ablate.data.loading import load_full

RADII = [4, 8, 10]


class BandReader(nn.Module):
    """A fixed classifier that sees only one band of the spectrum: it keeps the frequencies with
    ``inner < dist <= outer`` (DFT bins from the centre) and matches them against class templates.
    A small bias per class decides when the band is empty: FFT round-off left in an emptied band
    is a scaled echo of the image, which a bias-free matcher would still classify."""

    def __init__(self, templates: torch.Tensor, inner: float, outer: float):
        super().__init__()
        size = templates.shape[-1]
        grid = torch.arange(size) - size // 2
        dist = (grid[:, None] ** 2 + grid[None, :] ** 2).float().sqrt()
        self.register_buffer("mask", ((dist > inner) & (dist <= outer)).float())
        self.register_buffer("templates", self.band(templates).flatten(1))
        self.register_buffer("bias", torch.arange(len(templates)) * 1e-3)

    def band(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1))
        return torch.fft.ifft2(torch.fft.ifftshift(spectrum * self.mask, dim=(-2, -1))).real

    def forward(self, x):
        return self.band(x).flatten(1) @ self.templates.T + self.bias


def measure_planted():
    """Synthetic images with class evidence in a low band (dist <= 3) and a high band (dist > 12),
    a model reading each band, and what the probe measured of each at RADII (name -> Measured)."""
    data = load_full("synthetic:train=400,test=300,noise=0.2,seed=3")
    x, y = data.x_train.float() / 255, data.y_train
    templates = torch.stack([x[y == c].mean(0) - x.mean(0) for c in range(10)])
    models = {"low reader": BandReader(templates, 0, 3), "high reader": BandReader(templates, 12, 99)}
    return {name: measure(model, (data.x_test, data.y_test), RADII, name=name, device="cpu")
            for name, model in models.items()}


# Factories for `ablate probe --models` (module:factory sources): the same readers, built from the data.
DATA = "synthetic:train=400,test=300,noise=0.2,seed=3"


class LoggedReader(BandReader):
    """A band reader that notes its name in $ABLATE_TEST_LOG when first called (which models a run really
    evaluated) and, with $ABLATE_TEST_SLOW set, takes a second per batch (a model to kill in the middle of)."""

    def __init__(self, name: str, inner: float, outer: float):
        data = load_full(DATA)
        x, y = data.x_train.float() / 255, data.y_train
        super().__init__(torch.stack([x[y == c].mean(0) - x.mean(0) for c in range(10)]), inner, outer)
        self.name, self.logged = name, False

    def forward(self, x):
        import os
        import time

        if not self.logged and os.environ.get("ABLATE_TEST_LOG"):
            with open(os.environ["ABLATE_TEST_LOG"], "a") as log:
                log.write(self.name + "\n")
            self.logged = True
        if os.environ.get("ABLATE_TEST_SLOW") and self.name == "slow":
            time.sleep(1.0)
        return super().forward(x)


def low_reader():
    return LoggedReader("low", 0, 3)


def high_reader():
    return LoggedReader("high", 12, 99)


def slow_reader():
    return LoggedReader("slow", 12, 99)
