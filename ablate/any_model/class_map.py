"""``--class-map FILE``: which output of a model stands for each class of the data set.

A model's outputs and a data set's labels need not agree: torchvision's ImageNet
weights have 1000 outputs, while a folder may hold ten ImageNet classes (or classes
named otherwise than by WordNet ID). A class map gives every class of the data set
(by its name, e.g. its folder's name) the index of the model's output that stands
for it. Two formats, read as data and never executed:

* JSON (a file ending in ``.json``): one object, ``{"n01440764": 0, "n02102040": 217}``;
* text (anything else): one ``class,index`` pair a line; blank lines and lines
  starting with ``#`` are skipped, and so is a first line ``class,index`` (a header).

Every class of the data set must be mapped; several may share an output. The model
still predicts over all of its outputs (top-1 of all 1000, say): an image counts as
right when that is the output its class maps to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch

from ablate.core.errors import AblateError

HEADER = ("class", "index")


def read_class_map(path: str | Path, classes: Sequence[str]) -> torch.Tensor:
    """The map in ``path`` as a lookup table: entry ``k`` is the model output of the data set's class ``k``."""
    path = Path(path)
    where = f"--class-map {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AblateError(f"{where}: cannot read it ({exc.__class__.__name__}: {exc}); give a JSON object "
                          f"{{class: index}} or a text file of class,index lines") from None
    pairs = json_pairs(text, where) if path.suffix.lower() == ".json" else text_pairs(text, where)
    mapping: dict[str, int] = {}
    for name, index in pairs:
        if name in mapping:
            raise AblateError(f"{where}: class {name!r} is mapped twice; give each class one output index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise AblateError(f"{where}: class {name!r} maps to {index!r}; an output index must be an integer >= 0")
        mapping[name] = index
    known = [str(c) for c in classes]
    unknown = [name for name in mapping if name not in known]
    if unknown:
        raise AblateError(f"{where}: {unknown[0]!r} is not a class of the data set (its classes: "
                          f"{listing(known)}); map the data set's class names")
    missing = [name for name in known if name not in mapping]
    if missing:
        raise AblateError(f"{where}: {len(missing)} of the data set's {len(known)} classes have no output index "
                          f"({listing(missing)}); map every class")
    return torch.tensor([mapping[name] for name in known], dtype=torch.int64)


class Pairs(list):
    """A JSON object's (key, value) pairs in order, duplicates kept (so that they can be refused)."""


def json_pairs(text: str, where: str) -> list[tuple[str, object]]:
    try:
        found = json.loads(text, object_pairs_hook=Pairs)
    except json.JSONDecodeError as exc:
        raise AblateError(f"{where}: not valid JSON ({exc}); give one object {{\"class\": index, ...}}") from None
    if not isinstance(found, Pairs):
        raise AblateError(f"{where}: expected one JSON object {{\"class\": index, ...}}, not a JSON "
                          f"{type(found).__name__}")
    return list(found)


def text_pairs(text: str, where: str) -> list[tuple[str, object]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if not found and number == first_line(text) and tuple(f.lower() for f in fields) == HEADER:
            continue
        if len(fields) != 2 or not fields[0]:
            raise AblateError(f"{where}: line {number} {line!r}: expected class,index (e.g. n01440764,0)")
        try:
            index: object = int(fields[1])
        except ValueError:
            index = fields[1]
        found.append((fields[0], index))
    return found


def first_line(text: str) -> int:
    """The number of the first line that is neither blank nor a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.strip().startswith("#"):
            return number
    return 0


def listing(names: Sequence[str], shown: int = 5) -> str:
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(repr(n) for n in names[:shown]) + more
