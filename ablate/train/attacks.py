"""L-inf adversarial attacks, FGSM and PGD, and the minimal-eps search: small enough to check in a minute.

PGD is Madry et al.'s (2018) ``LinfPGDAttack.perturb`` (MadryLab/cifar10_challenge,
``pgd_attack.py``). For a batch ``(x, y)`` of images in [0, 1] and integer labels::

    x_adv = x                      (random start: x + uniform(-eps, eps), clipped to [0, 1])
    repeat `steps` times:
        g = gradient of cross_entropy(model(x_adv), y) with respect to x_adv
        x_adv = x_adv + step_size * sign(g)
        x_adv = x + clip(x_adv - x, -eps, eps)            the eps-ball around x
        x_adv = clip(x_adv, 0, 1)                         the pixel range

FGSM (Goodfellow et al., 2015) is one such step of size eps from ``x``.
Where this differs from Madry's code, the examples do not change: pixels are in
[0, 1] rather than [0, 255]; the loss is the batch's mean cross-entropy rather than
its sum (a positive factor: the same gradient sign). The random start is clipped to
[0, 1] at once, before the first step, as Madry's ``perturb`` does (``np.clip(x, 0, 255)`` right
after adding the uniform noise, since commit c2af71b of 2018-10; the first version clipped only
after the first step). The arithmetic is
written as torchattacks writes it, so that ``torchattacks.PGD``/``FGSM`` with the
same arguments give the same examples (tests/test_torchattacks.py checks it).

Explicit, where libraries leave it implicit: the model runs in eval mode unless
``train_mode`` is asked for, and every module's mode, and (train mode) every
buffer such as BatchNorm's running statistics, is as before when the attack
returns; the forward and backward passes run in float32 with autocast off unless
``autocast_dtype`` names one; gradients are taken with respect to the images
only (the parameters' ``.grad`` is untouched). ``eps`` and ``step_size`` are a
number or one value per image, which :func:`minimal_eps` relies on.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Union

import torch
import torch.nn.functional as F

from ablate.core.errors import AblateError
from ablate.core.modes import in_mode

Eps = Union[float, torch.Tensor]          # a number, or one value per image (shape [N])
Attack = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, Eps], torch.Tensor]


def pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Eps, steps: int, step_size: Eps,
        random_start: bool = False, train_mode: bool = False, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """L-inf PGD examples for ``(x, y)``, float32, within ``eps`` of ``x`` and in [0, 1]."""
    x = x.detach().float()
    eps, step_size = per_image(eps, x), per_image(step_size, x)
    adversarial = x.clone()
    if random_start:
        adversarial = (adversarial + uniform_noise(x, eps)).clamp(0, 1)
    with model_mode(model, train_mode), precision(x.device, autocast_dtype):
        for _ in range(steps):
            adversarial = adversarial + step_size * loss_gradient(model, adversarial, y).sign()
            adversarial = (x + torch.clamp(adversarial - x, -eps, eps)).clamp(0, 1)
    return adversarial


def fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Eps,
         train_mode: bool = False, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """FGSM examples for ``(x, y)``: one signed-gradient step of size ``eps``, clipped to [0, 1]."""
    x = x.detach().float()
    with model_mode(model, train_mode), precision(x.device, autocast_dtype):
        return (x + per_image(eps, x) * loss_gradient(model, x, y).sign()).clamp(0, 1)


def loss_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean cross-entropy with respect to the images ``x`` (and nothing else)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


def per_image(value: Eps, x: torch.Tensor) -> Eps:
    """A number as it is; one value per image as a ``[N, 1, 1, ...]`` tensor that broadcasts over ``x``."""
    if not isinstance(value, torch.Tensor):
        return value
    return value.to(x.device, torch.float32).reshape(-1, *[1] * (x.dim() - 1))


def uniform_noise(x: torch.Tensor, eps: Eps) -> torch.Tensor:
    """Uniform noise in [-eps, eps] per pixel, drawn from torch's global generator."""
    if isinstance(eps, torch.Tensor):
        return torch.empty_like(x).uniform_(-1, 1) * eps
    return torch.empty_like(x).uniform_(-eps, eps)


