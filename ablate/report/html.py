"""``ablate report DIR --html``: a study as one self-contained HTML page, to hand to a colleague.

The page holds the report exactly as the console shows it (the layout's own tables, with
their ``±`` cells and best / worst marks, through :mod:`ablate.report.rich_html`), the
recipe's claims checked against the numbers in a section of their own, its
figures and the runs' probe examples as embedded PNG images, then what a reader needs to
trust it: the recipe's text, the settings, and each run's provenance (hash, plugins, seed,
status, wall time, device, versions). It needs no network: no script, font or
stylesheet comes from elsewhere, and every text a user wrote is escaped.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from rich.table import Table
from rich.text import Text

import ablate
from ablate.core.errors import AblateError
from ablate.core.files import read_json
from ablate.core.progress import format_duration
from ablate.core.registry import PluginRegistry
from ablate.core.schema import CONFIG, DONE, EXAMPLES, file_in
from ablate.report import print_report
from ablate.report.claims_table import print_claims
from ablate.report.results import StudyResults, load_results
from ablate.report.rich_html import Image, PageConsole, page_text, to_html
from ablate.report.tables import example_caption
from ablate.report.value_text import format_value, plugins_label

PAGE = "report.html"       # the page's default name, in the recipe's output folder

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; margin: 2em auto; max-width: 90em; padding: 0 1.5em; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
nav a { margin-right: 1em; } .meta { color: #555; }
.scroll { overflow-x: auto; margin: .3em 0 1em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-style: italic; padding: .2em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; white-space: nowrap; vertical-align: top; }
th { background: #f2f2f4; text-align: left; } td.right, th.right { text-align: right; }
td.center, th.center { text-align: center; } tbody + tbody { border-top: 2px solid #888; }
figure { margin: 1em 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 90%; }
pre { background: #f6f6f8; padding: .8em; overflow-x: auto; border: 1px solid #ddd; }
"""

SECTIONS = [("report", "Report"), ("claims", "Claims"), ("examples", "Probe examples"), ("runs", "Runs"),
            ("settings", "Settings"), ("recipe", "Recipe"), ("versions", "Versions")]


def write_page(out_dir: Path, path: Path | None = None, layout: str | None = None,
               registry: PluginRegistry | None = None) -> Path:
    """Write the study in ``out_dir`` as one HTML page (``out_dir/report.html`` unless ``path``); return its path."""
    out_dir = Path(out_dir)
    console, claims = PageConsole(), PageConsole()
    print_report(out_dir, console, ("png",), layout=layout, registry=registry, claims=False)
    recipe, results = load_results(out_dir)
    study = StudyResults(results, out_dir, recipe)
    print_claims(study, claims)
    name = str(recipe.get("recipe") or out_dir.name)
    shown = console.captions | {item.caption for item in console.items if isinstance(item, Image)}
    body = {
        "report": "".join(map(to_html, console.items)),
        "claims": "".join(map(to_html, claims.items)),
        "examples": examples_html(study, shown),
        "runs": "".join(map(to_html, runs_tables(study))),
        "settings": settings_html(study),
        "recipe": recipe_html(recipe),
        "versions": to_html(versions_table()),
    }
    nav = " ".join(f'<a href="#{key}">{title}</a>' for key, title in SECTIONS if body[key])
    sections = "".join(f'<section id="{key}"><h2>{title}</h2>{body[key]}</section>'
                       for key, title in SECTIONS if body[key])
    meta = f"scale {recipe.get('scale') or '?'}, {len(study.runs)} runs"
    return write_document(Path(path) if path else file_in(out_dir, PAGE), name, meta, sections, f"<nav>{nav}</nav>")


def write_document(path: Path, title: str, meta: str, body: str, header: str = "") -> Path:
    """Write one self-contained page: ``title`` and ``meta`` (plain text, escaped here; the time and ablate's
    version are added), then ``header`` and ``body`` (HTML). An unwritable path is one line."""
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>ablate: {page_text(title)}</title><style>{STYLE}</style></head><body>"
            f'<header><h1>{page_text(title)}</h1><p class="meta">{page_text(meta)}; page written '
            f"{time.strftime('%Y-%m-%d %H:%M')} by ablate {page_text(ablate.__version__)}</p>"
            f"{header}</header>{body}</body></html>\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise AblateError(f"--html {path}: cannot write the page ({exc.strerror or exc}); give a writable path")
    return path


