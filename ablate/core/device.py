"""Where a run computes, and how: the device, the precision, the memory layout and the memory at hand.

The default (``precision = "fp32"``) is true float32 on every device: on CUDA,
TF32 (which PyTorch enables for cuDNN convolutions by default) is switched off.
``tf32`` lets CUDA matmuls and convolutions round their inputs to TF32; ``bf16``
runs the model under bf16 autocast (the weights stay float32). Both are opt-in and
part of a run's identity. On CUDA the model runs channels_last, which changes no value.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING

import torch

from ablate.core.errors import AblateError

if TYPE_CHECKING:   # annotations only: core imports no other part of ablate
    from ablate.study.settings import Settings


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AblateError(f"device {name!r} asked for, but PyTorch sees no CUDA device; use --device cpu")
    if name.startswith("cuda:") and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise AblateError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device(name)


# Of the memory free when a probe is built, the share its cached copies may take (docs/recipes.md, "Precision").
PROBE_MEMORY_SHARE = 0.25
FALLBACK_FREE_BYTES = 4 * 2**30        # when the free memory cannot be read


def autocast_dtype(settings: Settings, device: torch.device) -> torch.dtype | None:
    """bf16 when ``precision = "bf16"``; ``None`` means no autocast (float32, or TF32 where enabled)."""
    return torch.bfloat16 if settings.precision == "bf16" else None


def configure(settings: Settings, device: torch.device) -> None:
    """Set torch's process-wide CUDA numerics for a run: TF32 only with ``precision = "tf32"``, cuDNN
    autotuning unless ``deterministic``, and deterministic algorithms when asked. Every flag is set each
    time, so a run never inherits an earlier run's in the same process. Nothing to set on other devices."""
    if device.type != "cuda":
        return
    tf32 = settings.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32          # the legacy flags: the only ones torch's own
    torch.backends.cudnn.allow_tf32 = tf32                # code may still read without an error
    torch.backends.cudnn.benchmark = not settings.deterministic
    torch.backends.cudnn.deterministic = settings.deterministic
    if settings.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")    # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(settings.deterministic, warn_only=True)


def free_memory(device: torch.device) -> int:
    """Bytes free now: on the CUDA device (``torch.cuda.mem_get_info``), else the machine's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return FALLBACK_FREE_BYTES


def probe_budget(device: torch.device) -> int:
    """Bytes a probe may keep its variant copies in: :data:`PROBE_MEMORY_SHARE` of what is free on
    ``device`` when the probe is built (so probes built one after another, or workers sharing the
    device, leave each other room); beyond it the probe remakes its copies each pass (same results)."""
    return int(PROBE_MEMORY_SHARE * free_memory(device))


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


BYTE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """``--max-memory 512MB`` (or 512M, 1.5GiB, 1000000) -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", text.upper())
    if not match or float(match[1]) <= 0:
        raise AblateError(f"--max-memory {text!r}: expected a size such as 512MB or 4GB")
    return max(1, int(float(match[1]) * BYTE_UNITS[match[2]]))
