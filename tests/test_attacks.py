"""ablate.train.attacks: PGD and FGSM stay in the ball and the pixel range, leave the model as they found it,
and the minimal-eps search finds the known answer on a linear model."""

import math

import pytest
import torch
from torch import nn

import ablate
from ablate.testing import make_plugin, tiny_model
from ablate.train.attacks import eps_grid, fgsm, minimal_eps, model_mode, pgd
from ablate_plugins.batchnorm import BatchNorm

CLASSES = 4


def batchnorm_model(stats="running"):
    parts = ablate.ModelParts()
    make_plugin(BatchNorm, stats=stats).ablate_model_parts(parts=parts, settings=ablate.Settings())
    return tiny_model(CLASSES, parts=parts)


def batch(seed=0, n=12):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=generator), torch.arange(n) % CLASSES


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_the_ball_and_the_pixel_range_and_raises_the_loss(random_start):
    torch.manual_seed(0)
    model, (x, y) = tiny_model(CLASSES).eval(), batch()
    adversarial = pgd(model, x, y, eps=0.03, steps=10, step_size=0.0075, random_start=random_start)
    assert adversarial.dtype == torch.float32 and adversarial.shape == x.shape
    assert (adversarial - x).abs().max() <= 0.03 + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    loss = nn.CrossEntropyLoss(reduction="none")
    with torch.no_grad():
        assert (loss(model(adversarial), y) > loss(model(x), y)).float().mean() > 0.9


def test_fgsm_is_one_signed_step_of_size_eps():
    torch.manual_seed(0)
    model, (x, y) = tiny_model(CLASSES).eval(), batch()
    x = 0.25 + 0.5 * x                                 # away from 0 and 1: no clipping
    step = fgsm(model, x, y, eps=0.02) - x
    assert (((step.abs() - 0.02).abs() < 1e-6) | (step == 0)).all()
    assert (step != 0).float().mean() > 0.9
    assert torch.equal(fgsm(model, x, y, 0.02), pgd(model, x, y, 0.02, steps=1, step_size=0.02))


def test_one_eps_per_image_equals_one_call_per_image():
    torch.manual_seed(0)
    model, (x, y) = tiny_model(CLASSES).eval(), batch(n=4)
    eps = torch.tensor([0.0, 0.01, 0.02, 0.05])
    together = pgd(model, x, y, eps, steps=3, step_size=eps / 4)
    for i in range(4):
        alone = pgd(model, x[i:i + 1], y[i:i + 1], float(eps[i]), steps=3, step_size=float(eps[i]) / 4)
        torch.testing.assert_close(together[i:i + 1], alone, rtol=0, atol=1e-6)
    assert torch.equal(together[0], x[0])


@pytest.mark.parametrize("train_mode", [False, True])
def test_the_model_is_left_as_it_was_found(train_mode):
    model, (x, y) = batchnorm_model(), batch()
    model.train()
    model.fc.eval()                                    # a mixed state is restored module by module
    before = [b.clone() for b in model.buffers()]
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    pgd(model, x, y, 0.03, steps=3, step_size=0.01, train_mode=train_mode)
    assert set(seen) == {train_mode}
    assert model.training and not model.fc.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))
    assert all(p.grad is None for p in model.parameters())


def test_model_mode_restores_buffers_even_after_an_error():
    model, (x, _) = batchnorm_model(), batch()
    before = [b.clone() for b in model.buffers()]
    with pytest.raises(RuntimeError), model_mode(model, train=True):
        model(x)                                       # updates the running statistics
        raise RuntimeError
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))
    assert model.training


def test_float32_under_an_outer_autocast_unless_asked():
    model, (x, y) = tiny_model(CLASSES).eval(), batch()
    dtypes = []
    model.fc.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pgd(model, x, y, 0.03, steps=1, step_size=0.01)
        assert set(dtypes) == {torch.float32}
        fgsm(model, x, y, 0.03, autocast_dtype=torch.bfloat16)
    assert dtypes[-1] == torch.bfloat16


# -- the minimal-eps search ------------------------------------------------------------------------------


