"""Tests of the label-smoothing plugin, through ablate's registry as a run would call it."""

import pytest
import torch
import torch.nn.functional as F

import ablate
from ablate.api import get_registry
from ablate.testing import train_state
from ablate_label_smoothing import LabelSmoothing


def loss_of(logits, targets, **params):
    hook = get_registry().run_manager([("label_smoothing", params)]).hook
    return hook.ablate_loss(logits=logits, targets=targets, state=train_state(num_classes=logits.shape[1]))


def test_loss_matches_the_definition(ablate_plugin):
    ablate_plugin(LabelSmoothing)
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 5), torch.randint(0, 5, (8,))
    targets = 0.8 * F.one_hot(labels, 5) + 0.2 / 5
    expected = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    torch.testing.assert_close(loss_of(logits, labels, epsilon=0.2), expected)
    torch.testing.assert_close(loss_of(logits, labels, epsilon=0.2),
                               F.cross_entropy(logits, labels, label_smoothing=0.2))


def test_epsilon_zero_is_plain_cross_entropy(ablate_plugin):
    ablate_plugin(LabelSmoothing)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(loss_of(logits, labels, epsilon=0.0), F.cross_entropy(logits, labels))


def test_confident_correct_predictions_are_penalised(ablate_plugin):
    ablate_plugin(LabelSmoothing)
    labels = torch.tensor([0, 1])
    confident = torch.tensor([[20.0, 0, 0], [0, 20.0, 0]])
    assert loss_of(confident, labels) > F.cross_entropy(confident, labels) + 1.0


def test_soft_targets_from_mixup_stay_distributions(ablate_plugin):
    ablate_plugin(LabelSmoothing)
    soft = torch.tensor([[0.7, 0.3, 0.0]])
    logits = torch.zeros(1, 3)
    # Uniform predictions: the loss is log(3) whatever the (normalised) targets.
    torch.testing.assert_close(loss_of(logits, soft), torch.log(torch.tensor(3.0)))


def test_epsilon_is_validated():
    with pytest.raises(ablate.AblateError, match="found 1.5, must be <= 1"):
        LabelSmoothing.validate({"epsilon": 1.5}, "label_smoothing.toml: runs[1].plugins.label_smoothing")
    with pytest.raises(ablate.AblateError, match=">= 0"):
        LabelSmoothing.validate({"epsilon": -0.1}, "label_smoothing.toml: runs[1].plugins.label_smoothing")
