"""ablate: frequency-ablation studies of image classifiers.

The public API: everything the ``ablate`` command does can be done from here. These names are
also in :mod:`ablate.api`, the whole public surface (what plugins use), which says where each lives
and gives the very same objects; the other modules are internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "AblateError", "TrainingDiverged", "hookimpl", "Param", "Plugin", "Probe", "Settings", "Variant",
    "Batch", "Data", "ModelParts", "TrainState",
    "load_recipe", "run_recipe", "split", "summarize", "Launcher", "LaunchContext", "probe_model", "Preprocess",
    "__version__",
]

if TYPE_CHECKING:   # for type checkers and editors, never run: the names of __all__ (tests/test_public_api.py)
    from ablate.api import (
        AblateError,
        Batch,
        Data,
        LaunchContext,
        Launcher,
        ModelParts,
        Param,
        Plugin,
        Preprocess,
        Probe,
        Settings,
        TrainingDiverged,
        TrainState,
        Variant,
        hookimpl,
        load_recipe,
        probe_model,
        run_recipe,
        split,
        summarize,
    )


if not TYPE_CHECKING:   # type checkers see the imports above instead, so they flag a name ablate lacks
    def __getattr__(name: str):
        # Each name is imported on first use, from where ablate.api says, so `import ablate` stays quick.
        if name not in __all__:
            raise AttributeError(f"module 'ablate' has no attribute {name!r}")
        from ablate import api  # noqa: PLC0415 (served on first use: `import ablate` stays light)

        value = getattr(api, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
