"""The closest adversarial examples foolbox's FGSM and PGD find, measured as the official code measured them.

HaohanWang/HFC ``utility/attackHelper.py`` attacks each test image on its own with
``foolbox.attacks.FGSM(fmodel)`` and ``foolbox.attacks.ProjectedGradientDescentAttack(fmodel,
distance=foolbox.distances.Linfinity)``, every argument at its default, bounds (0, 1), and
``scripts/resnet.py`` (``predictAdvDataModelComparisions``) records each adversarial's L-inf
distance. attackHelper is Python 2 (a print statement), so foolbox 1.8 or older; the procedure
and defaults are the same in 1.8 and 2.4, and the lines cited are foolbox 2.4.0's.

What both attacks share (``foolbox/v1/adversarial.py``, the ``Adversarial`` object):

- an image is adversarial when ``argmax(logits) != label``, the true label
  (``criteria.py`` 160-179, ``Misclassification``);
- an image misclassified unattacked is not attacked: distance 0 (``attacks/base.py`` 70-75);
- every model call on an adversarial input offers it as the result; it is kept only if its
  distance is strictly below the best so far (``v1/adversarial.py`` 192-211). The L-inf distance
  is ``max |x_adv - x| / (max - min)`` (``distances.py`` 166-176);
- no adversarial found: foolbox returns None and HFC stores the clean image in its place
  (``utility/attackHelper.py`` 30-40, ``else: Xadv_fgsm[i] = img``), so the distance it records for
  that image is 0; here too distance 0, and ``failed`` marks the image so that a report can say how
  many searches found nothing (an image robust to every eps tried reads as not robust at all).

FGSM (``attacks/gradient.py`` 17-45 and 127-131, ``epsilons=1000, max_epsilon=1``)::

    g = sign(gradient of the cross-entropy at x) * (max - min)
    pass 1: eps in linspace(0, 1, 1001)[1:], in order; x_eps = clip(x + eps * g, 0, 1); stop at the first adversarial
    if it was among the first 20 eps (or none was): pass 2 over linspace(0, that eps, 21)[1:], stopping at its first

HFC's FGSM keeps foolbox's default distance, MSE: along FGSM's ray every pixel's change grows
with eps, so the smallest-MSE adversarial is the one at the smallest successful eps tried (pass
2's when it has one: success need not grow with eps); its L-inf distance is returned.

PGD (``attacks/iterative_projected_gradient.py`` 101-220, 233-239, 297-302 and 700-752:
``binary_search=True, epsilon=0.3, stepsize=0.01, iterations=40, random_start=False,
return_early=True``; the optimizer is plain gradient ascent, 223-225)::

    a try at eps: step = (0.01 / 0.3) * eps; x_0 = x; for k = 1..40:
        x_k = x_(k-1) + step * sign(gradient of the cross-entropy at x_(k-1)) * (max - min)
        x_k = clip(x + clip(x_k - x, -eps, eps), 0, 1)
        if x_k is adversarial: the try succeeds and stops there (return early)
    growth: eps = 0.3, 0.45, ... (x 1.5) until a try succeeds; 20 failures: no adversarial
    bisection: bad = 0, good = that eps; 20 tries at (good + bad) / 2, each moving good or bad

The distance returned is the closest adversarial's actual distance, over all tries: early return
often stops a try well inside its eps-ball, so it need not be the last successful eps.

Arithmetic as HFC's. Its test images are ``x / 255.0`` in numpy, float64 (``utility/dataLoader.py``),
so foolbox works on float64 images; TensorFlow's gradient is float32, and numpy 1.x keeps a
float32 array float32 when a float64 scalar multiplies it, so each signed step is ``float32(eps) *
sign`` (``float32(step) * sign`` for PGD) added to the float64 image; the eps-ball and pixel
clips are float64; the model sees the float32 cast. ablate's float32 images are widened to
float64 (within 1e-8 of HFC's). Gradients are of the summed cross-entropy, so each image's is that
of its own loss, as when attacked alone.

Batches. Every image of a batch runs its own search (its own eps, early return and number of
tries), all in lockstep, the model in eval mode, float32, autocast off (``ablate.train.attacks``). Each
model call is on the whole batch, images whose search is over as their clean selves, so that a
model normalising with batch statistics sees the same images throughout, as in
:func:`ablate.train.attacks.minimal_eps`. A model that classifies each image on its own gives every
image what one-at-a-time would, up to the float rounding of batched layers (tests/test_foolbox_search.py).
Two model calls of foolbox are one here: a PGD step's forward pass both judges ``x_k`` and takes the
gradient there, and the gradient at ``x`` is taken once for every try's first step.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ablate.train.attacks import model_mode, per_image, precision

FGSM_EPSILONS = np.linspace(0, 1, num=1000 + 1)[1:]            # gradient.py 27: epsilons=1000, max_epsilon=1
FGSM_REFINED = 20                                              # gradient.py 39, 45: "i < 20", num=20 + 1
PGD_EPSILON, PGD_STEP, PGD_ITERATIONS = 0.3, 0.01, 40          # iterative_projected_gradient.py 705-707
PGD_GROWTH, PGD_TRIES = 1.5, 20                                # 140 (x 1.5); 69 (k = 20) growth tries and bisections


class Closest(NamedTuple):
    """Per image: the closest adversarial found, its L-inf distance and the eps of every try."""

    distance: torch.Tensor          # [N] float64; 0: misclassified unattacked, or none found (HFC's record)
    adversarial: torch.Tensor       # float64 (the model sees its float32 cast); the clean image where none found
    tried: list[list[float]]        # per image, each eps tried, in order
    failed: torch.Tensor            # [N] bool: the search found no adversarial (its distance is the clean image's, 0)


class Best:
    """The adversarial kept for each image: foolbox replaces it only by a strictly closer one."""

    def __init__(self, x: torch.Tensor, wrong: torch.Tensor):
        self.x = x
        self.adversarial = x.clone()
        self.distance = torch.where(wrong, 0.0, torch.inf).to(x.device, torch.float64)

    def offer(self, candidates: torch.Tensor, fooled: torch.Tensor, closer_only: bool = True) -> None:
        """Keep the ``fooled`` candidates that are closer (every one with ``closer_only=False``)."""
        distance = (candidates - self.x).abs().flatten(1).amax(dim=1)               # bounds (0, 1): max - min = 1
        closer = fooled & (distance < self.distance) if closer_only else fooled
        self.distance = torch.where(closer, distance, self.distance)
        self.adversarial[closer] = candidates[closer]

    def result(self, tried: list[list[float]]) -> Closest:
        """The search's outcome; an image without an adversarial is recorded as HFC records it, distance 0."""
        failed = torch.isinf(self.distance)
        return Closest(torch.where(failed, 0.0, self.distance), self.adversarial, tried, failed)


