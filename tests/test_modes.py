"""ablate.core.modes.in_mode: the mode inside the block, and every module's own mode after it."""

from __future__ import annotations

import pytest
from torch import nn

from ablate.core.modes import in_mode


def mixed_model() -> nn.Sequential:
    """A training model with a frozen BatchNorm (eval mode) inside: what ``model.train(was)`` would undo."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout())
    model.train()
    model[1].eval()
    return model


@pytest.mark.parametrize("train", [False, True])
def test_every_module_is_in_the_mode_inside_and_its_own_after(train):
    model = mixed_model()
    before = [m.training for m in model.modules()]
    with in_mode(model, train=train) as inside:
        assert inside is model
        assert all(m.training == train for m in model.modules())
    assert [m.training for m in model.modules()] == before == [True, True, False, True]


def test_modes_are_restored_when_the_block_raises():
    model = mixed_model()
    with pytest.raises(RuntimeError):
        with in_mode(model, train=False):
            raise RuntimeError("forward failed")
    assert [m.training for m in model.modules()] == [True, True, False, True]
