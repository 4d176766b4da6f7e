"""The engine's own datasets, registered as a built-in plugin like any other.

The loaders live in :mod:`ablate.data.loading`; this plugin only names them, so a
third-party dataset registers exactly the same way (``ablate_register_datasets``).
"""

from __future__ import annotations

import ablate
from ablate.api import (
    SYNTHETIC_OPTIONS,
    load_cifar10,
    load_cifar100,
    load_fashionmnist,
    load_imagefolder,
    load_mnist,
    load_npz,
    load_stl10,
    load_svhn,
    load_synthetic,
)


class Datasets(ablate.Plugin):
    """The built-in datasets: cifar10, cifar100, mnist, fashionmnist, svhn, stl10 (torchvision), npz:PATH,
    imagefolder:PATH and synthetic."""

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
        register("mnist", load_mnist, help="MNIST (28x28 grey) via torchvision, in $ABLATE_DATA")
        register("fashionmnist", load_fashionmnist, help="Fashion-MNIST (28x28 grey) via torchvision, in $ABLATE_DATA")
        register("svhn", load_svhn, help="SVHN digits (32x32, label 0 = digit 0) in $ABLATE_DATA; needs scipy")
        register("stl10", load_stl10, help="STL-10's labelled images (96x96) in $ABLATE_DATA/stl10_binary")
        register("imagefolder", load_imagefolder,
                 help="imagefolder:PATH, one folder per class (with train/ and test/ or val/, those splits; "
                      "else the folder is both); in memory, at image_size when set, else one image size")