def linear_problem(n=40, seed=0):
    """A two-class linear model on images in [0.3, 0.7], and each image's minimal FGSM eps in closed form.

    For two classes the gradient's sign is sign(w_other - w_true) everywhere, so FGSM at eps lowers the
    margin (w_true - w_other) . x + (b_true - b_other) by eps * |w_true - w_other|_1, with no clipping
    while eps <= 0.3 (max_eps 0.1 here): the attack succeeds from eps = margin / |w_true - w_other|_1 on.
    """
    generator = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=generator)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 16, generator=generator))
        model[1].bias.zero_()
        y = model(x).argmax(dim=1)
        y[:3] = 1 - y[:3]                              # three images misclassified unattacked: eps 0
        w = model[1].weight.double()
        logits = model(x).double()
    sign = 1 - 2 * y.double()                          # +1 when class 0 is true
    margin = sign * (logits[:, 0] - logits[:, 1])
    answer = (margin / (w[0] - w[1]).abs().sum()).clamp(min=0)
    return model.eval(), x, y, answer


def brute_force(attack, model, x, y, eps_values):
    """Per image, the first eps of a fine sweep at which the attack succeeds (inf if none)."""
    found = torch.full((len(y),), math.inf, dtype=torch.float64)
    with torch.no_grad():
        found[model(x).argmax(1) != y] = 0.0
    for eps in eps_values:
        pending = torch.isinf(found)
        if not pending.any():
            break
        with torch.no_grad():
            fooled = model(attack(model, x, y, eps)).argmax(1) != y
        found[pending & fooled] = eps
    return found


@pytest.mark.parametrize("attack", [fgsm, lambda m, x, y, eps: pgd(m, x, y, eps, 5, 2.5 * eps / 5)],
                         ids=["fgsm", "pgd"])
def test_minimal_eps_matches_the_closed_form_and_a_fine_sweep(attack):
    model, x, y, answer = linear_problem()
    tolerance, max_eps = 1e-3, 0.1
    found = minimal_eps(attack, model, x, y, max_eps=max_eps, grid=8, tolerance=tolerance)
    sweep = brute_force(attack, model, x, y, [k * tolerance / 4 for k in range(1, int(max_eps / tolerance * 4) + 1)])
    expected = torch.where(answer <= max_eps, answer, math.inf)
    assert (found[:3] == 0).all() and (expected[:3] == 0).all()
    assert torch.isinf(found).any() and torch.isfinite(found[3:]).any(), "the problem covers both cases"
    assert torch.equal(torch.isinf(found), torch.isinf(expected)) and torch.equal(torch.isinf(sweep), torch.isinf(found))
    finite = torch.isfinite(found)
    assert ((found - expected)[finite].abs() <= tolerance).all()
    assert ((found - sweep)[finite].abs() <= tolerance).all()
    assert (found[finite] >= expected[finite] - 1e-6).all(), "the answer is an eps at which the attack succeeds"


class Window(nn.Module):
    """A 'model' of one number per image: wrong (class 1) exactly where that number is in ``fooled``."""

    def __init__(self, fooled):
        super().__init__()
        self.fooled = fooled
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, v):
        wrong = torch.tensor([any(a <= float(e) < b for a, b in self.fooled) for e in v.flatten()])
        return torch.stack([(~wrong).float(), wrong.float()], dim=1)


def test_the_grid_comes_before_bisection_when_success_is_not_monotone():
    # The attack 'succeeds' only for eps in [0.045, 0.055): bisecting [0, max] from the top would miss it.
    model = Window([(0.045, 0.055)])
    attack = lambda m, x, y, eps: eps.reshape(-1, 1).float() if torch.is_tensor(eps) else torch.full_like(x, eps)
    x, y = torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)
    found = minimal_eps(attack, model, x, y, max_eps=0.1, grid=10, tolerance=1e-3)
    assert found[0] == pytest.approx(0.045, abs=1e-3) and found[0] >= 0.045 - 1e-6
    never = minimal_eps(attack, Window([]), x, y, max_eps=0.1, grid=10, tolerance=1e-3)
    assert torch.isinf(never).all()


def test_eps_grid_is_exact():
    assert eps_grid(0.1, 10) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
