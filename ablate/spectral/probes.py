"""Probes: named variants of test images on which a model is evaluated.

A probe is a function from a batch of images to named variants of it. The
study's probe is ``split``: the LFC and the HFC at every radius (built in, and
registered by ``plugins/probes.py`` like any other). A plugin adds its own
through ``ablate_register_probes``::

    register("rings", ablate.Probe(rings, params=[ablate.Param("width", float, 2.0)]), help="...")

where ``rings(images, width)`` returns ``[ablate.Variant({"component": "band",
"radius": r, "outer_radius": r + width}, images_of_that_band), ...]``.

:class:`ablate.spectral.prober.Prober` scales the variants as the model sees them, caches
them, and turns each into rows of the results table: the variant's labels are
the columns it fills (``component`` always, ``radius`` usually, any extra label
becomes a column of its own, see :mod:`ablate.core.schema`).

Which probes a run records is the setting ``probes`` (``["split"]`` by default);
their parameters are the setting ``probe_params`` (``{probe: {param: value}}``,
``--set PROBE.PARAM=VALUE``). Besides its own parameters, every probe takes two
common ones (:meth:`Probe.declared`): ``every`` (each ``probe_every`` epochs, or
only after the last one) and ``limit`` (how many images of the split it sees).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ablate.core.errors import AblateError
from ablate.core.params import Param
from ablate.core.registry import RegistryEntry
from ablate.spectral.frequency import split

# Columns the engine fills itself; a variant's labels may not use them.
RESERVED_LABELS = ("run", "epoch", "split", "metric", "value")
EVERY = ("epochs", "final")     # when a probe runs: every probe_every epochs, or once after the last epoch


@dataclass
class Variant:
    """One variant of a batch of images.

    ``labels``: the results columns this variant's rows fill, ``component`` first
    (``{"component": "low", "radius": 4}``); ``images``: float ``(n, C, H, W)``,
    as many images as the probe was given, on the same pixel scale (1.0 = white;
    the values may leave 0..1, e.g. a signed HFC).
    ``rescale``: True (a component of the image, as the LFC and HFC): scaled by the run's
    ``normalize`` like the images the model trained on; False: the images are already
    the model's input, pixels as the probe made them (``normalize = "none"``'s scale),
    for a perturbation defined on pixels in [0, 1] that a per-image rescale would
    change (the Fourier heat map's ``clip(x + noise, 0, 1)``).
    """

    labels: dict[str, Any]
    images: torch.Tensor
    rescale: bool = True


@dataclass(frozen=True)
class Probe:
    """A probe as registered: ``function(images, **args) -> list[Variant]``, its parameters, its report.

    ``images`` are float ``(n, C, H, W)`` on the split's pixel scale; the function must
    give the same variants, in the same order, for every chunk of images it is given.
    A function that declares an ``index`` argument also receives the positions of the
    images in the split (int64, on their device), to draw per-image randomness that
    does not depend on how the images are chunked.

    ``every`` and ``limit`` are this probe's defaults of the common parameters;
    ``check(args, where) -> args`` enforces rules that span parameters (increasing edges).
    ``settings`` names parameters that are the run's settings of that name (``split``'s
    ``radii`` and ``inclusive``): a run takes them from its settings, and ``PROBE.PARAM``
    is another spelling of the setting (:func:`with_probe_settings`), so that one value
    is probed, hashed, shown and checked.
    For reports: ``components`` are the values of the ``component`` column its rows
    carry; ``table(results) -> DataFrame`` turns tidy results rows of those components
    into one row per run of accuracies (fractions) for the summary and ``ablate compare``;
    ``figure(results, runs) -> matplotlib Figure`` draws them.
    """

    function: Callable[..., list[Variant]]
    params: Sequence[Param] = field(default=())
    every: str = "epochs"
    limit: int = 0
    check: Callable[[dict, str], dict] | None = None
    components: tuple[str, ...] = ()
    table: Callable | None = None
    figure: Callable | None = None
    settings: tuple[str, ...] = ()

    def declared(self) -> dict[str, Param]:
        """Its own parameters, then the common ones with this probe's defaults."""
        common = [Param("every", str, self.every, "'epochs': every probe_every epochs; 'final': once, after "
                        "the last epoch", choices=EVERY),
                  Param("limit", int, self.limit, "images of the split it is evaluated on; 0 = all", minimum=0)]
        return {p.name: p for p in [*self.params, *common]}

    def checked(self, args: dict[str, Any], where: str, fill: bool = True) -> dict[str, Any]:
        """``args`` checked by the parameters, with the defaults filled in unless ``fill`` is False."""
        known = self.declared()
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise AblateError(f"{where}: unknown parameter {unknown[0]!r}; "
                              f"allowed: {', '.join(known) or 'none'}")
        values = {name: p.check(args[name], f"{where}.{name}") if name in args else p.default
                  for name, p in known.items()}
        if self.check is not None:
            values = self.check(values, where)
        return values if fill else {name: value for name, value in values.items() if name in args}

    def bind(self, args: dict[str, Any], where: str) -> Callable[[torch.Tensor], list[Variant]]:
        """``images -> variants`` with ``args`` checked by the parameters (defaults fill the rest)."""
        values = self.checked(args, where)
        own = {name: values[name] for name in (p.name for p in self.params)}
        return functools.partial(self.function, **own)


