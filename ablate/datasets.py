"""Datasets: the built-in loaders and :func:`load_data`, which every run goes through.

A loader turns the part of ``settings.dataset`` after the first ``:`` into a full
:class:`ablate.Data` (uint8 NCHW images, int64 labels, class names). :func:`load_data`
loads each dataset once per process, then takes a stratified subset of the sizes the
run asks for and moves it to the run's device.

Built-in datasets:

* ``cifar10`` / ``cifar100``: through torchvision, from ``$ABLATE_DATA`` (default
  ``~/.cache/ablate``), downloaded there when missing.
* ``npz:PATH``: your own arrays (see :func:`load_npz`).
* ``synthetic[:key=value,...]``: offline, seeded images whose class evidence sits in
  both low and high spatial frequencies (see :mod:`ablate.synthetic`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ablate.errors import AblateError
from ablate.structs import Data

DEFAULT_DATA_DIR = "~/.cache/ablate"
SUBSET_SEED = 0              # fixed: every run of a recipe sees the same subset, whatever its seed
DOWNLOAD_TIMEOUT_S = 30      # per socket operation, so that a dead network fails instead of hanging

_cache: dict[tuple[str, str, int], Data] = {}
_fingerprints: dict[tuple[str, str, int], str] = {}     # data_fingerprint of each entry of _cache


# --------------------------------------------------------------------------
# Registration and the entry point used by runs
# --------------------------------------------------------------------------

def load_data(settings, device: torch.device | str | None = None, registry=None) -> Data:
    """The run's data: ``settings.dataset`` loaded (once per process), subset and moved to ``device``.

    ``settings.train_size`` / ``settings.test_size`` pick a stratified subset (0 = all).
    The returned tensors are never the cached ones, so a run may change them in place.
    """
    full = load_full(settings.dataset, settings, registry)
    train = stratified_indices(full.y_train, settings.train_size, full.num_classes, "train_size", settings.dataset)
    test = stratified_indices(full.y_test, settings.test_size, full.num_classes, "test_size", settings.dataset)
    data = Data(full.x_train[train], full.y_train[train], full.x_test[test], full.y_test[test], list(full.classes))
    return data.to(device) if device is not None else data


def load_full(dataset: str, settings=None, registry=None) -> Data:
    """The whole dataset named by ``dataset`` (``name`` or ``name:ARG``), from the per-process cache.

    The loader is looked up in ``registry`` (the process-wide one when None). The
    cache key also holds the data root, so that changing ``$ABLATE_DATA`` loads afresh,
    and ``settings.image_size``: when set, the images are brought to that size.
    """
    key = cache_key(dataset, settings)
    size = key[2]                       # settings.image_size, 0 when unset
    if key not in _cache:
        if registry is None:
            from ablate.plugins import get_registry
            registry = get_registry()
        name, _, arg = dataset.partition(":")
        datasets = registry.registry("datasets")
        if name not in datasets:
            known = ", ".join(sorted(datasets))
            raise AblateError(f"dataset: unknown dataset {name!r}; known datasets: {known} "
                              f"(npz takes a path: npz:PATH; see `ablate plugins`)")
        loader, _, owner = datasets[name]
        data = loader(arg if arg else None, settings)
        check_data(data, dataset, owner)
        _cache[key] = at_size(data, size) if size else data
    return _cache[key]


def cache_key(dataset: str, settings=None) -> tuple[str, str, int]:
    """What a loaded data set is cached under: its name, the data root and ``settings.image_size``."""
    return dataset, str(data_root()), getattr(settings, "image_size", 0) or 0


def data_fingerprint(dataset: str, settings=None, registry=None) -> str:
    """A short SHA-256 of the whole data set as :func:`load_full` gives it (images, labels, class names),
    computed once per loaded data set: what a run folder records to be refused on other data later."""
    key = cache_key(dataset, settings)
    if key not in _fingerprints:
        data = load_full(dataset, settings, registry)
        digest = hashlib.sha256(json.dumps(list(data.classes)).encode())
        for tensor in (data.x_train, data.y_train, data.x_test, data.y_test):
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            if tensor.numel():
                digest.update(tensor.view(torch.uint8).numpy())      # the buffer itself, not a copy
        _fingerprints[key] = digest.hexdigest()[:16]
    return _fingerprints[key]


def at_size(data: Data, size: int) -> Data:
    """``data`` with every image resized (shorter side) and centre-cropped to ``size`` x ``size``, as
    :class:`ablate.zoo.Preprocess` does for the probe (a few hundred images at a time)."""
    from ablate.zoo import to_size

    def resized(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] == (size, size) or not len(x):
            return x if len(x) else x.new_zeros((0, x.shape[1], size, size))
        return torch.cat([to_size(x[start:start + 256], size) for start in range(0, len(x), 256)])

    return Data(resized(data.x_train), data.y_train, resized(data.x_test), data.y_test, list(data.classes))


def clear_cache() -> None:
    """Forget loaded datasets (tests, or after the files on disk changed)."""
    _cache.clear()
    _fingerprints.clear()


def check_data(data: Data, dataset: str, owner: str) -> None:
    """Refuse what a loader returned if ablate cannot train on it; the message names the plugin."""
    where = f"dataset {dataset!r} (from {owner!r})"
    if not isinstance(data, Data):
        raise AblateError(f"{where} returned {type(data).__name__}, not ablate.Data; fix the plugin's loader")
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.ndim != 4 or not (x.dtype == torch.uint8 or x.is_floating_point()):
            raise AblateError(f"{where}: x_{split} is {x.dtype} {tuple(x.shape)}; expected uint8 or float (N, C, H, W)")
        if y.dtype != torch.int64 or y.ndim != 1 or len(y) != len(x):
            raise AblateError(f"{where}: y_{split} is {y.dtype} {tuple(y.shape)}; expected int64 ({len(x)},)")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= data.num_classes):
            raise AblateError(f"{where}: y_{split} has labels outside 0..{data.num_classes - 1} "
                              f"({data.num_classes} class names)")
    if data.x_train.shape[1:] != data.x_test.shape[1:]:
        raise AblateError(f"{where}: train images are {tuple(data.x_train.shape[1:])} but test images are "
                          f"{tuple(data.x_test.shape[1:])}; both splits need one image shape")


def stratified_indices(labels: torch.Tensor, size: int, num_classes: int, setting: str, dataset: str) -> torch.Tensor:
    """Indices of a subset of ``size`` items, as equal per class as the data allows (0 = all).

    Deterministic (seeded with SUBSET_SEED, not the run's seed) and nested: the subset
    of a smaller size is contained in that of a larger one. Indices come back sorted.
    """
    available = len(labels)
    if size == 0:
        return torch.arange(available)
    if size > available:
        raise AblateError(f"{setting}: found {size}, but {dataset!r} has only {available} images in that "
                          f"split; use {setting} <= {available} (0 = all)")
    counts = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    quotas = balanced_quotas(counts, size)
    order = torch.randperm(available, generator=torch.Generator().manual_seed(SUBSET_SEED))
    shuffled_labels = labels.cpu()[order]
    chosen = [order[shuffled_labels == k][:quota] for k, quota in enumerate(quotas) if quota]
    return torch.cat(chosen).sort().values


def stratified_subset(x: torch.Tensor, y: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``limit`` images of ``(x, y)``, every class in proportion (:func:`stratified_indices`); all of them when
    ``limit`` is 0 or covers them. Not the first ``limit``: class-sorted data (an image folder) would give one class."""
    if not limit or limit >= len(y):
        return x, y
    chosen = stratified_indices(y, limit, int(y.max()) + 1, "limit", "the data")
    return x[chosen.to(x.device)], y[chosen.to(y.device)]


def balanced_quotas(counts: list[int], size: int) -> list[int]:
    """How many items to take per class: ``min(count, level)``, the remainder to the lowest classes.

    ``level`` is the largest per-class count that fits in ``size``; classes with fewer
    items than that give all they have and the others share the rest.
    """
    low, high = 0, max(counts)
    while low < high:                       # largest level with sum(min(c, level)) <= size
        mid = (low + high + 1) // 2
        if sum(min(c, mid) for c in counts) <= size:
            low = mid
        else:
            high = mid - 1
    quotas = [min(c, low) for c in counts]
    left = size - sum(quotas)
    for k, c in enumerate(counts):
        if left and c > quotas[k]:
            quotas[k] += 1
            left -= 1
    return quotas


# --------------------------------------------------------------------------
# CIFAR through torchvision
# --------------------------------------------------------------------------

def data_root() -> Path:
    """Where downloaded datasets live: ``$ABLATE_DATA``, else ``~/.cache/ablate``."""
    return Path(os.environ.get("ABLATE_DATA") or DEFAULT_DATA_DIR).expanduser()


def load_cifar10(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import CIFAR10

    return load_torchvision_cifar(CIFAR10, "cifar10", arg)


def load_cifar100(arg: str | None, settings=None) -> Data:
    from torchvision.datasets import CIFAR100

    return load_torchvision_cifar(CIFAR100, "cifar100", arg)


# What a failed download raises: network and file errors, torchvision's checksum
# errors, a truncated archive.
DOWNLOAD_ERRORS = (OSError, RuntimeError, http.client.HTTPException, tarfile.TarError, EOFError, zipfile.BadZipFile)


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


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def hwc_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 array -> contiguous (N, C, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------
# npz: your own arrays
# --------------------------------------------------------------------------

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_IMPLIED_CLASSES = 100_000    # without `classes`, K = largest label + 1 only up to this many
MIN_CLASSES_PRESENT = 0.5        # ... and only if at least this share of 0..K-1 occurs


def load_npz(arg: str | None, settings=None) -> Data:
    """``npz:PATH``: ``x_train``/``x_test`` uint8 (N, H, W, C), ``y_train``/``y_test`` integer (N,)
    labels in 0..K-1, optional ``classes`` (K strings; default K = largest label + 1)."""
    if not arg:
        raise AblateError('dataset: npz needs the path of a .npz file: dataset = "npz:PATH"')
    path = Path(arg).expanduser()
    if not path.is_file():
        raise AblateError(f"dataset: npz file {str(path)!r} does not exist; check the path in npz:PATH")
    where = f"dataset npz file {str(path)!r}"
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise AblateError(f"{where}: cannot be read as .npz ({type(exc).__name__}: {first_line(exc)}); "
                          f"write it with numpy.savez") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise AblateError(f"{where}: holds a single array, expected a .npz archive with {', '.join(NPZ_KEYS)}")
    with archive:
        missing = [k for k in NPZ_KEYS if k not in archive.files]
        if missing:
            raise AblateError(f"{where}: missing array {missing[0]!r}; found {', '.join(archive.files) or 'none'}, "
                              f"expected {', '.join(NPZ_KEYS)} (and optionally classes)")
        arrays = {}
        for key in NPZ_KEYS + (("classes",) if "classes" in archive.files else ()):
            try:
                arrays[key] = archive[key]
            except ValueError as exc:                      # object arrays need pickle, which is refused
                raise AblateError(f"{where}: array {key!r} cannot be read without pickle ({first_line(exc)}); "
                                  f"store plain numbers and strings") from None
            except (OSError, zipfile.BadZipFile) as exc:
                raise AblateError(f"{where}: array {key!r} is damaged ({type(exc).__name__}: {first_line(exc)}); "
                                  f"write the file again with numpy.savez") from None
    for split in ("train", "test"):
        check_npz_images(arrays[f"x_{split}"], f"x_{split}", where)
        check_npz_labels(arrays[f"y_{split}"], f"y_{split}", len(arrays[f"x_{split}"]), where)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise AblateError(f"{where}: x_train images are {arrays['x_train'].shape[1:]} but x_test images are "
                          f"{arrays['x_test'].shape[1:]}; expected the same (H, W, C)")
    top = max(int(arrays["y_train"].max()), int(arrays["y_test"].max()))      # both splits hold images
    if "classes" in arrays:
        classes = arrays["classes"]
        if classes.ndim != 1 or classes.dtype.kind not in "US":
            raise AblateError(f"{where}: 'classes' is {classes.dtype} {classes.shape}; expected a 1-D array of strings")
        names = [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]
        if top >= len(names):
            raise AblateError(f"{where}: labels go up to {top} but 'classes' names only {len(names)} classes; "
                              f"expected labels in 0..{len(names) - 1}")
    else:
        check_implied_classes(np.concatenate([arrays["y_train"], arrays["y_test"]]), where)
        names = [str(k) for k in range(top + 1)]
    return Data(hwc_to_tensor(arrays["x_train"]), torch.from_numpy(arrays["y_train"].astype(np.int64)),
                hwc_to_tensor(arrays["x_test"]), torch.from_numpy(arrays["y_test"].astype(np.int64)), names)


def check_implied_classes(labels: np.ndarray, where: str) -> None:
    """Without ``classes``, a stray label (10**6, 2**62) would make a model that size: refuse sparse labels."""
    top = int(labels.max())
    present = len(np.unique(labels))
    if top >= MAX_IMPLIED_CLASSES or present < MIN_CLASSES_PRESENT * (top + 1):
        raise AblateError(f"{where}: label {top} would mean {top + 1} classes, but only {present} distinct labels "
                          f"occur; relabel to 0..K-1 (at most {MAX_IMPLIED_CLASSES}, most of them used), or name "
                          f"the classes in a 'classes' array")


def check_npz_images(x: np.ndarray, key: str, where: str) -> None:
    if x.dtype != np.uint8:
        raise AblateError(f"{where}: {key!r} has dtype {x.dtype}; expected uint8 pixels 0..255 "
                          f"(convert with (x * 255).round().astype(numpy.uint8) if yours are in [0, 1])")
    if x.ndim != 4:
        raise AblateError(f"{where}: {key!r} has shape {x.shape}; expected 4-D (N, H, W, C), "
                          f"e.g. (N, 32, 32, 3) (add a channel axis to grey images: x[..., None])")
    if x.shape[1] in (1, 3) and x.shape[3] not in (1, 3):
        raise AblateError(f"{where}: {key!r} has shape {x.shape}, which looks like (N, C, H, W); "
                          f"expected channels last (N, H, W, C): use x.transpose(0, 2, 3, 1)")
    if len(x) == 0:
        raise AblateError(f"{where}: {key!r} holds no images; expected at least one")


def check_npz_labels(y: np.ndarray, key: str, count: int, where: str) -> None:
    if y.dtype.kind not in "iu":
        raise AblateError(f"{where}: {key!r} has dtype {y.dtype}; expected integer class labels")
    if y.ndim != 1:
        raise AblateError(f"{where}: {key!r} has shape {y.shape}; expected 1-D ({count},) class indices, not one-hot")
    if len(y) != count:
        raise AblateError(f"{where}: {key!r} has {len(y)} labels but x_{key[2:]} has {count} images; "
                          f"expected one label per image")
    if len(y) and int(y.min()) < 0:
        raise AblateError(f"{where}: {key!r} has label {int(y.min())}; expected labels 0..K-1")
