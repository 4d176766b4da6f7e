"""``ablate report DIR --reevaluate``: a finished run's final epoch measured again by today's evaluation.

A folder measured by an older evaluation (:mod:`ablate.core.evaluation`) keeps the numbers of its day.
Training need not be redone: the final model is in the run's checkpoint, loaded without unpickling
(:func:`ablate.train.checkpoint.load_checkpoint`). For each such run this measures the final epoch again
(test accuracy and loss, the probes, the plugins' ``ablate_epoch_end`` rows, then the final evaluation:
final probes, ``ablate_final_models`` and ``ablate_evaluate``, such as the attacks), replaces those rows in
the checkpoint, metrics.csv and the study's results.csv, and moves the rows it replaced to the run's
``earlier_evaluations.csv`` with the version that measured them (column ``evaluation``). The curves of the
epochs before the last keep their old numbers: config.json's conditions then record ``curves_evaluation``,
the version that measured them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.evaluation import CONDITIONS, EVALUATION_VERSION, folder_version
from ablate.core.files import write_csv, write_json
from ablate.core.registry import PluginRegistry, get_registry
from ablate.core.schema import (
    CHECKPOINT,
    CONFIG,
    EARLIER_EVALUATIONS,
    METRICS,
    PLAN,
    RESULTS,
    file_in,
    folder_under,
    results_frame,
)
from ablate.execution.runner import collect_results
from ablate.spectral.scaling import originals_scaling
from ablate.study.expansion import Run
from ablate.study.settings import Settings
from ablate.train.checkpoint import load_checkpoint, save_checkpoint
from ablate.train.trained import plugins_to_rebuild
from ablate.train.trainer import Trainer

NOT_KEYS = ("run", "epoch", "value")      # a row's key: every other column (split, component, radius, ...)


def reevaluate_study(out_dir: Path, registry: PluginRegistry | None = None, say=print) -> list[str]:
    """Measure again every finished run of ``out_dir`` that an older evaluation measured; rewrite the study's
    results.csv; return the runs measured again."""
    out_dir = Path(out_dir)
    registry = registry or get_registry()
    try:
        entries = json.loads(file_in(out_dir, PLAN).read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise AblateError(f"{out_dir}: no readable {PLAN}; give the output directory of a recipe (OUT/RECIPE)")
    done = []
    for entry in entries:
        run_dir = folder_under(out_dir, str(entry.get("dir", "")))
        version = folder_version(run_dir)
        if version is None or version >= EVALUATION_VERSION:
            continue
        say(f"[{entry.get('name')}] measuring its final epoch again (evaluation version {version} -> "
            f"{EVALUATION_VERSION}) from {run_dir / CHECKPOINT}")
        reevaluate_run(run_dir, version, registry)
        done.append(str(entry.get("name")))
    if done:
        write_csv(out_dir / RESULTS, collect_results(out_dir, entries))
    return done


def reevaluate_run(run_dir: Path, version: int, registry: PluginRegistry) -> None:
    """Measure one finished run's final epoch again; keep what it replaces in earlier_evaluations.csv."""
    path = file_in(run_dir, CHECKPOINT)
    state = load_checkpoint(path)
    if state is None or "model" not in state or not state.get("finished"):
        raise AblateError(f"{path}: not a finished run's checkpoint; `ablate recipe` trains it first")
    settings = Settings.saved(state["settings"], str(path), resolve_device("auto").type)
    settings.device = "auto"                      # this machine's device, as ablate probe rebuilds a model
    trainer = Trainer(Run(state.get("run_name", run_dir.name), settings, plugins_to_rebuild(state)), run_dir,
                      registry)
    trainer.setup()
    trainer.model.load_state_dict(state["model"])
    epoch = state["epoch"]
    trainer.state.step, trainer.state.epoch = state["step"], epoch
    fresh = trainer.evaluate(epoch) + trainer.final_evaluation()
    replaced_keys = {row_key(row) for row in fresh}
    old = [row for row in state["rows"] if row.get("epoch") == epoch and row_key(row) in replaced_keys]
    kept = [row for row in state["rows"] if not (row.get("epoch") == epoch and row_key(row) in replaced_keys)]
    earlier = results_frame(old).assign(evaluation=version)
    if file_in(run_dir, EARLIER_EVALUATIONS).exists():
        earlier = pd.concat([pd.read_csv(file_in(run_dir, EARLIER_EVALUATIONS)), earlier], ignore_index=True)
    write_csv(run_dir / EARLIER_EVALUATIONS, earlier)
    state["rows"] = kept + fresh
    save_checkpoint(path, state)
    write_csv(run_dir / METRICS, results_frame(state["rows"]))
    config = json.loads(file_in(run_dir, CONFIG).read_text())
    conditions = config.get(CONDITIONS) if isinstance(config.get(CONDITIONS), dict) else {}
    conditions.setdefault("curves_evaluation", version)
    conditions |= {"evaluation": EVALUATION_VERSION, "test_originals": originals_scaling(settings.normalize, "test")}
    write_json(run_dir / CONFIG, {**config, CONDITIONS: conditions})


def row_key(row: dict[str, Any]) -> tuple:
    """What a row measures (its columns but run, epoch and value; blanks left out, so that a row written
    before a column existed matches one that leaves it blank)."""
    return tuple(sorted((k, v) for k, v in row.items() if k not in NOT_KEYS and not blank(v)))


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
