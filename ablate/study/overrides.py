"""What a ``--set`` or grid key names: a setting, a plugin's parameter or a probe's, each value checked.

``epochs`` is a setting, ``pgd.steps`` a parameter of the plugin ``pgd`` and
``fourier_heatmap.eps`` one of the probe ``fourier_heatmap``; a probe parameter that
is a run setting (``split.radii``) is that setting (``radii``), however it is spelled.
"""

from __future__ import annotations

from typing import Any

from ablate.core.errors import AblateError
from ablate.core.params import parse_text
from ablate.core.registry import PluginRegistry
from ablate.spectral.probes import lookup, setting_key
from ablate.study.settings import Settings


def parse_assignment(text: str, option: str = "--set", example: str = "epochs=3") -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> ``(KEY, VALUE parsed)``; ``option`` and ``example`` make the error message."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise AblateError(f"{option} {text!r}: expected KEY=VALUE, e.g. {option} {example}")
    return key.strip(), parse_text(value.strip())


def is_probe_key(key: str, registry: PluginRegistry) -> bool:
    """``fourier_heatmap.eps``: a parameter of a registered probe (a plugin of that name would take it)."""
    name = key.split(".", 1)[0]
    return "." in key and name not in registry.plugins and name in registry.registry("probes")


def setting_keys(table: dict[str, Any], registry: PluginRegistry, where: str) -> dict[str, Any]:
    """A grid or ``--set`` table with each probe parameter that is a run setting under the setting's key
    (``split.radii`` is ``radii``: :func:`ablate.spectral.probes.setting_key`); both spellings at once are refused."""
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
