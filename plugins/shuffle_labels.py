"""Shuffled training labels: Figure 3 of the study.

The training labels are permuted once, before training, with a fixed seed (the
official code loads a pre-shuffled label file), so the model can only memorise.
The permutation comes from its own CPU generator seeded with ``seed``: it does
not depend on the run's seed or the global random state, and it keeps the number
of images of each class. The test labels are left as they are. Figure 3 trains
for 300 epochs and probes the training set (``probe_train = true``).
"""

from __future__ import annotations

import torch

import ablate
from ablate import Param


def permuted_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """``labels`` in the order of a permutation fixed by ``seed``, on the labels' device."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(labels.shape[0], generator=generator)
    return labels[order.to(labels.device)]


class ShuffleLabels(ablate.Plugin):
    """Permute the training labels once with a fixed seed (Figure 3)."""

    name = "shuffle_labels"
    params = [
        Param("seed", int, 0, "seed of the permutation (independent of the run's seed)", minimum=0),
    ]

    @ablate.hookimpl
    def ablate_prepare_data(self, data, settings):
        data.y_train = permuted_labels(data.y_train, self.args.seed)
