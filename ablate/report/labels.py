"""How report tables name what plugins made: model variants and what a run was trained on.

The engine knows no plugin's names. A plugin that offers model variants to the
final evaluation (kernel smoothing's ``smooth1.0``) registers a labeller through
``ablate_register_variants``; a plugin that changes a run's training images
(frequency_filter's LFC at radius 4) registers a description of its parameters
through ``ablate_register_trained_on``; a plugin that changes each training batch
(mix-up, PGD) says what the training accuracy is then measured on through
``ablate_register_train_examples``. :class:`Labels` gathers them from the
registry and answers the reports' questions; without a registered answer a table
shows the raw variant name, ``original`` for the training images, and ``train``
for the training accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, NamedTuple

FINAL = "final"          # the trained model itself, in the ``variant`` column (see ablate_evaluate)
ORIGINAL = "original"    # training images no plugin changed
MIXED = "variant"        # heading of a column of variants no single labeller names


class VariantLabel(NamedTuple):
    """How one model variant is shown: ``text`` in prose and legends, ``short`` in a table's
    row labels, and ``order`` to sort a run's variants (after ``final``, smallest first)."""

    text: str
    short: str
    order: float = 0.0


@dataclass(frozen=True)
class Labels:
    """The labellers plugins registered, as ``registry.registry(kind)`` tables
    ``{name: (function, help, plugin)}``; empty ones leave every name raw."""

    variants: Mapping[str, tuple[Callable, str, str]] = field(default_factory=dict)
    trained_on: Mapping[str, tuple[Callable, str, str]] = field(default_factory=dict)
    train_examples: Mapping[str, tuple[Callable, str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, registry) -> "Labels":
        """The labels a :class:`ablate.plugins.PluginRegistry` holds."""
        return cls(registry.registry("variants"), registry.registry("trained_on"),
                   registry.registry("train_examples"))

    def variant_label(self, variant: str) -> tuple[str, VariantLabel] | None:
        """``(heading, label)`` from the first labeller that knows ``variant``; None when none does."""
        for heading, (label, _, _) in self.variants.items():
            found = label(str(variant))
            if found is not None:
                return heading, VariantLabel(*found)
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
        """The heading of a column of variants: the name their one labeller registered, else ``variant``."""
        headings = {(self.variant_label(v) or (None,))[0] for v in variants}
        return headings.pop() if len(headings) == 1 and None not in headings else MIXED

    def training(self, plugins: Mapping[str, dict]) -> str:
        """What a run with ``{plugin: parameters}`` was trained on (``LFC r4``); ``original`` if unchanged."""
        texts = [self.trained_on[name][0](params) for name, params in plugins.items() if name in self.trained_on]
        return ", ".join(t for t in texts if t) or ORIGINAL

    def train_examples_of(self, plugins: Mapping[str, dict]) -> str:
        """What the training accuracy of a run with ``{plugin: parameters}`` is measured on
        (``adversarial examples``); ``""`` when no plugin changed its training batches."""
        texts = [self.train_examples[name][0](params) for name, params in plugins.items()
                 if name in self.train_examples]
        return ", ".join(t for t in texts if t)

    def train_label(self, plugins: Mapping[str, dict]) -> str:
        """The name of a run's training accuracy: ``train``, or ``train (adversarial examples)``."""
        examples = self.train_examples_of(plugins)
        return f"train ({examples})" if examples else "train"
