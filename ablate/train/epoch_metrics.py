"""An epoch's training metrics: loss and accuracy sums kept on the device, and its headline numbers.

The sums are read once, at the epoch's end, so that the loop never waits for the
device; :func:`epoch_headline` picks what a progress line shows from the epoch's rows.
"""

from __future__ import annotations

from typing import Any

import torch


class EpochSums:
    """An epoch's loss and correct-prediction sums, kept on the device and read once at its end.

    The loss sum turns NaN or infinite as soon as one batch's loss does.
    """

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.long)

    def add(self, loss: torch.Tensor, size: int, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """One batch: its mean ``loss`` over ``size`` images, and its predictions against int or soft targets."""
        self.loss.add_(loss, alpha=size)
        labels = targets.argmax(1) if targets.is_floating_point() else targets
        self.correct += (logits.argmax(1) == labels).sum()

    def diverged(self) -> bool:
        return not bool(torch.isfinite(self.loss))

    def mean_loss(self, n: int) -> float:
        return (self.loss / n).item()

    def accuracy(self, n: int) -> float:
        return self.correct.item() / n


def epoch_headline(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The headline numbers of an epoch, for progress lines: train/test accuracy and loss."""
    out = {}
    for r in rows:
        if r["component"] == "original" and not r.get("attack"):
            out[f"{r['split']}_{'acc' if r['metric'] == 'accuracy' else 'loss'}"] = r["value"]
    return out
