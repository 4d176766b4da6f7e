"""Mix-up: the mix-up panel of Figure 5.

Each training batch is mixed with a shuffled copy of itself,
``x = lam * x + (1 - lam) * x[perm]`` and the same for the one-hot labels, with one
``lam ~ Beta(alpha, alpha)`` per batch. The official code draws ``lam`` from
``Beta(1, 1)`` (the default ``alpha = 1.0``); the paper's text says ``alpha = 0.5``.
The batch then carries soft targets (float ``(N, classes)``), which ablate's default
loss handles as soft-target cross-entropy.

Randomness comes from torch's global generators (``lam`` on the CPU one, the
permutation on the batch's device), which ablate checkpoints, so a resumed run
mixes exactly as an uninterrupted one.

In reports, the training accuracy of a mix-up run is accuracy on mixed images
against their mixed labels' larger share: it is labelled ``train (mixed examples)``
(its class method ``train_examples``).

Order: list ``pgd`` before ``mixup`` (attack, then mix); the other order is refused
because the attack needs integer labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Beta

import ablate
from ablate import Param


def mix(x: torch.Tensor, targets: torch.Tensor, lam: float, perm: torch.Tensor):
    """The convex combination of a batch with its permuted copy, images and soft targets alike."""
    return lam * x + (1.0 - lam) * x[perm], lam * targets + (1.0 - lam) * targets[perm]


class Mixup(ablate.Plugin):
    """Mix-up of inputs and one-hot labels with a shuffled copy of the batch, lam ~ Beta(alpha, alpha)."""

    name = "mixup"
    params = [
        Param("alpha", float, 1.0, "Beta(alpha, alpha) for the mixing weight; 1.0 = official code, "
              "0.5 = paper text", greater_than=0.0),
    ]

    @classmethod
    def train_examples(cls, values):
        return "mixed examples"

    @ablate.hookimpl
    def ablate_train_batch(self, batch, model, state):
        x, y = batch.x, batch.y
        targets = y if y.is_floating_point() else F.one_hot(y, state.num_classes).to(x.dtype)
        concentration = torch.tensor(self.args.alpha, dtype=torch.float64)
        lam = float(Beta(concentration, concentration).sample())
        perm = torch.randperm(x.shape[0], device=x.device)
        batch.x, batch.y = mix(x, targets, lam, perm)
