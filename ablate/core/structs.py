"""The plain objects that hooks receive: data, model parts, a batch, the training state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn


@dataclass
class Data:
    """A dataset held as tensors: images ``(N, C, H, W)`` uint8 (0..255) or float
    (already scaled, 1.0 = white), labels int64 ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> "Data":
        return Data(self.x_train.to(device), self.y_train.to(device),
                    self.x_test.to(device), self.y_test.to(device), list(self.classes))


def no_norm(channels: int) -> nn.Module:
    """The study's vanilla network has no normalisation layer."""
    return nn.Identity()


@dataclass
class ModelParts:
    """Building blocks a model factory uses; plugins change them in ``ablate_model_parts``.

    ``norm(channels)`` makes the normalisation layer of every block (none by default).
    """

    norm: Callable[[int], nn.Module] = no_norm


@dataclass
class Batch:
    """One training batch on the device: float images and int labels or soft targets."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass
class TrainState:
    """Where a run stands; passed to the per-batch and per-epoch hooks."""

    settings: "object"            # ablate.Settings
    run_name: str
    run_dir: Path | None
    device: torch.device
    num_classes: int
    epoch: int = 0                # the epoch being trained (1-based); 0 before training
    step: int = 0                 # optimizer steps taken so far
    steps_per_epoch: int = 0
    autocast_dtype: torch.dtype | None = None   # bf16 when precision = "bf16", else None
    extra: dict = field(default_factory=dict)   # free space for plugins, not checkpointed
