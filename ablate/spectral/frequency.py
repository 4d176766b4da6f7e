"""Split images into their low- and high-frequency components (LFC and HFC).

The study's split (paper notes, section 1; official ``utility/frequencyHelper.py``),
for every channel on its own::

    z   = fftshift(fft2(x))
    m_r = 1 where dist((i, j), (H//2, W//2)) < r   (<= r with ``inclusive=True``)
    LFC = real(ifft2(ifftshift(z * m_r)))
    HFC = real(ifft2(ifftshift(z * (1 - m_r))))

:func:`split` returns the same numbers with less work:

* the mask is moved to the unshifted layout once and cached, so the data is never shifted;
* the real part of ``ifft2(F * m)`` equals ``irfft2`` of the half spectrum times the
  mask's Hermitian part, and the disc is its own Hermitian part, so a real transform
  of half the size does the work and nothing imaginary is computed to be thrown away;
* one forward transform serves every radius;
* ``HFC = x - LFC``, which equals the complementary-mask result up to float round-off
  (about 1e-7 of the pixel range), at the cost of one subtraction instead of a transform;
* on the CPU, channels are transformed in small chunks so that spectra stay in cache.

The official code centres the disc at ``(rows/2, rows/2)``: for square images of even
size that is the fftshift centre used here; for other sizes ablate keeps the zero
frequency ``(H//2, W//2)`` as the centre, which is what the mask is meant to be.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Iterable, Sequence

import torch

from ablate.core.errors import AblateError
from ablate.spectral.scaling import NORMALIZE_MODES, model_input

# Pixels transformed together on the CPU: about 4 MB, so spectra stay in cache, yet few
# enough operations that a busy machine's thread wake-ups do not dominate. Other devices
# transform everything at once, up to the second budget.
CPU_CHUNK_ELEMENTS = 2**20
DEVICE_CHUNK_ELEMENTS = 2**26


def split(x: torch.Tensor, radius: float | Sequence[float], *, inclusive: bool = False,
          normalize: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(low, high)``: the LFC and HFC of images ``x`` ``(..., C, H, W)``.

    ``x`` is float or uint8 (split as raw 0..255 values, like the official code; the
    split is linear, so scaling before or after gives the same result). The results
    are float32 on ``x``'s device, not clipped: the LFC may leave the pixel range and
    the HFC is signed. ``low + high == x`` up to float round-off.

    ``radius`` is one radius, or a sequence of radii: then one forward transform
    serves them all and the results gain a leading radius dimension ``(R, ..., C, H, W)``.

    ``normalize="max"`` divides every output image by its own positive peak (the
    official training script's per-image rescale, :func:`ablate.spectral.scaling.model_input`):
    a signed HFC keeps its sign, its largest positive value becomes 1 and its negative
    values may go below -1; an image with no positive value is left as is.
    """
    radii, several = radius_tuple(radius, "radius")
    check_images(x, "x")
    if normalize not in NORMALIZE_MODES:
        raise AblateError(f"normalize={normalize!r} is not known; use one of {', '.join(NORMALIZE_MODES)}")
    h, w = x.shape[-2:]
    pixels = x if x.dtype == torch.float32 else x.to(torch.float32)
    planes = pixels.reshape(math.prod(x.shape[:-2]), h, w)
    masks = half_masks(h, w, radii, bool(inclusive), x.device)
    if torch.is_grad_enabled() and planes.requires_grad:      # out= below cannot carry gradients
        low = torch.fft.irfft2(torch.fft.rfft2(planes) * masks[:, None], s=(h, w))
        return finish(low, planes - low, x.shape, normalize, several)
    low = torch.empty((len(radii),) + tuple(planes.shape), dtype=torch.float32, device=x.device)
    high = torch.empty_like(low)
    budget = CPU_CHUNK_ELEMENTS if x.device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
    step = max(1, budget // (h * w))
    for start in range(0, planes.shape[0], step):
        stop = min(start + step, planes.shape[0])
        chunk = planes[start:stop]
        spectrum = torch.fft.rfft2(chunk)
        masked = torch.empty_like(spectrum)
        for i in range(len(radii)):
            torch.mul(spectrum, masks[i], out=masked)
            torch.fft.irfft2(masked, s=(h, w), out=low[i, start:stop])
        torch.sub(chunk, low[:, start:stop], out=high[:, start:stop])
    return finish(low, high, x.shape, normalize, several)


def finish(low: torch.Tensor, high: torch.Tensor, shape: torch.Size, normalize: str,
           several: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Give the flat ``(R, planes, H, W)`` results the input's shape, rescale, drop R for one radius."""
    shape = (low.shape[0],) + tuple(shape)
    low, high = low.view(shape), high.view(shape)
    if normalize == "max":
        low, high = model_input(low, "max"), model_input(high, "max")
    if not several:
        return low[0], high[0]
    return low, high


def kept_bins(h: int, w: int, radius: float, inclusive: bool = False) -> int:
    """How many of the ``h * w`` DFT bins the disc of ``radius`` keeps in the LFC."""
    (r,), _ = radius_tuple(radius, "radius")
    return int(centred_disc(int(h), int(w), r, bool(inclusive)).sum())


def centred_disc(h: int, w: int, radius: float, inclusive: bool) -> torch.Tensor:
    """The mask in fftshift layout: 1 within ``radius`` of bin ``(h//2, w//2)``, as float64."""
    rows = torch.arange(h, dtype=torch.float64) - h // 2
    cols = torch.arange(w, dtype=torch.float64) - w // 2
    dist = torch.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)
    inside = dist <= radius if inclusive else dist < radius
    return inside.to(torch.float64)


@functools.lru_cache(maxsize=64)
def half_masks(h: int, w: int, radii: tuple[float, ...], inclusive: bool, device: torch.device) -> torch.Tensor:
    """Masks ``(R, h, w//2 + 1)`` that multiply ``rfft2`` spectra, cached per size, radii and device.

    Each is the centred disc moved to the unshifted layout (``ifftshift``), reduced to its
    Hermitian part ``(m(k) + m(-k)) / 2`` (a no-op for a disc around the zero frequency, kept
    so that the ``irfft2`` shortcut equals the real part of ``ifft2`` for any mask), then halved.
    """
    with torch.inference_mode(False):           # a cached inference tensor could not enter autograd later
        return torch_half_masks(h, w, radii, inclusive, device)


def torch_half_masks(h: int, w: int, radii: tuple[float, ...], inclusive: bool, device: torch.device) -> torch.Tensor:
    masks = []
    for r in radii:
        mask = torch.fft.ifftshift(centred_disc(h, w, r, inclusive))
        mirrored = torch.roll(torch.flip(mask, dims=(0, 1)), shifts=(1, 1), dims=(0, 1))
        masks.append(((mask + mirrored) / 2)[:, : w // 2 + 1])
    if not masks:
        return torch.empty((0, h, w // 2 + 1), dtype=torch.float32, device=device)
    return torch.stack(masks).to(device=device, dtype=torch.float32)


def radius_tuple(radius: float | Iterable[float], where: str) -> tuple[tuple[float, ...], bool]:
    """``(radii as floats, whether a sequence was given)``; rejects anything but numbers >= 0."""
    several = not isinstance(radius, (numbers.Number, str, bytes)) and not (
        isinstance(radius, torch.Tensor) and radius.ndim == 0)
    values = list(radius) if several else [radius]
    radii = []
    for r in values:
        if isinstance(r, torch.Tensor) and r.ndim == 0:
            r = r.item()
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or math.isnan(r) or r < 0:
            raise AblateError(f"{where}: {r!r} is not a radius; radii are numbers >= 0 (DFT bins from the centre)")
        radii.append(float(r))
    if several and not radii:
        raise AblateError(f"{where}: no radii given; pass a radius or a non-empty list of radii")
    return tuple(radii), several


def check_radii(radii, height: int, width: int, where: str) -> None:
    """Radii past the spectrum's farthest bin keep every frequency (allowed); past the image diagonal, a typo."""
    diagonal = math.hypot(height, width)
    too_far = [r for r in radii if r > diagonal]
    if too_far:
        farthest = math.hypot(height // 2, width // 2)
        raise AblateError(f"{where}: found {too_far[0]:g}, beyond the diagonal ({diagonal:.1f}) of these "
                          f"{height}x{width} images; the largest useful radius is {math.floor(farthest) + 1}: "
                          f"it already keeps every frequency")


def check_images(x: torch.Tensor, where: str) -> None:
    """Reject what is not a float or uint8 tensor shaped ``(..., C, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise AblateError(f"{where}: expected a torch.Tensor of images, got {type(x).__name__}")
    if x.ndim < 3:
        raise AblateError(f"{where}: expected images shaped (..., C, H, W), got shape {tuple(x.shape)}; "
                          f"add a channel dimension with x.unsqueeze(-3)")
    if not (x.dtype == torch.uint8 or x.dtype.is_floating_point):
        raise AblateError(f"{where}: images must be uint8 (0..255) or float, not {x.dtype}")
