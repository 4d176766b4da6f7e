"""BatchNorm in every block of the model: the BatchNorm panel of Figure 5 and Figure 6.

The study's vanilla network has no normalisation; this heuristic adds it. The
official code (``batch_normalization_layer`` in ``scripts/resnet.py``) normalises
with ``tf.nn.moments`` of the current batch, in training *and* evaluation alike,
with gamma initialised to 1, beta to 0 and epsilon 1e-3; it keeps no running
averages. That is the default here (``stats = "batch"``, PyTorch's
``track_running_stats=False``). ``stats = "running"`` is the usual alternative:
batch statistics while training, running averages (``momentum``) in eval mode.

With ``stats = "batch"`` an evaluated image is normalised together with the rest
of its evaluation batch (``settings.eval_batch_size``; the official code used 100).

Composes with ``pgd``: see that plugin for the mode the model is in during the attack.
"""

from __future__ import annotations

from torch import nn

import ablate
from ablate import Param


class BatchNorm(ablate.Plugin):
    """BatchNorm2d in every block (gamma 1, beta 0, eps 1e-3; batch statistics as the official code)."""

    name = "batchnorm"
    params = [
        Param("eps", float, 1e-3, "added to the variance; 1e-3 is the official code's BN_EPSILON",
              greater_than=0.0),
        Param("stats", str, "batch", "'batch': batch statistics also in eval mode (official code); "
              "'running': running averages in eval mode", choices=("batch", "running")),
        Param("momentum", float, 0.1, "weight of each batch in the running averages (stats = 'running' only)",
              minimum=0.0, maximum=1.0, only_when={"stats": ("running",)}),
    ]

    @classmethod
    def batch_dependent_evaluation(cls, values):
        return values["stats"] == "batch"

    def make_norm(self, channels: int) -> nn.Module:
        layer = nn.BatchNorm2d(channels, eps=self.args.eps, momentum=self.args.momentum,
                               track_running_stats=self.args.stats == "running")
        nn.init.ones_(layer.weight)     # gamma = 1, beta = 0, as the official code
        nn.init.zeros_(layer.bias)
        return layer

    @ablate.hookimpl
    def ablate_model_parts(self, parts, settings):
        parts.norm = self.make_norm
