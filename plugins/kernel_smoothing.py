"""Kernel smoothing after training: the smoothed models of Table 2 and Figure 7.

Section 6 of the paper smooths the trained kernels of the FIRST conv layer, with
no retraining: every 3x3 spatial slice is convolved with
``[[rho, rho, rho], [rho, 1, rho], [rho, rho, rho]]`` ("same" size, symmetric
border, no renormalisation, channels never mixed); rho = 1.0 is the headline value.
The maths is :func:`ablate.kernels.smooth_kernels`. For each ``rho`` this plugin
offers a smoothed copy of the final model named ``smooth{rho}`` (``smooth1.0``) to
the final evaluation, next to the unsmoothed ``final`` model; list ``attacks`` in
the same run to get Table 2. ``layers = "all"`` smooths every conv with a kernel
larger than 1x1, an extension beyond the paper.
"""

from __future__ import annotations

import ablate
from ablate import Param
from ablate.kernels import LAYER_CHOICES, smoothed_copy


class KernelSmoothing(ablate.Plugin):
    """Smooth the first conv layer's kernels after training (section 6), one model per rho."""

    name = "kernel_smoothing"
    params = [
        Param("rho", list, [1.0], "weights of the eight neighbours in the 3x3 mask, one model each", items=float,
              minimum=0.0, nonempty=True),
        Param("layers", str, "first", "'first': the first conv layer (paper); 'all': every conv "
              "with a kernel larger than 1x1", choices=LAYER_CHOICES),
    ]

    @ablate.hookimpl
    def ablate_final_models(self, model, settings):
        return {f"smooth{float(rho)}": smoothed_copy(model, float(rho), self.args.layers)
                for rho in self.args.rho}
