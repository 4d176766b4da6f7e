"""What a run's results depend on beyond its identity, recorded when it starts and checked before it is reused.

A run's hash names its settings and plugins, and names the data set only as text: ``npz:data.npz`` is
relative to the working directory, and ``$ABLATE_DATA`` can put other CIFAR files under the same name. So
that a folder is never silently reused for other data, config.json records ``conditions``:

- ``data``: a fingerprint of the data set as loaded (its uint8 images, labels and class names);
- ``device_type``: ``cpu``, ``cuda``, ...: the same settings round differently on another device;
- ``eval_batch_size``, only for a run whose model predicts an image differently depending on the other
  images of its evaluation batch (a plugin says so: :meth:`ablate.Plugin.batch_dependent_evaluation`,
  BatchNorm on batch statistics): its results depend on that size.

Before a finished run is skipped or a half-finished one resumed, :func:`check_conditions` refuses other
data or another evaluation batch size in one line, and warns about another device type. Runs recorded
before conditions existed are reused as before. None of this enters the hash: existing folders keep their names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ablate.datasets import data_fingerprint
from ablate.device import resolve_device
from ablate.errors import AblateError
from ablate.plugins import PluginRegistry
from ablate.recipe import Run
from ablate.schema import CONFIG

CONDITIONS = "conditions"          # the key of config.json


def batch_dependent(run: Run, registry: PluginRegistry) -> bool:
    """Whether one of the run's plugins makes a model whose evaluation depends on its batch."""
    return any(registry.get(name, f"run {run.name}").cls.batch_dependent_evaluation(values)
               for name, values in run.plugins)


def run_conditions(run: Run, registry: PluginRegistry) -> dict[str, Any]:
    """The conditions this process would train ``run`` under (its data loaded once per process)."""
    s = run.settings
    conditions = {"data": data_fingerprint(s.dataset, s, registry),
                  "device_type": resolve_device(s.device).type}
    if batch_dependent(run, registry):
        conditions["eval_batch_size"] = s.eval_batch_size
    return conditions


def recorded_conditions(run_dir: Path) -> dict[str, Any] | None:
    """The conditions a run folder's config.json recorded; None for a new folder or one from before them."""
    try:
        config = json.loads((run_dir / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    recorded = config.get(CONDITIONS) if isinstance(config, dict) else None
    return recorded if isinstance(recorded, dict) else None


def check_conditions(run: Run, run_dir: Path, registry: PluginRegistry) -> str | None:
    """Refuse to reuse ``run_dir`` (skip it as finished, or resume it) under other data or another
    evaluation batch size; return a warning when it was trained on another device type, else None."""
    recorded = recorded_conditions(run_dir)
    if recorded is None:
        return None
    now = run_conditions(run, registry)
    where = f"run {run.name!r} ({run_dir})"
    if recorded.get("data") not in (None, now["data"]):
        raise AblateError(f"{where}: data changed since this run was trained: {run.settings.dataset!r} has "
                          f"fingerprint {now['data']} now, {recorded['data']} then; point --dataset at the data "
                          f"it was trained on, or move the folder away to train it afresh")
    if "eval_batch_size" in recorded and recorded["eval_batch_size"] != now.get("eval_batch_size"):
        raise AblateError(f"{where}: its model normalises each evaluation batch with that batch's statistics, so "
                          f"its results depend on eval_batch_size: {recorded['eval_batch_size']} when trained, "
                          f"{now.get('eval_batch_size')} now; use --set eval_batch_size={recorded['eval_batch_size']}, "
                          f"or move the folder away to train it afresh")
    if recorded.get("device_type") not in (None, now["device_type"]):
        return (f"{where}: trained on {recorded['device_type']}, now on {now['device_type']}: the same settings "
                f"round differently there")
    return None
