"""One number per model for the study's question: how much does it rely on high (or low) frequencies?

Figure 1 and the dotted curves of Figure 5 show a model's accuracy on the HFC of the
test images, radius by radius: an HFC keeps what lies *outside* the disc of radius r,
so a model that still classifies it correctly reads high frequencies. To rank models
of different accuracy, ablate divides by the model's own accuracy on the originals,
and averages over the probed radii:

    HFC reliance = mean over r of  acc(HFC_r) / acc(original)
    LFC reliance = mean over r of  acc(LFC_r) / acc(original)

1 means the component alone is as good as the image at every radius; a model that
ignores high frequencies sits near chance / acc(original) on HFC reliance. The
number depends on the radii averaged over (they are printed beside it, and the
per-radius ratios are kept), and it is undefined (NaN) for a model that gets no
original right.

Uncertainty: the test images are the sample (the model is fixed), so the 95 %
interval is a percentile bootstrap over images: each resample draws images with
replacement and recomputes the ratio with the same images in numerator and
denominator. A resample that holds no correctly classified original has no ratio: it is
left out of the interval, and :attr:`Reliance.dropped` counts such resamples so that a
report can say so (many of them: the interval describes only the lucky resamples).
Resamples come from a seeded generator, so an interval depends only on
the model's per-image results and the seed, not on anything evaluated beside it.

With the band-pass probe, :func:`band_centroid` summarises its profile: the mean
frequency of the bands weighted by their accuracy above chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd
import torch

ORIGINAL_KEY = ("original", None)
COMPONENTS = {"hfc": "high", "lfc": "low"}
RESAMPLES = 2000
SEED = 0
BLOCK = 64           # resamples drawn at once: BLOCK x images indices in memory


@dataclass(frozen=True)
class Reliance:
    """A reliance number with its bootstrap interval and the per-radius ratios it averages; ``dropped`` of the
    ``resamples`` drawn had no original right (no ratio) and are not in the interval."""

    value: float
    low: float
    high: float
    per_radius: dict[float, float]
    dropped: int = 0
    resamples: int = 0

    def overlaps(self, other: "Reliance") -> bool:
        """Whether the two intervals share a point (NaN intervals never separate anything)."""
        if any(math.isnan(v) for v in (self.low, self.high, other.low, other.high)):
            return True
        return self.low <= other.high and other.low <= self.high


def correctness_matrix(correct: Mapping[tuple, torch.Tensor], component: str,
                       radii: Sequence[float]) -> torch.Tensor:
    """``(1 + len(radii), images)`` float64: per-image correctness on the originals, then on the
    component at each radius (``correct``: a probe's per-image results, keyed ``(component, radius)``)."""
    part = COMPONENTS[component]
    missing = [r for r in radii if (part, r) not in correct]
    if ORIGINAL_KEY not in correct or missing:
        raise KeyError(f"no per-image results for the originals or the {component.upper()} at radii {missing}")
    rows = [correct[ORIGINAL_KEY]] + [correct[(part, r)] for r in radii]
    return torch.stack([row.detach().cpu().to(torch.float64) for row in rows])


def ratios(hits: torch.Tensor) -> torch.Tensor:
    """Per-radius accuracy ratios from hit counts ``(..., 1 + radii)``: component over originals."""
    original = hits[..., :1]
    return torch.where(original > 0, hits[..., 1:] / original.clamp(min=1e-300), torch.nan)


def reliance(correct: Mapping[tuple, torch.Tensor], radii: Sequence[float], component: str = "hfc",
             resamples: int = RESAMPLES, level: float = 0.95, seed: int = SEED) -> Reliance:
    """The model's HFC (or LFC) reliance over ``radii``, with a percentile bootstrap interval over images."""
    matrix = correctness_matrix(correct, component, list(radii))
    per_radius = ratios(matrix.sum(dim=1))
    value = float(per_radius.mean()) if len(radii) else math.nan
    n = matrix.shape[1]
    if n == 0 or not len(radii) or resamples < 1:
        return Reliance(value, math.nan, math.nan, dict(zip(map(float, radii), per_radius.tolist())))
    generator = torch.Generator().manual_seed(seed)
    draws = []
    for start in range(0, resamples, BLOCK):
        count = min(BLOCK, resamples - start)
        index = torch.randint(0, n, (count, n), generator=generator)
        hits = matrix[:, index].sum(dim=2).T                  # (count, 1 + radii)
        draws.append(ratios(hits).mean(dim=1))
    values = torch.cat(draws)
    values = values[~values.isnan()]
    dropped, by_radius = resamples - len(values), dict(zip(map(float, radii), per_radius.tolist()))
    if len(values) == 0:
        return Reliance(value, math.nan, math.nan, by_radius, dropped, resamples)
    tail = (1 - level) / 2
    low, high = torch.quantile(values, torch.tensor([tail, 1 - tail], dtype=values.dtype)).tolist()
    return Reliance(value, low, high, by_radius, dropped, resamples)


def band_centroid(rows: pd.DataFrame, chance: float) -> float:
    """The band-pass profile's centroid: the mean of the bands' centre frequencies weighted by accuracy
    above ``chance`` (rows: component ``band`` with ``radius``, ``radius_outer`` and ``accuracy``
    values). A last band open to infinity counts at its inner edge. NaN when no band beats chance."""
    bands = rows[(rows["component"] == "band") & (rows["metric"] == "accuracy")]
    inner, outer = bands["radius"].astype(float), bands["radius_outer"].astype(float)
    centre = ((inner + outer) / 2).where(outer.map(math.isfinite), inner)
    weight = (bands["value"].astype(float) - chance).clip(lower=0)
    total = float(weight.sum())
    return float((centre * weight).sum() / total) if total > 0 else math.nan


def separated_pairs(board: Mapping[str, Reliance]) -> list[tuple[str, str]]:
    """The pairs of models whose intervals do not overlap, in ``board``'s order (higher first)."""
    names = list(board)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if not board[a].overlaps(board[b])]
