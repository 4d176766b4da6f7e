"""Recipes expanded into runs: every run, grid value and seed resolved into settings and plugins.

The format is documented in docs/recipes.md and read by :mod:`ablate.study.recipe_file`. Expansion validates everything
(settings, plugins, parameters, scales, grid keys) before anything is trained, so
that a typo in hour zero does not cost a crash in hour ten. It reads as the
precedence of docs/recipes.md: the scale and the command line once (:class:`Layers`),
then each ``[[runs]]`` entry (:class:`Entry`) at each grid point and seed (:func:`point_run`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from ablate.core.errors import AblateError
from ablate.core.params import identity_values
from ablate.core.registry import PluginRegistry, call_attributed, get_registry
from ablate.spectral.probes import canonical_probe_params, with_probe_settings
from ablate.study.overrides import is_probe_key, parse_assignment, set_on_grid, setting_keys, split_overrides
from ablate.study.recipe_file import DEFAULT_SCALE, Recipe, check_name, grid_points, plugin_table, scale_run_settings
from ablate.study.run_selection import picked, selected
from ablate.study.seeds import KEY as SEEDS
from ablate.study.seeds import chosen_seeds, seeded_name
from ablate.study.settings import Settings


@dataclass
class Run:
    """One fully resolved training run: what it is called, its settings and its plugins.

    ``plugins`` lists every plugin that takes part, in calling order (autoloaded ones
    included); ``hashed_plugins`` is the part of it that names the run (expansion leaves
    out plugins that cannot change results and parameters added later while at their
    default; None means all of ``plugins``). ``batch_dependent``: one of its plugins makes a model that
    classifies an image with the rest of its evaluation batch (BatchNorm on batch statistics), so
    ``eval_batch_size`` names it too. See docs/recipes.md, "Identity".
    ``entry`` is the name of the ``[[runs]]`` entry that made it (before grid values and seed), for
    ``--run`` to pick a grid's runs by; it is no part of the run's identity.
    """

    name: str
    settings: Settings
    plugins: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hashed_plugins: list[tuple[str, dict[str, Any]]] | None = None
    entry: str = ""
    batch_dependent: bool = False

    def identity(self) -> dict[str, Any]:
        """Everything that changes the run's results; its hash names the run's directory."""
        plugins = self.plugins if self.hashed_plugins is None else self.hashed_plugins
        settings = self.settings.identity()
        if self.batch_dependent:
            settings["eval_batch_size"] = self.settings.eval_batch_size
        return {"name": self.name, "settings": settings, "plugins": [[name, values] for name, values in plugins]}

    @property
    def short_hash(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def dir_name(self) -> str:
        return f"{self.name}-{self.short_hash}"

    def plugin_names(self) -> list[str]:
        return [name for name, _ in self.plugins]


# --------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------

def expand(recipe: Recipe, scale: str | None = None, overrides: list[str] | dict[str, Any] = (),
           registry: PluginRegistry | None = None, only: list[str] | None = None) -> list[Run]:
    """Resolve a recipe at a scale into validated runs, one per run, grid value and seed.

    ``overrides`` may hold ``seeds`` (what ``--seeds N`` gives), which replaces the recipe's seeds.
    ``only`` (``--run``) keeps the runs of those names; a ``--set`` of a key that a run's grid varies
    is then refused only if that run is kept (the others are expanded as the recipe says, for their names)."""
    registry = registry or get_registry()
    layers = Layers.read(recipe, scale or DEFAULT_SCALE, overrides, registry)
    runs: list[Run] = []
    made_by: dict[str, str] = {}        # run name -> the recipe entry that made it
    for i, raw_run in enumerate(recipe.runs):
        entry = Entry.read(recipe, i, raw_run, layers, registry, only)
        first = len(runs)
        for values, seed in itertools.product(grid_points(entry.grid, entry.where), entry.seeds or [None]):
            run = point_run(recipe, entry, layers, values, seed, registry)
            if run.name in made_by:
                raise AblateError(f"{entry.where}: expands to a run named {run.name!r}, as does "
                                  f"{made_by[run.name]}; rename one of the runs")
            made_by[run.name] = entry.where
            runs.append(finished(run, registry, entry.where))
        if entry.conflict and any(picked(run, only) for run in runs[first:]):
            raise AblateError(entry.conflict)
    for probe in layers.set_settings.get("probe_params", {}):
        if not any(probe in run.settings.probes for run in runs):
            raise AblateError(f"--set {probe}.*: no run of this recipe records probe {probe!r}; add it to the "
                              f"setting probes (--set 'probes=[\"split\", \"{probe}\"]')")
    return selected(runs, only, recipe.name)


@dataclass
class Layers:
    """What the scale and the command line give every run of a recipe, read and checked once."""

    scale: str
    settings: dict[str, Any]            # the scale's settings
    plugins: dict[str, dict]            # [scales.NAME.plugins.*]
    grid: dict[str, Any]                # [scales.NAME.grid], replacing the runs' own values of those keys
    seeds: Any                          # the scale's seeds
    runs: dict[str, dict]               # [scales.NAME.runs.RUN]: settings of one run at this scale
    set_settings: dict[str, Any]        # --set KEY=VALUE of settings (and probe_params)
    set_plugins: dict[str, dict]        # --set PLUGIN.PARAM=VALUE
    set_seeds: Any                      # --seeds N
    autoloaded: list[str]

    @classmethod
    def read(cls, recipe: Recipe, scale: str, overrides, registry: PluginRegistry) -> Layers:
        where = str(recipe.path)
        if scale not in recipe.scales and scale != DEFAULT_SCALE:
            raise AblateError(f"{where}: unknown scale {scale!r}; this recipe has: "
                              f"{', '.join([DEFAULT_SCALE] + [s for s in recipe.scales if s != DEFAULT_SCALE])}")
        table = dict(recipe.scales.get(scale, {}))
        plugins = table.pop("plugins", {})
        grid = setting_keys(table.pop("grid", {}), registry, f"{where}: scales.{scale}.grid")
        seeds = table.pop(SEEDS, None)
        runs = scale_run_settings(recipe, scale, table.pop("runs", {}))
        overrides = dict(overrides) if isinstance(overrides, dict) else dict(map(parse_assignment, overrides))
        overrides = setting_keys(overrides, registry, "--set")
        set_seeds = overrides.pop(SEEDS, None)
        set_settings, set_plugins = split_overrides(overrides, registry)
        layers = cls(scale, table, plugins, grid, seeds, runs, set_settings, set_plugins, set_seeds,
                     registry.autoloaded())
        layers.check_plugins(recipe, registry)
        return layers

    def check_plugins(self, recipe: Recipe, registry: PluginRegistry) -> None:
        """The plugins the scale and ``--set`` give parameters to must exist, and some run must use each."""
        where = str(recipe.path)
        used = {name for run in recipe.runs for name in plugin_table(run, where)} | set(self.autoloaded)
        for name in set(self.set_plugins) | set(self.plugins):
            source = f"{where}: scales.{self.scale}.plugins" if name in self.plugins else "--set"
            registry.get(name, source)
            if name not in used:
                source = source if name in self.plugins else f"--set {name}.*"
                raise AblateError(f"{source}: no run of this recipe uses plugin {name!r}")


@dataclass
class Entry:
    """One ``[[runs]]`` entry of a recipe: its grid at this scale, its seeds, and the ``--set`` it takes."""

    raw: dict[str, Any]
    where: str
    grid: dict[str, Any]
    seeds: list[int] | None
    set_settings: dict[str, Any]        # the command line's, or none where they conflict with the grid
    set_plugins: dict[str, dict]
    conflict: str | None                # why --set may not apply to this entry's runs (then it does not)

    @classmethod
    def read(cls, recipe: Recipe, i: int, raw: dict, layers: Layers, registry: PluginRegistry,
             only: list[str] | None) -> Entry:
        where = f"{recipe.path}: runs[{i}] ({raw['name']})"
        grid = setting_keys(dict(raw.get("grid", {})), registry, f"{where}.grid")
        for key, values in layers.grid.items():
            if key in grid:
                grid[key] = values
        conflict = set_on_grid(grid, layers.set_settings, layers.set_plugins, where)
        if conflict and not only:
            raise AblateError(conflict)
        set_settings, set_plugins = ({}, {}) if conflict else (layers.set_settings, layers.set_plugins)
        seeds = chosen_seeds([(recipe.seeds, f"{recipe.path}: seeds"), (raw.get(SEEDS), f"{where}.seeds"),
                              (layers.seeds, f"{recipe.path}: scales.{layers.scale}.seeds"),
                              (layers.set_seeds, "--seeds")],
                             "a grid over" if "seed" in grid else "--set" if "seed" in set_settings else "", where)
        return cls(raw, where, grid, seeds, set_settings, set_plugins, conflict)


def point_run(recipe: Recipe, entry: Entry, layers: Layers, values: dict[str, Any], seed: int | None,
              registry: PluginRegistry) -> Run:
    """The run of ``entry`` at one grid point and seed, in the order of precedence: its settings and plugins
    layer by layer, the grid values, the seed, ``--set``; then its plugins configure it and it is named."""
    where, name = entry.where, entry.raw["name"]
    settings = Settings()
    for layer, layer_where in [(recipe.settings, f"{recipe.path}: settings"),
                               (layers.settings, f"{recipe.path}: scales.{layers.scale}"),
                               (entry.raw.get("settings", {}), f"{where}.settings"),
                               (layers.runs.get(name, {}), f"{recipe.path}: scales.{layers.scale}.runs.{name}")]:
        settings.update(with_probe_settings(registry.registry("probes"), layer, layer_where), layer_where)
    plugins = plugin_table(entry.raw, str(recipe.path))
    plugins.update({plugin: {} for plugin in layers.autoloaded if plugin not in plugins})
    for plugin in plugins:
        plugins[plugin].update(layers.plugins.get(plugin, {}))
        plugins[plugin].update(entry.set_plugins.get(plugin, {}))
    set_grid_values(values, settings, plugins, where, registry)
    base_seed = settings.seed
    if seed is not None:
        settings.set("seed", seed, f"{where}.seeds")
    settings.update(entry.set_settings, "--set")
    checked = [(p, registry.get(p, f"{where}.plugins").cls.validate(v, f"{where}.plugins.{p}"))
               for p, v in plugins.items()]
    run = Run(name=name, settings=settings, plugins=checked, entry=name)
    configure(run, registry, where, pinned=set(entry.set_settings))
    run.name = run_name(name, values, run, registry)
    run.name = run.name if seed is None else seeded_name(run.name, seed, base_seed)
    check_name(run.name, f"{where}.grid", "run name made from the grid values")
    return run


def set_grid_values(values: dict[str, Any], settings: Settings, plugins: dict[str, dict], where: str,
                    registry: PluginRegistry) -> None:
    """One grid point's values, each where its key points: a probe's parameter, a plugin's, or a setting."""
    for key, value in values.items():
        if is_probe_key(key, registry):
            probe, param = key.split(".", 1)
            settings.set("probe_params", {probe: {param: value}}, f"{where}.grid.{key}")
        elif "." in key:
            plugin, param = key.split(".", 1)
            if plugin not in plugins:
                raise AblateError(f"{where}.grid: {key!r} names plugin {plugin!r}, "
                                  f"which this run does not list in its plugins")
            plugins[plugin][param] = value
        else:
            settings.set(key, value, f"{where}.grid.{key}")


