"""ablate.train.foolbox_search: foolbox's FGSM and PGD searches, batched, against a plain per-image loop written
from foolbox 2.4.0's source (the reference below), and on models whose answer is known.

The reference follows ``foolbox/attacks/gradient.py`` (``SingleStepGradientBaseAttack._run``),
``foolbox/attacks/iterative_projected_gradient.py`` (``_run_binary_search``, ``_run_one``) and
``foolbox/v1/adversarial.py`` (``__new_adversarial``) line by line, one image at a time, in numpy,
with HFC's dtypes: float64 images (``x / 255.0``), a float32 gradient (TensorFlow's), and numpy
1.x's casting (a float64 scalar times a float32 array is float32); the model is called on the
float32 cast of one image, as foolbox's ``forward_one`` / ``gradient_one`` with a TensorFlow model.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate.testing import tiny_model
from ablate.train.attacks import fgsm, minimal_eps
from ablate.train.foolbox_search import foolbox_fgsm, foolbox_pgd

# -- the reference: one image at a time ------------------------------------------------------------------


class OneImage:
    """foolbox's ``Adversarial`` for one float64 image ``(C, H, W)`` and its true label, bounds (0, 1): the
    model called on that image alone, and the closest adversarial so far by ``distance``."""

    def __init__(self, model, image, label, distance):
        self.model, self.image, self.label, self.distance = model, image.astype(np.float64), label, distance
        self.best, self.best_distance, self.tried = None, math.inf, []
        self.forward(self.image)                       # _check_unperturbed: distance 0 when already wrong

    def forward(self, x):
        with torch.no_grad():
            logits = self.model(torch.from_numpy(x.astype(np.float32))[None])[0].numpy()
        adversarial = int(np.argmax(logits)) != self.label
        if adversarial and self.distance(x, self.image) < self.best_distance:
            self.best, self.best_distance = x.copy(), self.distance(x, self.image)
        return adversarial

    def gradient(self, x):
        x = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
        loss = F.cross_entropy(self.model(x[None]), torch.tensor([self.label]))
        return torch.autograd.grad(loss, x)[0].numpy()

    def result(self):
        """The kept adversarial's L-inf distance (0 where none: HFC stores the clean image), and the eps tried."""
        return (0.0 if self.best is None else linf(self.best, self.image)), self.tried


def linf(x, image):
    return float(np.max(np.abs(x - image)))          # / (max - min) = 1


def mse(x, image):
    return float(np.mean(np.square(x - image)))


def reference_fgsm(model, image, label):
    """FGSM(fmodel)(image, label): foolbox's default distance (MSE), as HFC calls it."""
    a = OneImage(model, image, label, mse)
    if a.best_distance == 0:
        return a.result()
    gradient = np.sign(a.gradient(a.image)) * np.float32(1.0)          # float32, as TensorFlow's
    epsilons, decrease_if_first = np.linspace(0, 1, num=1000 + 1)[1:], True
    for _ in range(2):
        for i, epsilon in enumerate(epsilons):
            a.tried.append(float(epsilon))
            perturbed = np.clip(a.image + gradient * np.float32(epsilon), 0.0, 1.0)
            if a.forward(perturbed):
                if decrease_if_first and i < 20:
                    break
                return a.result()
        epsilons = np.linspace(0, epsilons[i], num=20 + 1)[1:]
    return a.result()


def reference_pgd(model, image, label):
    """ProjectedGradientDescentAttack(fmodel, distance=Linfinity)(image, label) at its defaults."""
    a = OneImage(model, image, label, linf)
    if a.best_distance == 0:
        return a.result()
    factor = 0.01 / 0.3

    def try_epsilon(epsilon):
        a.tried.append(epsilon)
        stepsize, x = factor * epsilon, a.image
        for _ in range(40):
            x = x + np.float32(stepsize) * np.sign(a.gradient(x))
            x = a.image + np.clip(x - a.image, -epsilon, epsilon)
            x = np.clip(x, 0.0, 1.0)
            if a.forward(x):
                return True
        return False

    epsilon = 0.3
    for _ in range(20):
        if try_epsilon(epsilon):
            break
        epsilon = epsilon * 1.5
    else:
        return a.result()
    bad, good = 0, epsilon
    for _ in range(20):
        epsilon = (good + bad) / 2
        if try_epsilon(epsilon):
            good = epsilon
        else:
            bad = epsilon
    return a.result()


def one_at_a_time(reference, model, x, y):
    found = [reference(model, image.numpy(), int(label)) for image, label in zip(x, y)]
    return torch.tensor([d for d, _ in found], dtype=torch.float64), [t for _, t in found]


# -- models ----------------------------------------------------------------------------------------------


