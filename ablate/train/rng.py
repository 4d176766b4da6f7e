"""The run's randomness: seeding, the per-epoch order of the training set, and saving the
random state in a checkpoint so that a resumed run draws exactly what an unbroken one would."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (model initialisation, dropout, augmentation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the ``n`` training images in ``epoch``: fixed by (seed, epoch) alone, so a resumed
    run shuffles exactly as an unbroken one, whatever the global generators went through."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def rng_state() -> dict[str, Any]:
    """Every global generator's state, for a checkpoint: tensors and plain Python values only, so
    that the checkpoint loads with ``torch.load(weights_only=True)`` (numpy's key array as a list)."""
    name, keys, position, has_gauss, cached_gauss = np.random.get_state()
    numpy_state = (name, keys.tolist(), int(position), int(has_gauss), float(cached_gauss))
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy_state}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved; a checkpoint written on CUDA restores on a CPU-only machine
    (its CUDA generators are then left out: a CPU run draws nothing from them)."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():      # CUDA generators, as many as both machines have
        for index, generator in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator, index)
