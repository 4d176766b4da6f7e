"""Checkpoints: written atomically (:func:`ablate.core.files.atomic_write`), and loaded without unpickling
anything (a checkpoint is data a user may hand to someone else)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.torch_version import TorchVersion

from ablate.core.errors import AblateError
from ablate.core.files import atomic_write

# torch.serialization.safe_globals came with torch 2.5, and weights_only=True could be bypassed to
# run code before 2.6 (CVE-2025-32434): older torches cannot load a checkpoint safely.
MIN_TORCH = "2.6"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain Python values) so that it loads with ``weights_only=True``."""
    atomic_write(path, lambda f: torch.save(plain(state), f))


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (a plugin's metric, say) turned into Python numbers and lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def legacy_globals() -> list:
    """The only objects, beyond tensors and plain containers, that checkpoints written before the safe
    format hold: numpy's random state, a uint32 array (with numpy 2, its dtype pickles as its own class)."""
    multiarray = getattr(np, "_core", None) or np.core
    return [multiarray.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None when there is none.

    Nothing is ever unpickled: torch's ``weights_only`` loader accepts tensors and
    plain containers only (plus, for checkpoints of earlier ablate versions, numpy
    arrays). Anything else (a crafted file that would run code) is refused.
    """
    if not Path(path).exists():
        return None
    require_safe_torch()
    try:
        with torch.serialization.safe_globals(legacy_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):          # not a pickle at all, or a damaged one
            raise AblateError(f"{path}: not an ablate checkpoint, or a damaged one; point at a run's "
                              f"checkpoint.pt, or delete a damaged one to restart that run") from None
        raise AblateError(f"{path}: refused: it holds Python objects that would run code when loaded, which no "
                          f"ablate checkpoint does; only load files from people you trust, and give ablate "
                          f"a run's checkpoint.pt or a plain state dict") from None
    except Exception as exc:
        raise AblateError(f"{path}: not an ablate checkpoint, or a damaged one ({type(exc).__name__}); "
                          f"point at a run's checkpoint.pt, or delete a damaged one to restart that run") from None
    if not isinstance(state, dict):
        raise AblateError(f"{path}: not an ablate checkpoint (it holds a {type(state).__name__}, not a dict); "
                          f"point at a run's checkpoint.pt")
    return state


def require_safe_torch() -> None:
    """Refuse a torch too old to load checkpoints safely, saying so (else every checkpoint reads as damaged)."""
    if TorchVersion(torch.__version__) < MIN_TORCH:
        raise AblateError(f"torch {torch.__version__} cannot load checkpoints safely (ablate needs torch >= "
                          f"{MIN_TORCH}); upgrade it: pip install 'torch>={MIN_TORCH}' 'torchvision>=0.21'")
