"""Shared fixtures: a clean plugin registry and small recipes for every test."""

from __future__ import annotations

import contextlib
import os
import textwrap
import urllib.error
from pathlib import Path

import pytest
import torch

from ablate.core.registry import reset_registry

from planted_models import measure_planted

# Tiny models run fastest, and identically from run to run, on one thread; it also
# keeps the suite from fighting itself for this 2-core machine's cores.
torch.set_num_threads(1)

OPTIONAL_AUTOLOAD = ("tensorboard",)
# Also for fixtures wider than one test (they run before `fresh_registry`) and subprocesses.
os.environ["ABLATE_DISABLE_PLUGINS"] = ",".join(OPTIONAL_AUTOLOAD)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch, tmp_path):
    """Each test sees freshly discovered plugins and its own data cache folder."""
    # Plugins that autoload when an optional extra is installed (tensorboard) would join every run
    # of every test, and the tests would depend on what this machine has installed; the tests of
    # such a plugin switch it back on (tests/test_plugin_tensorboard.py).
    monkeypatch.setenv("ABLATE_DISABLE_PLUGINS", ",".join(OPTIONAL_AUTOLOAD))
    monkeypatch.delenv("ABLATE_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "data-cache"))
    reset_registry()
    yield
    reset_registry()


TINY = """
    description = "a tiny study for tests"
    report = "figure5"

    [settings]
    dataset = "synthetic:train=240,test=120"
    model = "resnet18"
    width = 0.0625
    epochs = 2
    batch_size = 40
    lr = 0.003
    radii = [4, 12]
    eval_batch_size = 120
    device = "cpu"

    [scales.smoke]
    epochs = 1
"""


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe file from TOML text (the tiny settings above plus the given runs)."""

    def write(runs: str, name: str = "tiny", head: str = TINY) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(textwrap.dedent(head) + "\n" + textwrap.dedent(runs))
        return path

    return write


@pytest.fixture(autouse=True)
def no_calibration(monkeypatch, tmp_path):
    """`ablate recipes` reads and writes its calibration cache in the test's own folder and measures
    nothing unless a test asks (tests/test_calibration.py)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setenv("ABLATE_NO_CALIBRATION", "1")


@pytest.fixture
def no_network(monkeypatch):
    """torchvision's downloaders (CIFAR, MNIST-like, SVHN, STL-10) fail as they would offline, and record
    the addresses they were asked for."""
    from torchvision.datasets import cifar, mnist, stl10, svhn

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    for module, name in ((cifar, "download_and_extract_archive"), (mnist, "download_and_extract_archive"),
                         (stl10, "download_and_extract_archive"), (svhn, "download_url")):
        monkeypatch.setattr(module, name, offline)
    return calls


@contextlib.contextmanager
def ctrl_c_at_epoch(epoch: int, monkeypatch):
    """Ctrl-C as epoch ``epoch`` starts in whatever trains inside the block, which must stop there."""
    from ablate.train.trainer import Trainer

    train_epoch = Trainer.train_epoch

    def stop(self, number):
        if number == epoch:
            raise KeyboardInterrupt
        return train_epoch(self, number)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(Trainer, "train_epoch", stop)
        yield


@pytest.fixture(scope="module")
def planted():
    """Two models that read planted frequency bands, and what the probe measured of each (planted_models.py)."""
    return measure_planted()
