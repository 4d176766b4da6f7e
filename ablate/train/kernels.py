"""Kernel smoothing of section 6 of the study, and finding the first conv layer.

The study smooths each spatial slice ``w`` of a trained conv kernel by convolving it
with the mask ``[[rho, rho, rho], [rho, 1, rho], [rho, rho, rho]]`` ("same" size,
symmetric border, i.e. edge values duplicated, no renormalisation); the official
code does it with ``scipy.signal.convolve2d(w, mask, mode="same", boundary="symm")``
over the ``[kh, kw]`` slices of a TensorFlow ``[kh, kw, in, out]`` weight. PyTorch
stores ``[out, in, kh, kw]``, so here the slices are the last two dimensions and
channels never mix.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ablate.core.errors import AblateError

LAYER_CHOICES = ("first", "all")


def smoothing_mask(rho: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """The 3x3 mask: 1 at the centre, ``rho`` on the eight neighbours."""
    mask = torch.full((3, 3), float(rho), dtype=dtype, device=device)
    mask[1, 1] = 1.0
    return mask


def smooth_kernels(weight: torch.Tensor, rho: float) -> torch.Tensor:
    """Return ``weight`` ``[out, in, kh, kw]`` with every ``[kh, kw]`` slice smoothed.

    Each slice is convolved with :func:`smoothing_mask` in "same" mode with a
    1-pixel symmetric border (for a 1-pixel border that is the edge value repeated),
    computed in float64 (float32 on MPS) and returned in the weight's dtype and device. ``rho = 0``
    returns the weight unchanged.
    """
    if weight.dim() != 4:
        raise ValueError(f"expected a conv weight [out, in, kh, kw], got shape {tuple(weight.shape)}")
    out_channels, in_channels, kh, kw = weight.shape
    exact = torch.float32 if weight.device.type == "mps" else torch.float64   # MPS has no float64
    slices = weight.detach().to(exact).reshape(out_channels * in_channels, 1, kh, kw)
    padded = F.pad(slices, (1, 1, 1, 1), mode="replicate")
    # The mask is symmetric, so cross-correlation (conv2d) equals convolution.
    mask = smoothing_mask(rho, dtype=exact, device=weight.device).view(1, 1, 3, 3)
    smoothed = F.conv2d(padded, mask)
    return smoothed.reshape(out_channels, in_channels, kh, kw).to(weight.dtype)


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` in ``model.modules()`` order: the layer the study smooths."""
    model = getattr(model, "_orig_mod", model)   # see through torch.compile
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise AblateError(f"model {type(model).__name__} has no nn.Conv2d layer to smooth; "
                      f"kernel smoothing needs a convolutional model")


def convs_to_smooth(model: nn.Module, layers: str = "first") -> list[nn.Conv2d]:
    """The conv layers ``layers`` selects: the first one, or all with a kernel larger than 1x1.

    1x1 convs (projection shortcuts) have no spatial neighbourhood to smooth.
    """
    if layers == "first":
        return [first_conv(model)]
    if layers == "all":
        return [m for m in getattr(model, "_orig_mod", model).modules()
                if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) != (1, 1)]
    raise ValueError(f"layers must be one of {LAYER_CHOICES}, not {layers!r}")


def smoothed_copy(model: nn.Module, rho: float, layers: str = "first") -> nn.Module:
    """A deep copy of ``model`` whose selected conv kernels are smoothed; ``model`` is untouched."""
    copied = copy.deepcopy(getattr(model, "_orig_mod", model))
    with torch.no_grad():
        for conv in convs_to_smooth(copied, layers):
            conv.weight.copy_(smooth_kernels(conv.weight, rho))
    return copied
