"""What ``ablate probe`` is asked besides its models: one object for the comparison and the lone checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProbeOptions:
    """What ``ablate probe`` is asked besides its models, as the command line gives it (``formats`` and
    ``max_memory`` as text, read where a comparison needs them; a lone checkpoint takes neither)."""

    radii: list[float]
    dataset: str | None = None          # default: the one the (first) checkpoint was trained on
    device: str = "auto"
    out: str | None = None              # default: beside the checkpoint, or ./probe
    formats: str = "png"
    example_radius: float | None = None
    limit: int = 0
    max_memory: str = "1GB"
    batch_size: int = 256
    per_class: bool = False
    rank: bool = False                  # the leaderboard by HFC reliance (ablate.any_model.leaderboard)
    html: str | None = None             # its page
    workers: int = 0                    # processes decoding a streamed image folder

    @property
    def out_dir(self) -> Path:
        """Where a comparison of several models writes (a lone checkpoint defaults to its own folder)."""
        return Path(self.out or "probe")