@contextmanager
def model_mode(model: torch.nn.Module, train: bool):
    """The model in train or eval mode for a while; every module's mode (and, in train mode,
    every buffer: BatchNorm's running statistics) restored afterwards."""
    saved = [buffer.detach().clone() for buffer in model.buffers()] if train else None
    with in_mode(model, train):
        try:
            yield
        finally:
            if saved is not None:
                with torch.no_grad():
                    for buffer, value in zip(model.buffers(), saved):
                        buffer.copy_(value)


def precision(device: torch.device, autocast_dtype: torch.dtype | None):
    """Autocast off (float32), whatever the caller runs under; or autocast to ``autocast_dtype``."""
    if autocast_dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=autocast_dtype)


@torch.no_grad()
def misclassified(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which images the model gets wrong, in its current mode."""
    return model(x).argmax(dim=1) != y


def eps_grid(max_eps: float, points: int) -> list[float]:
    """The coarse search grid: ``points`` evenly spaced eps up to ``max_eps`` (0 excluded)."""
    return [round(max_eps * k / points, 12) for k in range(1, points + 1)]


def minimal_eps(attack: Attack, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                max_eps: float, grid: int, tolerance: float) -> torch.Tensor:
    """Per image, the smallest eps at which ``attack(model, x, y, eps)`` is misclassified: 0 for an
    image the model gets wrong already, ``inf`` where the attack fails at every grid point.

    Success need not grow with eps (PGD's does not always), so a coarse grid
    (:func:`eps_grid`) is searched first, from the smallest eps; the bracket between
    an image's first successful grid point and the failing point before it is then
    halved until it is at most ``tolerance`` wide. The answer is the bracket's upper
    end, an eps at which the attack is known to succeed, within ``tolerance`` of
    the failing lower end. Images are attacked in one batch, each at its own eps,
    and judged in eval mode; eps values are float64 (exact grid points). Every
    attack is on the whole batch ``x``, an image already settled at eps 0 (its
    original), so that each image is judged beside the same images throughout: a
    model normalising with batch statistics answers otherwise for a smaller batch.
    """
    with model_mode(model, train=False):
        found = torch.where(misclassified(model, x, y), 0.0, math.inf).to(x.device, torch.float64)
        below = torch.zeros_like(found)                   # the largest eps known to fail
        for eps in eps_grid(max_eps, grid):
            pending = torch.isinf(found)
            if not pending.any():
                break
            fooled = fooled_at(attack, model, x, y, torch.where(pending, eps, 0.0)) & pending
            found[fooled] = eps
            below[pending & ~fooled] = eps
        while True:
            open_ = torch.isfinite(found) & (found - below > tolerance)
            if not open_.any():
                return found
            middle = torch.where(open_, (below + found) / 2, 0.0)
            fooled = fooled_at(attack, model, x, y, middle)
            found[open_ & fooled] = middle[open_ & fooled]
            below[open_ & ~fooled] = middle[open_ & ~fooled]


def fooled_at(attack: Attack, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
              eps: torch.Tensor) -> torch.Tensor:
    """Which images the attack, each at its own ``eps``, gets misclassified (in the model's current mode)."""
    return misclassified(model, attack(model, x, y, eps), y)


def require_torchattacks(what: str):
    """The torchattacks module, or a one-line AblateError saying how to install it (the ``attacks`` extra)."""
    try:
        import torchattacks  # noqa: PLC0415 (optional: attacks extra)
    except ImportError:
        raise AblateError(f"{what} needs torchattacks, which is not installed; install it with "
                          f"pip install \"ablate[attacks]\"") from None
    return torchattacks
