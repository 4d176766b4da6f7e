"""Data augmentation of whole training batches on their device (no per-image Python).

``crop_flip`` is the official adversarial script's augmentation (HaohanWang/HFC ``scripts/resnet.py``,
``AugmentedCIFAR10Data``, lines 110-117, as in Madry et al.'s CIFAR-10 challenge code):
``tf.image.resize_image_with_crop_or_pad(img, 36, 36)`` centres each 32 x 32 image in zeros, 2 pixels a
side; ``tf.random_crop`` cuts a random 32 x 32 window (offsets 0..4); ``tf.image.random_flip_left_right``
mirrors it with probability 1/2. Until issue 31 ablate padded 4 pixels a side (run identities record the
change: :data:`ablate.study.settings.REVISED`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, name: str) -> torch.Tensor:
    """The batch ``x`` after the augmentation named by the ``augment`` setting."""
    if name == "crop_flip":
        return crop_flip(x)
    return x


OFFICIAL_PAD = 2          # resize_image_with_crop_or_pad to 36 x 36: (36 - 32) / 2 zeros a side


def crop_flip(x: torch.Tensor, pad: int = OFFICIAL_PAD) -> torch.Tensor:
    """Zero-pad ``pad`` pixels a side, crop a random window of the original size and flip it with probability
    1/2: the official augmentation for ``pad = 2``, for a whole batch on its device (one offset per image)."""
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