def linear_model(seed=0, classes=3, pixels=12):
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(pixels, classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, pixels, generator=generator))
        model[1].bias.copy_(torch.randn(classes, generator=generator))
    return model.eval()


def cnn(seed=0):
    torch.manual_seed(seed)
    model = tiny_model(4).eval()
    with torch.no_grad():
        model.fc.weight.mul_(30)                       # predictions that an attack can change
    return model


def labelled(model, x, wrong=(0,)):
    """Labels the model gets right, except at ``wrong``: misclassified unattacked (distance 0)."""
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    for i in wrong:
        y[i] = (y[i] + 1) % 3
    return y


def problems():
    generator = torch.Generator().manual_seed(1)
    flat = torch.rand(10, 3, 2, 2, generator=generator)
    images = torch.rand(6, 3, 6, 6, generator=generator)
    model_a, model_b = linear_model(), cnn()
    return [("linear", model_a, flat, labelled(model_a, flat)), ("cnn", model_b, images, labelled(model_b, images))]


# -- the batched search equals the per-image loop ----------------------------------------------------------


@pytest.mark.parametrize("attack, reference", [(foolbox_fgsm, reference_fgsm), (foolbox_pgd, reference_pgd)],
                         ids=["fgsm", "pgd"])
@pytest.mark.parametrize("problem", range(2), ids=["linear", "cnn"])
def test_the_batch_gets_what_one_image_at_a_time_gets(attack, reference, problem):
    name, model, x, y = problems()[problem]
    expected, tried = one_at_a_time(reference, model, x, y)
    assert expected[0] == 0 and tried[0] == []
    assert torch.isfinite(expected[1:]).all() and (expected[1:] > 0).all()
    alone = [attack(model, x[i:i + 1], y[i:i + 1]) for i in range(len(x))]
    assert [a.tried[0] for a in alone] == tried, "each image tries the same eps in the same order"
    assert torch.equal(torch.cat([a.distance for a in alone]), expected), "the procedure, exactly"
    found = attack(model, x, y)
    assert found.tried == tried
    # A batched conv rounds differently from a conv on one image (logits differ by ~1e-7), which can move
    # the last bisections' first adversarial step by a few float32 ulps; the linear model is exact.
    torch.testing.assert_close(found.distance, expected, rtol=0, atol=0 if name == "linear" else 1e-6)


@pytest.mark.parametrize("attack", [foolbox_fgsm, foolbox_pgd], ids=["fgsm", "pgd"])
def test_the_distance_is_that_of_a_returned_example_the_model_gets_wrong(attack):
    for _, model, x, y in problems():
        found = attack(model, x, y)
        assert found.adversarial.shape == x.shape and found.adversarial.dtype == torch.float64
        assert found.adversarial.min() >= 0 and found.adversarial.max() <= 1
        with torch.no_grad():
            wrong = model(found.adversarial.float()).argmax(dim=1) != y
        assert wrong.all()
        actual = (found.adversarial - x.double()).abs().flatten(1).amax(dim=1)
        assert torch.equal(found.distance, actual)


# -- known answers -----------------------------------------------------------------------------------------


class Threshold(nn.Module):
    """One pixel, two classes: class 1 (wrong for label 0) exactly when the pixel exceeds ``t``, and
    beyond that, where ``windows`` say; the gradient always pushes the pixel up."""

    def __init__(self, t, windows=()):
        super().__init__()
        self.t, self.windows = t, windows
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        v = x.flatten(1)[:, :1]
        inside = torch.zeros_like(v)
        for low, high in self.windows:
            inside = inside + ((v >= low) & (v < high)).float()
        wrong = ((v > self.t).float() + inside).clamp(max=1).detach()
        return torch.cat([torch.zeros_like(v), 1e-3 * v + 10 * wrong - 5], dim=1)


def pixel(value, n=1):
    return torch.full((n, 1, 1, 1), value), torch.zeros(n, dtype=torch.long)


def test_pgd_grows_by_one_and_a_half_then_bisects_twenty_times():
    # From 0.25 the pixel must pass 0.75: eps 0.3 and 0.45 fail, 0.675 succeeds; then 20 bisections of
    # (0, 0.675], each succeeding exactly when the farthest pixel the model sees, float32(0.25 + eps), passes 0.75.
    x, y = pixel(0.25)
    found = foolbox_pgd(Threshold(0.75), x, y)
    tried = found.tried[0]
    assert tried[:3] == [0.3, 0.3 * 1.5, 0.3 * 1.5 * 1.5] and len(tried) == 3 + 20
    bad, good = 0.0, tried[2]
    for eps in tried[3:]:
        assert eps == (good + bad) / 2
        good, bad = (eps, bad) if np.float32(0.25 + eps) > 0.75 else (good, eps)
    assert 0.5 < found.distance[0] <= good + 1e-7 and good - 0.5 < 0.675 / 2**20 + 1e-7


