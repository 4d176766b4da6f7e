"""Models from anywhere, for ``ablate probe``: what a MODEL on the command line names.

* a path to an ablate checkpoint (a run's ``checkpoint.pt``): the model as trained;
* a path to a TorchScript file (``torch.jit.save``): runs no Python;
* ``torchvision:NAME``: the architecture, with ``weights`` a state-dict file or
  ``DEFAULT`` (torchvision's own weights, from torch's cache; nothing is downloaded);
* ``timm:NAME``: the architecture from timm (the ``timm`` extra) and ``weights``;
* ``module.path:factory``: any importable callable returning an ``nn.Module`` (the
  current folder is importable, as with ``python -m``), and ``weights``; code, so a
  ``--models`` file may name it only with ``--trust-zoo-code``
  (:mod:`ablate.any_model.model_sources`, where each source is checked before it is built).

Weights are read only through :func:`ablate.train.checkpoint.load_checkpoint` (``weights_only``:
nothing a user hands over is unpickled), and must fit the architecture key for key.
A loaded model comes with its :class:`Preprocess`: what its input must look like.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ablate.any_model.model_sources import (
    DEFAULT_WEIGHTS,
    ModelSpec,
    check_source,
    factory,
    is_file,
    is_torchscript,
    weights_file,
)
from ablate.core.errors import AblateError
from ablate.data.resizing import INTERPOLATIONS, resize_crop
from ablate.spectral.scaling import NORMALIZE_MODES
from ablate.train.checkpoint import load_checkpoint

STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict")     # where common checkpoint layouts keep it


@dataclass(frozen=True)
class Preprocess:
    """What a model expects of its input; see :func:`ablate.any_model.probe_model.probe_model`.

    ``image_size``: pixels are resized (shorter side to ``resize`` or ``image_size``, with
    ``interpolation``, antialiased, as torchvision's weight transforms do) and
    centre-cropped to ``image_size`` once, before the split. ``channels``: grey images are
    repeated to this many channels. After the split, every variant is scaled by the probe
    (``scale``: :func:`ablate.spectral.scaling.model_input` for the LFC and HFC,
    :func:`ablate.spectral.scaling.originals_scaling` for the originals), then normalised with
    ``mean``/``std`` inside :class:`ModelInput`: filtering after normalising would move the
    mean (pure DC) into the HFC.
    """

    image_size: int | None = None
    resize: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: str = "none"
    channels: int | None = None
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise AblateError("preprocess: give both mean and std, or neither")
        if self.mean is not None and (len(self.mean) != len(self.std) or min(self.std) <= 0):
            raise AblateError(f"preprocess: mean {self.mean} and std {self.std} need one value per channel "
                              f"each, and std > 0")
        for name in ("image_size", "resize", "channels"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise AblateError(f"preprocess: {name}={value!r} must be an integer >= 1")
        if self.scale not in NORMALIZE_MODES:
            raise AblateError(f"preprocess: scale={self.scale!r}; use one of {', '.join(NORMALIZE_MODES)}")
        if self.interpolation not in INTERPOLATIONS:
            raise AblateError(f"preprocess: interpolation={self.interpolation!r}; use one of "
                              f"{', '.join(INTERPOLATIONS)}")

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Float pixels in [0, 1] ``(N, C, H, W)``, at the model's size and channel count: what is split."""
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.channels and x.shape[1] == 1 and self.channels != 1:
            x = x.expand(-1, self.channels, -1, -1)
        if self.image_size:
            x = resize_crop(x, self.resize or self.image_size, self.image_size, self.interpolation)
        return x.contiguous()


class ModelInput(nn.Module):
    """The model's own preprocessing after the split and the probe's scaling: ``(x - mean) / std`` per channel."""

    def __init__(self, preprocess: Preprocess) -> None:
        super().__init__()
        mean = preprocess.mean if preprocess.mean is not None else ()
        std = preprocess.std if preprocess.std is not None else ()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.mean.numel() else x


@dataclass
class LoadedModel:
    """A model ready to probe: ``module`` takes preprocessed pixels (see :class:`Preprocess`)."""

    name: str
    module: nn.Module
    preprocess: Preprocess = field(default_factory=Preprocess)
    classes: Sequence[str] | None = None       # the classes its outputs stand for, when it knows them
    label_map: torch.Tensor | None = None      # the output standing for each class of the data (--class-map)


def load_model(spec: ModelSpec, num_classes: int) -> LoadedModel:
    """Build the model ``spec`` names, with ``num_classes`` outputs (unless its weights fix them), and
    its weights. An ablate checkpoint is not loaded here: it needs its run's settings
    (:func:`ablate.train.trained.load_trained`)."""
    source = spec.source
    if is_file(source) and not is_torchscript(source):
        raise AblateError(f"{source}: not a TorchScript file; an ablate checkpoint is loaded by `ablate probe` "
                          f"itself, and a state dict goes with its architecture: torchvision:NAME "
                          f"--weights {source}")
    check_source(spec)                      # its files there and of their kind, its factory importable
    if is_file(source):
        try:
            module = torch.jit.load(source, map_location="cpu")
        except RuntimeError as exc:
            raise AblateError(f"{source}: a damaged TorchScript file ({str(exc).splitlines()[0]}); save the model "
                              f"again with torch.jit.save") from None
        return LoadedModel(spec.label, module, user_preprocess(spec, Preprocess()))
    kind, _, name = source.partition(":")
    if kind == "torchvision":
        return load_torchvision(spec, name, num_classes)
    if kind == "timm":
        return load_timm(spec, name, num_classes)
    return load_factory(spec, num_classes)


def user_preprocess(spec: ModelSpec, own: Preprocess) -> Preprocess:
    """The model's own preprocessing with what the user gave for it on top."""
    changes = {k: getattr(spec, k) for k in ("mean", "std", "image_size", "resize", "interpolation")
               if getattr(spec, k) is not None}
    if "image_size" in changes and "resize" not in changes:
        changes["resize"] = None
    return replace(own, **changes)


def load_torchvision(spec: ModelSpec, name: str, num_classes: int) -> LoadedModel:
    from torchvision import models  # noqa: PLC0415 (torchvision: 1.5 s to import)

    if spec.weights != DEFAULT_WEIGHTS:
        module = models.get_model(name, weights=None, num_classes=num_classes)
        state = read_weights(spec, module)
        return LoadedModel(spec.label, fit_weights(module, state, spec.weights or "",
                                                   "torchvision"), user_preprocess(spec, Preprocess(channels=3)))
    weights, cached = models.get_model_weights(name).DEFAULT, weights_file(spec)
    classes = weights.meta["categories"]
    module = fit_weights(models.get_model(name, weights=None, num_classes=len(classes)),
                         load_checkpoint(cached), str(cached), "torchvision")
    transforms = weights.transforms()
    own = Preprocess(image_size=transforms.crop_size[0], resize=transforms.resize_size[0],
                     mean=tuple(transforms.mean), std=tuple(transforms.std), channels=3,
                     interpolation=transforms.interpolation.value)
    return LoadedModel(spec.label, module, user_preprocess(spec, own), classes)


def load_timm(spec: ModelSpec, name: str, num_classes: int) -> LoadedModel:
    import timm  # noqa: PLC0415 (optional: timm extra; check_source found it there)
    try:
        module = timm.create_model(name, pretrained=False, num_classes=num_classes)
    except RuntimeError as exc:
        raise AblateError(f"timm:{name}: {exc}; `timm.list_models()` lists the names") from None
    config = getattr(module, "pretrained_cfg", None) or {}
    own = Preprocess(image_size=(config.get("input_size") or (None, None, None))[-1],
                     mean=tuple(config["mean"]) if "mean" in config else None,
                     std=tuple(config["std"]) if "std" in config else None, channels=3)
    return LoadedModel(spec.label, fit_weights(module, read_weights(spec, module), spec.weights or "", "timm"),
                       user_preprocess(spec, own))


def load_factory(spec: ModelSpec, num_classes: int) -> LoadedModel:
    """``module.path:factory`` (:func:`ablate.any_model.model_sources.factory`), called with ``num_classes`` when
    it takes it; what it raises is the model's fault, said in one line."""
    build = factory(spec.source)
    try:
        takes = "num_classes" in inspect.signature(build).parameters
    except (TypeError, ValueError):
        takes = False
    try:
        built = build(num_classes=num_classes) if takes else build()
    except Exception as exc:     # the user's code: whatever it raises means the model cannot be built
        raise AblateError(f"model {spec.source!r}: the factory failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no message'}); fix the factory") from None
    if not isinstance(built, nn.Module):
        raise AblateError(f"model {spec.source!r}: the factory returned a {type(built).__name__}, not a "
                          f"torch.nn.Module")
    if spec.weights:
        built = fit_weights(built, read_weights(spec, built), spec.weights, spec.source)
    return LoadedModel(spec.label, built, user_preprocess(spec, Preprocess()))


def read_weights(spec: ModelSpec, module: nn.Module) -> dict:
    """The state dict in ``spec.weights`` (safely loaded), or the module's own (random) weights when none."""
    if not spec.weights:
        return module.state_dict()
    state = load_checkpoint(Path(spec.weights))      # there: checked by check_source
    for key in STATE_DICT_KEYS:
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    return state


def fit_weights(module: nn.Module, state: dict, where: str, architecture: str) -> nn.Module:
    """Load ``state`` into ``module`` strictly; one line naming the first key that does not fit."""
    state = {k.removeprefix("module."): v for k, v in state.items()}     # saved from DataParallel
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise AblateError(f"--weights {where}: does not fit the {architecture} architecture: it lacks "
                              f"{key!r}; give the weights of this very architecture (and --num-classes)")
        theirs = state[key]
        if not isinstance(theirs, torch.Tensor) or theirs.shape != value.shape:
            shape = tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
            raise AblateError(f"--weights {where}: does not fit the {architecture} architecture: {key!r} is "
                              f"{shape} there and {tuple(value.shape)} in the model (another class count? "
                              f"see --num-classes)")
    extra = [k for k in state if k not in own]
    if extra:
        raise AblateError(f"--weights {where}: does not fit the {architecture} architecture: it has {extra[0]!r}, "
                          f"which the model lacks; give the weights of this very architecture")
    module.load_state_dict(state)
    return module
