"""What a MODEL of ``ablate probe`` names, checked without building it: every model of a comparison is
checked (:func:`check_models`) before the first image is evaluated, so that a zoo's fifth model that is
missing or damaged stops the run in one line before four models were measured for nothing.

A ``module.path:factory`` source runs the factory's code: the user types it on the command line,
but a ``--models`` file is data people share, so there it needs ``--trust-zoo-code``
(:func:`refuse_code`), and is refused before anything is imported.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from ablate.any_model.checkpoint_probe import trained_settings
from ablate.any_model.class_map import read_class_map
from ablate.core.errors import AblateError

BUILT_IN_KINDS = ("torchvision", "timm")          # architectures ablate builds itself: no user code runs
TORCHSCRIPT_RECORDS = ("data.pkl", "version")      # what torch.jit.load reads first, under the archive's folder
TRUST_FLAG = "--trust-zoo-code"
DEFAULT_WEIGHTS = "DEFAULT"                        # --weights DEFAULT: torchvision's own, from torch's hub cache


@dataclass
class ModelSpec:
    """One MODEL of ``ablate probe`` and the options given for it (None: the model's own, or none)."""

    source: str
    weights: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    image_size: int | None = None
    resize: int | None = None          # the shorter side before the centre crop (default: image_size)
    interpolation: str | None = None   # of that resize: bilinear | bicubic
    name: str | None = None
    class_map: str | None = None       # a file: the model's output for each class of the data (ablate.any_model.class_map)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        text = Path(self.source).parent.name if is_file(self.source) and self.source.endswith("checkpoint.pt") \
            else self.source
        return f"{text}+{Path(self.weights).stem}" if self.weights and self.weights != DEFAULT_WEIGHTS else text


def is_file(source: str) -> bool:
    return os.path.isfile(source)


def is_torchscript(path: str) -> bool:
    """TorchScript archives hold compiled code (``<name>/code/``); ``torch.save`` files do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def runs_code(source: str) -> bool:
    """Whether ``source`` is ``module.path:factory``: Python imported and called to build the model."""
    kind, colon, name = source.partition(":")
    return bool(colon and name) and kind not in BUILT_IN_KINDS and not is_file(source)


def refuse_code(source: str, where: str) -> None:
    """A models file's ``module:factory`` source, refused in one line unless the user opted in."""
    raise AblateError(f"{where}: source = {source!r} would import and run Python code ({source.partition(':')[0]}), "
                      f"which a models file may not do by itself; give {TRUST_FLAG} if you trust this file, or "
                      f"name the model on the command line")


def check_models(specs: Sequence[ModelSpec], classes: Sequence[str]) -> None:
    """Every model's files there and of their kind, its options fitting it, its factory importable and
    callable with what it is given, its class map read against ``classes``: one line for the first that is not."""
    for spec in specs:
        check_source(spec)
        if spec.class_map:
            read_class_map(spec.class_map, classes)


def check_source(spec: ModelSpec) -> None:
    """What :func:`ablate.any_model.zoo.load_model` (or an ablate checkpoint's loader) will need of ``spec``."""
    source, weights = spec.source, spec.weights
    if weights and weights != DEFAULT_WEIGHTS and not os.path.isfile(weights):
        raise AblateError(f"model {spec.label}: --weights {weights}: no such file (or DEFAULT, for torchvision's "
                          f"own weights)")
    if spec.class_map and not os.path.isfile(spec.class_map):
        raise AblateError(f"model {spec.label}: --class-map {spec.class_map}: no such file")
    if is_file(source):
        if is_torchscript(source):
            check_torchscript(source, weights)
        else:
            check_ablate_checkpoint(spec)
        return
    kind, colon, name = source.partition(":")
    if not colon or not name:
        raise AblateError(f"model {source!r}: no such file; give an ablate checkpoint, a TorchScript file, "
                          f"torchvision:NAME, timm:NAME or module.path:factory")
    if kind == "torchvision":
        check_torchvision(spec, name)
    elif kind == "timm":
        try:
            import timm  # noqa: F401, PLC0415 (optional: timm extra)
        except ImportError:
            raise AblateError(f"timm:{name}: timm is not installed; install the extra: pip install 'ablate[timm]'") \
                from None
    else:
        factory(spec.source)


def check_torchscript(source: str, weights: str | None) -> None:
    if weights:
        raise AblateError(f"{source}: a TorchScript file holds its weights; drop --weights {weights}")
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
    folder = names[0].split("/", 1)[0] if names else ""
    missing = [record for record in TORCHSCRIPT_RECORDS if f"{folder}/{record}" not in names]
    if missing:
        raise AblateError(f"{source}: a damaged TorchScript file (it lacks {folder}/{missing[0]}); save the model "
                          f"again with torch.jit.save")


def check_ablate_checkpoint(spec: ModelSpec) -> None:
    check_checkpoint_options(spec)
    trained_settings(Path(spec.source))


def check_checkpoint_options(spec: ModelSpec) -> None:
    if spec.weights or spec.mean or spec.std or spec.image_size or spec.resize:
        raise AblateError(f"{spec.source}: an ablate checkpoint holds its weights and preprocessing; "
                          f"drop --weights/--mean/--std/--image-size/--resize for it")


def check_torchvision(spec: ModelSpec, name: str) -> None:
    from torchvision import models  # noqa: PLC0415 (torchvision: 1.5 s to import)

    if name not in models.list_models():
        raise AblateError(f"torchvision:{name}: no such torchvision model; e.g. torchvision:resnet18 "
                          f"(`python -c 'import torchvision; print(torchvision.models.list_models())'` lists them)")
    cached = weights_file(spec)
    if spec.weights == DEFAULT_WEIGHTS and not cached.is_file():
        raise AblateError(f"torchvision:{name} --weights DEFAULT: {cached} is not there and ablate downloads "
                          f"nothing; fetch {models.get_model_weights(name).DEFAULT.url} and put it there (or set "
                          f"TORCH_HOME)")


def weights_file(spec: ModelSpec) -> Path | None:
    """The file a model's weights are read from: ``--weights PATH``, or for ``torchvision:NAME --weights
    DEFAULT`` torchvision's file in torch's hub cache (present or not); None for a model built without."""
    kind, _, name = spec.source.partition(":")
    if spec.weights != DEFAULT_WEIGHTS:
        return Path(spec.weights) if spec.weights else None
    if kind != "torchvision":
        return None
    from torchvision import models  # noqa: PLC0415 (torchvision: 1.5 s to import)

    url = models.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def factory(source: str) -> Callable:
    """``module.path:factory``'s callable, imported like ``python -m`` would (the current folder first on the
    path), checked to need no argument but ``num_classes``."""
    module_name, _, attribute = source.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AblateError(f"model {source!r}: cannot import {module_name!r} ({exc}); run from the folder "
                          f"that holds it, or set PYTHONPATH") from None
    found = getattr(module, attribute, None)
    if not callable(found):
        raise AblateError(f"model {source!r}: {module_name} has no callable {attribute!r}")
    try:
        parameters = inspect.signature(found).parameters.values()
    except (TypeError, ValueError):
        return found                      # a builtin without a signature: its call says what it needs
    needed = [p.name for p in parameters if p.default is p.empty and p.name != "num_classes"
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if needed:
        raise AblateError(f"model {source!r}: the factory needs {', '.join(needed)}, but ablate gives it only "
                          f"num_classes; wrap it in a function that builds the model from that alone")
    return found
