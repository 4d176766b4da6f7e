"""The MODELs ``ablate probe`` compares: each source with its options, from the command line or a TOML file.

A per-model option (``--weights``, ``--mean``, ...) applies to the MODEL it follows and,
given before every MODEL, to all of them (:mod:`ablate.cli.per_model_options`); a
``--models FILE`` adds ``[[model]]`` tables with the same keys.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from ablate.any_model.model_sources import ModelSpec, is_file, is_torchscript, refuse_code, runs_code
from ablate.core.errors import AblateError
from ablate.data.resizing import INTERPOLATIONS

MAX_SIDE = 4096             # pixels: --image-size and resize beyond this are a typo, not a classifier's input
TEXT_FIELDS = ("name", "weights", "interpolation", "class_map")


def model_specs(sources: Sequence[str], shared: dict, own: list[dict], models_file: str | None,
                trust_code: bool = False) -> list[ModelSpec]:
    """The MODELs with their options (per-model ones over shared ones), then those of ``models_file``
    (whose ``module:factory`` sources need ``trust_code``)."""
    for source in sources:
        if ":" not in source and not is_file(source):
            raise AblateError(f"model {source!r}: no such file; give an ablate checkpoint, a TorchScript file, "
                              f"torchvision:NAME, timm:NAME or module.path:factory")
    specs = [spec_from(source, {**shared, **options}, f"the command line: model {source}")
             for source, options in zip(sources, own)]
    if models_file:
        specs += read_models_file(Path(models_file), shared, trust_code)
    if not specs:
        raise AblateError("ablate probe: name at least one MODEL (a checkpoint, torchvision:NAME, "
                          "module:factory, a TorchScript file) or give --models FILE")
    names = [spec.label for spec in specs]
    if len(set(names)) != len(names):
        for k, spec in enumerate(specs):
            spec.name = f"{spec.label}#{k + 1}" if names.count(spec.label) > 1 else spec.label
    return specs


def read_models_file(path: Path, shared: dict, trust_code: bool = False) -> list[ModelSpec]:
    """A TOML file of ``[[model]]`` tables: ``source`` and optional ``name``, ``weights``, ``mean``, ``std``,
    ``image_size``, ``resize``, ``interpolation``, ``class_map``. It is data: a ``module:factory`` source
    (code) is refused unless ``trust_code``, before anything is imported."""
    try:
        tables = tomllib.loads(path.read_bytes().decode("utf-8")).get("model", [])
    except UnicodeDecodeError:
        raise AblateError(f"--models {path}: not a TOML text file (it is not UTF-8 text); give a file of "
                          f"[[model]] tables") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AblateError(f"--models {path}: cannot read it ({exc})") from None
    known = {f.name for f in fields(ModelSpec)}
    specs = []
    for k, table in enumerate(tables if isinstance(tables, list) else []):
        where = f"--models {path}: model {k + 1}"
        if not isinstance(table, dict):
            raise AblateError(f"{where} is {type(table).__name__}, not a table; give each model as [[model]] "
                              f"source = \"...\"")
        unknown = sorted(set(table) - known)
        if unknown or not isinstance(table.get("source"), str) or not table["source"]:
            raise AblateError(f"{where} needs 'source' (text) and knows only {', '.join(sorted(known))}"
                              + (f"; found {', '.join(unknown)}" if unknown else ""))
        source = table["source"]
        if runs_code(source) and not trust_code:
            refuse_code(source, where)
        if ":" not in source and not is_file(source):
            raise AblateError(f"{where}: source = {source!r}: no such file; give an ablate checkpoint, a "
                              f"TorchScript file, torchvision:NAME or timm:NAME")
        specs.append(spec_from(source, {**shared, **table}, where))
    if not specs:
        raise AblateError(f"--models {path}: no [[model]] tables; give each model as [[model]] source = \"...\"")
    return specs


def spec_from(source: str, options: dict, where: str) -> ModelSpec:
    """A :class:`ModelSpec` from option values as given (text on the command line, numbers in TOML), each
    refused in one line naming ``where`` and the field when it cannot be what the model is given."""
    values = {k: v for k, v in options.items() if k != "source"}
    for key in TEXT_FIELDS:
        if values.get(key) is not None and not isinstance(values[key], str):
            raise AblateError(f"{where}: {key} = {values[key]!r}: expected text (in quotes)")
    if values.get("interpolation") is not None and values["interpolation"] not in INTERPOLATIONS:
        raise AblateError(f"{where}: interpolation = {values['interpolation']!r}: use one of "
                          f"{', '.join(INTERPOLATIONS)}")
    for key in ("mean", "std"):
        if values.get(key) is not None:
            values[key] = channel_values(values[key], key, where)
    if values.get("mean") and values.get("std") and len(values["mean"]) != len(values["std"]):
        raise AblateError(f"{where}: mean has {len(values['mean'])} values and std {len(values['std'])}; give one "
                          f"per channel in each")
    for key in ("image_size", "resize"):
        if values.get(key) is not None:
            values[key] = image_side(values[key], key, where)
    return ModelSpec(source=source, **values)


def channel_values(value, key: str, where: str) -> tuple[float, ...]:
    """``mean``/``std``: finite numbers, one per channel (std > 0), as text ``0.5,0.5,0.5`` or a TOML list."""
    try:
        numbers = tuple(float(v) for v in (value.split(",") if isinstance(value, str) else value))
        if isinstance(value, str) or all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            if numbers and all(math.isfinite(v) for v in numbers) and (key == "mean" or min(numbers) > 0):
                return numbers
    except (TypeError, ValueError):
        pass
    raise AblateError(f"{where}: {key} = {value!r}: give one finite number per channel"
                      + (", each > 0" if key == "std" else "") + ", e.g. 0.229,0.224,0.225 ([0.229, 0.224, 0.225] "
                      "in a models file)")


def image_side(value, key: str, where: str) -> int:
    """``image_size``/``resize``: a whole number of pixels, 1 to :data:`MAX_SIDE`."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise AblateError(f"{where}: {key} = {value!r}: give a whole number of pixels from 1 to {MAX_SIDE}, "
                          f"e.g. 224")
    return value


def is_ablate_checkpoint(source: str) -> bool:
    return is_file(source) and not is_torchscript(source)
