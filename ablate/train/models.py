"""The built-in models and :func:`build_model`, which every run goes through.

Two architectures, both taking float images (N, C, H, W) of any size and returning
logits (N, num_classes):

* ``resnet18``: the common CIFAR ResNet18 (3x3 stem, no max-pool, stages of
  64/128/256/512 channels, two basic blocks each), the seed reproduction's network;
* ``hfc-resnet``: the study's own TensorFlow network (HaohanWang/HFC,
  ``scripts/resnet.py``): a pre-activation ResNet of 6n+2 = 32 weighted layers.

Conventions plugins rely on:

* ``parts.norm(channels)`` makes every normalisation layer; the default makes
  ``nn.Identity`` (the study's vanilla network has no BatchNorm).
* ``model.pre_pool`` (applied to the last feature map, before global average
  pooling: where the official code put its dropout) and ``model.pre_fc`` (applied
  to the pooled features, before the linear layer: the paper text's "fully
  connected" dropout) are ``nn.Identity`` slots a plugin may replace.
* ``model.fc`` is the final linear layer.
* The stem conv is the first ``nn.Conv2d`` in ``model.modules()`` order (kernel
  smoothing of the first layer relies on this).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from ablate.core.errors import AblateError
from ablate.core.registry import get_registry
from ablate.core.structs import ModelParts


def build_model(settings, num_classes: int, parts: ModelParts | None = None, in_channels: int = 3,
                registry=None) -> nn.Module:
    """Build ``settings.model`` at ``settings.width`` and initialise it as ``settings.init`` says.

    The model's factory is looked up in ``registry`` (an :class:`ablate.core.registry.PluginRegistry`;
    the process-wide one when None). ``in_channels`` other than 3 is passed to factories
    that accept an ``in_channels`` keyword (both built-ins do); others are refused.
    """
    if registry is None:
        registry = get_registry()
    models = registry.registry("models")
    if settings.model not in models:
        raise AblateError(f"model: unknown model {settings.model!r}; known models: {', '.join(sorted(models))} "
                          f"(see `ablate plugins`)")
    entry = models[settings.model]
    factory = entry.function
    parts = parts if parts is not None else ModelParts()
    if in_channels == 3:
        model = factory(num_classes, settings.width, parts)
    elif "in_channels" in inspect.signature(factory).parameters:
        model = factory(num_classes, settings.width, parts, in_channels=in_channels)
    else:
        raise AblateError(f"model {settings.model!r} (from {entry.owner!r}) takes 3-channel images but the data has "
                          f"{in_channels} channels; use a 3-channel dataset or a model that accepts in_channels")
    if settings.init == "xavier":
        xavier_init(model)
    elif settings.init != "default":
        raise AblateError(f"init: found {settings.init!r}, allowed: xavier, default")
    return model


def xavier_init(model: nn.Module) -> None:
    """The study's initialisation: Glorot-uniform conv and linear weights, zero biases,
    normalisation layers at weight 1 and bias 0.

    (The official code initialised its output layer with TF's
    ``uniform_unit_scaling(1.0)``, U(+-sqrt(3 / fan_in)); the paper says Xavier, and
    Xavier is used here for every layer.)
    """
    for module in model.modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            if getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def needs_bias(norm: nn.Module) -> bool:
    """Whether the conv that ``norm`` follows should carry a bias: only when ``norm`` is
    no real layer. BatchNorm's shift makes a bias redundant; without it the bias is
    the only per-channel offset."""
    return isinstance(norm, nn.Identity)


class SlottedNet(nn.Module):
    """Base of both models: the head ``pre_pool -> global average pool -> pre_fc -> fc``.

    Subclasses call :meth:`make_head` last in ``__init__``, so that ``fc`` is the
    last module and the stem conv the first.
    """

    def make_head(self, channels: int, num_classes: int) -> None:
        self.pre_pool = nn.Identity()
        self.pre_fc = nn.Identity()
        self.fc = nn.Linear(channels, num_classes)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.pre_pool(features).mean(dim=(2, 3))
        return self.fc(self.pre_fc(pooled))


# --------------------------------------------------------------------------
# resnet18: the common CIFAR ResNet18
# --------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """conv-norm-relu-conv-norm, plus the input (through a 1x1 conv + norm when the shape changes), relu."""

    def __init__(self, cin: int, cout: int, stride: int, parts: ModelParts) -> None:
        super().__init__()
        self.norm1, self.norm2 = parts.norm(cout), parts.norm(cout)
        self.conv1 = conv3x3(cin, cout, stride, bias=needs_bias(self.norm1))
        self.conv2 = conv3x3(cout, cout, 1, bias=needs_bias(self.norm2))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            norm = parts.norm(cout)
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=needs_bias(norm)), norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(SlottedNet):
    """CIFAR ResNet18. Convs have a bias exactly when ``parts.norm`` makes no real
    layer (the vanilla set-up), so that the network without BatchNorm keeps an offset
    per channel and the one with BatchNorm has the usual 11.17M parameters."""

    def __init__(self, num_classes: int, width: float = 1.0, parts: ModelParts | None = None,
                 in_channels: int = 3) -> None:
        super().__init__()
        parts = parts or ModelParts()
        channels = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.stem_norm = parts.norm(channels[0])
        self.stem = conv3x3(in_channels, channels[0], 1, bias=needs_bias(self.stem_norm))
        blocks, cin = [], channels[0]
        for stage, cout in enumerate(channels):
            for index in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and index == 0 else 1, parts))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.make_head(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(F.relu(self.stem_norm(self.stem(x)))))


def resnet18(num_classes: int, width: float = 1.0, parts: ModelParts | None = None, in_channels: int = 3) -> nn.Module:
    return ResNet18(num_classes, width, parts, in_channels)


# --------------------------------------------------------------------------
# hfc-resnet: the study's TensorFlow network
# --------------------------------------------------------------------------

class PreActBlock(nn.Module):
    """norm-relu-conv, norm-relu-conv, plus the input.

    Down-sampling blocks double the channels with a stride-2 first conv; their
    shortcut average-pools 2x2 and pads the new channels with zeros (no weights).
    The network's very first block skips the first norm-relu (the stem just did it).
    """

    def __init__(self, cin: int, cout: int, stride: int, parts: ModelParts, first: bool = False) -> None:
        super().__init__()
        self.pre_act = not first
        self.norm1 = parts.norm(cin) if self.pre_act else nn.Identity()
        self.conv1 = conv3x3(cin, cout, stride)
        self.norm2 = parts.norm(cout)
        self.conv2 = conv3x3(cout, cout, 1)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)) if self.pre_act else x)
        out = self.conv2(F.relu(self.norm2(out)))
        shortcut = F.avg_pool2d(x, 2, ceil_mode=True) if self.stride == 2 else x   # ceil: odd sizes match the conv
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return out + shortcut


class HFCResNet(SlottedNet):
    """The official network: stem conv-norm-relu (16 channels), 3 stages x ``n`` = 5
    pre-activation blocks of 16/32/64 channels (x width), relu, global average pool,
    one linear layer.

    As in the official code the convs have no bias (only the linear layer does), and
    with the default parts every norm is the identity. The code's final norm is commented
    out (``scripts/resnet.py`` lines 401-402: ``relu(conv3)`` is pooled), so there is none
    here either, whatever ``parts.norm`` makes (until issue 31 a norm plugin put one there;
    no built-in recipe trains this model). One difference: TF's "SAME"
    padding of the stride-2 convs pads only bottom/right where PyTorch pads 1 on
    every side (the same output size, the sampling grid shifted by one pixel).
    """

    def __init__(self, num_classes: int, width: float = 1.0, parts: ModelParts | None = None,
                 in_channels: int = 3, n: int = 5) -> None:
        super().__init__()
        parts = parts or ModelParts()
        channels = [scaled(c, width) for c in (16, 32, 64)]
        self.stem = conv3x3(in_channels, channels[0])
        self.stem_norm = parts.norm(channels[0])
        blocks, cin = [], channels[0]
        for stage, cout in enumerate(channels):
            for index in range(n):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(PreActBlock(cin, cout, stride, parts, first=stage == 0 and index == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.make_head(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.blocks(F.relu(self.stem_norm(self.stem(x))))
        return self.head(F.relu(features))


def hfc_resnet(num_classes: int, width: float = 1.0, parts: ModelParts | None = None,
               in_channels: int = 3) -> nn.Module:
    return HFCResNet(num_classes, width, parts, in_channels)
