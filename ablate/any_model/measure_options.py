"""How :func:`ablate.any_model.probe_model.measure` probes a model: one object for the settings that do not
describe the model, so that ``probe_model``, ``measure`` and a comparison of several models pass them on whole."""

from __future__ import annotations

from dataclasses import dataclass

from ablate.core.errors import AblateError

DEFAULT_MAX_MEMORY = 2**30


@dataclass(frozen=True)
class MeasureOptions:
    """Where and in what portions the images go through the model, and what is kept of them."""

    device: str = "auto"
    batch_size: int = 256                   # images per forward pass
    max_memory: int = DEFAULT_MAX_MEMORY    # bytes of images, variants and their intermediates held at once
    limit: int = 0                          # a stratified subset of that many images (a DataLoader: the first)
    inclusive: bool = False                 # the LFC keeps the frequencies at distance == radius
    examples: int = 8                       # HFC-right, LFC-wrong images kept per radius, for the example grid

    def __post_init__(self) -> None:
        max_memory = self.max_memory
        if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory < 1:
            raise AblateError(f"max_memory={max_memory!r}: must be a number of bytes >= 1")
