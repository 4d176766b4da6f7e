"""The Fourier heat map probe of Yin et al. 2019, "A Fourier Perspective on Model Robustness".

For every frequency ``(i, j)`` of the ``(H, W)`` spectrum, each test image gets
additive single-frequency noise and the model's error rate is recorded, one cell
per frequency::

    x~ = clip(x + eps * r * U_ij, 0, 1)

``U_ij`` is the real Fourier basis image of frequency ``(i, j)``: ``cos(2 pi (i m / H
+ j n / W))`` over pixels ``(m, n)``, which is what ``irfft2`` of a one-hot half
spectrum gives (gatheluck/FourierHeatmap ``fhmap/fourier/basis.py``, ``spectrum_to_basis``),
scaled to unit L2 norm. (google-research ``frequency_analysis/freq_heatmap.py``,
``_get_fourier_basis``, lines ~48-86, puts ``0.5 +- 0.5j`` on the pair instead: the same
frequency and norm, its phase shifted by 45 degrees.) Conventions, with their sources:

* ``eps = 4`` for 32x32 CIFAR-10 on pixels in [0, 1] (Yin et al., Section 3; the
  public code's ``eps: float = 4.0``; the paper uses 15.7 for ImageNet);
* ``norm = "channel"`` (default, the public code): the same unit-norm 2-D basis is
  added to each channel, so each channel's noise has L2 norm ``eps``; ``"image"``:
  the noise of all channels together has norm ``eps`` (``eps / sqrt(C)`` a channel);
* ``sign = "channel"`` (default: one random sign per image and channel, drawn anew
  for each frequency, as gatheluck's ``fhmap/fourier/noise.py``, ``AddFourierNoise``, lines
  28-36, and freq_heatmap.py's ``_generate_perturbed_images(rand_flip=True)``, lines
  ~155-164); ``"image"``: one sign per image;
* ``x`` is the image's pixels in [0, 1] (uint8 / 255); the noisy image is clipped to
  [0, 1] (noise.py line 36, freq_heatmap.py ~166-167) and reaches the model as it
  is, whatever the run's ``normalize``: the variants say ``rescale=False``, so no
  ``"max"`` rescale by the image's own maximum (a contrast change on top of the
  perturbation) comes after; only the model's own preprocessing does (the public
  code adds the noise after ``ToTensor`` and before ``Normalize``).

Signs are a hash of (seed, image index, cell, channel) (:func:`random_signs` gives the
rule): the same numbers whatever the chunking or device. ``U_ij`` and ``U_-i-j`` are the
same image (conjugate symmetry), so each pair is evaluated once: the probe gives both
cells one images tensor and :class:`ablate.spectral.prober.Prober` evaluates it once. ``window``
keeps only the central ``window x window`` (lowest) frequencies: a full map of a 224x224
image has ~25 000 cells (Yin et al. show the central 63x63 for ImageNet).

Rows: component ``fourier`` with ``row`` and ``col`` the cell in the fftshifted map
(zero frequency at ``(H//2, W//2)``, as split's centre); error = 1 - accuracy.
The report draws the map fftshifted, low frequencies in the centre, with a colour bar.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import torch

import ablate
from ablate import Param
from ablate.api import new_figure

COMPONENT = "fourier"
MASK = (1 << 64) - 1


def offsets(size: int, window: int) -> range:
    """Signed frequencies of one axis, lowest first around 0, kept by ``window`` (0 = all)."""
    low, high = -(size // 2), (size - 1) // 2
    if window:
        low, high = max(low, -(window // 2)), min(high, (window - 1) // 2)
    return range(low, high + 1)


def mirror(u: int, size: int) -> int:
    """The signed frequency of ``-u`` on an axis of ``size`` bins (the Nyquist bin is its own mirror)."""
    return (-u + size // 2) % size - size // 2


@functools.lru_cache(maxsize=16)
def cells(h: int, w: int, window: int) -> tuple[list[tuple[int, int]], list[int]]:
    """``(cells, twin)``: the window's cells as signed ``(u, v)``, and for each the position of the first
    cell with the same basis image (itself, or its conjugate-symmetric twin)."""
    found = [(u, v) for u in offsets(h, window) for v in offsets(w, window)]
    first: dict[tuple[int, int], int] = {}
    twin = []
    for k, (u, v) in enumerate(found):
        key = max((u, v), (mirror(u, h), mirror(v, w)))
        twin.append(first.setdefault(key, k))
    return found, twin


def basis(h: int, w: int, frequencies, device) -> torch.Tensor:
    """Unit-L2 real Fourier basis images ``(K, h, w)`` for signed frequencies ``[(u, v), ...]``."""
    m = torch.arange(h, dtype=torch.float64, device=device)
    n = torch.arange(w, dtype=torch.float64, device=device)
    u = torch.tensor([f[0] for f in frequencies], dtype=torch.float64, device=device)
    v = torch.tensor([f[1] for f in frequencies], dtype=torch.float64, device=device)
    phase = 2 * math.pi * (u[:, None, None] * m[None, :, None] / h + v[:, None, None] * n[None, None, :] / w)
    images = torch.cos(phase)
    return (images / images.flatten(1).norm(dim=1)[:, None, None]).float()


def random_signs(seed: int, index: torch.Tensor, cell_ids: torch.Tensor, channels: int) -> torch.Tensor:
    """+-1 of shape ``(n, K, channels)``: a splitmix64-style hash of (seed, image, cell, channel).

    The rule, in two's-complement int64 arithmetic (products wrap, ``>>`` keeps the sign): ``key =
    (image * 1_000_003 + cell) * 131 + channel``; ``z = key + (seed + 1) * 0x9E3779B97F4A7C15``; ``z = (z ^
    (z >> 30)) * 0xBF58476D1CE4E5B9``; ``z = (z ^ (z >> 27)) * 0x94D049BB133111EB``; ``z ^= z >> 31``; the sign
    is -1 when bit 17 of ``z`` is set, else +1. ``image`` is the position in the split, ``channel`` is 0 for
    ``sign = "image"``, and :func:`heatmap` passes as ``cell`` ``(u mod H) * W + (v mod W)`` of the first cell,
    in row-major order of the window, of the pair of conjugate twins.
    """
    def signed(value: int) -> int:
        value &= MASK
        return value - (1 << 64) if value >= 1 << 63 else value

    key = (index[:, None, None] * 1_000_003 + cell_ids[None, :, None]) * 131 + torch.arange(
        channels, device=index.device)[None, None, :]
    x = key + signed((seed + 1) * 0x9E3779B97F4A7C15)
    x = (x ^ (x >> 30)) * signed(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> 27)) * signed(0x94D049BB133111EB)
    x = x ^ (x >> 31)
    return 1.0 - 2.0 * ((x >> 17) & 1).float()


def heatmap(images, index, eps=4.0, window=0, sign="channel", norm="channel", seed=0):
    """One variant per cell of the window: the images plus ``eps`` times that cell's basis, clipped to [0, 1],
    given to the model as they are (``rescale=False``).

    A cell and its twin share one images tensor, so each pair is evaluated once.
    """
    n, channels, h, w = images.shape
    found, twin = cells(h, w, window)
    distinct = sorted(set(twin))
    frequencies = [found[k] for k in distinct]
    patterns = basis(h, w, tuple(frequencies), images.device)                       # (D, h, w)
    ids = torch.tensor([(u % h) * w + (v % w) for u, v in frequencies], device=images.device)
    signs = random_signs(seed, index.to(images.device), ids, channels if sign == "channel" else 1)
    scale = eps if norm == "channel" else eps / math.sqrt(channels)
    noise = scale * signs[..., None, None] * patterns[None, :, None]              # (n, D, C or 1, h, w)
    noisy = (images[:, None] + noise).clamp_(0.0, 1.0)
    shared = {k: noisy[:, d] for d, k in enumerate(distinct)}
    return [ablate.Variant({"component": COMPONENT, "row": u + h // 2, "col": v + w // 2}, shared[twin[k]],
                           rescale=False) for k, (u, v) in enumerate(found)]


# --------------------------------------------------------------------------
# Reports: the map, and its mean error
# --------------------------------------------------------------------------

def error_maps(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{run: error map}`` (rows x cols, fftshifted) from each run's latest test-set heat map."""
    rows = results[(results["component"] == COMPONENT) & (results["metric"] == "accuracy")
                   & (results["split"] == "test")]
    maps = {}
    for run, mine in rows.groupby("run", sort=False):
        epochs = mine["epoch"].fillna(-1)           # no epoch: `ablate probe` of a checkpoint
        latest = mine[epochs == epochs.max()]
        grid = latest.pivot_table(index="row", columns="col", values="value", aggfunc="last")
        maps[run] = 1.0 - grid.sort_index().sort_index(axis=1)
    return maps


