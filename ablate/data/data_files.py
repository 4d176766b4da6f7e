"""What the built-in loaders share: where data sets live, how a download fails, arrays as image tensors."""

from __future__ import annotations

import http.client
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA_DIR = "~/.cache/ablate"
DOWNLOAD_TIMEOUT_S = 30      # per socket operation, so that a dead network fails instead of hanging
# What a failed download raises: network and file errors, torchvision's checksum
# errors, a truncated archive.
DOWNLOAD_ERRORS = (OSError, RuntimeError, http.client.HTTPException, tarfile.TarError, EOFError, zipfile.BadZipFile)


def data_root() -> Path:
    """Where downloaded datasets live: ``$ABLATE_DATA``, else ``~/.cache/ablate``."""
    return Path(os.environ.get("ABLATE_DATA") or DEFAULT_DATA_DIR).expanduser()


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def hwc_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 array -> contiguous (N, C, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
