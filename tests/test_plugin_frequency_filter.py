"""frequency_filter: the training images become exactly the split's LFC or HFC, scaled 1.0 = white."""

import pytest
import torch

import ablate
import ablate_plugins.frequency_filter as frequency_filter
from ablate.spectral.frequency import split
from ablate.testing import make_plugin, tiny_data
from ablate_plugins.frequency_filter import FrequencyFilter


def filtered(settings=None, **values):
    data = tiny_data(n_train=24, n_test=12, size=16)
    original = tiny_data(n_train=24, n_test=12, size=16)
    make_plugin(FrequencyFilter, **values).ablate_prepare_data(data=data, settings=settings or ablate.Settings())
    return original, data


@pytest.mark.parametrize("component, index", [("low", 0), ("high", 1)])
def test_training_images_are_the_component_of_the_split(component, index):
    original, data = filtered(component=component, radius=4)
    expected = split(original.x_train, 4.0)[index] / 255
    assert data.x_train.dtype == torch.float32
    torch.testing.assert_close(data.x_train, expected)
    assert torch.equal(data.x_test, original.x_test), "the test set stays original by default"
    assert torch.equal(data.y_train, original.y_train)


def test_low_plus_high_is_the_image():
    original, low = filtered(component="low", radius=6)
    _, high = filtered(component="high", radius=6)
    torch.testing.assert_close(low.x_train + high.x_train, original.x_train.float() / 255, atol=1e-5, rtol=0)


def test_the_inclusive_setting_is_honoured():
    # 16x16 images have frequencies at distance exactly 4 from the centre: < and <= differ.
    _, strict = filtered(component="low", radius=4)
    _, inclusive = filtered(ablate.Settings(inclusive=True), component="low", radius=4)
    original = tiny_data(n_train=24, n_test=12, size=16)
    torch.testing.assert_close(inclusive.x_train, split(original.x_train, 4.0, inclusive=True)[0] / 255)
    assert not torch.allclose(strict.x_train, inclusive.x_train)


def test_test_option_filters_the_test_set_too():
    original, data = filtered(ablate.Settings(normalize="none"), component="high", radius=8, test=True)
    torch.testing.assert_close(data.x_test, split(original.x_test, 8.0)[1] / 255)


def test_a_filtered_test_set_is_stored_scaled_as_the_training_images_are_fed():
    """Under normalize = "max" the test originals are fed as they are (x / 255), so a filtered test set is
    kept already divided by each image's positive peak, as the official code fed its LFC/HFC test data
    (scripts/resnet.py lines 481-483) and as the training images are fed."""
    original, data = filtered(ablate.Settings(normalize="max"), component="high", radius=8, test=True)
    high = split(original.x_test, 8.0)[1].numpy()
    expected = high / high.max(axis=(1, 2, 3), keepdims=True)
    torch.testing.assert_close(data.x_test, torch.from_numpy(expected).float())


def test_chunks_give_the_same_result(monkeypatch):
    _, whole = filtered(component="low", radius=4)
    monkeypatch.setattr(frequency_filter, "CHUNK", 5)
    _, chunked = filtered(component="low", radius=4)
    torch.testing.assert_close(whole.x_train, chunked.x_train)


def test_float_images_are_taken_as_already_scaled():
    data = tiny_data(n_train=8, size=16)
    data.x_train = data.x_train.float() / 255
    images = data.x_train.clone()
    make_plugin(FrequencyFilter, component="low", radius=4).ablate_prepare_data(data=data, settings=ablate.Settings())
    torch.testing.assert_close(data.x_train, split(images, 4.0)[0])


@pytest.mark.parametrize("values, message", [({"component": "mid"}, "allowed"), ({"radius": -1}, ">= 0")])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        FrequencyFilter.validate(values, "runs[0].plugins.frequency_filter")
