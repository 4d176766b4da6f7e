"""ablate: frequency-ablation studies of image classifiers.

The public API: everything the ``ablate`` command does can be done from here. These names are
also in :mod:`ablate.api`, the whole public surface (what plugins use); the other modules are internal.
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
    # Heavier parts load on first use, so `import ablate` stays quick; ablate.api says where each lives.
    if name in __all__:
        from ablate import api
        return getattr(api, name)
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
