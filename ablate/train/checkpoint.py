"""Files a run writes: atomic (a crash, Ctrl-C or a kill mid-write never leaves a half-written
file), and checkpoints that load without unpickling anything (a checkpoint is data a user may
hand to someone else)."""

from __future__ import annotations

import errno
import json
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.torch_version import TorchVersion

from ablate.core.errors import AblateError

# torch.serialization.safe_globals came with torch 2.5, and weights_only=True could be bypassed to
# run code before 2.6 (CVE-2025-32434): older torches cannot load a checkpoint safely.
MIN_TORCH = "2.6"


class DiskFull(AblateError):
    """The disk filled while writing: later runs would fail the same way, so the recipe stops."""


# What torch raises (a RuntimeError, the OSError lost in C++) when its zip writer cannot write.
TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "failed writing file")
TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it over ``path``.

    The file gets the permissions of the user's umask, as any tool's output does.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if disk_full(exc):
            raise DiskFull(f"disk full while writing {path}; free space there (the previous version of the "
                           f"file is intact) and run the same command again") from None
        raise


def disk_full(exc: BaseException) -> bool:
    """An out-of-space error, whether raised by Python or wrapped by torch's writer."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in TORCH_WRITE_FAILURES)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temp_files(folder: Path, older_than_s: float = 0) -> None:
    """Delete what writes killed midway left behind (``.NAME.*.tmp``) and untouched for ``older_than_s``.

    With 0 (every one), call only where no other process writes; elsewhere, an age that no write of
    :func:`atomic_write` there takes spares another process's write in flight."""
    now = time.time()
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        try:
            if now - tmp.lstat().st_mtime >= older_than_s:
                tmp.unlink()
        except OSError:             # gone already: its writer renamed it into place
            pass


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


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, default=str) + "\n"), mode="w")


def write_csv(path: Path, frame) -> None:
    atomic_write(path, lambda f: frame.to_csv(f, index=False), mode="w")
