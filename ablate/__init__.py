"""ablate: frequency-ablation studies of image classifiers.

The public API: everything the ``ablate`` command does can be done from here. These names are
``ablate.api.TOP_LEVEL``, part of :mod:`ablate.api`, the whole public surface (what plugins use), which
says where each lives; the other modules are internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ablate import api as _api

__version__ = "0.1.0"

__all__ = [*_api.TOP_LEVEL, "__version__"]

if TYPE_CHECKING:   # for type checkers and editors, never run: the names of ablate.api.TOP_LEVEL (tests check)
    from ablate.api import (AblateError, Batch, Data, LaunchContext, Launcher, ModelParts, Param, Plugin,
                            Preprocess, Probe, Settings, TrainingDiverged, TrainState, Variant, hookimpl,
                            load_recipe, probe_model, run_recipe, split, summarize)


if not TYPE_CHECKING:   # type checkers see the imports above instead, so they flag a name ablate lacks
    def __getattr__(name: str):
        # Each name is imported on first use, from the module ablate.api names, so `import ablate` stays quick.
        if name in _api.TOP_LEVEL:
            value = getattr(_api, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module 'ablate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
