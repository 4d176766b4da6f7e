"""The engine's own datasets, registered as a built-in plugin like any other.

The loaders live in :mod:`ablate.datasets`; this plugin only names them, so a
third-party dataset registers exactly the same way (``ablate_register_datasets``).
"""

from __future__ import annotations

import ablate
from ablate.datasets import load_cifar10, load_cifar100, load_npz
from ablate.synthetic import SYNTHETIC_OPTIONS, load_synthetic


class Datasets(ablate.Plugin):
    """The built-in datasets: cifar10, cifar100 (torchvision), npz:PATH and synthetic."""

    name = "datasets"

    @ablate.hookimpl
    def ablate_register_datasets(self, register):
        register("cifar10", load_cifar10, help="CIFAR-10 via torchvision, in $ABLATE_DATA (downloaded when missing)")
        register("cifar100", load_cifar100, help="CIFAR-100 (fine labels) via torchvision, in $ABLATE_DATA")
        register("npz", load_npz, help="npz:PATH with uint8 NHWC x_train, x_test, int y_train, y_test, "
                                       "optional classes")
        register("synthetic", load_synthetic,
                 help="offline seeded images with class evidence in low and high frequencies; "
                      "synthetic:low=1.0,high=0.5,... (options: " + ", ".join(SYNTHETIC_OPTIONS) + ")")
