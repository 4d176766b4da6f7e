"""Recipe files: what a TOML recipe may say, read and checked before it is expanded into runs.

The format is documented in docs/recipes.md; :mod:`ablate.study.expansion` expands a
parsed :class:`Recipe` into runs.
"""

from __future__ import annotations

import copy
import importlib.resources
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.core.errors import AblateError, refuse_unknown_keys
from ablate.study.claim_schema import KEY as CLAIMS
from ablate.study.claim_schema import parse_claims
from ablate.study.seeds import KEY as SEEDS

RECIPE_KEYS = ("description", "report", "settings", "scales", "runs", "launcher", SEEDS, CLAIMS)
RUN_KEYS = ("name", "plugins", "settings", "grid", SEEDS)
DEFAULT_SCALE = "paper"
MAX_NAME = 120
SAFE_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")


@dataclass
class Recipe:
    """A parsed recipe file, not yet expanded."""

    name: str
    path: Path
    description: str
    report: str
    settings: dict[str, Any]
    scales: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]
    launcher: dict[str, Any] = field(default_factory=dict)   # cluster options, see ablate.execution.launchers
    seeds: Any = None                                         # see ablate.study.seeds
    claims: list[dict] = field(default_factory=list)          # what the study says; see ablate.study.claim_schema


def builtin_recipes() -> dict[str, Path]:
    """Names and paths of the recipes installed with ablate."""
    folder = importlib.resources.files("ablate_recipes")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".toml")}


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read a built-in recipe by name, or a recipe file by path."""
    path = Path(name_or_path)
    builtins = builtin_recipes()
    if not path.suffix and str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    elif not path.exists():
        raise AblateError(f"no recipe {str(name_or_path)!r}: not a file, and not a built-in recipe "
                          f"({', '.join(sorted(builtins))}); see `ablate recipes`")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AblateError(f"{path}: malformed TOML: {exc}") from None
    except OSError as exc:
        raise AblateError(f"{path}: cannot read the recipe: {exc.strerror}") from None
    return parse_recipe(raw, path)


def parse_recipe(raw: dict[str, Any], path: Path) -> Recipe:
    refuse_unknown_keys(raw, RECIPE_KEYS, f"{path}")
    runs = raw.get("runs", [])
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise AblateError(f"{path}: runs: a recipe needs at least one [[runs]] table")
    for i, run in enumerate(runs):
        refuse_unknown_keys(run, RUN_KEYS, f"{path}: runs[{i}]")
        if not isinstance(run.get("name"), str) or not run["name"]:
            raise AblateError(f"{path}: runs[{i}].name: every run needs a name (a string)")
        check_name(run["name"], f"{path}: runs[{i}].name", "run name")
    names = [r["name"] for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AblateError(f"{path}: runs: the run name {duplicates[0]!r} is used twice; names must be unique")
    for key in ("settings", "scales", "launcher"):
        if not isinstance(raw.get(key, {}), dict):
            raise AblateError(f"{path}: {key}: expected a table, found {raw[key]!r}")
    check_name(path.stem, f"{path}", "recipe name (the file's name without .toml)")
    return Recipe(name=path.stem, path=path, description=str(raw.get("description", "")),
                  report=str(raw.get("report", "generic")), settings=raw.get("settings", {}),
                  scales=raw.get("scales", {}), runs=runs, launcher=raw.get("launcher", {}),
                  seeds=raw.get(SEEDS), claims=parse_claims(raw.get(CLAIMS), f"{path}", names))


def plugin_table(raw_run: dict, where: str) -> dict[str, dict]:
    """A run's plugins as an ordered {name: params} table, from either list or table form."""
    plugins = raw_run.get("plugins", {})
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        return {p: {} for p in plugins}
    if isinstance(plugins, dict) and all(isinstance(v, dict) for v in plugins.values()):
        return copy.deepcopy(plugins)
    raise AblateError(f"{where}: runs.{raw_run['name']}.plugins: expected a list of plugin names or "
                      f"a table of plugin tables, found {plugins!r}")


def grid_points(grid: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """A run's grid as its points, the cartesian product of its lists in key order: ``{"lr": [1, 2]}`` ->
    ``[{"lr": 1}, {"lr": 2}]``."""
    if not isinstance(grid, dict):
        raise AblateError(f"{where}.grid: expected a table of lists, found {grid!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise AblateError(f"{where}.grid.{key}: expected a non-empty list of values, found {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def check_name(name: str, where: str, what: str) -> None:
    """Recipe and run names become folder names under ``--out``: only a safe set of characters."""
    if not SAFE_NAME.fullmatch(name):
        raise AblateError(f"{where}: the {what} {name!r} is not allowed: use 1 to {MAX_NAME} letters, digits, "
                          f"'-', '_' or '.', not starting with '.' or '-'")



def scale_run_settings(recipe: Recipe, scale: str, table: Any) -> dict[str, dict]:
    """A scale's ``[scales.NAME.runs.RUN]`` tables: settings that replace a run's own at that scale only (a
    smoke scale turning off the crop + flip that the paper's adversarial run sets), checked to name runs."""
    where = f"{recipe.path}: scales.{scale}.runs"
    names = [run["name"] for run in recipe.runs]
    if not isinstance(table, dict):
        raise AblateError(f"{where}: expected tables named after runs, found {table!r}")
    for name, settings in table.items():
        if name not in names:
            raise AblateError(f"{where}.{name}: no run of this recipe is named {name!r}; runs: {', '.join(names)}")
        if not isinstance(settings, dict):
            raise AblateError(f"{where}.{name}: expected a table of settings, found {settings!r}")
    return table
