"""The settings of one training run, with the original study's values as defaults.

Every setting a recipe, a scale or ``--set`` may change is a field here; its type
is what validation checks against and its comment says where the default comes
from (see ../shared/docs/paper-notes.md, section 2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.params import coerce

PAPER_RADII = [4, 8, 12, 16]


@dataclass
class Settings:
    """Resolved settings of a run. Defaults reproduce the study's vanilla set-up."""

    # data
    dataset: str = "cifar10"          # cifar10 | cifar100 | npz:PATH | synthetic
    train_size: int = 0               # 0 = the whole training set; else a stratified subset
    test_size: int = 0
    normalize: str = "max"            # "max": each image / its max (official code); "none": / 255
    augment: str = "none"             # "none" | "crop_flip" (pad-4 crop + flip, on the device)
    # model
    model: str = "resnet18"           # resnet18 | hfc-resnet | any registered model
    width: float = 1.0                # channel multiplier, for CPU-sized runs
    init: str = "xavier"              # xavier (the study) | default (PyTorch's)
    # optimisation
    optimizer: str = "adam"           # adam (the study) | sgd
    lr: float = 1e-4
    momentum: float = 0.9             # sgd only
    weight_decay: float = 0.0
    schedule: str = "none"            # none | cosine | step
    step_every: int = 30              # epochs between lr drops (step schedule)
    step_gamma: float = 0.1
    epochs: int = 100
    batch_size: int = 100
    seed: int = 0
    # probe
    radii: list = field(default_factory=lambda: list(PAPER_RADII))
    inclusive: bool = False           # False: dist < r (official code); True: dist <= r (paper text)
    probe_every: int = 1              # epochs between probe passes; 0 = never
    probe_train: bool = False         # also probe the training set (Figure 3)
    probe_report: bool = False        # after training: LFC-only / HFC-only / both / neither counts
    report_radii: list = field(default_factory=lambda: list(range(17)))
    eval_batch_size: int = 500
    # execution (not part of a run's identity)
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    precision: str = "auto"           # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    compile: bool = False             # torch.compile the model (CUDA)

    CHOICES = {
        "normalize": ("max", "none"),
        "augment": ("none", "crop_flip"),
        "init": ("xavier", "default"),
        "optimizer": ("adam", "sgd"),
        "schedule": ("none", "cosine", "step"),
        "precision": ("auto", "fp32", "bf16"),
    }
    POSITIVE = ("epochs", "batch_size", "eval_batch_size", "step_every")
    NOT_IDENTITY = ("device", "precision", "compile", "eval_batch_size")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def field_type(cls, name: str) -> type:
        default = cls.__dataclass_fields__[name]
        if default.default_factory is not dataclasses.MISSING:
            return type(default.default_factory())
        return type(default.default)

    def update(self, values: dict[str, Any], where: str) -> None:
        """Set several settings at once, each checked; ``where`` prefixes error messages."""
        for key, value in values.items():
            self.set(key, value, f"{where}.{key}" if where else key)

    def set(self, key: str, value: Any, where: str) -> None:
        if key not in self.__dataclass_fields__:
            raise AblateError(f"{where}: unknown setting {key!r}; known settings: {', '.join(self.names())}")
        value = coerce(value, self.field_type(key), where)
        check_setting(key, value, where)
        setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The settings that change a run's results (what its directory hash covers)."""
        return {k: v for k, v in self.as_dict().items() if k not in self.NOT_IDENTITY}


def check_setting(key: str, value: Any, where: str) -> None:
    """Reject values of the right type that still make no sense."""
    if key in Settings.CHOICES and value not in Settings.CHOICES[key]:
        raise AblateError(f"{where}: found {value!r}, allowed: {', '.join(Settings.CHOICES[key])}")
    if key in Settings.POSITIVE and value < 1:
        raise AblateError(f"{where}: found {value!r}, must be >= 1")
    if key in ("train_size", "test_size", "probe_every", "lr", "weight_decay") and value < 0:
        raise AblateError(f"{where}: found {value!r}, must be >= 0")
    if key == "width" and value <= 0:
        raise AblateError(f"{where}: found {value!r}, must be > 0")
    if key in ("radii", "report_radii"):
        for r in value:
            if isinstance(r, bool) or not isinstance(r, (int, float)) or r < 0:
                raise AblateError(f"{where}: radius {r!r} is not allowed; radii are numbers >= 0")
    if key == "device" and not (value in ("auto", "cpu", "cuda", "mps") or value.startswith("cuda:")):
        raise AblateError(f"{where}: found {value!r}, allowed: auto, cpu, cuda, cuda:N, mps")