def heatmap_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: accuracy under Fourier noise, mean over the map, over its low and its high half."""
    table = {}
    for run, grid in error_maps(results).items():
        rows, cols = np.meshgrid(grid.index.to_numpy(float), grid.columns.to_numpy(float), indexing="ij")
        centre = [(axis.max() + axis.min() + 1) // 2 for axis in (grid.index, grid.columns)]   # the zero frequency
        dist = np.hypot(rows - centre[0], cols - centre[1])
        accuracy = 1.0 - grid.to_numpy(float)
        cut = np.median(dist)
        table[run] = {"fourier mean": np.nanmean(accuracy), "fourier low": np.nanmean(accuracy[dist <= cut]),
                      "fourier high": np.nanmean(accuracy[dist > cut])}
    return pd.DataFrame.from_dict(table, orient="index")


def heatmap_figure(results: pd.DataFrame, runs):
    """The heat maps side by side, one per run: error rate per frequency, low frequencies in the centre."""
    maps = error_maps(results)
    shown = [r for r in runs if r in maps]
    fig, axes = new_figure(max(1, len(shown)), columns=4, panel_size=(3.6, 3.2))
    if not shown:
        axes[0].text(0.5, 0.5, "no Fourier heat map yet", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    for ax, run in zip(axes, shown):
        grid = maps[run]
        extent = (grid.columns.min() - 0.5, grid.columns.max() + 0.5, grid.index.max() + 0.5, grid.index.min() - 0.5)
        image = ax.imshow(grid.to_numpy(float), cmap="jet", vmin=0.0, vmax=1.0, extent=extent,
                          interpolation="nearest")
        ax.set_title(run, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="error rate")
    return fig


class FourierHeatmapProbe(ablate.Plugin):
    """The Fourier heat map (Yin et al. 2019): error under single-frequency noise of fixed L2 norm."""

    name = "fourier_heatmap_probe"

    @ablate.hookimpl
    def ablate_register_probes(self, register):
        register("fourier_heatmap", ablate.Probe(heatmap, params=[
            Param("eps", float, 4.0, "L2 norm of the noise (Yin et al.: 4 for CIFAR-10, 15.7 for ImageNet), "
                  "pixels in [0, 1]", greater_than=0),
            Param("window", int, 0, "keep the central window x window (lowest) frequencies; 0 = the full map",
                  minimum=0),
            Param("sign", str, "channel", "random sign per channel (public code) or per image",
                  choices=("channel", "image")),
            Param("norm", str, "channel", "eps is each channel's norm (public code) or the whole image's",
                  choices=("channel", "image")),
            Param("seed", int, 0, "seed of the random signs"),
        ], every="final", limit=1000, components=(COMPONENT,), table=heatmap_table, figure=heatmap_figure),
            help="Fourier heat map (Yin et al. 2019): error per frequency of additive Fourier-basis noise")
