"""How report tables name what plugins made: model variants and what a run was trained on.

The engine knows no plugin's names; each plugin class says how its own things are
named (:mod:`ablate.core.plugin_base`). A plugin that offers model variants to the final
evaluation (kernel smoothing's ``smooth1.0``) labels them in ``variant_label`` under
its ``variant_heading``; a plugin that changes a run's training images
(frequency_filter's LFC at radius 4) describes its parameters in ``trained_on``; a
plugin that changes each training batch (mix-up, PGD) says what the training
accuracy is then measured on in ``train_examples``. :class:`Labels` asks the
registry's plugin classes and answers the reports' questions; where no plugin
answers, a table shows the raw variant name, ``original`` for the training images,
and ``train`` for the training accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple

FINAL = "final"          # the trained model itself, in the ``variant`` column (see ablate_evaluate)
ORIGINAL = "original"    # training images no plugin changed
MIXED = "variant"        # heading of a column of variants no single plugin names


class VariantLabel(NamedTuple):
    """How one model variant is shown: ``text`` in prose and legends, ``short`` in a table's
    row labels, and ``order`` to sort a run's variants (after ``final``, smallest first)."""

    text: str
    short: str
    order: float = 0.0


@dataclass(frozen=True)
class Labels:
    """The plugin classes that name things in reports, ``{plugin name: class}`` in the registry's order;
    an empty one leaves every name raw."""

    plugins: Mapping[str, type] = field(default_factory=dict)

    @classmethod
    def of(cls, registry) -> "Labels":
        """The labels of the plugins a :class:`ablate.core.registry.PluginRegistry` holds."""
        return cls({name: info.cls for name, info in registry.plugins.items()})

    def variant_label(self, variant: str) -> tuple[str, VariantLabel] | None:
        """``(heading, label)`` from the first plugin that knows ``variant``; None when none does."""
        for plugin in self.plugins.values():
            found = plugin.variant_label(str(variant))
            if found is not None:
                return plugin.variant_heading or MIXED, VariantLabel(*found)
        return None

    def variant(self, variant: str, short: bool = False) -> str:
        """A variant's label (``smoothing ρ=1``; short: ``ρ=1``), or its name when no plugin labels it."""
        found = self.variant_label(variant)
        return str(variant) if found is None else found[1].short if short else found[1].text

    def variant_order(self, variant: str) -> tuple:
        """Sort key: ``final`` first, then labelled variants by their order, then the others by name."""
        found = self.variant_label(variant)
        if variant == FINAL:
            return (0, 0.0, "")
        return (2, 0.0, str(variant)) if found is None else (1, found[1].order, found[1].text)

    def variant_heading(self, variants: Iterable[str]) -> str:
        """The heading of a column of variants: the ``variant_heading`` of the one plugin labelling them, else
        ``variant``."""
        headings = {(self.variant_label(v) or (None,))[0] for v in variants}
        return headings.pop() if len(headings) == 1 and None not in headings else MIXED

    def training(self, plugins: Mapping[str, dict]) -> str:
        """What a run with ``{plugin: parameters}`` was trained on (``LFC r4``); ``original`` if unchanged."""
        return ", ".join(self.described("trained_on", plugins)) or ORIGINAL

    def train_examples_of(self, plugins: Mapping[str, dict]) -> str:
        """What the training accuracy of a run with ``{plugin: parameters}`` is measured on
        (``adversarial examples``); ``""`` when no plugin changed its training batches."""
        return ", ".join(self.described("train_examples", plugins))

    def described(self, question: str, plugins: Mapping[str, dict]) -> list[str]:
        """The non-empty answers of a run's plugins, in its order, to ``trained_on`` or ``train_examples``,
        each given its recorded parameters with defaults filled in (plugins not installed say nothing)."""
        texts = []
        for name, params in plugins.items():
            plugin = self.plugins.get(name)
            if plugin is not None:
                texts.append(getattr(plugin, question)({p.name: p.default for p in plugin.params} | dict(params)))
        return [text for text in texts if text]

    def train_label(self, plugins: Mapping[str, dict]) -> str:
        """The name of a run's training accuracy: ``train``, or ``train (adversarial examples)``."""
        examples = self.train_examples_of(plugins)
        return f"train ({examples})" if examples else "train"
