"""Label smoothing for ablate (Szegedy et al., 2016), a plugin that is not built in.

Label smoothing trains against ``(1 - epsilon) * one_hot + epsilon / classes``
instead of the one-hot label, so the network is never pushed towards infinite
logits. It is a regularizer the original study did not test: running it next to
the vanilla model shows whether it changes how much a model relies on the
high-frequency component.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ablate

__all__ = ["LabelSmoothing", "smoothed_targets"]


def smoothed_targets(targets: torch.Tensor, num_classes: int, epsilon: float) -> torch.Tensor:
    """Int labels ``(N,)`` or soft targets ``(N, classes)`` -> smoothed soft targets ``(N, classes)``."""
    if not targets.is_floating_point():
        targets = F.one_hot(targets, num_classes).float()
    return (1.0 - epsilon) * targets.float() + epsilon / num_classes


class LabelSmoothing(ablate.Plugin):
    """Cross-entropy against smoothed labels: (1 - epsilon) * one-hot + epsilon / classes."""

    name = "label_smoothing"
    params = [
        ablate.Param("epsilon", float, 0.1, "probability mass spread evenly over all classes", minimum=0.0,
                     maximum=1.0),
    ]

    @ablate.hookimpl
    def ablate_loss(self, logits, targets, state):
        # Soft targets (from mixup, listed earlier) are smoothed too, so the two compose.
        smoothed = smoothed_targets(targets, logits.shape[1], self.args.epsilon)
        return -(smoothed * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
