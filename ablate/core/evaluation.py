"""Which version of ablate's evaluation measured a run folder's numbers.

A change to how a trained model is measured (not to how it is trained) keeps the run's hash: the
training is the same, so the folder keeps its name and its checkpoint. Its numbers are then the old
evaluation's. Each run records the version that measured it (``evaluation`` in config.json's
``conditions``); a report or a re-run of an older folder says so in one line, and ``ablate report DIR
--reevaluate`` measures its final epoch again from its checkpoint (:mod:`ablate.execution.reevaluation`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ablate.core.schema import CHECKPOINT, CONFIG, DONE, file_in

CONDITIONS = "conditions"          # the key of config.json that holds what a run was trained and measured under

EVALUATION_VERSION = 4
"""The evaluation this ablate runs. What each version changed:

1. (folders without ``conditions`` in config.json) an evaluation batch of the probe could hold images of
   several variants (LFC and HFC, radius after radius): a model normalising with its batch's statistics
   (BatchNorm in train mode, the official kind) was measured on mixed batches.
2. (``conditions`` without ``test_originals``) each evaluation batch holds one variant's images only, as the
   official script's (issue 22).
3. (``test_originals`` recorded, no ``evaluation``) the test set's originals are fed as x / 255 under either
   ``normalize``, as the official script feeds them (issue 23); before, x / max(x) under ``normalize = "max"``.
4. a foolbox minimal search that finds no adversarial records distance 0, as the official code records the
   clean image (``attacks``, ``search = "foolbox"``); before, an infinite distance (issue 31).
"""

CHANGES = {
    1: "a probe's evaluation batches could mix variants",
    2: "test originals scaled by their own maximum under normalize = 'max'",
    3: "a failed foolbox search recorded as an infinite distance",
}
"""What a folder of each older version lacks, in a few words (for the one-line notes)."""


def recorded_version(conditions: dict[str, Any] | None) -> int:
    """The evaluation version a run folder's ``conditions`` record; a folder from before the record is dated
    by the conditions it has (see :data:`EVALUATION_VERSION`). None (no config.json): the current version."""
    if conditions is None:
        return EVALUATION_VERSION
    version = conditions.get("evaluation")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    return 3 if "test_originals" in conditions else 2 if conditions else 1


def older_evaluation(version: int) -> str:
    """One clause saying what a folder of ``version`` was measured without, or "" for the current version."""
    if version >= EVALUATION_VERSION:
        return ""
    lacks = "; ".join(CHANGES[v] for v in range(max(version, 1), EVALUATION_VERSION) if v in CHANGES)
    return f"evaluation version {version}, now {EVALUATION_VERSION} ({lacks})"


def recorded_conditions(run_dir: Path) -> dict[str, Any] | None:
    """The conditions a run folder's config.json recorded: None for a new folder, ``{}`` for one from before them."""
    try:
        config = json.loads(file_in(run_dir, CONFIG).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    recorded = config.get(CONDITIONS)
    return recorded if isinstance(recorded, dict) else {}


def folder_version(run_dir: Path | None) -> int | None:
    """The evaluation version of a finished run folder with a checkpoint (what ``--reevaluate`` can measure
    again); None for any other folder, or one whose config.json cannot be read."""
    if run_dir is None or not (run_dir / DONE).exists() or not (run_dir / CHECKPOINT).exists():
        return None
    recorded = recorded_conditions(run_dir)
    return None if recorded is None else recorded_version(recorded)


def older_evaluations_note(versions: dict[str, int]) -> str:
    """One line naming the runs (name -> version) that an older evaluation measured, or "" when none."""
    older = {run: v for run, v in versions.items() if v < EVALUATION_VERSION}
    if not older:
        return ""
    listed = ", ".join(f"{run} ({older_evaluation(v)})" for run, v in older.items())
    return (f"measured by an older evaluation, so not comparable with new runs: {listed}; "
            f"`ablate report DIR --reevaluate` measures their final epoch again from their checkpoints")
