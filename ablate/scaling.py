"""How images are scaled before they reach a model.

The official code fed the network ``img / max(img)`` (each image by its own
maximum, after splitting raw pixels); its adversarial script fed ``img / 255``.
Both the trainer and the probe scale through :func:`model_input`, so that a model
always sees originals, LFC and HFC scaled the same way.
"""

from __future__ import annotations

import torch

NORMALIZE_MODES = ("max", "none")


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (0..255) become float in [0, 1]; float images are taken as already scaled."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def model_input(x: torch.Tensor, normalize: str = "none") -> torch.Tensor:
    """Scale a batch ``(N, C, H, W)`` as the model sees it.

    ``"none"``: pixels / 255. ``"max"``: each image divided by its own maximum over
    all channels and pixels (the official training script). For a signed image
    (an HFC) ``"max"`` divides by the largest positive value, so the image keeps its
    sign and its positive peak becomes 1; an image with no positive value is left as is.
    """
    x = to_float(x)
    if normalize == "none":
        return x
    if normalize != "max":
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, not {normalize!r}")
    peak = x.amax(dim=(-3, -2, -1), keepdim=True)
    return x / torch.where(peak > 0, peak, torch.ones_like(peak))
