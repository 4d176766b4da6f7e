"""shuffle_labels: a true permutation of the training labels, fixed by its seed alone."""

import pytest
import torch

import ablate
from ablate.testing import make_plugin, tiny_data
from ablate_plugins.shuffle_labels import ShuffleLabels


def shuffled(seed=0, global_seed=0):
    data = tiny_data(n_train=200, num_classes=10)
    original = data.y_train.clone()
    test_labels = data.y_test.clone()
    torch.manual_seed(global_seed)
    make_plugin(ShuffleLabels, seed=seed).ablate_prepare_data(data=data, settings=ablate.Settings())
    assert torch.equal(data.y_test, test_labels), "test labels are left alone"
    return original, data.y_train


def test_a_true_permutation_of_the_label_vector():
    original, labels = shuffled()
    assert labels.dtype == original.dtype and labels.shape == original.shape
    assert torch.equal(labels.sort().values, original.sort().values)
    assert torch.bincount(labels).tolist() == torch.bincount(original).tolist()
    assert (labels != original).float().mean() > 0.5


def test_deterministic_per_seed_and_independent_of_the_global_seed():
    _, first = shuffled(seed=0, global_seed=0)
    _, again = shuffled(seed=0, global_seed=123)
    _, other = shuffled(seed=1, global_seed=0)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_images_are_not_moved():
    data = tiny_data(n_train=50)
    images = data.x_train.clone()
    make_plugin(ShuffleLabels).ablate_prepare_data(data=data, settings=ablate.Settings())
    assert torch.equal(data.x_train, images)


def test_negative_seed_is_refused():
    with pytest.raises(ablate.AblateError, match=">= 0"):
        ShuffleLabels.validate({"seed": -1}, "runs[0].plugins.shuffle_labels")
