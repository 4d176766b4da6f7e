"""What ablate writes, named once: the results table's columns and the files of an output folder.

Every writer and reader (trainer, runner, launchers, reports, ``ablate status``)
takes its names from here, so a file or a column cannot be spelt two ways.

Results: one tidy row per number. :data:`RESULT_COLUMNS` come first, always, in
this order (a blank cell where a row has no such value). A plugin may add
columns of its own to the rows it returns (``ablate_epoch_end``,
``ablate_evaluate``) and to the labels of its probe's variants
(``ablate_register_probes``, e.g. an outer radius); they are kept, after the core columns, in the order they
first appear, and rows that lack them get a blank. A plugin's column must not
reuse a core name for another meaning.

Every row of results.csv also carries :data:`SEED`, the run's ``seed`` setting, in
the column after the core ones (added when the runs' metrics are collected; a results.csv written before it
existed takes each run's seed from recipe.json or the run's config.json when read).

Output folder ``<out>/<recipe>/``::

    recipe.json        the plan: the expanded runs, their folders and status (PLAN)
    results.csv        every run's rows in one table (RESULTS)
    claims.csv         the recipe's claims checked against them, written by the report (CLAIMS)
    jobs.json          cluster job ids per run, when a launcher submitted jobs (JOBS)
    <run>-<hash>/      one folder per run:
        config.json        resolved settings, plugins, provenance (CONFIG)
        metrics.csv        this run's rows (METRICS)
        checkpoint.pt      model, optimizer, RNG and rows after the last epoch (CHECKPOINT)
        running.json       while a process trains it (RUNNING)
        done.json | failed.json   how it ended (DONE, FAILED)
        probe_report.csv, examples.png   Figure 1/2 output, when asked for
        probes.csv, <probe>.png   what `ablate probe CHECKPOINT --probe NAME` measured and drew (PROBES)

``ablate probe MODEL [MODEL ...]`` (any models, compared) writes into ``--out``::

    probe_results.csv      tidy rows, the columns of results.csv plus ``model`` (PROBE_RESULTS)
    probe_counts.csv       LFC-only / HFC-only / both / neither per model and radius (PROBE_COUNTS)
    probe_accuracy.<fmt>   accuracy against the radius, per model and component (PROBE_ACCURACY)
    probe_counts.<fmt>     the counts against the radius, one panel per model (PROBE_COUNTS_FIGURE)
    probe_per_class.csv    accuracy per model, class, component and radius, with --per-class (PROBE_PER_CLASS)
    examples-<model>.png   per model, images whose HFC is right and LFC wrong (Figure 2; its name made safe:
                           ablate.any_model.model_comparison.example_file)
    leaderboard.csv        with --rank: models by HFC reliance, intervals, per-radius ratios (LEADERBOARD)
    measured/<key>.npz     each model's per-image results, read back when the same model is probed again on
                           the same data with the same options (MEASURED; ablate.any_model.measurements)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from ablate.core.errors import AblateError

SEED = "seed"
RESULT_COLUMNS = ["run", "epoch", "split", "component", "radius", "metric", "value", "attack", "eps", "variant"]

PLAN = "recipe.json"
CALIBRATION = "calibration.json"     # in the user's cache folder: measured seconds per step (ablate.execution.calibration)
RESULTS = "results.csv"
CLAIMS = "claims.csv"
JOBS = "jobs.json"
CONFIG = "config.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
RUNNING = "running.json"
DONE = "done.json"
FAILED = "failed.json"
EARLIER_EVALUATIONS = "earlier_evaluations.csv"    # a run's final rows an older evaluation measured (--reevaluate)
PROBE_REPORT = "probe_report.csv"
EXAMPLES = "examples.png"
PROBES = "probes.csv"
PROBE_RESULTS = "probe_results.csv"
LEADERBOARD = "leaderboard.csv"
MEASURED = "measured"
PROBE_COUNTS = "probe_counts.csv"
PROBE_ACCURACY = "probe_accuracy"              # figures: a name, written once per --format
PROBE_COUNTS_FIGURE = "probe_counts"
PROBE_PER_CLASS = "probe_per_class.csv"


def result_columns(extra: Iterable[str] = ()) -> list[str]:
    """The core columns, then every other name of ``extra`` in first-seen order."""
    return RESULT_COLUMNS + [c for c in dict.fromkeys(extra) if c not in RESULT_COLUMNS]


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Metric rows as a results table: the core columns first, plugins' own columns after them."""
    return pd.DataFrame(rows, columns=result_columns(key for row in rows for key in row))


def concat_results(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Several results tables as one, keeping the union of their columns (core ones first)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    joined = pd.concat(frames, ignore_index=True)
    return joined.reindex(columns=result_columns(joined.columns))


def folder_under(base: Path, name: str) -> Path:
    """``base / name``, refused unless it stays under ``base`` (names come from recipes, which users hand us)."""
    path = Path(base) / name
    if not resolves_under(path, base):
        raise AblateError(f"{name!r} would put files outside {base} ({path.resolve()}); use a plain name: letters, "
                          f"digits, '-', '_' or '.'")
    return path


def file_in(folder: Path, *names: str) -> Path:
    """``folder / names``, refused unless it resolves inside ``folder``: the one way to a file of a study (or of
    a run, or of a probe's --out) that ablate reads, or writes in place.

    A study folder is data someone may hand us: a file of it that is a link to a file elsewhere
    (``results.csv`` to any readable file, ``config.json`` to another's) would put that file's contents
    into a report, a page to share, or a warning. Links that stay inside the folder are fine."""
    path = Path(folder).joinpath(*names)
    if not resolves_under(path, folder):
        raise AblateError(f"{path} leads outside {folder} (to {path.resolve()}); ablate reads a study's files only "
                          f"from its own folder: replace the link with a copy of the file")
    return path


def resolves_under(path: Path, base: Path) -> bool:
    """Whether ``path``, its links and ``..`` followed, lies strictly inside ``base`` (also followed)."""
    return Path(base).resolve() in Path(path).resolve().parents
