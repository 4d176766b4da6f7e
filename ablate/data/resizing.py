"""Bringing images to one size: resize the shorter side, then centre-crop, as torchvision's weight transforms do.

Used where a data set is loaded at ``image_size`` and where ``ablate probe`` brings images to a
model's size (:class:`ablate.any_model.zoo.Preprocess`), always before the frequency split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ablate.core.errors import AblateError

INTERPOLATIONS = ("bilinear", "bicubic")    # torchvision's weight transforms use one of these


def resize_crop(x: torch.Tensor, shorter: int, crop: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize so that the shorter side is ``shorter`` (``interpolation``, antialiased), then centre-crop ``crop``."""
    h, w = x.shape[-2:]
    if min(h, w) != shorter:
        size = (shorter, max(shorter, round(w * shorter / h))) if h <= w else \
            (max(shorter, round(h * shorter / w)), shorter)
        x = F.interpolate(x, size=size, mode=interpolation, antialias=True, align_corners=False).clamp_(0, 1)
    h, w = x.shape[-2:]
    if crop > min(h, w):
        raise AblateError(f"image_size {crop} is larger than the resized images ({h}x{w}); lower it")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top:top + crop, left:left + crop]


def to_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (uint8, or float pixels in [0, 1]) resized (shorter side) and centre-cropped to
    ``size`` x ``size``, in their own dtype: how data sets are brought to ``image_size`` as they are loaded."""
    if x.shape[-2:] == (size, size):
        return x
    if x.dtype != torch.uint8:
        return resize_crop(x.float(), size, size).to(x.dtype)
    return resize_crop(x.float() / 255.0, size, size).mul_(255).round_().to(torch.uint8)
