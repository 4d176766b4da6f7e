"""Data sets of images beyond CIFAR: torchvision's MNIST, FashionMNIST, SVHN and STL-10, and a folder of
images per class.

Each is read from torchvision's own layout under ``$ABLATE_DATA``
(:func:`ablate.data.data_files.data_root`) and downloaded there by torchvision when absent;
offline, that is one line saying where to put the files. SVHN and STL-10 are read
from their files directly (no checksum pass over them). ``imagefolder:PATH`` is a
folder of class folders (``PATH/<class>/*.png``; with ``train/`` and ``test/`` or
``val/`` inside, those are the splits, else the one folder serves as both): loaded
into memory as uint8 here (recipes), while ``ablate probe`` streams it
(:func:`imagefolder_stream`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ablate.core.errors import AblateError
from ablate.core.structs import Data
from ablate.data.data_files import DOWNLOAD_ERRORS, DOWNLOAD_TIMEOUT_S, data_root, first_line
from ablate.data.loading import stratified_indices
from ablate.data.resizing import to_size

IMAGEFOLDER_MEMORY = 2**33       # bytes of uint8 pixels an image folder may take in memory (8 GiB)
TEST_FOLDERS = ("test", "val")


def no_argument(name: str, arg: str | None) -> None:
    if arg:
        raise AblateError(f"dataset: {name!r} takes no argument, found {name}:{arg}; set ABLATE_DATA to choose "
                          f"where the data lives")


def fetch(name: str, where: Path, make, split_args: list[dict]) -> list:
    """torchvision dataset objects ``make(root, download=..., **args)`` for each split: from the data root, or
    downloaded there; a failed download is one line."""
    root = str(data_root())
    try:
        return [make(root, download=False, **args) for args in split_args]
    except RuntimeError:
        pass
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return [make(root, download=True, **args) for args in split_args]
    except DOWNLOAD_ERRORS as exc:
        raise AblateError(f"dataset {name!r}: not found in {where} and the download failed ({type(exc).__name__}: "
                          f"{first_line(exc)}); put torchvision's {name} files there (or set ABLATE_DATA to the "
                          f"folder above them) and try again") from None
    finally:
        socket.setdefaulttimeout(previous)


def load_mnist_like(cls, name: str) -> Data:
    train, test = fetch(name, data_root() / cls.__name__ / "raw", cls, [{"train": True}, {"train": False}])
    return Data(train.data.unsqueeze(1).contiguous(), train.targets.to(torch.int64),
                test.data.unsqueeze(1).contiguous(), test.targets.to(torch.int64), [str(c) for c in train.classes])


def load_mnist(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import MNIST  # noqa: PLC0415 (torchvision: 1.5 s to import)

    no_argument("mnist", arg)
    return load_mnist_like(MNIST, "mnist")


def load_fashionmnist(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import FashionMNIST  # noqa: PLC0415 (torchvision: 1.5 s to import)

    no_argument("fashionmnist", arg)
    return load_mnist_like(FashionMNIST, "fashionmnist")


def load_svhn(arg: str | None, settings=None) -> Data:
    """SVHN's ``train_32x32.mat`` and ``test_32x32.mat`` (needs scipy: the ``svhn`` extra); label 10 is digit 0."""
    no_argument("svhn", arg)
    try:
        from scipy.io import loadmat  # noqa: PLC0415 (optional: svhn extra)
    except ImportError:
        raise AblateError("dataset 'svhn': reading it needs scipy; pip install 'ablate[svhn]'") from None
    from torchvision.datasets import SVHN  # noqa: PLC0415 (torchvision: 1.5 s to import)

    root = data_root()
    if not all((root / f"{split}_32x32.mat").is_file() for split in ("train", "test")):
        fetch("svhn", root, SVHN, [{"split": "train"}, {"split": "test"}])
    splits = []
    for split in ("train", "test"):
        mat = loadmat(str(root / f"{split}_32x32.mat"))
        x = torch.from_numpy(np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1)))
        splits += [x, torch.from_numpy(mat["y"].astype(np.int64).squeeze(1) % 10)]
    return Data(*splits, [str(k) for k in range(10)])


def load_stl10(arg: str | None, settings=None) -> Data:
    """STL-10's labelled splits (``stl10_binary/{train,test}_{X,y}.bin``), 96x96 colour images."""
    from torchvision.datasets import STL10  # noqa: PLC0415 (torchvision: 1.5 s to import)

    no_argument("stl10", arg)
    folder = data_root() / STL10.base_folder
    if not all((folder / f"{split}_{part}.bin").is_file() for split in ("train", "test") for part in "Xy"):
        fetch("stl10", folder, STL10, [{"split": "train"}, {"split": "test"}])
    splits = []
    for split in ("train", "test"):
        x = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
        y = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        splits += [torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)]
    names = folder / "class_names.txt"
    classes = names.read_text().split() if names.is_file() else [str(k) for k in range(10)]
    return Data(*splits, classes)


