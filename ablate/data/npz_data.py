"""``npz:PATH``: your own arrays as a data set, every way they can be wrong refused in one line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ablate.core.errors import AblateError
from ablate.core.npz_arrays import checked_array
from ablate.core.structs import Data
from ablate.data.data_files import first_line, hwc_to_tensor

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
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
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
                arrays[key] = checked_array(archive, key, where)      # its header's claim checked first
            except ValueError as exc:                      # object arrays need pickle, which is refused
                raise AblateError(f"{where}: array {key!r} cannot be read without pickle ({first_line(exc)}); "
                                  f"store plain numbers and strings") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
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
