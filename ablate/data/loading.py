"""Datasets: :func:`load_data`, which every run goes through, and the per-process cache under it.

A loader turns the part of ``settings.dataset`` after the first ``:`` into a full
:class:`ablate.Data` (uint8 NCHW images, int64 labels, class names). :func:`load_data`
loads each dataset once per process, then takes a stratified subset of the sizes the
run asks for and moves it to the run's device.

Built-in datasets (named by the built-in plugin ``datasets``):

* ``cifar10`` / ``cifar100``: through torchvision, from ``$ABLATE_DATA`` (default
  ``~/.cache/ablate``), downloaded there when missing (:mod:`ablate.data.cifar`).
* ``npz:PATH``: your own arrays (:mod:`ablate.data.npz_data`).
* ``synthetic[:key=value,...]``: offline, seeded images whose class evidence sits in
  both low and high spatial frequencies (see :mod:`ablate.data.synthetic`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ablate.core.errors import AblateError
from ablate.core.registry import get_registry
from ablate.core.structs import Data
from ablate.data.data_files import data_root
from ablate.data.resizing import to_size

SUBSET_SEED = 0              # fixed: every run of a recipe sees the same subset, whatever its seed

CacheKey = tuple[str, str, int, tuple]
_cache: dict[CacheKey, Data] = {}
_fingerprints: dict[CacheKey, str] = {}     # data_fingerprint of each entry of _cache


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
    ``settings.image_size`` (when set, the images are brought to that size), and the identity
    of the file the argument names, if it names one (``npz:PATH``), so that a file rewritten
    under the same name is read again within one process.
    """
    key = cache_key(dataset, settings)
    size = key[2]                       # settings.image_size, 0 when unset
    if key not in _cache:
        if registry is None:
            registry = get_registry()
        name, _, arg = dataset.partition(":")
        datasets = registry.registry("datasets")
        if name not in datasets:
            known = ", ".join(sorted(datasets))
            raise AblateError(f"dataset: unknown dataset {name!r}; known datasets: {known} "
                              f"(npz takes a path: npz:PATH; see `ablate plugins`)")
        data = datasets[name].function(arg if arg else None, settings)
        check_data(data, dataset, datasets[name].owner)
        _cache[key] = at_size(data, size) if size else data
    return _cache[key]


def cache_key(dataset: str, settings=None) -> CacheKey:
    """What a loaded data set is cached under: its name, the data root, ``settings.image_size`` and
    :func:`file_identity` of its argument."""
    return dataset, str(data_root()), getattr(settings, "image_size", 0) or 0, file_identity(dataset.partition(":")[2])


def file_identity(arg: str) -> tuple:
    """``(resolved path, size, mtime_ns)`` of the file ``arg`` names (empty when it names none): a file
    changed on disk is another key, so the cache never serves its old contents."""
    try:
        path = Path(arg).expanduser()
        if not arg or not path.is_file():
            return ()
        stat = path.stat()
    except (OSError, ValueError):
        return ()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


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
    :class:`ablate.any_model.zoo.Preprocess` does for the probe (a few hundred images at a time)."""
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
