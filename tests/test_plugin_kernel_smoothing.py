"""kernel_smoothing: section 6's smoothing, equal to the official scipy code in the right layout."""

import numpy as np
import pytest
import torch
from torch import nn

import ablate
from ablate.testing import make_plugin, tiny_model
from ablate.train.kernels import first_conv, smooth_kernels, smoothed_copy
from ablate_plugins.kernel_smoothing import KernelSmoothing

signal = pytest.importorskip("scipy.signal")


def official_smoothing(tf_weight: np.ndarray, rho: float) -> np.ndarray:
    """The official generateSmoothKernel, transcribed: TF layout [kh, kw, in, out]."""
    mask = np.full((3, 3), rho)
    mask[1, 1] = 1
    result = np.zeros_like(tf_weight)
    for i in range(tf_weight.shape[2]):
        for j in range(tf_weight.shape[3]):
            result[:, :, i, j] = signal.convolve2d(tf_weight[:, :, i, j], mask, boundary="symm", mode="same")
    return result


def via_official(weight: torch.Tensor, rho: float) -> torch.Tensor:
    tf_weight = weight.permute(2, 3, 1, 0).double().numpy()        # [out, in, kh, kw] -> [kh, kw, in, out]
    return torch.from_numpy(official_smoothing(tf_weight, rho)).permute(3, 2, 0, 1).to(weight.dtype)


@pytest.mark.parametrize("rho", [1.0, 0.5, 0.25, 2.0])
@pytest.mark.parametrize("shape", [(4, 2, 3, 3), (5, 3, 5, 5), (2, 6, 3, 3)])
def test_equals_the_official_function(rho, shape):
    torch.manual_seed(0)
    weight = torch.randn(shape)
    torch.testing.assert_close(smooth_kernels(weight, rho), via_official(weight, rho))


def test_a_hand_worked_kernel():
    w = torch.tensor([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]).view(1, 1, 3, 3)
    out = smooth_kernels(w, 1.0)[0, 0]
    # Symmetric border duplicates the edge: the top-left 3x3 neighbourhood is [[1,1,2],[1,1,2],[4,4,5]].
    assert out[0, 0] == 1 + 1 + 2 + 1 + 1 + 2 + 4 + 4 + 5
    assert out[1, 1] == sum(range(1, 10))                          # no renormalisation
    delta = torch.zeros(1, 1, 3, 3)
    delta[0, 0, 1, 1] = 1
    expected = torch.full((3, 3), 0.5)
    expected[1, 1] = 1
    torch.testing.assert_close(smooth_kernels(delta, 0.5)[0, 0], expected)   # a centred delta gives the mask


def test_channels_never_mix():
    weight = torch.zeros(3, 4, 3, 3)
    weight[1, 2] = torch.randn(3, 3)
    smoothed = smooth_kernels(weight, 1.0)
    nonzero = smoothed.abs().sum(dim=(2, 3)) != 0
    assert nonzero.nonzero().tolist() == [[1, 2]]


def test_rho_zero_is_the_identity_and_dtype_is_kept():
    weight = torch.randn(2, 2, 3, 3, dtype=torch.float32)
    out = smooth_kernels(weight, 0.0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, weight)


def test_first_conv_is_the_first_in_module_order():
    model = tiny_model()
    assert first_conv(model) is model.features[0]
    with pytest.raises(ablate.AblateError, match="no nn.Conv2d"):
        first_conv(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_plugin_offers_smoothed_copies_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    variants = make_plugin(KernelSmoothing, rho=[1, 0.5]).ablate_final_models(model=model,
                                                                             settings=ablate.Settings())
    assert set(variants) == {"smooth1.0", "smooth0.5"}
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    for rho, name in [(1.0, "smooth1.0"), (0.5, "smooth0.5")]:
        copy = variants[name]
        assert copy is not model
        torch.testing.assert_close(copy.features[0].weight, via_official(before["features.0.weight"], rho))
        assert torch.equal(copy.features[3].weight, before["features.3.weight"]), "only the first conv"
        assert torch.equal(copy.fc.weight, before["fc.weight"])


def test_all_layers_option_smooths_every_spatial_conv():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 2, 1))
    copy = smoothed_copy(model, 1.0, "all")
    for i in (0, 1):
        torch.testing.assert_close(copy[i].weight, via_official(model[i].weight.detach(), 1.0))
    assert torch.equal(copy[2].weight, model[2].weight), "1x1 convs have no neighbourhood"


@pytest.mark.parametrize("values, message", [
    ({"rho": []}, "empty"), ({"rho": [-1.0]}, ">= 0"), ({"rho": ["one"]}, "number"),
    ({"rho": [True]}, "number"), ({"layers": "last"}, "allowed"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        KernelSmoothing.validate(values, "runs[0].plugins.kernel_smoothing")


def test_a_single_rho_is_accepted_as_a_list():
    assert KernelSmoothing.validate({"rho": 1}, "x")["rho"] == [1.0]
