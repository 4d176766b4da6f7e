"""What a run's results depend on beyond its identity, recorded when it starts and checked before it is reused.

A run's hash names its settings and plugins, and names the data set only as text: ``npz:data.npz`` is
relative to the working directory, and ``$ABLATE_DATA`` can put other CIFAR files under the same name. So
that a folder is never silently reused for other data, config.json records ``conditions``:

- ``data``: a fingerprint of the data set as loaded (its uint8 images, labels and class names);
- ``device_type``: ``cpu``, ``cuda``, ...: the same settings round differently on another device;
- ``test_originals``: how the test set's originals were fed to the model (the scaling mode of
  :func:`ablate.spectral.scaling.originals_scaling`). A folder without it was evaluated before that function
  existed, when the originals were fed with the run's ``normalize``: x / max for a ``"max"`` run.
- ``evaluation``: the version of the evaluation that measured the run (:data:`ablate.core.evaluation.EVALUATION_VERSION`).

Before a finished run is skipped or a half-finished one resumed, :func:`check_conditions` refuses other
data in one line, and warns about another device type. (The evaluation batch size of a run whose model
classifies an image with the rest of its batch, BatchNorm on batch statistics, was recorded here until
issue 31; it now names the run: :attr:`ablate.study.expansion.Run.batch_dependent`.) Test originals fed
otherwise refuse a resume (one curve would mix both scales) and are a note for a finished run (training is
the same; only its test numbers were measured the old way). A folder measured by an older evaluation is a
note too (``ablate report DIR --reevaluate`` measures it again). Runs recorded before conditions existed are
otherwise reused as before. None of this enters the hash: existing folders keep their names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.evaluation import EVALUATION_VERSION, older_evaluation, recorded_conditions, recorded_version
from ablate.core.registry import PluginRegistry
from ablate.core.schema import CHECKPOINT, DONE
from ablate.data.loading import data_fingerprint
from ablate.spectral.scaling import originals_scaling
from ablate.study.expansion import Run

FED = {"none": "x / 255", "max": "x / max(x)"}       # a scaling mode, as a reader of a message knows it


def run_conditions(run: Run, registry: PluginRegistry) -> dict[str, Any]:
    """The conditions this process would train ``run`` under (its data loaded once per process)."""
    s = run.settings
    conditions = {"data": data_fingerprint(s.dataset, s, registry),
                  "device_type": resolve_device(s.device).type}
    conditions["test_originals"] = originals_scaling(s.normalize, "test")
    conditions["evaluation"] = EVALUATION_VERSION
    return conditions


def check_conditions(run: Run, run_dir: Path, registry: PluginRegistry) -> str | None:
    """Refuse to reuse ``run_dir`` (skip it as finished, or resume it) under other data, or to resume it with its test originals fed otherwise; return a note when it
    finished with them fed otherwise, or was trained on another device type, else None."""
    recorded = recorded_conditions(run_dir)
    if recorded is None:
        return None
    now = run_conditions(run, registry)
    where = f"run {run.name!r} ({run_dir})"
    if recorded.get("data") not in (None, now["data"]):
        raise AblateError(f"{where}: data changed since this run was trained: {run.settings.dataset!r} has "
                          f"fingerprint {now['data']} now, {recorded['data']} then; point --dataset at the data "
                          f"it was trained on, or move the folder away to train it afresh")
    fed = recorded.get("test_originals", run.settings.normalize)       # before the record: as normalize said
    if fed != now["test_originals"]:
        then, today = FED.get(fed, fed), FED[now["test_originals"]]
        if (run_dir / CHECKPOINT).exists() and not (run_dir / DONE).exists():
            raise AblateError(f"{where}: its epochs so far were tested on originals fed as {then}, ablate now "
                              f"feeds them as {today} (as the official code): resuming would mix both in one "
                              f"curve; move the folder away to train it afresh")
        if (run_dir / DONE).exists():
            return (f"{where}: its test accuracy was measured on originals fed as {then}; ablate now feeds them as "
                    f"{today} (as the official code), so its test numbers are not comparable with new runs'; "
                    f"move the folder away to train it afresh")
    older = older_evaluation(recorded_version(recorded))
    if older and (run_dir / DONE).exists():
        return (f"{where}: its numbers were measured by {older}; `ablate report {run_dir.parent} --reevaluate` "
                f"measures its final epoch again from its checkpoint, without training")
    if older and (run_dir / CHECKPOINT).exists():
        return (f"{where}: its epochs so far were measured by {older}; they keep those numbers, and the epochs "
                f"it trains now are measured by the current evaluation")
    if recorded.get("device_type") not in (None, now["device_type"]):
        return (f"{where}: trained on {recorded['device_type']}, now on {now['device_type']}: the same settings "
                f"round differently there")
    return None
