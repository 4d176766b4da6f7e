"""``cifar10`` and ``cifar100`` through torchvision, from the data root, downloaded there when missing."""

from __future__ import annotations

import socket
from pathlib import Path

import torch

from ablate.core.errors import AblateError
from ablate.core.structs import Data
from ablate.data.data_files import DOWNLOAD_ERRORS, DOWNLOAD_TIMEOUT_S, data_root, first_line, hwc_to_tensor


def load_cifar10(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import CIFAR10  # noqa: PLC0415 (torchvision: 1.5 s to import)

    return load_torchvision_cifar(CIFAR10, "cifar10", arg)


def load_cifar100(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import CIFAR100  # noqa: PLC0415 (torchvision: 1.5 s to import)

    return load_torchvision_cifar(CIFAR100, "cifar100", arg)


def load_torchvision_cifar(cls, name: str, arg: str | None) -> Data:
    """Load both splits from the data root, downloading them first when absent or corrupted.

    The arrays are taken straight from ``dataset.data`` (N, H, W, C) and
    ``dataset.targets``: no per-image PIL conversion.
    """
    if arg:
        raise AblateError(f"dataset: {name!r} takes no argument, found {name}:{arg}; "
                          f"set ABLATE_DATA to choose where the data lives")
    root = data_root()
    try:
        train = cls(str(root), train=True, download=False)
    except RuntimeError:                                     # absent or corrupted
        download(cls, name, root)
        train = cls(str(root), train=True, download=False)
    test = cls(str(root), train=False, download=False)
    return Data(hwc_to_tensor(train.data), torch.as_tensor(train.targets, dtype=torch.int64),
                hwc_to_tensor(test.data), torch.as_tensor(test.targets, dtype=torch.int64),
                [str(c) for c in train.classes])


def download(cls, name: str, root: Path) -> None:
    """Let torchvision fetch and unpack the archive; any failure becomes a one-line AblateError."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        cls(str(root), train=True, download=True)
    except DOWNLOAD_ERRORS as exc:
        raise AblateError(
            f"dataset {name!r}: not found in {root / cls.base_folder} and the download failed "
            f"({type(exc).__name__}: {first_line(exc)}); put the folder {cls.base_folder} (unpacked from {cls.url}) "
            f"in {root}, or set ABLATE_DATA to the folder that holds it, or try `--dataset synthetic`") from None
    finally:
        socket.setdefaulttimeout(previous)
