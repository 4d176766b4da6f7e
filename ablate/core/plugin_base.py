"""The class every plugin subclasses: its name, parameters and what it tells the engine without a hook.

Hooks (``ablate/core/hookspecs.py``) are how a plugin acts on a run. What the engine only needs
to *know* about a plugin, keyed by the plugin itself, is a class attribute or class method
here instead, read from the class without making an instance: how much dearer it makes a
training step, whether its model depends on the evaluation batch, and how reports name
what it made (its model variants, the images its runs trained on, what their training
accuracy is measured on).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ablate.core.errors import AblateError
from ablate.core.params import REQUIRED, Param


class Plugin:
    """Base class of every plugin.

    A subclass sets ``name``, declares ``params`` (a list of :class:`Param`) and
    implements hooks as methods marked ``@ablate.hookimpl``. One instance is made
    per run that names the plugin, holding the run's validated parameter values
    in ``self.args`` (a namespace: ``self.args.p``). With ``autoload = True`` the
    plugin joins every run (after the listed plugins), with its default parameters
    unless the recipe or ``--set`` gives others. A plugin that cannot change what
    a run computes (a logger) sets ``affects_results = False``: it is listed in the
    run's config.json and ``--dry-run``, but left out of the run's hash, so
    installing it does not rename run folders.

    ablate also makes instances for other purposes: one with default values, on
    which the registration hooks are called, and one when the class is checked at
    loading. ``__init__`` must therefore be free of side effects (no files, no
    devices, no printing); do such work in the hook that needs it.
    """

    name: str = ""
    params: list[Param] = []
    autoload: bool = False
    affects_results: bool = True
    variant_heading: str = ""       # how reports head a column of this plugin's model variants

    def __init__(self, **values: Any) -> None:
        self.args = SimpleNamespace(**{p.name: values.get(p.name, p.default) for p in self.params})

    @classmethod
    def extra_step_cost(cls, values: dict[str, Any]) -> float:
        """Extra forward-backward passes a training step makes with this plugin and its validated ``values``,
        counted in plain steps (0: about nothing extra; PGD-10: 10). Only the time estimates use it
        (:func:`ablate.execution.calibration.relative_step_cost`, where nothing was measured yet)."""
        return 0.0

    @classmethod
    def batch_dependent_evaluation(cls, values: dict[str, Any]) -> bool:
        """Whether the model this plugin makes with ``values`` classifies an image differently depending on
        the other images of its evaluation batch (BatchNorm on batch statistics). Such a run's results then
        depend on ``eval_batch_size``, which is then part of its identity
        (:attr:`ablate.study.expansion.Run.batch_dependent`)."""
        return False

    # -- how reports name what the plugin made (read by ablate.report.labels) --------------

    @classmethod
    def variant_label(cls, variant: str) -> tuple[str, str, float] | None:
        """How reports show ``variant``, a model this plugin offers to the final evaluation (``smooth1.0``):
        ``(text, short, order)`` (an :class:`ablate.report.VariantLabel`), or None when it is not this
        plugin's. It may name the trained model ``final`` too. The first plugin that answers wins; a column
        whose variants one plugin names all is headed with its ``variant_heading``."""
        return None

    @classmethod
    def trained_on(cls, values: dict[str, Any]) -> str:
        """What a run with this plugin was trained on, for Table 1 (``LFC r4``); ``""`` when the plugin leaves
        the training images as they are (``original``). ``values`` are the plugin's parameters as recipe.json
        recorded them, defaults filled in for any it lacks."""
        return ""

    @classmethod
    def train_examples(cls, values: dict[str, Any]) -> str:
        """What the training accuracy of a run with this plugin is measured on when the plugin changes the
        training batch in ``ablate_train_batch`` (``adversarial examples``); ``""`` when these ``values``
        (as for :meth:`trained_on`) leave the batch as it was."""
        return ""

    @classmethod
    def validate(cls, values: dict[str, Any], where: str) -> dict[str, Any]:
        """Check ``values`` against the declared params; return them converted, defaults filled in."""
        declared = {p.name: p for p in cls.params}
        for key in values:
            if key not in declared:
                known = ", ".join(declared) or "none"
                raise AblateError(f"{where}: plugin {cls.name!r} has no parameter {key!r}; its parameters: {known}")
        missing = [p for p in cls.params if p.default is REQUIRED and p.name not in values]
        if missing:
            p = missing[0]
            raise AblateError(f"{where}: plugin {cls.name!r} needs {p.name!r} ({p.help}), which has no default; "
                              f"give it, e.g. [runs.plugins.{cls.name}] {p.name} = VALUE or --set "
                              f"{cls.name}.{p.name}=VALUE")
        return {name: (p.check(values[name], f"{where}.{name}") if name in values else p.default)
                for name, p in declared.items()}
