"""Models: the two architectures, their slots and norm layers, build_model and its initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate import AblateError, ModelParts, Settings
from ablate.train.models import HFCResNet, ResNet18, build_model, hfc_resnet, resnet18

BATCHNORM = ModelParts(norm=nn.BatchNorm2d)
FACTORIES = {"resnet18": resnet18, "hfc-resnet": hfc_resnet}


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("width", [1.0, 0.25])
def test_logits_have_one_column_per_class(name, width):
    model = FACTORIES[name](7, width, ModelParts())
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("name", FACTORIES)
def test_other_image_sizes_and_channel_counts_work(name):
    model = FACTORIES[name](4, 0.25, ModelParts(), in_channels=1)
    assert model(torch.rand(2, 1, 27, 27)).shape == (2, 4)          # odd sizes: shortcut and conv agree
    assert first_conv(model).in_channels == 1


def test_widths_scale_channels_and_never_reach_zero():
    assert [m.out_channels for m in resnet18(10, 0.25, ModelParts()).modules()
            if isinstance(m, nn.Conv2d)][:1] == [16]
    assert resnet18(10, 0.25, ModelParts()).fc.in_features == 128
    assert hfc_resnet(10, 0.25, ModelParts()).fc.in_features == 16
    assert hfc_resnet(10, 0.01, ModelParts()).fc.in_features == 1


# hfc-resnet as HaohanWang/HFC scripts/resnet.py: conv0's conv_bn_relu (1), every block's two bn_relu_conv but
# the very first block's first conv (29); the final batch_normalization_layer is commented out (lines 401-402)
@pytest.mark.parametrize("name, norms", [("resnet18", 1 + 16 + 3), ("hfc-resnet", 1 + 29)])
def test_no_batchnorm_by_default_and_one_per_norm_position_when_asked(name, norms):
    plain = FACTORIES[name](10, 0.25, ModelParts())
    assert count(plain, nn.modules.batchnorm._BatchNorm) == 0
    with_bn = FACTORIES[name](10, 0.25, BATCHNORM)
    assert count(with_bn, nn.BatchNorm2d) == norms


def test_hfc_resnet_pools_the_last_block_unnormalised_as_the_official_network():
    """``relu_layer = tf.nn.relu(conv3)``, then the global mean (scripts/resnet.py lines 405-406): no norm after
    the last block, with BatchNorm too."""
    torch.manual_seed(0)
    model = hfc_resnet(10, 0.25, BATCHNORM).train()       # normalising with the batch's statistics
    x = torch.rand(6, 3, 32, 32)
    last = {}
    model.blocks.register_forward_hook(lambda module, args, out: last.update(out=out))
    logits = model(x)
    official = model.fc(F.relu(last["out"]).mean(dim=(2, 3)))
    assert torch.allclose(logits, official, atol=1e-6)


def test_resnet18_convs_have_a_bias_only_without_a_norm_layer():
    plain = resnet18(10, 0.25, ModelParts())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))
    assert all(m.bias is None for m in resnet18(10, 0.25, BATCHNORM).modules() if isinstance(m, nn.Conv2d))


def test_resnet18_has_the_usual_parameter_count():
    known = 11_173_962                  # CIFAR ResNet18 with BatchNorm, 10 classes
    with_bn = sum(p.numel() for p in resnet18(10, 1.0, BATCHNORM).parameters())
    plain = sum(p.numel() for p in resnet18(10, 1.0, ModelParts()).parameters())
    assert with_bn == known
    assert abs(plain - known) / known < 0.001     # BN's 9600 parameters traded for 4800 conv biases
    assert count(resnet18(10, 1.0, ModelParts()), nn.MaxPool2d) == 0


def test_hfc_resnet_has_6n_plus_2_weighted_layers_and_no_conv_bias():
    model = hfc_resnet(10, 1.0, ModelParts())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31 and count(model, nn.Linear) == 1            # 1 stem + 3 x 5 x 2, + fc = 32
    assert all(c.kernel_size == (3, 3) and c.bias is None for c in convs)
    assert [c.out_channels for c in convs] == [16] * 11 + [32] * 10 + [64] * 10    # stem, then 5 blocks per stage
    assert model.fc.in_features == 64 and model.fc.bias is not None


def test_hfc_resnet_downsampling_shortcut_is_pooled_and_zero_padded():
    model = hfc_resnet(10, 0.25, ModelParts())          # 4 / 8 / 16 channels
    block = model.blocks[5]                             # first block of stage 2: 4 -> 8 channels, stride 2
    for conv in (block.conv1, block.conv2):
        nn.init.zeros_(conv.weight)
    x = torch.rand(2, 4, 8, 8)
    out = block(x)                                      # the residual branch is zero: only the shortcut
    pooled = nn.functional.avg_pool2d(x, 2)
    assert out.shape == (2, 8, 4, 4)
    assert torch.equal(out[:, 2:6], pooled)
    assert not out[:, :2].any() and not out[:, 6:].any()


@pytest.mark.parametrize("name", FACTORIES)
def test_the_stem_is_the_first_conv(name):
    model = FACTORIES[name](10, 0.5, ModelParts())
    assert first_conv(model) is model.stem
    assert model.stem.in_channels == 3 and model.stem.stride == (1, 1)


@pytest.mark.parametrize("name", FACTORIES)
def test_slots_are_used_where_documented(name):
    model = FACTORIES[name](5, 0.25, ModelParts())
    seen = {}

    class Zero(nn.Module):
        def __init__(self, slot):
            super().__init__()
            self.slot = slot

        def forward(self, x):
            seen[self.slot] = x.shape
            return torch.zeros_like(x)

    x = torch.rand(3, 3, 32, 32)
    assert not torch.allclose(model(x), model.fc.bias.expand(3, 5))
    model.pre_fc = Zero("pre_fc")
    assert torch.equal(model(x), model.fc.bias.expand(3, 5))
    model.pre_fc = nn.Identity()
    model.pre_pool = Zero("pre_pool")
    assert torch.equal(model(x), model.fc.bias.expand(3, 5))
    width = model.fc.in_features
    assert seen["pre_fc"] == (3, width)                 # pooled features
    last_map = 4 if name == "resnet18" else 8           # 32 halved 3 times (resnet18) or twice
    assert seen["pre_pool"] == (3, width, last_map, last_map)


@pytest.mark.parametrize("name", FACTORIES)
def test_channels_last_input_gives_the_same_logits(name):
    torch.manual_seed(0)
    model = FACTORIES[name](10, 0.25, BATCHNORM).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    assert torch.allclose(model(x.to(memory_format=torch.channels_last)), expected, atol=1e-5)


def glorot_bound(weight: torch.Tensor) -> float:
    receptive = weight[0, 0].numel() if weight.ndim > 2 else 1
    return math.sqrt(6 / ((weight.shape[0] + weight.shape[1]) * receptive))


@pytest.mark.parametrize("name", FACTORIES)
def test_xavier_init_as_the_study(name):
    torch.manual_seed(0)
    model = build_model(Settings(model=name, width=0.5, init="xavier"), 10, BATCHNORM)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        bound = glorot_bound(layer.weight)
        assert layer.weight.abs().max() <= bound
        if layer.weight.numel() > 2000:                 # uniform on [-b, b]: std b / sqrt(3)
            assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        assert layer.bias is None or not layer.bias.any()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(torch.equal(n.weight, torch.ones_like(n.weight)) and not n.bias.any() for n in norms)


def test_default_init_leaves_pytorchs():
    torch.manual_seed(0)
    model = build_model(Settings(model="resnet18", width=0.25, init="default"), 10, ModelParts())
    assert model.fc.bias.any()                          # PyTorch draws biases; Xavier here zeroes them
    torch.manual_seed(0)
    xavier = build_model(Settings(model="resnet18", width=0.25, init="xavier"), 10, ModelParts())
    assert not xavier.fc.bias.any()


def test_build_model_uses_the_registry_and_passes_parts():
    model = build_model(Settings(model="hfc-resnet", width=0.25), 3, BATCHNORM)
    assert isinstance(model, HFCResNet) and model.fc.out_features == 3
    assert count(model, nn.BatchNorm2d) > 0
    assert isinstance(build_model(Settings(model="resnet18", width=0.25), 3), ResNet18)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(AblateError) as error:
        build_model(Settings(model="vgg16"), 10, ModelParts())
    message = str(error.value)
    assert "'vgg16'" in message and "resnet18" in message and "hfc-resnet" in message


def test_other_channel_counts_need_a_factory_that_takes_them(monkeypatch):
    from ablate.core.registry import RegistryEntry, get_registry

    assert build_model(Settings(model="resnet18", width=0.25), 10, ModelParts(), in_channels=1).stem.in_channels == 1
    monkeypatch.setitem(get_registry().registry("models"), "rgb-only",
                        RegistryEntry(lambda num_classes, width, parts: resnet18(num_classes, width, parts), "",
                                      "some-plugin"))
    with pytest.raises(AblateError, match="'rgb-only'.*'some-plugin'.*1 channels"):
        build_model(Settings(model="rgb-only", width=0.25), 10, ModelParts(), in_channels=1)


def test_a_checkpoint_of_the_old_hfc_resnet_with_a_final_norm_is_refused_in_one_line(tmp_path):
    """Before issue 31 a norm plugin put a norm after hfc-resnet's last block; such a checkpoint has weights the
    official network has no place for."""
    from ablate.train.checkpoint import save_checkpoint
    from ablate.train.trained import load_trained

    settings = Settings(model="hfc-resnet", width=0.125, dataset="synthetic:train=20,test=10", device="cpu")
    model = hfc_resnet(10, 0.125, ModelParts(norm=lambda c: nn.BatchNorm2d(c, eps=1e-3, track_running_stats=False)))
    state = {**model.state_dict(), "final_norm.weight": torch.ones(8), "final_norm.bias": torch.zeros(8)}
    save_checkpoint(tmp_path / "checkpoint.pt", {"model": state, "settings": settings.as_dict(),
                                                 "plugins": [["batchnorm", {"eps": 1e-3, "stats": "batch",
                                                                            "momentum": 0.1}]]})
    with pytest.raises(AblateError, match="final_norm.*do not fit.*retrain") as error:
        load_trained(tmp_path / "checkpoint.pt", device="cpu")
    assert "\n" not in str(error.value)