def logits_and_sign(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits at ``x`` (float32) and the sign of each image's own cross-entropy gradient there (one pass)."""
    with torch.enable_grad():
        x = x.detach().float().requires_grad_(True)
        logits = model(x)
        gradient = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x)[0]
    return logits.detach(), gradient.sign()


def record(tried: list[list[float]], which: torch.Tensor, eps: torch.Tensor) -> None:
    for i, value in zip(which.nonzero().flatten().tolist(), eps[which].tolist()):
        tried[i].append(value)


def foolbox_fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Closest:
    """foolbox's ``FGSM(fmodel)(image, label)`` at its defaults, for each image of the batch."""
    x = x.detach().double()
    n, device = len(x), x.device
    first = torch.tensor(FGSM_EPSILONS, device=device)
    # Pass 2's eps, one row per possible end of pass 1: each of its first 20 eps, or its last (no success).
    ends = [*range(FGSM_REFINED), len(FGSM_EPSILONS) - 1]
    second = torch.tensor(np.stack([np.linspace(0, FGSM_EPSILONS[i], num=FGSM_REFINED + 1)[1:] for i in ends]),
                          device=device)
    tried: list[list[float]] = [[] for _ in range(n)]
    with model_mode(model, False), precision(device, None):
        logits, sign = logits_and_sign(model, x, y)
        best = Best(x, logits.argmax(dim=1) != y)
        active = torch.isinf(best.distance)
        refining = torch.zeros(n, dtype=torch.bool, device=device)
        row = torch.zeros(n, dtype=torch.long, device=device)            # pass 2's row
        index = torch.zeros(n, dtype=torch.long, device=device)          # position in the pass
        while active.any():
            eps = torch.where(refining, second[row, index.clamp(max=FGSM_REFINED - 1)],
                              first[index.clamp(max=len(first) - 1)])
            record(tried, active, eps)
            candidates = torch.where(expand(active, x), (x + signed_step(eps, sign)).clamp(0, 1), x)
            with torch.no_grad():
                fooled = active & (model(candidates.float()).argmax(dim=1) != y)
            best.offer(candidates, fooled, closer_only=False)            # pass 2's eps are below pass 1's: smaller MSE
            last = torch.where(refining, index == FGSM_REFINED - 1, index == len(first) - 1)
            refine = active & ~refining & ((fooled & (index < FGSM_REFINED)) | (~fooled & last))
            active &= ~(fooled & ~refine) & ~(~fooled & last & refining)
            row = torch.where(refine, torch.where(fooled, index, len(ends) - 1), row)
            index = torch.where(refine, 0, index + 1)
            refining |= refine
    return best.result(tried)