def finished(run: Run, registry: PluginRegistry, where: str) -> Run:
    """A named run made ready to train: the plugins that name it, its data set and model checked, its probe
    parameters in canonical form."""
    run.hashed_plugins = hashed_plugins(run.plugins, registry)
    run.batch_dependent = batch_dependent(run, registry)
    check_names(run.settings, registry, where)
    run.settings.probe_params = canonical_probe_params(registry.registry("probes"), run.settings.probes,
                                                       run.settings.probe_params, f"{where}: settings")
    return run


def run_name(base: str, grid_values: dict[str, Any], run: Run, registry: PluginRegistry) -> str:
    """``batch-size32``: the run's name, then each grid key's final value (a plugin may have changed a setting)."""
    name = base
    for key, value in grid_values.items():
        if is_probe_key(key, registry):
            probe, param = key.split(".", 1)
            final = run.settings.probe_params.get(probe, {}).get(param, value)
        elif "." in key:
            plugin, param = key.split(".", 1)
            final = dict(run.plugins)[plugin][param]
        else:
            final = getattr(run.settings, key)
        name += f"-{key.split('.')[-1]}{value if final == value else final}"
    return name


def batch_dependent(run: Run, registry: PluginRegistry) -> bool:
    """Whether one of the run's plugins makes a model whose evaluation depends on its batch."""
    return any(registry.get(name, f"run {run.name}").cls.batch_dependent_evaluation(values)
               for name, values in run.plugins)


