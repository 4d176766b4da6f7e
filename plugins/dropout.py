"""Dropout before the classifier: the dropout panel of Figure 5.

The paper (section 5) puts dropout with rate 0.5 on "the fully connected layers";
the official code (``scripts/resnet.py``) applies ``tf.nn.dropout(conv3, 0.5)`` to
the last feature map, before global average pooling and the single linear layer.
``where = "pool"`` (default, the code) replaces the model's ``pre_pool`` identity
with element-wise ``nn.Dropout(p)``; ``where = "fc"`` (the paper's text) replaces
``pre_fc``, the pooled features entering ``fc``. Dropout is active in train mode
only; evaluation and the probe see the whole network.
"""

from __future__ import annotations

from torch import nn

import ablate
from ablate import Param

POSITIONS = {"pool": "pre_pool", "fc": "pre_fc"}


class Dropout(ablate.Plugin):
    """Dropout (p = 0.5) before global pooling (official code) or before the final linear layer (paper)."""

    name = "dropout"
    params = [
        Param("p", float, 0.5, "probability of zeroing an activation (1 would drop everything)", minimum=0.0,
              less_than=1.0),
        Param("where", str, "pool", "'pool': on the last feature map before global pooling (official code); "
              "'fc': on the pooled features before the final linear layer (paper text)",
              choices=tuple(POSITIONS)),
    ]

    @ablate.hookimpl
    def ablate_modify_model(self, model, settings):
        attribute = POSITIONS[self.args.where]
        if not isinstance(getattr(model, attribute, None), nn.Module):
            raise ablate.AblateError(
                f"dropout: model {settings.model!r} has no `{attribute}` layer to put dropout on "
                f"(where = {self.args.where!r}); use a built-in model or give yours an nn.Identity `{attribute}`")
        setattr(model, attribute, nn.Dropout(self.args.p))
