"""Data augmentation of whole training batches on their device (no per-image Python)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

def augment(x: torch.Tensor, name: str) -> torch.Tensor:
    """The batch ``x`` after the augmentation named by the ``augment`` setting."""
    if name == "crop_flip":
        return crop_flip(x)
    return x


def crop_flip(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random pad-4 crop and horizontal flip of a whole batch on its device (one offset per image)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])            # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])            # (n, w)
    flip = torch.rand(n, device=x.device) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[index, channel, rows[:, None, :, None], cols[:, None, None, :]]
