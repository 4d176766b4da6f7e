"""What is refused before anything trains: sizes and radii the data cannot honour, an ``--out`` that cannot
be written. Each check loads or creates as little as it can, and says in one line what to change."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ablate.core.errors import AblateError
from ablate.core.registry import PluginRegistry
from ablate.data.loading import load_full
from ablate.spectral.frequency import check_radii
from ablate.study.expansion import Run


def check_against_data(runs: list[Run], registry: PluginRegistry) -> None:
    """Load each run's dataset (once per process) and refuse sizes and radii it cannot honour, before training."""
    for run in runs:
        s, where = run.settings, f"run {run.name!r}"
        data = load_full(s.dataset, s, registry)
        for setting, available in (("train_size", len(data.y_train)), ("test_size", len(data.y_test))):
            if getattr(s, setting) > available:
                raise AblateError(f"{where}: {setting}: found {getattr(s, setting)}, but {s.dataset!r} has only "
                                  f"{available} images in that split; use {setting} <= {available} (0 = all)")
        train = s.train_size or len(data.y_train)
        if s.batch_size > train:
            raise AblateError(f"{where}: batch_size: found {s.batch_size}, but the run trains on {train} images; "
                              f"use batch_size <= {train}")
        height, width = data.x_train.shape[-2:]
        for setting in ("radii", "report_radii"):
            check_radii(getattr(s, setting), height, width, f"{where}: {setting}")


def check_out_folder(out_dir: Path) -> None:
    """Refuse an ``--out`` that cannot be created (under a file, in a folder not ours), without creating it."""
    existing = next(p for p in [out_dir, *out_dir.parents] if p.exists() or p == Path(p.anchor))
    problem = ("is a file" if not existing.is_dir() else
               "is not writable" if not os.access(existing, os.W_OK | os.X_OK) else None)
    if problem:
        raise AblateError(f"--out: cannot write to {out_dir}: {existing} {problem}; choose a folder you can write to")


def make_folder(out_dir: Path) -> None:
    """Create ``--out``/RECIPE, or say in one line why it cannot be (under a file, read-only)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=out_dir)
    except OSError as exc:
        raise AblateError(f"--out: cannot write to {out_dir} ({exc.strerror or type(exc).__name__}); "
                          f"choose a folder you can write to") from None
    probe.close()