def hashed_plugins(plugins: list[tuple[str, dict]], registry: PluginRegistry) -> list[tuple[str, dict]]:
    """The plugins and values that name a run (docs/recipes.md, "Identity")."""
    hashed = []
    for name, values in plugins:
        cls = registry.plugins[name].cls
        if cls.affects_results:
            hashed.append((name, identity_values({p.name: p for p in cls.params}, values)))
    return hashed


def check_names(settings: Settings, registry: PluginRegistry, where: str) -> None:
    """The dataset and model must be registered; say which ones are."""
    for kind, value in (("datasets", settings.dataset.split(":", 1)[0]), ("models", settings.model)):
        known = registry.registry(kind)
        if value not in known:
            raise AblateError(f"{where}: {kind[:-1]}: unknown {kind[:-1]} {value!r}; known {kind}: "
                              f"{', '.join(sorted(known))} (see `ablate plugins`)")


def configure(run: Run, registry: PluginRegistry, where: str, pinned: set[str] = frozenset()) -> None:
    """Let the run's plugins change its settings, then check the combination.

    ``pinned`` are the settings ``--set`` gave: a plugin changing one is refused, as
    are two plugins changing the same setting.
    """
    pm = registry.run_manager(run.plugins)
    changed_by: dict[str, str] = {}
    for plugin, changes in call_attributed(pm, "ablate_configure", settings=run.settings, run_name=run.name):
        for key, value in changes.items():
            if key in changed_by:
                raise AblateError(f"{where}: plugins {changed_by[key]!r} and {plugin!r} both set {key!r}; "
                                  f"keep one of them in this run")
            if key in pinned:
                raise AblateError(f"{where}: plugin {plugin!r} sets {key!r}, which --set {key} also sets; "
                                  f"remove --set {key}, or set it through the plugin's parameters")
            changed_by[key] = plugin
            run.settings.set(key, value, f"{where}: plugin {plugin} sets {key}")
    pm.hook.ablate_check(settings=run.settings, plugins=run.plugin_names())
