"""The MODELs ``ablate probe`` compares: each source with its options, from the command line or a TOML file.

A per-model option (``--weights``, ``--mean``, ...) applies to the MODEL it follows and,
given before every MODEL, to all of them (:mod:`ablate.per_model_options`); a
``--models FILE`` adds ``[[model]]`` tables with the same keys.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from ablate.core.errors import AblateError
from ablate.any_model.zoo import ModelSpec, is_file, is_torchscript


def model_specs(sources: Sequence[str], shared: dict, own: list[dict], models_file: str | None) -> list[ModelSpec]:
    """The MODELs with their options (per-model ones over shared ones), then those of ``models_file``."""
    for source in sources:
        if ":" not in source and not is_file(source):
            raise AblateError(f"model {source!r}: no such file; give an ablate checkpoint, a TorchScript file, "
                              f"torchvision:NAME, timm:NAME or module.path:factory")
    specs = [spec_from(source, {**shared, **options}, "the command line") for source, options in zip(sources, own)]
    if models_file:
        specs += read_models_file(Path(models_file), shared)
    if not specs:
        raise AblateError("ablate probe: name at least one MODEL (a checkpoint, torchvision:NAME, "
                          "module:factory, a TorchScript file) or give --models FILE")
    names = [spec.label for spec in specs]
    if len(set(names)) != len(names):
        for k, spec in enumerate(specs):
            spec.name = f"{spec.label}#{k + 1}" if names.count(spec.label) > 1 else spec.label
    return specs


def read_models_file(path: Path, shared: dict) -> list[ModelSpec]:
    """A TOML file of ``[[model]]`` tables: ``source`` and optional ``name``, ``weights``, ``mean``, ``std``,
    ``image_size``, ``resize``, ``interpolation``, ``class_map``."""
    try:
        tables = tomllib.loads(path.read_text()).get("model", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AblateError(f"--models {path}: cannot read it ({exc})") from None
    known = {f.name for f in fields(ModelSpec)}
    specs = []
    for k, table in enumerate(tables if isinstance(tables, list) else []):
        unknown = sorted(set(table) - known)
        if unknown or "source" not in table:
            raise AblateError(f"--models {path}: model {k + 1} needs 'source' and knows only {', '.join(sorted(known))}"
                              + (f"; found {', '.join(unknown)}" if unknown else ""))
        specs.append(spec_from(table["source"], {**shared, **table}, f"--models {path}"))
    if not specs:
        raise AblateError(f"--models {path}: no [[model]] tables; give each model as [[model]] source = \"...\"")
    return specs


def spec_from(source: str, options: dict, where: str) -> ModelSpec:
    """A :class:`ModelSpec` from option values as given (text on the command line, numbers in TOML)."""
    values = {k: v for k, v in options.items() if k != "source"}
    try:
        for key in ("mean", "std"):
            if isinstance(values.get(key), str):
                values[key] = tuple(float(v) for v in values[key].split(","))
            elif values.get(key) is not None:
                values[key] = tuple(float(v) for v in values[key])
        for key in ("image_size", "resize"):
            if values.get(key) is not None:
                values[key] = int(values[key])
    except (TypeError, ValueError):
        raise AblateError(f"{where}: model {source}: --mean/--std take numbers per channel, e.g. "
                          f"0.485,0.456,0.406, and --image-size an integer") from None
    return ModelSpec(source=source, **values)


def is_ablate_checkpoint(source: str) -> bool:
    return is_file(source) and not is_torchscript(source)
