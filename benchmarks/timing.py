"""Wall-clock timing shared by the benchmark scripts (which run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds ``fn()`` takes, waiting for queued GPU work before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start
