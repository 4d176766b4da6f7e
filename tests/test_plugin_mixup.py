"""mixup: soft targets are convex mixtures of one-hot labels, inputs the matching mixtures."""

import pytest
import torch

import ablate
from ablate.testing import make_plugin, tiny_model, train_state
from ablate_plugins.mixup import Mixup

CLASSES = 8


def mixed_batch(seed=0, **values):
    torch.manual_seed(seed)
    x = torch.rand(CLASSES, 3, 8, 8)
    y = torch.arange(CLASSES)                       # one image per class: rows identify their partner
    batch = ablate.Batch(x=x.clone(), y=y.clone())
    make_plugin(Mixup, **values).ablate_train_batch(batch=batch, model=tiny_model(CLASSES),
                                                    state=train_state(num_classes=CLASSES))
    return x, y, batch


def test_targets_are_convex_and_inputs_match():
    for seed in range(5):
        x, y, batch = mixed_batch(seed)
        targets = batch.y
        assert targets.dtype == torch.float32 and targets.shape == (CLASSES, CLASSES)
        torch.testing.assert_close(targets.sum(1), torch.ones(CLASSES))
        assert torch.all(targets >= 0) and torch.all(targets <= 1)
        partners, weights = [], []
        for i in range(CLASSES):
            own = float(targets[i, i])
            others = [j for j in range(CLASSES) if j != i and targets[i, j] > 0]
            assert len(others) <= 1, "each row mixes at most two labels"
            partner = others[0] if others else i
            if others:
                weights.append(own)
            partners.append(partner)
            torch.testing.assert_close(batch.x[i], own * x[i] + (1 - own) * x[partner])
        assert sorted(partners) == list(range(CLASSES)), "partners form a permutation of the batch"
        assert not weights or max(weights) - min(weights) < 1e-6, "one lambda for the whole batch"


def test_same_global_seed_same_mix():
    _, _, first = mixed_batch(seed=3)
    _, _, second = mixed_batch(seed=3)
    _, _, other = mixed_batch(seed=4)
    torch.testing.assert_close(first.x, second.x)
    torch.testing.assert_close(first.y, second.y)
    assert not torch.allclose(first.y, other.y)


def middle_fraction(alpha, draws=400):
    """How often lam falls in (0.1, 0.9), seen on two-image batches whose images were swapped."""
    torch.manual_seed(0)
    plugin, state = make_plugin(Mixup, alpha=alpha), train_state(num_classes=2)
    inside = seen = 0
    for _ in range(draws):
        batch = ablate.Batch(x=torch.zeros(2, 1, 1, 1), y=torch.tensor([0, 1]))
        plugin.ablate_train_batch(batch=batch, model=None, state=state)
        if batch.y[0, 1] > 0:                   # swapped: row 0 weighs its own label by lam
            seen += 1
            inside += 0.1 < float(batch.y[0, 0]) < 0.9
    return inside / seen


def test_alpha_shapes_the_mixing_weight():
    # Beta(1, 1) (official code) puts 80% of lam in (0.1, 0.9); Beta(0.5, 0.5) (paper) about 59%.
    uniform, u_shaped = middle_fraction(1.0), middle_fraction(0.5)
    assert uniform == pytest.approx(0.8, abs=0.1)
    assert u_shaped == pytest.approx(0.59, abs=0.1)


def test_soft_targets_from_an_earlier_plugin_are_mixed_too():
    torch.manual_seed(0)
    soft = torch.softmax(torch.randn(6, 4), dim=1)
    batch = ablate.Batch(x=torch.rand(6, 3, 4, 4), y=soft.clone())
    make_plugin(Mixup).ablate_train_batch(batch=batch, model=None, state=train_state(num_classes=4))
    torch.testing.assert_close(batch.y.sum(1), torch.ones(6))


@pytest.mark.parametrize("values, message", [({"alpha": 0.0}, "> 0"), ({"alpha": "one"}, "expected float")])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        Mixup.validate(values, "runs[0].plugins.mixup")
