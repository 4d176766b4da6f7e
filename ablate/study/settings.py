"""The settings of one training run, with the original study's values as defaults.

Every setting a recipe, a scale or ``--set`` may change is a field here, declared
with the rules of an :class:`ablate.Param` (the same validation plugins' parameters
get); its comment says where the default comes from (Wang et al., CVPR 2020, and
the official code HaohanWang/HFC: Adam 1e-4, batch 100, 100 epochs, Xavier init,
no BatchNorm, no augmentation, pixels in [0, 1]).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from ablate.core.errors import AblateError
from ablate.core.params import Number, Param, coerce_item, identity_values

PAPER_RADII = [4, 8, 12, 16]


def setting(default: Any, help: str = "", **rules: Any) -> Any:
    """A field of :class:`Settings`: its default, what it means, and the :class:`Param` rules it obeys."""
    metadata = {"help": help, "rules": rules}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


NOT_RESULTS = {"affects_results": False}      # how a run executes, not what it computes
# Settings that only count under another setting's value: ignored otherwise, they name no other run.
SGD = {"optimizer": ("sgd",)}
STEP_SCHEDULE = {"schedule": ("step",)}
WITH_PROBE_REPORT = {"probe_report": (True,)}
# Upper bounds that no real study reaches, so that a typo (1e12 epochs) stops at once.
SANE_EPOCHS = 100_000
SANE_BATCH = 1_000_000
SANE_COUNT = 1_000_000_000
SANE_RADIUS = 4096            # DFT bins: the diagonal of a 5792 x 5792 image
PRECISIONS = ("fp32", "tf32", "bf16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
# Saved by ablate 0.1, when precision was not part of a run's identity: bf16 autocast on CUDA, fp32 elsewhere.
LEGACY_PRECISION = "auto"
# Setting values whose procedure was revised after runs had been named by them (issue 31: the official code
# differed). A run using one is named with the revision, so that a folder trained the old way is never taken
# for the new procedure; runs using neither value keep their names (docs/recipes.md, "Identity").
REVISED = {
    ("augment", "crop_flip"): "pad 2",          # was 4 pixels a side (ablate/train/augment.py)
    ("normalize", "max"): "uint8 originals",    # training originals were the exact x / max(x) (spectral/scaling.py)
    ("model", "hfc-resnet"): "no final norm",   # a norm plugin put a norm after the last block (train/models.py)
}
SPLIT_PROBE = "split"                           # the study's probe, the only one that reads ``radii``


@dataclass
class Settings:
    """Resolved settings of a run. Defaults reproduce the study's vanilla set-up."""

    # data
    dataset: str = setting("cifar10", "cifar10 | cifar100 | npz:PATH | synthetic[:options]")
    train_size: int = setting(0, "0 = the whole training set; else a stratified subset", minimum=0,
                               maximum=SANE_COUNT)
    test_size: int = setting(0, "0 = the whole test set; else a stratified subset", minimum=0,
                              maximum=SANE_COUNT)
    image_size: int = setting(0, "0 = the images as the data set has them; N: resized (shorter side) and "
                              "centre-cropped to N x N as loaded, e.g. an image folder of several sizes",
                              minimum=0, maximum=SANE_RADIUS, since="0.2")
    normalize: str = setting("max", "max: each image / its max (official code); none: / 255",
                             choices=("max", "none"))
    augment: str = setting("none", "none | crop_flip (the official zero pad of 2 a side, random crop to the "
                           "original size, flip; on the device)", choices=("none", "crop_flip"))
    # model
    model: str = setting("resnet18", "resnet18 | hfc-resnet | any registered model")
    width: float = setting(1.0, "channel multiplier, for CPU-sized runs", greater_than=0, maximum=64)
    init: str = setting("xavier", "xavier (the study) | default (PyTorch's)", choices=("xavier", "default"))
    # optimisation
    optimizer: str = setting("adam", "adam (the study) | sgd", choices=("adam", "sgd"))
    lr: float = setting(1e-4, "learning rate (the study: Adam 1e-4)", minimum=0)
    momentum: float = setting(0.9, "sgd only", only_when=SGD)
    weight_decay: float = setting(0.0, "the study uses none", minimum=0)
    schedule: str = setting("none", "none | cosine | step", choices=("none", "cosine", "step"))
    step_every: int = setting(30, "epochs between lr drops (step schedule)", minimum=1, maximum=SANE_EPOCHS,
                              only_when=STEP_SCHEDULE)
    step_gamma: float = setting(0.1, "lr factor at each drop (step schedule)", only_when=STEP_SCHEDULE)
    epochs: int = setting(100, "the study trains 100 epochs", minimum=1, maximum=SANE_EPOCHS)
    batch_size: int = setting(100, "the study's batch size", minimum=1, maximum=SANE_BATCH)
    seed: int = setting(0, "seed of the initialisation, the batch order and plugins' randomness")
    # probe
    radii: list = setting(PAPER_RADII, "probe radii in DFT bins (the study: 4, 8, 12, 16); [] = no probe",
                          items=Number, minimum=0, maximum=SANE_RADIUS, nonempty=False)
    inclusive: bool = setting(False, "False: dist < r (official code); True: dist <= r (paper text)")
    probe_every: int = setting(1, "epochs between probe passes; 0 = never", minimum=0, maximum=SANE_EPOCHS)
    probe_train: bool = setting(False, "also probe the training set (Figure 3)")
    probe_report: bool = setting(False, "after training: LFC-only / HFC-only / both / neither counts")
    report_radii: list = setting(list(range(17)), "radii of the probe report", items=Number, minimum=0,
                                 maximum=SANE_RADIUS, only_when=WITH_PROBE_REPORT)
    probes: list = setting(["split"], "registered probes to record (split: LFC/HFC at radii; see `ablate plugins`)",
                           items=str, since="0.2")
    probe_params: dict = setting({}, "{probe: {parameter: value}}; --set PROBE.PARAM=VALUE sets one", since="0.2")
    # numerics: opt-in faster arithmetic changes results, so it names the run (docs/recipes.md, "Precision")
    precision: str = setting("fp32", "fp32 (true float32; TF32 off on CUDA) | tf32 (TF32 matmuls and "
                             "convolutions, CUDA) | bf16 (bf16 autocast, float32 weights)",
                             choices=PRECISIONS, since="0.2")
    # execution: how a run is computed, not what (not part of a run's identity)
    eval_batch_size: int = setting(500, "images per evaluation batch", minimum=1, maximum=SANE_BATCH, **NOT_RESULTS)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N, mps", pattern=r"auto|cpu|mps|cuda(:\d+)?",
                          **NOT_RESULTS)
    compile: bool = setting(False, "torch.compile the model's training forward pass (CUDA)", **NOT_RESULTS)
    compile_mode: str = setting("default", "torch.compile mode when compile is on: default | reduce-overhead "
                                "(CUDA graphs) | max-autotune", choices=COMPILE_MODES, **NOT_RESULTS)
    fused: bool = setting(True, "on CUDA, ablate's Adam/SGD as one fused kernel per step (the same update, "
                          "rounded in another order)", **NOT_RESULTS)
    deterministic: bool = setting(False, "on CUDA, deterministic algorithms only (cuDNN, scatter/index_add): "
                                  "bit-identical reruns, slower", **NOT_RESULTS)

    @classmethod
    @functools.cache
    def params(cls) -> dict[str, Param]:
        """Every setting as a :class:`Param`: its type, default, help and rules."""
        found = {}
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            found[f.name] = Param(f.name, type(default), default, f.metadata["help"], **f.metadata["rules"])
        return found

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.params())

    def update(self, values: dict[str, Any], where: str) -> None:
        """Set several settings at once, each checked; ``where`` prefixes error messages."""
        for key, value in values.items():
            self.set(key, value, f"{where}.{key}" if where else key)

    def set(self, key: str, value: Any, where: str) -> None:
        """Set one setting, checked; a table setting (``probe_params``) is merged one level down, so that
        a later layer (a scale, ``--set``) changes single parameters and keeps the others."""
        params = self.params()
        if key not in params:
            raise AblateError(f"{where}: unknown setting {key!r}; known settings: {', '.join(params)}")
        value = params[key].check(value, where)
        if isinstance(value, dict):
            merged = {name: dict(table) if isinstance(table, dict) else table for name, table in
                      getattr(self, key).items()}
            for name, table in value.items():
                merged[name] = {**merged[name], **table} if isinstance(table, dict) and isinstance(
                    merged.get(name), dict) else table
            value = merged
        setattr(self, key, value)

    @classmethod
    def saved(cls, values: dict[str, Any], where: str, device_type: str) -> "Settings":
        """Settings as a run saved them (checkpoint, config.json), by this or an earlier version: keys this
        version does not know are dropped, and the legacy ``precision = "auto"`` reads as what it meant on
        ``device_type``, the device the model now runs on (``bf16`` on CUDA, ``fp32`` elsewhere)."""
        values = {k: v for k, v in values.items() if k in cls.names()}
        if values.get("precision") == LEGACY_PRECISION:
            values["precision"] = "bf16" if device_type == "cuda" else "fp32"
        settings = cls()
        settings.update(values, where)
        return settings

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The settings that change a run's results (what its directory hash covers): ``radii`` counts as its
        default in a run that never probes the split (as any value a run ignores), and a value of
        :data:`REVISED` carries its revision."""
        values = self.as_dict()
        if not self.probes_split():
            values["radii"] = self.params()["radii"].default
        kept = identity_values(self.params(), values)
        revised = {name: REVISED[name, value] for name, value in kept.items()
                   if isinstance(value, str) and (name, value) in REVISED}
        return {**kept, "revised": revised} if revised else kept

    def probes_split(self) -> bool:
        """Whether the run records the split probe (whose radii are ``radii``): listed, and due every
        ``probe_every`` epochs or once after the last (``split.every = "final"``)."""
        every = self.probe_params.get(SPLIT_PROBE, {}).get("every", "epochs")
        return SPLIT_PROBE in self.probes and (self.probe_every > 0 or every == "final")


def probe_radii(values: Any, where: str) -> list:
    """The radii a probe is asked for outside a run (``ablate probe --radii``, :func:`ablate.probe_model`):
    the ``radii`` setting's rules, the ones ``ablate recipe`` checks (numbers in [0, SANE_RADIUS], each once),
    and at least one."""
    return dataclasses.replace(Settings.params()["radii"], nonempty=True).check(values, where)


def probe_radius(value: Any, where: str) -> float:
    """One radius (``--example-radius``, an end of ``--radii START:END``) by the rules of each of the radii."""
    param = Settings.params()["radii"]
    value = coerce_item(value, Number, where)
    param.check_one(value, where)
    return value
