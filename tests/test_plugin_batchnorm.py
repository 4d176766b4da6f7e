"""batchnorm: BatchNorm layers exist only with the plugin, initialised as the official code."""

import pytest
import torch
from torch import nn

import ablate
from ablate.testing import make_plugin, tiny_model
from ablate.train import models
from ablate_plugins.batchnorm import BatchNorm


def parts_with(**values):
    parts = ablate.ModelParts()
    make_plugin(BatchNorm, **values).ablate_model_parts(parts=parts, settings=ablate.Settings())
    return parts


def batchnorms(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def test_batchnorm_layers_only_with_the_plugin():
    assert batchnorms(tiny_model()) == []
    layers = batchnorms(tiny_model(parts=parts_with()))
    assert len(layers) == 2
    for layer in layers:
        assert layer.eps == pytest.approx(1e-3)
        assert torch.all(layer.weight == 1) and torch.all(layer.bias == 0)
        assert not layer.track_running_stats        # the official code: batch statistics only


def test_batch_statistics_are_used_in_eval_mode_too():
    torch.manual_seed(0)
    model = tiny_model(parts=parts_with())
    x = torch.rand(8, 3, 16, 16) * 3 + 1          # far from zero mean / unit variance
    train_out = model.train()(x)
    eval_out = model.eval()(x)
    torch.testing.assert_close(train_out, eval_out)


def test_running_statistics_option():
    torch.manual_seed(0)
    model = tiny_model(parts=parts_with(stats="running", momentum=0.5))
    layer = batchnorms(model)[0]
    assert layer.track_running_stats and layer.momentum == 0.5
    x = torch.rand(8, 3, 16, 16) * 3 + 1
    model.train()(x)
    assert not torch.allclose(layer.running_mean, torch.zeros_like(layer.running_mean))
    assert not torch.allclose(model.train()(x), model.eval()(x))


def test_real_models_get_batchnorm_and_keep_gamma_beta_after_init():
    settings = ablate.Settings(width=0.125)
    vanilla = models.build_model(settings, 10, ablate.ModelParts())
    assert batchnorms(vanilla) == []
    with_bn = models.build_model(settings, 10, parts_with())
    layers = batchnorms(with_bn)
    assert layers
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in layers)


@pytest.mark.parametrize("values, message", [
    ({"momentum": 1.5}, "momentum"),
    ({"stats": "moving"}, "allowed"),
    ({"eps": -1.0}, "> 0"), ({"eps": 0.0}, r"> 0; give a value in \(0, inf\)"),
    ({"epsilon": 1e-3}, "no parameter 'epsilon'"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        BatchNorm.validate(values, "recipe.toml: runs[0].plugins.batchnorm")
