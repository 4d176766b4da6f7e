"""Recipes expanded into runs: every run, grid value and seed resolved into settings and plugins.

The format is documented in docs/recipes.md and read by :mod:`ablate.recipe_file`. Expansion validates everything
(settings, plugins, parameters, scales, grid keys) before anything is trained, so
that a typo in hour zero does not cost a crash in hour ten.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from ablate.config import Settings
from ablate.errors import AblateError
# the recipe file's names that users of expansion import from here
from ablate.recipe_file import (DEFAULT_SCALE, Recipe, builtin_recipes, check_name, load_recipe,  # noqa: F401
                                scale_run_settings)
from ablate.params import identity_values, parse_text
from ablate.plugins import PluginRegistry, call_attributed, get_registry
from ablate.probes import canonical_probe_params, lookup, setting_key, with_probe_settings
from ablate.seeds import KEY as SEEDS, base_run, chosen_seeds, seeded_name


@dataclass
class Run:
    """One fully resolved training run: what it is called, its settings and its plugins.

    ``plugins`` lists every plugin that takes part, in calling order (autoloaded ones
    included); ``hashed_plugins`` is the part of it that names the run (expansion leaves
    out plugins that cannot change results and parameters added later while at their
    default; None means all of ``plugins``). See docs/recipes.md, "Identity".
    """

    name: str
    settings: Settings
    plugins: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hashed_plugins: list[tuple[str, dict[str, Any]]] | None = None

    def identity(self) -> dict[str, Any]:
        """Everything that changes the run's results; its hash names the run's directory."""
        plugins = self.plugins if self.hashed_plugins is None else self.hashed_plugins
        return {"name": self.name, "settings": self.settings.identity(),
                "plugins": [[name, values] for name, values in plugins]}

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
    where = str(recipe.path)
    scale = scale or DEFAULT_SCALE
    if scale not in recipe.scales and scale != DEFAULT_SCALE:
        raise AblateError(f"{where}: unknown scale {scale!r}; this recipe has: "
                          f"{', '.join([DEFAULT_SCALE] + [s for s in recipe.scales if s != DEFAULT_SCALE])}")
    scale_table = dict(recipe.scales.get(scale, {}))
    scale_plugins = scale_table.pop("plugins", {})
    scale_grid = setting_keys(scale_table.pop("grid", {}), registry, f"{where}: scales.{scale}.grid")
    scale_seeds = scale_table.pop(SEEDS, None)
    scale_runs = scale_run_settings(recipe, scale, scale_table.pop("runs", {}))
    overrides = dict(overrides) if isinstance(overrides, dict) else dict(map(parse_assignment, overrides))
    overrides = setting_keys(overrides, registry, "--set")
    set_seeds = overrides.pop(SEEDS, None)
    set_settings, set_plugins = split_overrides(overrides, registry)
    autoloaded = registry.autoloaded()
    used = {name for run in recipe.runs for name in plugin_table(run, where, registry)} | set(autoloaded)
    for name in set(set_plugins) | set(scale_plugins):
        registry.get(name, f"{where}: scales.{scale}.plugins" if name in scale_plugins else "--set")
        if name not in used:
            source = f"{where}: scales.{scale}.plugins" if name in scale_plugins else f"--set {name}.*"
            raise AblateError(f"{source}: no run of this recipe uses plugin {name!r}")

    runs = []
    made_by: dict[str, str] = {}        # run name -> the recipe entry that made it
    for i, raw_run in enumerate(recipe.runs):
        run_where = f"{where}: runs[{i}] ({raw_run['name']})"
        grid = setting_keys(dict(raw_run.get("grid", {})), registry, f"{run_where}.grid")
        for key, values in scale_grid.items():
            if key in grid:
                grid[key] = values
        conflict = set_on_grid(grid, set_settings, set_plugins, run_where)
        if conflict and not only:
            raise AblateError(conflict)
        entry_settings, entry_plugins = ({}, {}) if conflict else (set_settings, set_plugins)
        first = len(runs)
        seeds = chosen_seeds([(recipe.seeds, f"{where}: seeds"), (raw_run.get(SEEDS), f"{run_where}.seeds"),
                              (scale_seeds, f"{where}: scales.{scale}.seeds"), (set_seeds, "--seeds")],
                             "a grid over" if "seed" in grid else "--set" if "seed" in entry_settings else "",
                             run_where)
        for values, seed in itertools.product(grid_points(grid, run_where), seeds or [None]):
            settings = Settings()
            layers = [(recipe.settings, f"{where}: settings"), (scale_table, f"{where}: scales.{scale}"),
                      (raw_run.get("settings", {}), f"{run_where}.settings"),
                      (scale_runs.get(raw_run["name"], {}), f"{where}: scales.{scale}.runs.{raw_run['name']}")]
            for layer, layer_where in layers:
                settings.update(with_probe_settings(registry.registry("probes"), layer, layer_where), layer_where)
            plugins = plugin_table(raw_run, where, registry)
            plugins.update({name: {} for name in autoloaded if name not in plugins})
            for name in plugins:
                plugins[name].update(scale_plugins.get(name, {}))
                plugins[name].update(entry_plugins.get(name, {}))
            for key, value in values.items():
                if is_probe_key(key, registry):
                    probe, param = key.split(".", 1)
                    settings.set("probe_params", {probe: {param: value}}, f"{run_where}.grid.{key}")
                elif "." in key:
                    plugin, param = key.split(".", 1)
                    if plugin not in plugins:
                        raise AblateError(f"{run_where}.grid: {key!r} names plugin {plugin!r}, "
                                          f"which this run does not list in its plugins")
                    plugins[plugin][param] = value
                else:
                    settings.set(key, value, f"{run_where}.grid.{key}")
            base_seed = settings.seed
            if seed is not None:
                settings.set("seed", seed, f"{run_where}.seeds")
            settings.update(entry_settings, "--set")
            checked = [(p, registry.get(p, f"{run_where}.plugins").cls.validate(v, f"{run_where}.plugins.{p}"))
                       for p, v in plugins.items()]
            run = Run(name=raw_run["name"], settings=settings, plugins=checked)
            configure(run, registry, run_where, pinned=set(entry_settings))
            run.name = run_name(raw_run["name"], values, run, registry)
            run.name = run.name if seed is None else seeded_name(run.name, seed, base_seed)
            check_name(run.name, f"{run_where}.grid", "run name made from the grid values")
            if run.name in made_by:
                raise AblateError(f"{run_where}: expands to a run named {run.name!r}, as does {made_by[run.name]}; "
                                  f"rename one of the runs")
            made_by[run.name] = run_where
            run.hashed_plugins = hashed_plugins(run.plugins, registry)
            check_names(settings, registry, run_where)
            settings.probe_params = canonical_probe_params(registry.registry("probes"), settings.probes,
                                                           settings.probe_params, f"{run_where}: settings")
            runs.append(run)
        if conflict and any(picked(run, only) for run in runs[first:]):
            raise AblateError(conflict)
    for probe in set_settings.get("probe_params", {}):
        if not any(probe in run.settings.probes for run in runs):
            raise AblateError(f"--set {probe}.*: no run of this recipe records probe {probe!r}; add it to the "
                              f"setting probes (--set 'probes=[\"split\", \"{probe}\"]')")
    return selected(runs, only, recipe.name)


def picked(run: Run, only: list[str]) -> bool:
    """Whether ``--run`` names this run."""
    return bool(run_names(run) & set(only))


def run_names(run: Run) -> set[str]:
    """The names ``--run`` picks a run by: its own, and its name without the seed (all its seeds' runs)."""
    return {run.name, base_run(run.name, run.settings.seed)}


def selected(runs: list[Run], only: list[str] | None, recipe_name: str) -> list[Run]:
    """The runs ``--run`` names (all without it); a name no run has is refused, listing the runs."""
    if not only:
        return runs
    unknown = sorted(set(only) - set().union(*map(run_names, runs)))
    if unknown:
        raise AblateError(f"--run {unknown[0]!r}: no such run in {recipe_name}; runs: "
                          f"{', '.join(r.name for r in runs)}")
    return [run for run in runs if picked(run, only)]


def is_probe_key(key: str, registry: PluginRegistry) -> bool:
    """``fourier_heatmap.eps``: a parameter of a registered probe (a plugin of that name would take it)."""
    name = key.split(".", 1)[0]
    return "." in key and name not in registry.plugins and name in registry.registry("probes")


def setting_keys(table: dict[str, Any], registry: PluginRegistry, where: str) -> dict[str, Any]:
    """A grid or ``--set`` table with each probe parameter that is a run setting under the setting's key
    (``split.radii`` is ``radii``: :func:`ablate.probes.setting_key`); both spellings at once are refused."""
    keyed: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in table.items():
        name = setting_key(registry.registry("probes"), key) if is_probe_key(key, registry) else key
        if name in keyed:
            raise AblateError(f"{where}: {spelled[name]!r} and {key!r} are one setting; give it once, as {name}")
        keyed[name], spelled[name] = value, key
    return keyed


def set_on_grid(grid: dict[str, Any], set_settings: dict, set_plugins: dict[str, dict], where: str) -> str | None:
    """Why ``--set`` may not apply to this run (it overrides a key the run's grid varies: the run names would
    lie), or None."""
    named = list(set_settings) + [f"{plugin}.{param}" for plugin, params in set_plugins.items() for param in params]
    named += [f"{probe}.{param}" for probe, params in set_settings.get("probe_params", {}).items() for param in params]
    key = next((key for key in named if key in grid), None)
    return key and (f"{where}.grid: --set {key} would override {key!r}, which this run's grid varies "
                    f"({grid[key]!r}); remove --set {key}, or change the grid in the recipe")


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


def plugin_table(raw_run: dict, where: str, registry: PluginRegistry) -> dict[str, dict]:
    """A run's plugins as an ordered {name: params} table, from either list or table form."""
    plugins = raw_run.get("plugins", {})
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        return {p: {} for p in plugins}
    if isinstance(plugins, dict) and all(isinstance(v, dict) for v in plugins.values()):
        return copy.deepcopy(plugins)
    raise AblateError(f"{where}: runs.{raw_run['name']}.plugins: expected a list of plugin names or "
                      f"a table of plugin tables, found {plugins!r}")


def grid_points(grid: dict[str, Any], where: str) -> list[dict[str, Any]]:
    if not isinstance(grid, dict):
        raise AblateError(f"{where}.grid: expected a table of lists, found {grid!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise AblateError(f"{where}.grid.{key}: expected a non-empty list of values, found {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def split_overrides(overrides: dict[str, Any], registry: PluginRegistry) -> tuple[dict, dict[str, dict]]:
    """``{"epochs": 3, "pgd.steps": 2}`` -> ({"epochs": 3}, {"pgd": {"steps": 2}}), each value checked."""
    settings, plugins = {}, {}
    for key, value in overrides.items():
        if is_probe_key(key, registry):
            probe, param = key.split(".", 1)
            lookup(registry.registry("probes"), probe, f"--set {key}").checked({param: value}, f"--set {probe}",
                                                                                fill=False)
            settings.setdefault("probe_params", {}).setdefault(probe, {})[param] = value
        elif "." in key:
            plugin, param = key.split(".", 1)
            registry.get(plugin, f"--set {key}").cls.validate({param: value}, f"--set {plugin}")
            plugins.setdefault(plugin, {})[param] = value
        else:
            Settings().set(key, value, f"--set {key}")
            settings[key] = value
    return settings, plugins


def parse_assignment(text: str, option: str = "--set", example: str = "epochs=3") -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> ``(KEY, VALUE parsed)``; ``option`` and ``example`` make the error message."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise AblateError(f"{option} {text!r}: expected KEY=VALUE, e.g. {option} {example}")
    return key.strip(), parse_text(value.strip())


def configure(run: Run, registry: PluginRegistry, where: str, pinned: set[str] = frozenset()) -> None:
    """Let the run's plugins change its settings, then check the combination.

    ``pinned`` are the settings ``--set`` gave: a plugin changing one is refused, as
    are two plugins changing the same setting.
    """
    pm = registry.run_manager(run.plugins)
    changed_by: dict[str, str] = {}
    for plugin, changes in call_attributed(pm.hook.ablate_configure, settings=run.settings, run_name=run.name):
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