def examples_html(study: StudyResults, shown: set[str]) -> str:
    """Each run's probe example grid (examples.png) that the layout did not show already."""
    images = PageConsole()
    for run in study.runs:
        path = study.run_file(run, EXAMPLES)
        caption = example_caption(run)
        if path and path.is_file() and caption not in shown:
            images.keep_image(path.read_bytes(), caption)
    return "".join(map(to_html, images.items))


def cell(value) -> Text:
    """A table cell of plain text (never markup: the values come from users' recipes and files)."""
    return Text("" if value is None else str(value))


def runs_tables(study: StudyResults) -> list[Table]:
    """Per run: what it is and how it ended, then where and with what it ran (its config.json and done.json)."""
    outcome = Table(title="Each run: identity and outcome")
    for name in ("run", "status", "seed", "hash", "wall time", "finished", "error", "plugins (all parameters)"):
        outcome.add_column(name, justify="right" if name in ("seed", "wall time") else "left")
    origin = Table(title="Each run: where and with what it ran")
    for name in ("run", "device", "host", "git revision", "ablate", "torch", "python", "folder"):
        origin.add_column(name)
    seeds = study.seeds()
    for run in study.runs:
        config, done = (read_json(path) if path else {} for path in (study.run_file(run, CONFIG),
                                                                     study.run_file(run, DONE)))
        seconds, seed = done.get("seconds"), seeds.get(run)
        outcome.add_row(*map(cell, (
            run, study.status(run), "" if seed is None or seed != seed else f"{seed:g}", config.get("hash"),
            format_duration(seconds) if isinstance(seconds, (int, float)) else "", done.get("finished"),
            study.info(run).get("error"), plugins_label(study.plugins(run)) or "-")))
        origin.add_row(*map(cell, (
            run, config.get("device"), config.get("host"), (config.get("git_revision") or "")[:12],
            config.get("ablate_version"), config.get("torch_version"), config.get("python"),
            study.info(run).get("dir"))))
    return [outcome, origin]


def settings_html(study: StudyResults) -> str:
    """The settings every run shares in one table, then the ones that differ, per run."""
    settings = {run: study.info(run).get("settings") or {} for run in study.runs}
    keys = list(dict.fromkeys(key for values in settings.values() for key in values))
    if not keys:
        return ""

    def shown(run, key):
        return format_value(settings[run][key]) if key in settings[run] else ""

    same = [k for k in keys if len({json.dumps(settings[r].get(k), sort_keys=True) for r in study.runs}) == 1]
    shared = Table(title="Settings of every run")
    shared.add_column("setting")
    shared.add_column("value")
    for key in same:
        shared.add_row(cell(key), cell(shown(study.runs[0], key)))
    differ = [k for k in keys if k not in same]
    if not differ:
        return to_html(shared)
    apart = Table(title="Settings that differ between runs")
    apart.add_column("run")
    for key in differ:
        apart.add_column(key)
    for run in study.runs:
        apart.add_row(cell(run), *(cell(shown(run, key)) for key in differ))
    return to_html(shared) + to_html(apart)


def recipe_html(recipe: dict) -> str:
    """The recipe's TOML as it was run (recipe.json keeps it), with its overrides; nothing outside the study
    folder is read."""
    parts = []
    if recipe.get("overrides"):
        parts.append(f"<p>overrides: <code>{page_text(' '.join(map(str, recipe['overrides'])))}</code></p>")
    text, source = recipe.get("text"), recipe.get("source")
    if source:          # named, never read: the page is shared, and recipe.json could name any file
        parts.append(f"<p>from {page_text(str(source))}</p>")
    parts.append(f"<pre>{page_text(str(text))}</pre>" if text else "<p>the recipe's text is not available</p>")
    return "".join(parts)


def versions_table() -> Table:
    """What wrote this page (each run's own versions are in the runs table)."""
    table = Table(title="This page was written with")
    for name in ("ablate", "torch", "python", "platform"):
        table.add_column(name)
    table.add_row(*map(cell, (ablate.__version__, torch.__version__, platform.python_version(), platform.platform())))
    return table