@dataclass(frozen=True)
class PlannedProbe:
    """A registered probe bound for one run: its name, variants function, schedule and image limit."""

    name: str
    variants: Callable[..., list[Variant]]
    every: str
    limit: int


def as_probe(entry: Any) -> Probe:
    """A registered entry as a :class:`Probe` (a plain function is a probe without parameters)."""
    return entry if isinstance(entry, Probe) else Probe(entry)


def lookup(probes: dict[str, RegistryEntry], name: str, where: str) -> Probe:
    if name not in probes:
        raise AblateError(f"{where}: no probe named {name!r}; registered: {', '.join(sorted(probes)) or 'none'}")
    return as_probe(probes[name].function)


def bind_probe(probes: dict[str, RegistryEntry], name: str, args: dict[str, Any], where: str):
    """The registered probe ``name`` (from ``registry.registry("probes")``) bound to ``args``."""
    return lookup(probes, name, where).bind(args, f"{where}: probe {name}")


def plan_probe(probes: dict[str, RegistryEntry], name: str, args: dict[str, Any], where: str) -> PlannedProbe:
    """The registered probe ``name`` bound to ``args``, with its common parameters resolved."""
    probe = lookup(probes, name, where)
    values = probe.checked(args, f"{where}: probe {name}")
    return PlannedProbe(name, probe.bind(args, f"{where}: probe {name}"), values["every"], values["limit"])


def plan_probes(probes: dict[str, RegistryEntry], settings, where: str) -> list[PlannedProbe]:
    """The probes a run's ``settings`` list, bound to ``settings.probe_params`` and to the settings
    each probe takes as parameters (:attr:`Probe.settings`)."""
    planned = []
    for name in settings.probes:
        shared = {param: getattr(settings, param) for param in lookup(probes, name, where).settings}
        planned.append(plan_probe(probes, name, {**settings.probe_params.get(name, {}), **shared}, where))
    return planned


def setting_key(probes: dict[str, RegistryEntry], key: str) -> str:
    """``split.radii`` -> ``radii``: a probe parameter that is a run setting (:attr:`Probe.settings`) is
    spelled as that setting; any other key is returned as it is."""
    probe, _, param = key.partition(".")
    return param if probe in probes and param in as_probe(probes[probe].function).settings else key


def with_probe_settings(probes: dict[str, RegistryEntry], values: dict[str, Any], where: str) -> dict[str, Any]:
    """A table of settings with each ``probe_params`` entry that is a run setting moved to that setting
    (``probe_params.split.radii`` to ``radii``): one spelling, so one value is probed and hashed.
    Refuses a table that gives both spellings."""
    params = values.get("probe_params")
    if not isinstance(params, dict):
        return values
    moved = {key: value for key, value in values.items() if key != "probe_params"}
    own: dict[str, Any] = {}
    for probe, args in params.items():
        own[probe] = {} if isinstance(args, dict) else args
        for param, value in (args.items() if isinstance(args, dict) else ()):
            key = setting_key(probes, f"{probe}.{param}")
            if key == f"{probe}.{param}":
                own[probe][param] = value
            elif key in moved:
                raise AblateError(f"{where}: probe_params.{probe}.{param} is the setting {key}, which this table "
                                  f"also gives; give it once, as {key}")
            else:
                moved[key] = value
    return {**moved, "probe_params": own}


def canonical_probe_params(probes: dict[str, RegistryEntry], listed: Sequence[str], params: dict[str, Any],
                           where: str) -> dict[str, dict]:
    """``probe_params`` as a run's identity records it: every probe checked, in canonical form, the
    parameters given away from their probe's default only (probe parameters came after the identity
    policy: ``--set fourier_heatmap.eps=4`` is the run without it), for the probes the run lists
    (parameters of others are dropped). Refuses a listed probe, or a probe given parameters, that no
    plugin registered."""
    for name in listed:
        lookup(probes, name, f"{where}.probes")
    canonical = {}
    for name, args in params.items():
        probe = lookup(probes, name, f"{where}.probe_params")
        if not isinstance(args, dict):
            raise AblateError(f"{where}.probe_params.{name}: expected a table of parameters, found {args!r}")
        checked = probe.checked(args, f"{where}.probe_params.{name}", fill=False)
        defaults = probe.checked({}, f"{where}.probe_params.{name}")
        changed = {param: value for param, value in checked.items() if value != defaults[param]}
        if name in listed and changed:
            canonical[name] = changed
    return canonical


def call_probe(variants: Callable[..., list[Variant]], images: torch.Tensor, index: torch.Tensor) -> Any:
    """Call a bound probe on ``images``, with ``index`` when its function declares that argument."""
    function = variants.func if isinstance(variants, functools.partial) else variants
    try:
        wants_index = "index" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        wants_index = False
    return variants(images, index=index) if wants_index else variants(images)


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
    """The LFC at every radius, then the HFC at every radius (:func:`ablate.spectral.frequency.split`)."""
    radii = list(radii)
    if not radii:
        return []
    low, high = split(images, radii, inclusive=inclusive)
    return ([Variant({"component": "low", "radius": r}, low[k]) for k, r in enumerate(radii)]
            + [Variant({"component": "high", "radius": r}, high[k]) for k, r in enumerate(radii)])
