"""The training batch size: Figure 4 of the study.

Figure 4 trains the vanilla set-up with several batch sizes (the paper does not
list them; ablate's default is the study's 100). The learning rate stays at the
study's value unless ``scale_lr`` is set, which applies the linear scaling rule
``lr * size / base_size``.

The batch size is a setting, so a grid over it is ``"batch_size.size" = [...]``
in a recipe. Only one plugin of a run may set it: ablate refuses two.
"""

from __future__ import annotations

import ablate
from ablate import Param


class BatchSize(ablate.Plugin):
    """Train with another batch size (Figure 4), optionally scaling the learning rate linearly."""

    name = "batch_size"
    params = [
        Param("size", int, 100, "training batch size (the study's is 100)", minimum=1, maximum=1_000_000),
        Param("scale_lr", bool, False, "multiply the learning rate by size / base_size"),
        Param("base_size", int, 100, "the batch size the learning rate was tuned for", minimum=1,
              maximum=1_000_000),
    ]

    @ablate.hookimpl
    def ablate_configure(self, settings, run_name):
        changes = {"batch_size": self.args.size}
        if self.args.scale_lr:
            changes["lr"] = settings.lr * self.args.size / self.args.base_size
        return changes
