"""A model in train or eval mode for a while, every module's own mode restored afterwards.

``model.train(was)`` afterwards would not restore it: a module that was left in eval
mode inside a training model (a frozen BatchNorm) would come back training. Probes,
attacks and the memory estimate evaluate a model that the caller may still be training.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def in_mode(model: nn.Module, train: bool) -> Iterator[nn.Module]:
    """``with in_mode(model, train=False): ...``: ``model`` in eval (or train) mode inside the block."""
    modes = [(module, module.training) for module in model.modules()]
    model.train(train)
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
