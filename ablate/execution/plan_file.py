"""recipe.json: what a recipe expanded to in its output folder, enough for `ablate status` and `report`."""

from __future__ import annotations

from pathlib import Path

from ablate.core.files import read_json, write_json
from ablate.core.schema import PLAN
from ablate.execution.run_folder import run_status
from ablate.study.expansion import Run
from ablate.study.recipe_file import Recipe


def save_plan(out_dir: Path, recipe: Recipe, scale: str | None, overrides, runs: list[Run],
              keep_others: bool = False) -> list[dict]:
    """recipe.json: what the recipe expanded to, enough for `ablate status` and `report`; return its run entries.

    With ``keep_others`` (``--run`` chose ``runs``), the entries of the runs not chosen stay as they were."""
    entries = [{"name": r.name, "dir": r.dir_name, "plugins": dict(r.plugins), "settings": r.settings.as_dict(),
                **dict(zip(("status", "error"), run_status(out_dir / r.dir_name)))} for r in runs]
    if keep_others:
        entries = merged_entries(read_json(out_dir / PLAN).get("runs"), entries)
    write_json(out_dir / PLAN, {
        "recipe": recipe.name, "description": recipe.description, "report": recipe.report,
        "scale": scale or "paper", "source": str(Path(recipe.path).resolve()), "text": recipe_text(recipe),
        "overrides": list(overrides), "claims": recipe.claims, "runs": entries})
    return entries


def merged_entries(previous, entries: list[dict]) -> list[dict]:
    """recipe.json's previous run entries with ``entries`` in place of those of the same name, new ones last
    (entries that are not a run's, in a damaged file, are dropped)."""
    fresh = {entry["name"]: entry for entry in entries}
    kept = [fresh.pop(entry["name"], entry) for entry in previous or [] if isinstance(entry, dict)
            and isinstance(entry.get("name"), str) and isinstance(entry.get("dir"), str)]
    return kept + list(fresh.values())


def recipe_text(recipe: Recipe) -> str | None:
    """The recipe file's text as it is run, kept so that a shared report shows what made it."""
    try:
        return Path(recipe.path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