def foolbox_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Closest:
    """foolbox's ``ProjectedGradientDescentAttack(fmodel, distance=Linfinity)(image, label)`` at its defaults,
    for each image of the batch."""
    x = x.detach().double()
    n, device = len(x), x.device
    tried: list[list[float]] = [[] for _ in range(n)]
    with model_mode(model, False), precision(device, None):
        logits, first_sign = logits_and_sign(model, x, y)
        best = Best(x, logits.argmax(dim=1) != y)
        active = torch.isinf(best.distance)
        eps = torch.full((n,), PGD_EPSILON, dtype=torch.float64, device=device)
        good, bad = torch.zeros_like(eps), torch.zeros_like(eps)
        growing = torch.ones(n, dtype=torch.bool, device=device)
        tries = torch.zeros(n, dtype=torch.long, device=device)         # tries ended in the current phase
        record(tried, active, eps)
        current = torch.where(expand(active, x), pgd_step(x, x, first_sign, eps), x)
        steps = torch.ones(n, dtype=torch.long, device=device)          # steps taken in the current try
        while active.any():
            logits, sign = logits_and_sign(model, current, y)
            fooled = active & (logits.argmax(dim=1) != y)
            best.offer(current, fooled)
            ended = fooled | (active & (steps == PGD_ITERATIONS))
            found = ended & growing & fooled                            # growth ends: bisect below eps
            good = torch.where(found, eps, torch.where(ended & ~growing & fooled, eps, good))
            bad = torch.where(found, 0.0, torch.where(ended & ~growing & ~fooled, eps, bad))
            tries = torch.where(found, 0, torch.where(ended, tries + 1, tries))
            growing &= ~found
            active &= ~(ended & (tries == PGD_TRIES))
            restart = ended & active
            eps = torch.where(restart & growing, eps * PGD_GROWTH, torch.where(restart, (good + bad) / 2, eps))
            record(tried, restart, eps)
            going = active & ~restart
            current = torch.where(expand(restart, x), pgd_step(x, x, first_sign, eps),
                                  torch.where(expand(going, x), pgd_step(current, x, sign, eps), x))
            steps = torch.where(restart, 1, steps + 1)
    return best.result(tried)


def pgd_step(current: torch.Tensor, x: torch.Tensor, sign: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """One step of foolbox's L-inf PGD from ``current``: step (0.01 / 0.3) * eps, into the eps-ball and [0, 1]."""
    moved = current + signed_step(PGD_STEP / PGD_EPSILON * eps, sign)
    bound = expand(eps, x)
    return (x + (moved - x).clamp(-bound, bound)).clamp(0, 1)


def signed_step(size: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``float32(size) * sign`` per image, widened to float64: a float64 size times a float32 gradient in numpy 1.x."""
    return (per_image(size, sign) * sign).double()


def expand(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-image mask shaped to broadcast over ``x``."""
    return mask.reshape(-1, *[1] * (x.dim() - 1))
