"""Train on the low- or high-frequency component of the images: Table 1 of the study.

Before training, each training image is replaced by its LFC (``component = "low"``)
or HFC (``"high"``) at ``radius``, split exactly as the probe splits
(:func:`ablate.spectral.frequency.split`, honouring ``settings.inclusive``). As in the
official code the split is taken of the raw 0..255 pixels; the result is stored
as float images with 1.0 = white (HFCs are signed), and the run's usual scaling
(``settings.normalize``; "max" divides each image by its peak, as the official
training script did) applies at batch time. Table 1 reports train accuracy and
accuracy on the ORIGINAL test set (fed as x / 255, as the official script fed
its test originals: :func:`ablate.spectral.scaling.originals_scaling`), so the test set is
left alone unless ``test = true``. Then the filtered test set is no longer
originals: it is stored already scaled by ``settings.normalize``, as the
official code fed its LFC/HFC test data and as the training images are fed.
Figure 6 combines this plugin with ``batchnorm``.

In reports, a run using this plugin was "trained on" ``LFC r4`` (or ``HFC r4``):
Table 1's column, from the class method ``trained_on``.

Not combinable with ``pgd``: the attack works in [0, 1] pixel space, and an HFC
(signed) or LFC (may leave [0, 1]) is not such an image.
"""

from __future__ import annotations

import torch

import ablate
from ablate import Param
from ablate.api import model_input, split

CHUNK = 2048   # images split at once: bounds the complex FFT buffers to a few tens of MB
COMPONENT_NAMES = {"low": "LFC", "high": "HFC"}


def filtered(images: torch.Tensor, component: str, radius: float, inclusive: bool) -> torch.Tensor:
    """The ``component`` of every image as float (1.0 = white), computed chunk by chunk on the images' device."""
    out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    for start in range(0, images.shape[0], CHUNK):
        low, high = split(images[start:start + CHUNK], radius, inclusive=inclusive, normalize="none")
        out[start:start + CHUNK] = (low if component == "low" else high) / scale
    return out


class FrequencyFilter(ablate.Plugin):
    """Train on the LFC or HFC of the training images at one radius (Table 1)."""

    name = "frequency_filter"
    params = [
        Param("component", str, "low", "'low': keep frequencies inside the radius; 'high': outside",
              choices=("low", "high")),
        Param("radius", float, 8.0, "radius of the disc in DFT bins (as the probe's radii)", minimum=0.0,
              maximum=ablate.Settings.params()["radii"].maximum),
        Param("test", bool, False, "filter the test set too (Table 1 tests on original images)"),
    ]

    @classmethod
    def trained_on(cls, values):
        """What a run with these parameters was trained on: ``LFC r4``, ``HFC r12``."""
        return f"{COMPONENT_NAMES.get(values['component'], values['component'])} r{float(values['radius']):g}"

    @ablate.hookimpl
    def ablate_prepare_data(self, data, settings):
        args = self.args
        data.x_train = filtered(data.x_train, args.component, args.radius, settings.inclusive)
        if args.test:
            test = filtered(data.x_test, args.component, args.radius, settings.inclusive)
            data.x_test = model_input(test, settings.normalize)     # fed unchanged, as the test originals are
