"""examples/zoo-torchvision.toml lists every torchvision ImageNet classifier with its weights' own preprocessing."""

from pathlib import Path

import pytest
from torchvision import models

from ablate.any_model.model_specs import read_models_file
from ablate.any_model.zoo import Preprocess, user_preprocess

ZOO = Path(__file__).resolve().parents[1] / "examples" / "zoo-torchvision.toml"


@pytest.fixture(scope="module")
def specs():
    return {spec.name: spec for spec in read_models_file(ZOO, {})}


def test_every_classifier_is_listed_once(specs):
    assert sorted(specs) == sorted(models.list_models(module=models))
    assert all(spec.source == f"torchvision:{name}" for name, spec in specs.items())


def test_preprocessing_is_the_weights_metadata(specs):
    """Each table against torchvision's own DEFAULT weights' transforms (what the weights were evaluated with)."""
    for name, spec in specs.items():
        transforms = models.get_model_weights(name).DEFAULT.transforms()
        assert (spec.resize, spec.image_size) == (transforms.resize_size[0], transforms.crop_size[0]), name
        assert spec.interpolation == transforms.interpolation.value, name
        assert spec.mean == pytest.approx(tuple(transforms.mean)) and spec.std == pytest.approx(tuple(transforms.std))


def test_the_table_reaches_the_model_input(specs):
    """What the file says is what the probe uses: resize, crop, interpolation, mean and std."""
    spec = next(s for s in specs.values() if s.interpolation == "bicubic")
    used = user_preprocess(spec, Preprocess(channels=3))
    assert (used.resize, used.image_size, used.interpolation) == (spec.resize, spec.image_size, "bicubic")
    assert (used.mean, used.std) == (spec.mean, spec.std)


def test_interpolation_is_used_when_resizing():
    import torch

    from ablate.data.resizing import resize_crop

    x = torch.rand(2, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    bilinear, bicubic = resize_crop(x, 10, 8), resize_crop(x, 10, 8, "bicubic")
    assert bilinear.shape == bicubic.shape == (2, 3, 8, 8)
    reference = torch.nn.functional.interpolate(x, size=(10, 15), mode="bicubic", antialias=True).clamp(0, 1)
    assert torch.allclose(bicubic, reference[..., 1:9, 3:11]) and not torch.allclose(bilinear, bicubic)
