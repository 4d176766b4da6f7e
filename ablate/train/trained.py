"""A trained model rebuilt from its run's checkpoint, for the probe and the benchmarks."""

from __future__ import annotations

from pathlib import Path

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.registry import get_registry
from ablate.study.expansion import Run
from ablate.study.settings import Settings
from ablate.train.checkpoint import load_checkpoint
from ablate.train.trainer import Trainer


def load_trained(path: Path, device: str = "auto", dataset: str | None = None):
    """Rebuild a trained model from its checkpoint; return (model in eval mode, settings, data)."""
    state = load_checkpoint(path)
    if state is None or "model" not in state:
        raise AblateError(f"{path}: not an ablate checkpoint (expected a run's checkpoint.pt)")
    settings = Settings.saved(state["settings"], str(path), resolve_device(device).type)
    settings.device = device
    if dataset:
        settings.set("dataset", dataset, "--dataset")
    run = Run(state.get("run_name", Path(path).parent.name), settings, plugins_to_rebuild(state))
    trainer = Trainer(run)
    trainer.build()
    unknown = sorted(set(state["model"]) - set(trainer.model.state_dict()))
    if unknown:
        raise AblateError(f"{path}: its weights {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''} do not "
                          f"fit model {settings.model!r} as ablate builds it now (an hfc-resnet trained with a norm "
                          f"before issue 31 had a final_norm the official network lacks); retrain the run")
    trainer.model.load_state_dict(state["model"])
    return trainer.model.eval(), settings, trainer.data


def plugins_to_rebuild(state: dict) -> list[tuple[str, dict]]:
    """The checkpoint's plugins, less those that could not change the model (a logger such as
    tensorboard: absent from the run's hashed identity) when they are no longer installed."""
    registry = get_registry()
    hashed = {name for name, _ in state.get("identity", {}).get("plugins", [])}
    return [(name, values) for name, values in state["plugins"] if name in registry.plugins or name in hashed]
