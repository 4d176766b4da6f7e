"""Helpers for testing plugins, loaded by pytest as the plugin ``ablate``.

Installing ablate registers this module under the ``pytest11`` entry point, so
every test session has the :func:`ablate_plugin` fixture::

    def test_my_plugin(ablate_plugin):
        ablate_plugin(MyPlugin)                     # now `my_plugin` can be named in a run
        pm = ablate.api.get_registry().run_manager([("my_plugin", {"p": 0.3})])

The small builders below (:func:`tiny_model`, :func:`tiny_data`, :func:`train_state`,
:func:`make_plugin`) make the objects hooks receive without a dataset download or
a full ResNet, so that a hook method can be called directly.
Nothing heavy is imported until a helper is called: pytest loads this module in
every run, whether or not the tests use ablate (torch alone takes 1.6 s to import).
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def ablate_plugin():
    """Register plugin classes in ablate's registry for one test.

    Returns ``register(cls, source="test") -> cls``. A plugin already installed
    under the same name (your package, once pip-installed) is set aside for the
    test and put back afterwards, so the test always exercises the class it was given.
    """
    from ablate.core.registry import get_registry  # noqa: PLC0415 (pytest loads this in every session)

    registry = get_registry()
    registered: list[str] = []
    set_aside: dict[str, Any] = {}      # name -> the PluginInfo installed before the test

    def register(cls, source: str = "test"):
        if cls.name in registry.plugins and cls.name not in registered:
            set_aside[cls.name] = registry.plugins[cls.name]
        registry.remove(cls.name)
        registry.add(cls, source)
        registered.append(cls.name)
        return cls

    yield register
    for name in registered:
        registry.remove(name)
    for info in set_aside.values():
        registry.add(info.cls, info.source)


def tiny_model(num_classes: int = 10, channels: int = 3, width: int = 8, parts=None):
    """A small CNN with the attributes ablate's models expose.

    conv -> norm -> relu -> conv -> norm -> relu -> ``pre_pool`` -> global average
    pool -> ``pre_fc`` -> ``fc``; the norm layers come from ``parts.norm``
    (:class:`ablate.ModelParts`), as in the built-in models.
    """
    from torch import nn  # noqa: PLC0415 (pytest loads this in every session)

    from ablate.core.structs import ModelParts  # noqa: PLC0415 (pytest loads this in every session)

    parts = parts or ModelParts()

    class TinyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=1), parts.norm(width), nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, padding=1), parts.norm(2 * width), nn.ReLU())
            self.pre_pool = nn.Identity()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.pre_fc = nn.Identity()
            self.fc = nn.Linear(2 * width, num_classes)

        def forward(self, x):
            x = self.pool(self.pre_pool(self.features(x))).flatten(1)
            return self.fc(self.pre_fc(x))

    return TinyNet()


def tiny_data(n_train: int = 64, n_test: int = 32, num_classes: int = 4, size: int = 16,
              channels: int = 3, seed: int = 0):
    """Random uint8 images with labels every class shares equally (an :class:`ablate.Data`)."""
    import torch  # noqa: PLC0415 (pytest loads this in every session)

    from ablate.core.structs import Data  # noqa: PLC0415 (pytest loads this in every session)

    generator = torch.Generator().manual_seed(seed)

    def images(n):
        return torch.randint(0, 256, (n, channels, size, size), generator=generator, dtype=torch.uint8)

    def labels(n):
        return torch.arange(n) % num_classes

    return Data(images(n_train), labels(n_train), images(n_test), labels(n_test),
                [f"class{i}" for i in range(num_classes)])


def train_state(settings=None, num_classes: int = 10, device="cpu", **fields):
    """An :class:`ablate.TrainState` for calling run hooks directly."""
    import torch  # noqa: PLC0415 (pytest loads this in every session)

    from ablate.core.structs import TrainState  # noqa: PLC0415 (pytest loads this in every session)
    from ablate.study.settings import Settings  # noqa: PLC0415 (pytest loads this in every session)

    return TrainState(settings=settings or Settings(), run_name=fields.pop("run_name", "test"),
                      run_dir=fields.pop("run_dir", None), device=torch.device(device),
                      num_classes=num_classes, **fields)


def make_plugin(cls, **values):
    """An instance of plugin class ``cls`` with ``values`` checked as a recipe's would be."""
    return cls(**cls.validate(values, f"plugins.{cls.name}"))
