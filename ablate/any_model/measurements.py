"""What ``ablate probe`` measured of each model, kept on disk so that a zoo resumes where it stopped.

A model's per-image results (:class:`ablate.any_model.probe_model.Measured`) are written as one
``.npz`` file (plain arrays and JSON text, read back with ``allow_pickle=False``:
nothing in it is executed) under a name that is the SHA-256 of everything the numbers
depend on: the model (its source, its weights file's contents, its preprocessing, its
class map's contents), the data (a fingerprint of the images), the radii and the probe's
options. A model measured before on the same data with the same options is read back;
any change makes a new name, so a stale result is never reused. Each file is written
to a temporary name and renamed into place, so a kill leaves either the whole result or
none: a zoo loses at most the model in progress. A file read back is checked to be whole
and to fit the model and data it is read for (:func:`read_measured`); one that is not
(truncated, emptied, crafted) is measured again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ablate.any_model.probe_model import Measured
from ablate.core.files import atomic_write
from ablate.core.npz_arrays import checked_array

FORMAT = 1                       # bumped when the file layout or the measurement itself changes
CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's contents (weights, class maps, TorchScript archives)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(spec: Any, weights_file: str | None = None) -> dict:
    """What names a model's numbers: its spec's fields, each file it reads by its contents rather than
    its path (the same weights moved elsewhere are the same model). ``weights_file``: where its weights
    really come from, when not ``spec.weights`` (e.g. the torch hub cache for torchvision's DEFAULT
    weights). The display name is left out."""
    identity = {key: value for key, value in asdict(spec).items() if key != "name"}
    for key, path in (("source", spec.source), ("weights", weights_file or spec.weights),
                      ("class_map", spec.class_map)):
        if path and os.path.isfile(path):
            identity[key] = {"sha256": file_digest(path)}
    return identity


def measurement_key(model: dict, data: str, options: dict) -> str:
    """The file name of a measurement: SHA-256 of the model's identity, the data fingerprint and the options."""
    text = json.dumps({"format": FORMAT, "model": model, "data": data, "options": options}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def save_measured(path: Path, measured: Measured) -> None:
    """Write ``measured`` to ``path`` atomically (:func:`ablate.train.checkpoint.atomic_write`: a full disk is
    one line naming the file)."""
    keys = list(measured.correct)
    pictures = sorted(measured.pictures)
    meta = {"format": FORMAT, "name": measured.name, "radii": measured.radii, "rows": measured.rows,
            "keys": [list(key) for key in keys], "inclusive": measured.inclusive,
            "examples": [[radius, images] for radius, images in measured.examples.items()],
            "pictures": pictures, "image_shape": list(measured.image_shape)}
    arrays = {"meta": np.array(json.dumps(meta)), "labels": measured.labels.cpu().numpy()}
    if keys:
        arrays["correct"] = torch.stack([measured.correct[key].bool().cpu() for key in keys]).numpy()
    if pictures:
        arrays["pictures"] = torch.stack([measured.pictures[k].float().cpu() for k in pictures]).numpy()
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


class DamagedMeasurement(Exception):
    """A file under ``OUT/measured`` that is not a whole measurement of this model on this data: the model is
    measured again, and the file replaced."""


def load_measured(path: Path, radii: Sequence[float] | None = None, images: int = 0,
                  classes: int = 0) -> Measured | None:
    """The measurement saved at ``path``; None when there is none, or it is damaged (:func:`read_measured`)."""
    try:
        return read_measured(path, radii, images, classes) if Path(path).is_file() else None
    except DamagedMeasurement:
        return None


def read_measured(path: Path, radii: Sequence[float] | None = None, images: int = 0, classes: int = 0) -> Measured:
    """The measurement saved at ``path``, checked to be whole and to fit what it is read back for: the
    ``radii`` probed, ``images`` test images and labels below ``classes`` (each when given). Anything else,
    whatever the file holds, raises :class:`DamagedMeasurement` saying why."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(checked_array(archive, "meta", str(path))))
            arrays = {key: checked_array(archive, key, str(path)) for key in ("labels", "correct", "pictures")
                      if key in archive.files}
    except DamagedMeasurement:
        raise
    except Exception as exc:          # whatever a damaged or crafted file makes numpy, zipfile or json raise
        raise DamagedMeasurement(f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") \
            from None
    check_meta(meta, radii)
    labels, correct, pictures = (arrays.get(key) for key in ("labels", "correct", "pictures"))
    count = len(labels) if labels is not None and labels.ndim == 1 else -1
    expect(labels is not None and labels.dtype == np.int64 and labels.shape == (count,) and count > 0,
           "labels are not one integer per image")
    expect(not images or count == images, f"it holds {count} images, the data {images}")
    expect(not classes or (0 <= int(labels.min()) and int(labels.max()) < classes), "labels beyond the data's classes")
    expect(correct is not None and correct.dtype == np.bool_ and correct.shape == (len(meta["keys"]), count),
           "'correct' is not one true/false per variant and image")
    shape = tuple(meta["image_shape"])
    expect(len(meta["pictures"]) == 0 and pictures is None or pictures is not None and pictures.dtype == np.float32
           and pictures.shape == (len(meta["pictures"]), *shape), "'pictures' do not fit the images")
    expect(all(0 <= k < count for k in meta["pictures"]) and all(set(kept) <= set(meta["pictures"])
                                                                 for _, kept in meta["examples"]),
           "its examples are not among its pictures")
    correct_t = torch.from_numpy(correct)
    return Measured(meta["name"], meta["radii"], rows=meta["rows"],
                    correct={tuple(key): correct_t[k] for k, key in enumerate(meta["keys"])},
                    labels=torch.from_numpy(labels), inclusive=meta["inclusive"],
                    examples={radius: kept for radius, kept in meta["examples"]},
                    pictures={k: torch.from_numpy(pictures[n]) for n, k in enumerate(meta["pictures"])},
                    image_shape=shape)


META_KEYS = {"format", "name", "radii", "rows", "keys", "inclusive", "examples", "pictures", "image_shape"}
ROW_KEYS = {"split", "component", "radius", "metric", "value", "model"}


def check_meta(meta: Any, radii: Sequence[float] | None) -> None:
    """The JSON part of a measurement: the fields :func:`save_measured` writes, of their types, for ``radii``."""
    expect(isinstance(meta, dict) and set(meta) == META_KEYS, "its metadata are not a measurement's")
    expect(meta["format"] == FORMAT, f"format {meta['format']!r}, not {FORMAT}")
    number = (int, float)
    expect(isinstance(meta["name"], str) and isinstance(meta["inclusive"], bool), "its name or options are wrong")
    expect(isinstance(meta["radii"], list) and all(isinstance(r, number) for r in meta["radii"])
           and (radii is None or [float(r) for r in meta["radii"]] == [float(r) for r in radii]),
           f"radii {meta['radii']!r}, not the ones probed")
    variants = {("original", None)} | {(part, r) for part in ("low", "high") for r in meta["radii"]}
    expect(isinstance(meta["keys"], list) and all(isinstance(key, list) and len(key) == 2 for key in meta["keys"])
           and len(meta["keys"]) == len(variants) and {tuple(key) for key in meta["keys"]} == variants,
           "its variants are not the original, LFC and HFC at each radius")
    expect(isinstance(meta["rows"], list) and len(meta["rows"]) == 2 * len(variants) and all(
        isinstance(row, dict) and set(row) == ROW_KEYS and isinstance(row["value"], number)
        and (row["component"], row["radius"]) in variants for row in meta["rows"]), "its rows are not the variants'")
    expect(isinstance(meta["image_shape"], list) and len(meta["image_shape"]) == 3
           and all(isinstance(n, int) and n > 0 for n in meta["image_shape"]), "its image shape is wrong")
    expect(isinstance(meta["pictures"], list) and all(isinstance(k, int) for k in meta["pictures"])
           and isinstance(meta["examples"], list)
           and all(isinstance(pair, list) and len(pair) == 2 and pair[0] in meta["radii"] and isinstance(pair[1], list)
                   and all(isinstance(k, int) for k in pair[1]) for pair in meta["examples"]),
           "its examples are wrong")


def expect(condition: bool, reason: str) -> None:
    if not condition:
        raise DamagedMeasurement(reason)
