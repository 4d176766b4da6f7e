"""dropout: active in training only, at the position the parameter names."""

import pytest
import torch
from torch import nn

import ablate
from ablate.testing import make_plugin, tiny_model
from ablate_plugins.dropout import Dropout


def with_dropout(**values):
    torch.manual_seed(0)
    plain = tiny_model()
    model = tiny_model()
    model.load_state_dict(plain.state_dict())
    make_plugin(Dropout, **values).ablate_modify_model(model=model, settings=ablate.Settings())
    return plain, model


@pytest.mark.parametrize("where, attribute", [("pool", "pre_pool"), ("fc", "pre_fc")])
def test_dropout_replaces_the_named_identity(where, attribute):
    _, model = with_dropout(where=where, p=0.3)
    layer = getattr(model, attribute)
    assert isinstance(layer, nn.Dropout) and layer.p == 0.3
    other = {"pre_pool", "pre_fc"} - {attribute}
    assert isinstance(getattr(model, other.pop()), nn.Identity)


@pytest.mark.parametrize("where", ["pool", "fc"])
def test_dropout_acts_in_training_only(where):
    plain, model = with_dropout(where=where)
    x = torch.rand(16, 3, 16, 16)
    model.eval(), plain.eval()
    torch.testing.assert_close(model(x), plain(x))           # evaluation sees the whole network
    model.train(), plain.train()
    torch.manual_seed(1)
    first = model(x)
    second = model(x)
    assert not torch.allclose(first, plain(x))
    assert not torch.allclose(first, second)                  # a fresh mask each pass


def test_the_default_is_the_official_position_and_rate():
    _, model = with_dropout()
    assert isinstance(model.pre_pool, nn.Dropout) and model.pre_pool.p == 0.5


def test_a_model_without_the_position_is_a_clear_error():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(ablate.AblateError, match="no `pre_pool` layer"):
        make_plugin(Dropout).ablate_modify_model(model=model, settings=ablate.Settings())


@pytest.mark.parametrize("values, message", [
    ({"p": 1.0}, "must be < 1"), ({"p": -0.1}, ">= 0"), ({"where": "conv"}, "allowed"), ({"p": "half"}, "expected float"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        Dropout.validate(values, "runs[0].plugins.dropout")
