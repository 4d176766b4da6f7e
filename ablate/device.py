"""Where a run computes, and how: the device, the autocast precision and the memory layout.

The CPU path is plain float32 and exact. On CUDA the model runs channels_last
under bf16 autocast (the weights stay float32), which is what makes the GPU path fast.
"""

from __future__ import annotations

import contextlib

import torch

from ablate.config import Settings
from ablate.errors import AblateError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AblateError(f"device {name!r} asked for, but PyTorch sees no CUDA device; use --device cpu")
    if name.startswith("cuda:") and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise AblateError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device(name)


def autocast_dtype(settings: Settings, device: torch.device) -> torch.dtype | None:
    """bf16 when asked for, or by default on CUDA; ``None`` means plain float32."""
    if settings.precision == "bf16" or (settings.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device``, or nothing at all when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def channels_last(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images in the layout the device's convolutions prefer (channels_last on CUDA, unchanged elsewhere)."""
    if device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def model_on(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` moved to ``device``, channels_last on CUDA to match :func:`channels_last` inputs."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model
