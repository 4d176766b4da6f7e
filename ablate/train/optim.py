"""ablate's own optimizer, learning-rate schedule and training loss.

These are the study's choices (Adam or SGD from the settings, a per-epoch
schedule, cross-entropy); the trainer uses them where no plugin gives its own
(``ablate_optimizer``, ``ablate_loss``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ablate.study.settings import Settings


def make_optimizer(model: torch.nn.Module, settings: Settings) -> torch.optim.Optimizer:
    """Adam (the study's) or SGD with momentum, over all of ``model``'s parameters.

    With ``fused`` (the default) and every parameter on CUDA, the update is torch's fused kernel: one
    launch per step instead of several per parameter, the same arithmetic in another rounding order,
    which is why ``fused`` is no part of a run's identity. Elsewhere torch's default implementation."""
    parameters = list(model.parameters())
    fused = settings.fused and bool(parameters) and all(p.is_cuda for p in parameters)
    options = {"fused": True} if fused else {}
    if settings.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=settings.lr, momentum=settings.momentum,
                               weight_decay=settings.weight_decay, nesterov=False, **options)
    return torch.optim.Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay, **options)


def make_schedule(optimizer: torch.optim.Optimizer, settings: Settings):
    """A per-epoch learning-rate schedule (stepped once at the end of every epoch)."""
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    if settings.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.step_every, gamma=settings.step_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against int labels, or against float soft targets ``(N, classes)`` (mix-up)."""
    if targets.is_floating_point():
        return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
    return F.cross_entropy(logits.float(), targets)
