"""ablate: frequency-ablation studies of image classifiers.

The public API: everything the ``ablate`` command does can be done from here.
"""

__version__ = "0.1.0"

from ablate.errors import AblateError, TrainingDiverged
from ablate.hookspecs import hookimpl
from ablate.params import Param
from ablate.plugins import Plugin
from ablate.probes import Probe, Variant
from ablate.config import Settings
from ablate.structs import Batch, Data, ModelParts, TrainState

__all__ = [
    "AblateError", "TrainingDiverged", "hookimpl", "Param", "Plugin", "Probe", "Settings", "Variant",
    "Batch", "Data", "ModelParts", "TrainState", "__version__",
    "load_recipe", "run_recipe", "split", "summarize", "Launcher", "LaunchContext", "probe_model", "Preprocess",
]


def __getattr__(name):
    # Heavier parts load on first use, so `import ablate` stays quick.
    if name in ("load_recipe",):
        from ablate import recipe
        return getattr(recipe, name)
    if name in ("run_recipe",):
        from ablate import runner
        return getattr(runner, name)
    if name in ("Launcher", "LaunchContext"):
        from ablate import launchers
        return getattr(launchers, name)
    if name == "probe_model":
        from ablate.probe_any import probe_model
        return probe_model
    if name == "Preprocess":
        from ablate.zoo import Preprocess
        return Preprocess
    if name == "summarize":
        from ablate.stats import summarize
        return summarize
    if name == "split":
        from ablate.frequency import split
        return split
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
