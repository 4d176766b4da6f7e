"""ablate's public API: every name a plugin (or a script, or a notebook) may use, declared in one place.

The rule: code outside the engine (the built-in plugins of ``plugins/``, a plugin package of yours,
the tutorial's ``examples/ablate-label-smoothing``) imports from ``ablate`` and ``ablate.api`` only;
a plugin's tests may also use ``ablate.testing``, the pytest fixtures. ``ablate`` itself re-exports
some of these names (its ``__all__``: those the README shows), the very same objects. Every other module
under ``ablate/`` is internal and may move or change without notice. ``tests/test_public_api.py``
holds ``plugins/`` and ``examples/`` to this.

:data:`PUBLIC` lists the names by the module that defines them, which is where to read their
documentation. A name is imported on first use, so ``import ablate.api`` costs nothing and a plugin
loads only the parts of the engine it uses; editors and type checkers read the same names from the
``TYPE_CHECKING`` imports below.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# Lazy rather than plain imports: importing every module below loads pandas, rich and (through
# torch.utils.flop_counter) triton besides torch: 2.5 s where torch and the core take 1.9 s, and where
# `import ablate` and `import ablate.api` now take 0.05 s (python -X importtime, 2-core machine). So names
# are imported on first use by the module __getattr__ below, and this block, which never runs, shows type
# checkers and editors the names of PUBLIC: the same names from the same modules (tests/test_public_api.py).
if TYPE_CHECKING:
    from ablate.any_model.probe_model import probe_model
    from ablate.any_model.zoo import Preprocess
    from ablate.core.errors import AblateError, TrainingDiverged
    from ablate.core.hookspecs import hookimpl
    from ablate.core.params import REQUIRED, Number, Param
    from ablate.core.plugin_base import Plugin
    from ablate.core.registry import get_registry
    from ablate.core.structs import Batch, Data, ModelParts, TrainState
    from ablate.data.cifar import load_cifar10, load_cifar100
    from ablate.data.image_datasets import load_fashionmnist, load_imagefolder, load_mnist, load_stl10, load_svhn
    from ablate.data.npz_data import load_npz
    from ablate.data.synthetic import SYNTHETIC_OPTIONS, load_synthetic
    from ablate.execution.launchers import LaunchContext, Launcher
    from ablate.execution.launchers.cluster import SubmititLauncher
    from ablate.execution.launchers.processes import ProcessPoolLauncher
    from ablate.execution.launchers.sequential import SequentialLauncher
    from ablate.execution.runner import run_recipe
    from ablate.report.attack_table import (
        LINF_CURVE,
        LINF_FAILED,
        LINF_MEDIAN,
        MIN_EPS_CURVE,
        MIN_EPS_MEDIAN,
        attack_frame,
        attack_rows,
        minimal_eps_results,
        print_attack_table,
    )
    from ablate.report.labels import FINAL, Labels, VariantLabel
    from ablate.report.layouts import (
        figure1_layout,
        figure3_layout,
        figure4_layout,
        figure5_layout,
        generic_layout,
        table1_layout,
    )
    from ablate.report.plots import attack_figure, new_figure
    from ablate.report.results import StudyResults, first_layer_kernels
    from ablate.report.stats import summarize
    from ablate.report.tables import LEGEND, figure5_columns, print_figure, summary_frame, summary_table
    from ablate.spectral.frequency import split
    from ablate.spectral.prober import Prober
    from ablate.spectral.probes import Probe, Variant, bind_probe, lfc_hfc
    from ablate.spectral.scaling import model_input, originals_scaling
    from ablate.study.expansion import Run
    from ablate.study.recipe_file import load_recipe
    from ablate.study.settings import Settings
    from ablate.train.attacks import eps_grid, fgsm, minimal_eps, model_mode, pgd, precision, require_torchattacks
    from ablate.train.foolbox_search import foolbox_fgsm, foolbox_pgd
    from ablate.train.kernels import LAYER_CHOICES, smooth_kernels, smoothed_copy
    from ablate.train.models import hfc_resnet, resnet18

PUBLIC: dict[str, tuple[str, ...]] = {
    # Writing a plugin: the class, its parameters, the hooks and what they receive
    "ablate.core.plugin_base": ("Plugin",),
    "ablate.core.registry": ("get_registry",),
    "ablate.core.hookspecs": ("hookimpl",),
    "ablate.core.params": ("Param", "Number", "REQUIRED"),
    "ablate.core.errors": ("AblateError", "TrainingDiverged"),
    "ablate.core.structs": ("Batch", "Data", "ModelParts", "TrainState"),
    "ablate.study.settings": ("Settings",),
    "ablate.study.expansion": ("Run",),
    # The frequency split, how a model sees images, probes
    "ablate.spectral.frequency": ("split",),
    "ablate.spectral.scaling": ("model_input", "originals_scaling"),
    "ablate.spectral.probes": ("Probe", "Variant", "lfc_hfc", "bind_probe"),
    "ablate.spectral.prober": ("Prober",),
    # Models, attacks and kernel smoothing
    "ablate.train.models": ("resnet18", "hfc_resnet"),
    "ablate.train.attacks": ("fgsm", "pgd", "minimal_eps", "eps_grid", "precision", "model_mode",
                             "require_torchattacks"),
    "ablate.train.foolbox_search": ("foolbox_fgsm", "foolbox_pgd"),
    "ablate.train.kernels": ("LAYER_CHOICES", "smooth_kernels", "smoothed_copy"),
    # Data sets
    "ablate.data.cifar": ("load_cifar10", "load_cifar100"),
    "ablate.data.npz_data": ("load_npz",),
    "ablate.data.image_datasets": ("load_mnist", "load_fashionmnist", "load_svhn", "load_stl10", "load_imagefolder"),
    "ablate.data.synthetic": ("load_synthetic", "SYNTHETIC_OPTIONS"),
    # Running recipes, and the launchers that train their runs
    "ablate.study.recipe_file": ("load_recipe",),
    "ablate.execution.runner": ("run_recipe",),
    "ablate.execution.launchers": ("Launcher", "LaunchContext"),
    "ablate.execution.launchers.sequential": ("SequentialLauncher",),
    "ablate.execution.launchers.processes": ("ProcessPoolLauncher",),
    "ablate.execution.launchers.cluster": ("SubmititLauncher",),
    # Probing a model of any origin
    "ablate.any_model.probe_model": ("probe_model",),
    "ablate.any_model.zoo": ("Preprocess",),
    # Reports: layouts and their pieces, labels, figures, statistics over seeds
    "ablate.report.results": ("StudyResults", "first_layer_kernels"),
    "ablate.report.labels": ("FINAL", "Labels", "VariantLabel"),
    "ablate.report.tables": ("LEGEND", "figure5_columns", "summary_frame", "summary_table", "print_figure"),
    "ablate.report.attack_table": ("attack_frame", "attack_rows", "print_attack_table", "minimal_eps_results",
                                   "MIN_EPS_MEDIAN", "MIN_EPS_CURVE", "LINF_MEDIAN", "LINF_CURVE",
                                   "LINF_FAILED"),
    "ablate.report.layouts": ("figure1_layout", "figure3_layout", "figure4_layout", "figure5_layout",
                              "generic_layout", "table1_layout"),
    "ablate.report.plots": ("new_figure", "attack_figure"),
    "ablate.report.stats": ("summarize",),
}

SOURCE = {name: module for module, names in PUBLIC.items() for name in names}
__all__ = list(SOURCE)


if not TYPE_CHECKING:   # type checkers see the imports above instead, so they flag a name ablate.api lacks
    def __getattr__(name: str):
        if name not in SOURCE:
            raise AttributeError(f"module 'ablate.api' has no attribute {name!r}")
        value = getattr(import_module(SOURCE[name]), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
