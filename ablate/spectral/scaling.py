"""How images are scaled before they reach a model.

The official code fed the network ``img / max(img)`` (each image by its own
maximum, after splitting raw pixels); its adversarial script fed ``img / 255``.
Both the trainer and the probe scale through :func:`model_input`.

Originals. The vanilla script (HaohanWang/HFC ``scripts/resnet.py``, ``train``)
rescales its training images and every LFC/HFC by their own maximum (lines
457-467, 481-483), but feeds the test set's originals as x / 255 (lines 540-542);
``trainMadry`` and the attacks (``utility/dataLoader.py``, ``loadDataCifar10``) do
too. :func:`originals_scaling` is that rule, and every place that feeds the
originals of a split to a model (the probe, the ``attacks`` plugin) asks it.

Whole numbers. The official script rescales its training originals in place, in their uint8 array
(``trainData[i] = trainData[i] / np.max(trainData[i]) * 255``, lines 457-458): they are cut to
floor(255 x / max(x)), and the network sees that / 255. Its LFC/HFC arrays are float and stay exact.
:func:`model_input` does the same by dtype: a uint8 image under ``"max"`` (the training originals, and the
training set's originals when probed) comes out as floor(255 x / max(x)) / 255, a float image (every
component) as x / max(x). Until issue 31 ablate fed the exact quotient (run identities record the change:
:data:`ablate.study.settings.REVISED`).

Round-off. A component that is empty in exact arithmetic (the HFC when the disc
keeps every frequency, r >= 23 on 32x32; the LFC at r = 0) comes out of the FFT
as round-off, about 1e-7 of the pixel range, and ``"max"`` would stretch that
noise into a full-scale image. The probe therefore passes its variants through
:func:`without_round_off` first: an image whose peak magnitude is below
:data:`ROUND_OFF` times its original's peak magnitude becomes exactly zero (a
blank image, which every scaling leaves blank). ``ablate.spectral.frequency.split`` itself
stays exact.
"""

from __future__ import annotations

import torch

NORMALIZE_MODES = ("max", "none")
# Below this fraction of its original's peak magnitude, a component is FFT round-off (about 1e-7 on
# float32), not content: a real component of a real image is thousands of times larger.
ROUND_OFF = 1e-5


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (0..255) become float in [0, 1]; float images are taken as already scaled."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def model_input(x: torch.Tensor, normalize: str = "none") -> torch.Tensor:
    """Scale a batch ``(N, C, H, W)`` as the model sees it.

    ``"none"``: pixels / 255. ``"max"``: each image divided by its own maximum over
    all channels and pixels (the official training script); a uint8 image is cut to whole
    numbers first, floor(255 x / max(x)) / 255, as the official uint8 array. For a signed image
    (an HFC) ``"max"`` divides by the largest positive value, so the image keeps its
    sign and its positive peak becomes 1; an image with no positive value is left as is.
    """
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, not {normalize!r}")
    if normalize == "max" and x.dtype == torch.uint8:
        return whole_number_max(x)
    x = to_float(x)
    if normalize == "none":
        return x
    peak = x.amax(dim=(-3, -2, -1), keepdim=True)
    return x / torch.where(peak > 0, peak, torch.ones_like(peak))


def whole_number_max(x: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(..., C, H, W)`` as floor(255 x / max(x)) / 255 in float: the official uint8 rescale, in
    integers (exact on every device; numpy's float64 ``x / max * 255`` truncates to the same whole numbers
    for every pair of uint8 values). An all-black image stays black."""
    wide = x.to(torch.int32)
    peak = wide.amax(dim=(-3, -2, -1), keepdim=True).clamp_min(1)
    return torch.div(wide * 255, peak, rounding_mode="floor").float().div_(255.0)


def originals_scaling(normalize: str, split: str) -> str:
    """How the unfiltered images of ``split`` are scaled under a run's ``normalize``.

    The training set's as its batches (``normalize``): the official train accuracy is
    that of the training batches (``scripts/resnet.py`` lines 458 and 514). Any other
    split's (the test set) as ``"none"``, x / 255, whatever ``normalize`` says: the
    official script fed its test originals so (lines 540-542). LFC, HFC and other
    variants are scaled by ``normalize`` everywhere.
    """
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, not {normalize!r}")
    return normalize if split == "train" else "none"


def without_round_off(component: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """``component`` ``(N, C, H, W)`` with every image that is round-off of its ``original`` set to exactly zero.

    An image is round-off when its peak magnitude is below :data:`ROUND_OFF` times
    the peak magnitude of the original it was made from (both on the same scale);
    the other images are returned unchanged, as the same tensor when none is.
    """
    peak = component.abs().amax(dim=(-3, -2, -1), keepdim=True)
    reference = original.float().abs().amax(dim=(-3, -2, -1), keepdim=True)
    blank = peak < ROUND_OFF * reference
    if not bool(blank.any()):
        return component
    return torch.where(blank, torch.zeros_like(component), component)
