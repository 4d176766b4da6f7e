"""The engine's own model architectures, registered as a built-in plugin like any other.

The architectures live in :mod:`ablate.train.models`; this plugin only names them, so a
third-party model registers exactly the same way (``ablate_register_models``).
"""

from __future__ import annotations

import ablate
from ablate.api import hfc_resnet, resnet18


class Models(ablate.Plugin):
    """The built-in models: resnet18 (the seed reproduction's) and hfc-resnet (the study's TF network)."""

    name = "models"

    @ablate.hookimpl
    def ablate_register_models(self, register):
        register("resnet18", resnet18, help="CIFAR ResNet18: 3x3 stem, no max-pool, 64-512 channels x width, "
                                            "2 basic blocks per stage (the seed reproduction)")
        register("hfc-resnet", hfc_resnet, help="the study's TF network: pre-activation ResNet-32, 16/32/64 "
                                                "channels x width, avg-pool + zero-pad shortcuts")
