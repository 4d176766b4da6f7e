"""Files ablate writes and reads back: every write atomic (a crash, Ctrl-C or a kill mid-write never
leaves a half-written file), every small JSON file read forgivingly. One module, below every layer, so
that training, running, reporting and probing all write the same way."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ablate.core.errors import AblateError


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


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, default=str) + "\n"), mode="w")


def write_csv(path: Path, frame) -> None:
    atomic_write(path, lambda f: frame.to_csv(f, index=False), mode="w")


def read_json(path: Path) -> dict:
    """A small JSON file (of a run folder, the calibration cache), or {} when it is missing or damaged."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