def test_pgd_keeps_the_closest_adversarial_of_all_tries_not_the_last():
    # Wrong in a narrow window 0.072-0.074 above the start, and from 0.227 on. One early try's steps land in
    # the window and return early there; the bisection ends near 0.227, whose tries step over the window.
    x, y = pixel(0.25)
    model = Threshold(0.477, windows=[(0.3222, 0.324)])
    found = foolbox_pgd(model, x, y)
    assert found.distance[0] == pytest.approx(0.0731, abs=1e-4) and found.tried[0][-1] > 0.22
    expected, tried = one_at_a_time(reference_pgd, model, x, y)
    assert found.tried == tried and torch.equal(found.distance, expected)


def test_pgd_gives_up_after_twenty_growth_tries():
    x, y = pixel(0.25)
    found = foolbox_pgd(Threshold(2.0), x, y)         # never wrong in [0, 1]
    assert torch.equal(found.adversarial, x.double()), "HFC stores the clean image (attackHelper.py 37-40)"
    assert torch.equal(found.distance, torch.zeros(1, dtype=torch.float64)) and found.failed.all()
    growth = [0.3]
    for _ in range(19):
        growth.append(growth[-1] * 1.5)
    assert found.tried[0] == growth


def test_fgsm_keeps_the_first_success_of_its_linear_scan_when_success_is_not_monotone():
    # Wrong only for pixel values in [0.2845, 0.2865) and above 0.33: FGSM's eps 0.035 and 0.036 succeed,
    # 0.037-0.08 fail. Its scan of 1000 eps stops at 0.035; ablate's coarse grid (10 eps to 0.1) skips the
    # window and bisects to the second region.
    x, y = pixel(0.25)
    model = Threshold(0.33, windows=[(0.2845, 0.2865)])
    found = foolbox_fgsm(model, x, y)
    assert found.tried[0] == list(np.linspace(0, 1, 1001)[1:36])
    assert found.distance[0] == pytest.approx(0.035, abs=1e-6)
    expected, tried = one_at_a_time(reference_fgsm, model, x, y)
    assert found.tried == tried and torch.equal(found.distance, expected)
    coarse = minimal_eps(fgsm, model, x, y, max_eps=0.1, grid=10, tolerance=1e-3)
    assert coarse[0] > 0.079


def test_fgsm_rescans_below_a_success_among_its_first_twenty_eps():
    # Success at 0.005 (the 5th eps) and above 0.3: pass 2 scans 20 eps up to 0.005 (0.00025 apart) and
    # stops at its first success, 0.0045; a narrower window only the 5th eps hits leaves pass 1's.
    x, y = pixel(0.25)
    found = foolbox_fgsm(Threshold(0.55, windows=[(0.25440, 0.2556)]), x, y)
    assert found.tried[0][:5] == [0.001, 0.002, 0.003, 0.004, 0.005]
    assert found.tried[0][5:] == list(np.linspace(0, 0.005, 21)[1:19])
    assert found.distance[0] == pytest.approx(0.0045, abs=1e-6)
    narrow = foolbox_fgsm(Threshold(0.55, windows=[(0.25499, 0.25501)]), x, y)
    assert len(narrow.tried[0]) == 5 + 20 and narrow.distance[0] == pytest.approx(0.005, abs=1e-6)


def test_fgsm_none_found_after_both_passes():
    x, y = pixel(0.25)
    found = foolbox_fgsm(Threshold(2.0), x, y)
    assert torch.equal(found.adversarial, x.double()), "HFC stores the clean image (attackHelper.py 30-34)"
    assert torch.equal(found.distance, torch.zeros(1, dtype=torch.float64)) and found.failed.all()
    assert len(found.tried[0]) == 1000 + 20
    assert found.tried[0][1000:] == list(np.linspace(0, 1, 21)[1:])


def test_images_are_searched_independently_in_one_batch():
    # Three images, each with its own answer, in one batch: each gets what it gets alone.
    x = torch.tensor([0.25, 0.25, 0.6]).reshape(3, 1, 1, 1)
    y = torch.zeros(3, dtype=torch.long)
    model = Threshold(0.75, windows=[(0.2845, 0.2865)])
    for attack in (foolbox_fgsm, foolbox_pgd):
        together = attack(model, x, y)
        for i in range(3):
            alone = attack(model, x[i:i + 1], y[i:i + 1])
            assert together.tried[i] == alone.tried[0] and together.distance[i] == alone.distance[0]
        assert len({len(t) for t in together.tried}) > 1