def imagefolder_splits(arg: str | None) -> tuple[Path, Path]:
    """The train and test folders of ``imagefolder:PATH``."""
    if not arg:
        raise AblateError('dataset: imagefolder needs a folder: dataset = "imagefolder:PATH"')
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise AblateError(f"dataset: imagefolder {str(path)!r} is not a folder; give a folder of class folders")
    test = next((path / name for name in TEST_FOLDERS if (path / name).is_dir()), None)
    if (path / "train").is_dir() and test is not None:
        return path / "train", test
    return path, path


def image_folder(path: Path):
    """torchvision's ImageFolder of ``path``, giving uint8 ``(C, H, W)`` tensors, or one line on what is wrong."""
    from torchvision.datasets import ImageFolder  # noqa: PLC0415 (torchvision: 1.5 s to import)
    from torchvision.transforms.functional import pil_to_tensor  # noqa: PLC0415 (torchvision: 1.5 s to import)

    try:
        return ImageFolder(str(path), transform=pil_to_tensor, loader=open_image)
    except (FileNotFoundError, RuntimeError) as exc:
        raise AblateError(f"dataset imagefolder:{path}: {first_line(exc)}; expected PATH/<class>/<image files>") from None


def open_image(path: str):
    """A grey image stays grey (one channel); anything else becomes RGB."""
    with Image.open(path) as image:
        return image.convert("L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB")


def load_imagefolder(arg: str | None, settings=None) -> Data:
    """``imagefolder:PATH`` in memory, as uint8: at ``settings.image_size`` (each image resized, shorter side,
    and centre-cropped as it is read), else as the files are, which must then share one size. Grey images
    among colour ones get three channels."""
    size = getattr(settings, "image_size", 0) or 0
    train_path, test_path = imagefolder_splits(arg)
    splits, classes = [], None
    for path in (train_path, test_path):
        folder = image_folder(path)
        classes = classes or folder.classes
        if folder.classes != classes:
            raise AblateError(f"dataset imagefolder:{arg}: {train_path} and {test_path} hold other classes")
        first = folder[0][0]
        needed = 3 * (size * size if size else first.shape[-2] * first.shape[-1]) * len(folder)
        if needed > IMAGEFOLDER_MEMORY:
            raise AblateError(f"dataset imagefolder:{arg}: {len(folder)} images at {size or tuple(first.shape[-2:])} "
                              f"would take up to {needed / 2**30:.1f} GiB; set a smaller image_size or use fewer "
                              f"images (ablate probe streams an image folder of any size)")
        images = [to_size(image.unsqueeze(0), size)[0] if size else image for image, _ in folder]
        if len({tuple(i.shape[-2:]) for i in images}) > 1:      # only without image_size
            shapes = sorted({tuple(i.shape[-2:]) for i in images})
            raise AblateError(f"dataset imagefolder:{arg}: images of several sizes in {path} ({shapes[0]}, "
                              f"{shapes[1]}, ...); set image_size = N in the recipe (or --set image_size=N) to "
                              f"resize and centre-crop them to N x N as they are loaded")
        channels = max((i.shape[0] for i in images), default=1)
        images = [i.expand(channels, -1, -1) if i.shape[0] != channels else i for i in images]
        splits += [torch.stack(images), torch.as_tensor(folder.targets, dtype=torch.int64)]
    if splits[0].shape[1:] != splits[2].shape[1:]:
        channels = max(splits[0].shape[1], splits[2].shape[1])
        splits[0], splits[2] = (x.expand(-1, channels, -1, -1).contiguous() for x in (splits[0], splits[2]))
    return Data(*splits, list(classes))


def imagefolder_stream(arg: str, limit: int = 0, workers: int = 0, pin_memory: bool = False):
    """``(DataLoader of (uint8 images, labels), classes)`` over the test folder of ``imagefolder:PATH``: one
    image per batch, since sizes may differ (the probe brings each to the model's size). ``limit``: a
    stratified subset of that many images (the folder lists its classes one after another). ``workers``
    processes decode the files ahead of the model, into pinned memory with ``pin_memory`` (for CUDA), so
    that on a GPU the model rather than the decoding sets the pace."""
    folder = image_folder(imagefolder_splits(arg)[1])
    dataset = folder
    if limit:
        targets = torch.as_tensor(folder.targets, dtype=torch.int64)
        chosen = stratified_indices(targets, limit, len(folder.classes), "--limit", f"imagefolder:{arg}")
        dataset = torch.utils.data.Subset(folder, chosen.tolist())
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=workers, pin_memory=pin_memory,
                                         prefetch_factor=8 if workers else None)
    return loader, list(folder.classes)


def stream_fingerprint(loader) -> str:
    """A short SHA-256 naming the images an :func:`imagefolder_stream` gives: the classes, and each file's
    path within the folder, size and modification time, in order (not the pixels: reading them all before
    probing would double the work). A file rewritten in place keeps its name but not its time."""
    dataset = loader.dataset
    indices = dataset.indices if isinstance(dataset, torch.utils.data.Subset) else range(len(dataset))
    folder = dataset.dataset if isinstance(dataset, torch.utils.data.Subset) else dataset
    digest = hashlib.sha256(json.dumps(list(folder.classes)).encode())
    for index in indices:
        path, label = folder.samples[index]
        stat = os.stat(path)
        digest.update(f"{os.path.relpath(path, folder.root)}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
