"""ablate: frequency-ablation studies of image classifiers.

The public API: everything the ``ablate`` command does can be done from here.
"""

__version__ = "0.1.0"

from ablate.core.errors import AblateError, TrainingDiverged
from ablate.core.hookspecs import hookimpl
from ablate.core.params import Param
from ablate.core.registry import Plugin
from ablate.spectral.probes import Probe, Variant
from ablate.study.settings import Settings
from ablate.core.structs import Batch, Data, ModelParts, TrainState

__all__ = [
    "AblateError", "TrainingDiverged", "hookimpl", "Param", "Plugin", "Probe", "Settings", "Variant",
    "Batch", "Data", "ModelParts", "TrainState", "__version__",
    "load_recipe", "run_recipe", "split", "summarize", "Launcher", "LaunchContext", "probe_model", "Preprocess",
]


def __getattr__(name):
    # Heavier parts load on first use, so `import ablate` stays quick.
    if name in ("load_recipe",):
        from ablate.study import expansion as recipe
        return getattr(recipe, name)
    if name in ("run_recipe",):
        from ablate.execution import runner
        return getattr(runner, name)
    if name in ("Launcher", "LaunchContext"):
        from ablate.execution import launchers
        return getattr(launchers, name)
    if name == "probe_model":
        from ablate.any_model.probe_model import probe_model
        return probe_model
    if name == "Preprocess":
        from ablate.any_model.zoo import Preprocess
        return Preprocess
    if name == "summarize":
        from ablate.report.stats import summarize
        return summarize
    if name == "split":
        from ablate.spectral.frequency import split
        return split
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
