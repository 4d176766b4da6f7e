"""Probes: named variants of test images on which a model is evaluated.

A probe is a function from a batch of images to named variants of it. The
study's probe is ``split``: the LFC and the HFC at every radius (built in, and
registered by ``plugins/probes.py`` like any other). A plugin adds its own
through ``ablate_register_probes``::

    register("rings", ablate.Probe(rings, params=[ablate.Param("width", float, 2.0)]), help="...")

where ``rings(images, width)`` returns ``[ablate.Variant({"component": "band",
"radius": r, "outer_radius": r + width}, images_of_that_band), ...]``.

:class:`ablate.probe.Prober` scales the variants as the model sees them, caches
them, and turns each into rows of the results table: the variant's labels are
the columns it fills (``component`` always, ``radius`` usually, any extra label
becomes a column of its own, see :mod:`ablate.schema`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ablate.errors import AblateError
from ablate.frequency import split
from ablate.params import Param

# Columns the engine fills itself; a variant's labels may not use them.
RESERVED_LABELS = ("run", "epoch", "split", "metric", "value")


@dataclass
class Variant:
    """One variant of a batch of images.

    ``labels``: the results columns this variant's rows fill, ``component`` first
    (``{"component": "low", "radius": 4}``); ``images``: float ``(n, C, H, W)``,
    as many images as the probe was given, on the same pixel scale (1.0 = white;
    the values may leave 0..1, e.g. a signed HFC).
    """

    labels: dict[str, Any]
    images: torch.Tensor


@dataclass(frozen=True)
class Probe:
    """A probe as registered: ``function(images, **args) -> list[Variant]`` and its declared parameters.

    ``images`` are float ``(n, C, H, W)`` on the split's pixel scale; the function must
    give the same variants, in the same order, for every chunk of images it is given.
    """

    function: Callable[..., list[Variant]]
    params: Sequence[Param] = field(default=())

    def bind(self, args: dict[str, Any], where: str) -> Callable[[torch.Tensor], list[Variant]]:
        """``images -> variants`` with ``args`` checked by the parameters (defaults fill the rest)."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise AblateError(f"{where}: unknown parameter {unknown[0]!r}; "
                              f"allowed: {', '.join(known) or 'none'}")
        checked = {name: p.check(args[name], f"{where}.{name}") if name in args else p.default
                   for name, p in known.items()}
        return functools.partial(self.function, **checked)


def bind_probe(probes: dict[str, tuple], name: str, args: dict[str, Any], where: str):
    """The registered probe ``name`` (from ``registry.registry("probes")``) bound to ``args``."""
    if name not in probes:
        raise AblateError(f"{where}: no probe named {name!r}; registered: {', '.join(sorted(probes)) or 'none'}")
    probe = probes[name][0]
    if not isinstance(probe, Probe):
        probe = Probe(probe)            # a plain function: a probe without parameters
    return probe.bind(args, f"{where}: probe {name}")


def variant_key(labels: dict[str, Any]) -> tuple:
    """A variant's key in :attr:`ProbeResult.correct`: ``(component, radius, *other labels)``."""
    extra = [value for key, value in labels.items() if key not in ("component", "radius")]
    return (labels["component"], labels.get("radius"), *extra)


def check_variants(variants: Any, images: torch.Tensor, where: str) -> list[Variant]:
    """The probe function's answer, refused with a one-line error when it breaks the contract."""
    if not isinstance(variants, (list, tuple)) or not all(isinstance(v, Variant) for v in variants):
        raise AblateError(f"{where}: the probe must return a list of ablate.Variant, got {type(variants).__name__}")
    for v in variants:
        if "component" not in v.labels or set(v.labels) & set(RESERVED_LABELS):
            raise AblateError(f"{where}: variant labels {v.labels!r} need a 'component' and may not use "
                              f"{', '.join(RESERVED_LABELS)}")
        if tuple(v.images.shape) != tuple(images.shape):
            raise AblateError(f"{where}: variant {v.labels!r} has shape {tuple(v.images.shape)}; a variant "
                              f"must have the shape of the images it was made from, {tuple(images.shape)}")
    return list(variants)


# --------------------------------------------------------------------------
# The study's probe: LFC and HFC at every radius
# --------------------------------------------------------------------------

def lfc_hfc(images: torch.Tensor, radii: Sequence[float], inclusive: bool = False) -> list[Variant]:
    """The LFC at every radius, then the HFC at every radius (:func:`ablate.frequency.split`)."""
    radii = list(radii)
    if not radii:
        return []
    low, high = split(images, radii, inclusive=inclusive)
    return ([Variant({"component": "low", "radius": r}, low[k]) for k, r in enumerate(radii)]
            + [Variant({"component": "high", "radius": r}, high[k]) for k, r in enumerate(radii)])
