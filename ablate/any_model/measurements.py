"""What ``ablate probe`` measured of each model, kept on disk so that a zoo resumes where it stopped.

A model's per-image results (:class:`ablate.any_model.probe_model.Measured`) are written as one
``.npz`` file (plain arrays and JSON text, read back with ``allow_pickle=False``:
nothing in it is executed) under a name that is the SHA-256 of everything the numbers
depend on: the model (its source, its weights file's contents, its preprocessing, its
class map's contents), the data (a fingerprint of the images), the radii and the probe's
options. A model measured before on the same data with the same options is read back;
any change makes a new name, so a stale result is never reused. Each file is written
to a temporary name and renamed into place, so a kill leaves either the whole result or
none: a zoo loses at most the model in progress.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate.any_model.probe_model import Measured

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
    """Write ``measured`` to ``path`` atomically (a temporary file renamed into place)."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_measured(path: Path) -> Measured | None:
    """The measurement saved at ``path``; None when there is none, or it is unreadable or of another format."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta.get("format") != FORMAT:
                return None
            correct = torch.from_numpy(archive["correct"]) if "correct" in archive else torch.zeros((0, 0))
            pictures = torch.from_numpy(archive["pictures"]) if "pictures" in archive else torch.zeros(0)
            labels = torch.from_numpy(archive["labels"])
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return Measured(meta["name"], meta["radii"], rows=meta["rows"],
                    correct={tuple(key): correct[k] for k, key in enumerate(meta["keys"])}, labels=labels,
                    inclusive=meta["inclusive"], examples={radius: images for radius, images in meta["examples"]},
                    pictures={k: pictures[n] for n, k in enumerate(meta["pictures"])},
                    image_shape=tuple(meta["image_shape"]))
