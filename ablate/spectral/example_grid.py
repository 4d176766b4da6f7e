"""Figure 2 of the study: pictures of images whose HFC is classified right while their LFC is wrong.

Which radius to draw (:func:`example_radius`): the one the study would show. At a
trivial radius the pictures say nothing: one component is empty (r = 0: the LFC is
black and the HFC is the image; a disc that keeps every frequency: the HFC is blank),
or the LFC is the zero frequency alone (r = 1 under dist < r: a flat patch of the
image's mean colour, and the HFC the image less its mean). The rule therefore looks
only at radii whose LFC holds more than the zero frequency and whose HFC holds some
frequencies, and takes the one with the most HFC-only images (the first listed on
ties). ``ablate probe --example-radius R`` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from ablate.core.errors import AblateError
from ablate.spectral.frequency import kept_bins


def nontrivial(radius: float, height: int, width: int, inclusive: bool = False) -> bool:
    """Whether the disc of ``radius`` splits ``height x width`` images into an LFC of more than the mean
    colour and a non-empty HFC."""
    return 1 < kept_bins(height, width, radius, inclusive) < height * width


def example_radius(report: pd.DataFrame, height: int, width: int, inclusive: bool = False) -> float | None:
    """The radius of the probe report ``report`` to draw examples at, by the rule above; None when no
    radius of the report is non-trivial."""
    usable = report[[nontrivial(float(r), height, width, inclusive) for r in report["radius"]]]
    if usable.empty:
        return None
    return float(usable["radius"][usable["hfc_only"].idxmax()])      # idxmax: the first listed on ties


@dataclass
class Captions:
    """What an example grid says besides its pictures: a title, and each row's class and number."""

    title: str | None = None
    classes: Sequence[str] | None = None        # class names, by label
    labels: torch.Tensor | None = None          # each image's label, indexed like the images
    numbers: Sequence[int] | None = None        # each row's number (e.g. the image's place in the data set)

    def row_label(self, row: int, index: int) -> str:
        """``#number class`` of a row showing image ``index``."""
        name = ""
        if self.labels is not None:
            label = int(self.labels[index])
            name = self.classes[label] if self.classes is not None and label < len(self.classes) else str(label)
        shown = self.numbers[row] if self.numbers is not None else index
        return f"#{shown} {name}".strip()


def save_example_grid(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, indices, path,
                      captions: Captions | None = None, n: int = 8) -> Path:
    """Write a PNG: one row per example (at most ``n``), columns original / LFC / HFC.

    ``low`` and ``high`` are :func:`ablate.spectral.frequency.split` of ``x`` (same shape, same
    pixel scale: 0..255 for uint8 ``x``); ``indices`` pick the examples. The original
    and LFC are shown on the pixel scale, clipped; each HFC is stretched to its own
    min..max so that it is visible. Rows are labelled as ``captions`` say (by default ``#index``).
    With no indices, the PNG says so.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (matplotlib: start-up)
    from matplotlib.figure import Figure  # noqa: PLC0415 (matplotlib: start-up)

    if not (x.shape == low.shape == high.shape):
        raise AblateError(f"example grid: x, low and high must have the same shape, got {tuple(x.shape)}, "
                          f"{tuple(low.shape)} and {tuple(high.shape)}; split one radius at a time")
    captions = captions or Captions()
    chosen = [int(i) for i in torch.as_tensor(indices).flatten()[:n]]
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    heading = captions.title or "images whose HFC is classified right and LFC wrong"
    heading += "\n(HFC stretched to its own min..max for visibility)"
    rows = max(1, len(chosen))
    fig = Figure(figsize=(3 * 1.6, rows * 1.6 + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 3, squeeze=False)
    for row, index in enumerate(chosen):
        for col, image in enumerate(example_panels(x[index], low[index], high[index], scale)):
            ax = axes[row][col]
            picture = image.detach().cpu().permute(1, 2, 0).numpy()
            if picture.shape[2] == 1:
                ax.imshow(picture[:, :, 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(("original", "LFC", "HFC")[col], fontsize="small")
        axes[row][0].set_ylabel(captions.row_label(row, index), fontsize="x-small")
    if not chosen:
        for ax in axes[0]:
            ax.set_axis_off()
        axes[0][1].text(0.5, 0.5, "no such examples", ha="center", va="center")
    fig.suptitle(heading, fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def example_panels(image: torch.Tensor, low: torch.Tensor, high: torch.Tensor, scale: float) -> list[torch.Tensor]:
    """One example's original, LFC and HFC in 0..1: the first two on the pixel scale (clipped), the HFC
    stretched to its own min..max, or it would be too faint to see."""
    stretched = high.float()
    span = (stretched.max() - stretched.min()).clamp_min(1e-12)
    return [(image.float() / scale).clamp(0, 1), (low.float() / scale).clamp(0, 1), (stretched - stretched.min()) / span]
