"""`ablate recipes`: every built-in recipe and scale with its runs, epochs and estimated time, as a table."""

from __future__ import annotations

from typing import Callable

from rich.table import Table

from ablate.core.device import resolve_device
from ablate.core.progress import format_duration
from ablate.core.registry import PluginRegistry
from ablate.execution.calibration import estimate
from ablate.execution.rough_estimate import ROUGH, rough_duration, rough_seconds
from ablate.study.expansion import Run, expand
from ablate.study.recipe_file import DEFAULT_SCALE, builtin_recipes, load_recipe


def builtin_overview(registry: PluginRegistry, scales: list[str] | None = None, measuring: bool | None = None,
                     say: Callable[[str], None] = lambda text: None) -> list[dict]:
    """One row per built-in recipe and scale: ``recipe, description, scale, runs, epochs, estimate`` (a text:
    ``about 25 min`` measured, ``~25 min (rough)`` where nothing is measured yet
    (:func:`ablate.execution.rough_estimate.rough_seconds`), or ``?`` when it cannot be known without downloading)."""
    rows = []
    for name, path in sorted(builtin_recipes().items()):
        recipe = load_recipe(path)
        for scale in dict.fromkeys([DEFAULT_SCALE, *recipe.scales]):
            if scales and scale not in scales:
                continue
            runs = expand(recipe, scale, registry=registry)
            rows.append({"recipe": name, "description": recipe.description, "scale": scale, "runs": len(runs),
                         "epochs": sum(r.settings.epochs for r in runs),
                         "estimate": estimate_text(runs, registry, measuring, say)})
    return rows


def estimate_text(runs: list[Run], registry: PluginRegistry, measuring: bool | None,
                  say: Callable[[str], None]) -> str:
    """The measured estimate (``about 25 min``), else the rough one (``~25 min (rough)``), else ``?``."""
    seconds = estimate(runs, registry, measuring, say=say)
    if seconds is not None:
        return f"about {format_duration(seconds)}"
    rough = rough_seconds(runs, registry)
    return "?" if rough is None else f"~{rough_duration(rough)} {ROUGH}"


def overview_table(rows: list[dict]) -> Table:
    """:func:`builtin_overview`'s rows as the table `ablate recipes` prints: each recipe's name and description
    once, on its first scale's row."""
    device = resolve_device("auto")
    caption = (f"estimate: training and per-epoch probes on {device}, measured once and cached; the final "
               f"evaluation adds a little")
    if any(row["estimate"].endswith(ROUGH) for row in rows):
        caption += (f"\n{ROUGH}: nothing measured yet: the models' FLOPs at a typical {device.type} speed, not "
                    f"this machine's, training steps only (off by several times); `ablate recipes --estimate` "
                    f"measures this machine (minutes, once)")
    table = Table(title="built-in recipes (run one with `ablate recipe NAME --scale SCALE`)", caption=caption,
                  caption_justify="left")
    for column in ("name", "scale", "runs", "epochs", "estimate", "description"):
        table.add_column(column, style="bold" if column == "name" else None,
                         justify="right" if column in ("runs", "epochs") else "left")
    shown = set()
    for row in rows:
        first = row["recipe"] not in shown
        shown.add(row["recipe"])
        table.add_row(row["recipe"] if first else "", row["scale"], str(row["runs"]), str(row["epochs"]),
                      row["estimate"], row["description"] if first else "")
    return table
