"""Reading a recipe's output folder: its tidy results, its plan, and what each run left on disk.

A recipe's output directory holds ``results.csv`` (one tidy row per number, the
columns of :mod:`ablate.core.schema`) and ``recipe.json`` (its runs, their folders and
status). A :class:`StudyResults` is both, read once, with the questions every layout
asks: which runs, in which order, how far each got, where its folder is.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape

from ablate.core.errors import AblateError
from ablate.core.schema import (
    CHECKPOINT,
    CONFIG,
    PLAN,
    PROBE_REPORT,
    RESULT_COLUMNS,
    RESULTS,
    SEED,
    file_in,
    folder_under,
)
from ablate.study.seeds import base_run
from ablate.train.checkpoint import load_checkpoint

APART = "(not pooled)"      # the label's mark of a seed not finished, shown apart from its run's finished seeds


def tidy(results: pd.DataFrame) -> pd.DataFrame:
    """The results with every expected column present, blanks as NaN and numbers as floats."""
    frame = results.copy()
    for column in RESULT_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    for column in ("run", "split", "component", "metric", "attack", "variant"):
        frame[column] = frame[column].replace("", np.nan)
    for column in ("epoch", "radius", "value", "eps", SEED):
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.dropna(subset=["run", "value"])
    frame["run"] = frame["run"].astype(str)
    return frame.reset_index(drop=True)


def read_recipe(out_dir: Path) -> dict:
    """``recipe.json`` of an output directory, or ``{}`` when there is none yet."""
    path = file_in(out_dir, PLAN)
    if not path.exists():
        return {}
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AblateError(f"{path}: unreadable ({type(exc).__name__}); run the recipe again to rewrite it") from None
    if not isinstance(plan, dict):
        raise AblateError(f"{path}: not a recipe plan (a {type(plan).__name__}); run the recipe again to rewrite it")
    runs = plan.get("runs", [])
    if not isinstance(runs, list) or not all(isinstance(run, dict) and isinstance(run.get("name", ""), str)
                                             and isinstance(run.get("settings", {}), dict) for run in runs):
        raise AblateError(f"{path}: damaged: its runs are not tables of a name and settings; run the recipe again "
                          f"with the same --out to rewrite it")
    return plan


def load_results(out_dir: Path, console: Console | None = None) -> tuple[dict, pd.DataFrame]:
    """``(recipe.json, results)`` of a recipe's output directory; AblateError when there are none or they are
    not a table. Rows or columns missing from the table are warned about on ``console``, when given."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise AblateError(f"no such results directory: {out_dir}; give the output directory of a recipe "
                          f"(`ablate recipe NAME` writes one)")
    recipe = read_recipe(out_dir)
    path = file_in(out_dir, RESULTS)
    if not path.exists():
        name = recipe.get("recipe", "NAME")
        raise AblateError(f"no results.csv in {out_dir}: run `ablate recipe {name}` first")
    try:
        results = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        results = pd.DataFrame(columns=RESULT_COLUMNS)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise AblateError(f"{path}: not a results table ({type(exc).__name__}); run the recipe again with the "
                          f"same --out to rewrite it from the runs' metrics") from None
    tidied = tidy(results)
    if console is not None:
        for problem in results_problems(results, tidied):
            console.print(f"[yellow]warning[/]: {escape(str(path))}: {escape(problem)}; run the recipe again with "
                          f"the same --out to rewrite it", highlight=False)
    return recipe, tidied


def results_problems(raw: pd.DataFrame, tidied: pd.DataFrame) -> list[str]:
    """What is wrong with a results.csv that still parsed: columns it lacks, rows cut short."""
    missing = [c for c in ("run", "metric", "value") if c not in raw.columns]
    if missing:
        return [f"no {', '.join(missing)} column (found {', '.join(map(str, raw.columns[:6])) or 'none'}); "
                f"not ablate's results"]
    dropped = len(raw) - len(tidied)
    return [f"{dropped} of {len(raw)} rows are incomplete (a truncated file?) and are left out"] if dropped else []


@dataclass
class StudyResults:
    """What a layout needs besides the numbers: run order, status, directories."""

    results: pd.DataFrame
    out_dir: Path
    recipe: dict

    def __post_init__(self) -> None:
        self.results = with_seeds(self.results, self)

    @classmethod
    def of(cls, results: pd.DataFrame, out_dir: Path) -> "StudyResults":
        return cls(tidy(results), Path(out_dir), read_recipe(out_dir))

    def seed(self, run: str) -> float:
        """The run's seed: recipe.json's settings, else its config.json, else NaN (not known)."""
        seed = (self.info(run).get("settings") or {}).get("seed")
        config = self.run_file(run, CONFIG) if seed is None else None
        if config and config.exists():
            try:
                seed = (json.loads(config.read_text()).get("settings") or {}).get("seed")
            except (OSError, ValueError, AttributeError):
                seed = None
        return float(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else np.nan

    @property
    def runs(self) -> list[str]:
        """The recipe's runs in its order, then any run found only in the results."""
        listed = [r["name"] for r in self.recipe.get("runs", []) if "name" in r]
        return list(dict.fromkeys(listed + list(self.results["run"].unique())))

    def seeds(self) -> dict[str, float]:
        """``{run: seed}`` of every run (NaN where no seed is known)."""
        found = self.results.dropna(subset=[SEED]).groupby("run")[SEED].first().to_dict()
        return {run: found[run] if run in found else self.seed(run) for run in self.runs}

    def base_runs(self) -> dict[str, str]:
        """``{run: its name without the seed's -sN}``: the runs that differ only by seed share a base run."""
        return {run: base_run(run, seed) for run, seed in self.seeds().items()}

    def info(self, run: str) -> dict:
        return next((r for r in self.recipe.get("runs", []) if r.get("name") == run), {})

    def plugins(self, run: str) -> dict[str, dict]:
        """``{plugin: parameters}`` of a run, as recipe.json recorded them."""
        return {name: params for name, params in (self.info(run).get("plugins") or {}).items()
                if isinstance(params, dict)}

    def status(self, run: str) -> str:
        return self.info(run).get("status") or ("finished" if (self.results["run"] == run).any() else "unknown")

    def seed_groups(self) -> dict[str, str]:
        """``{run: the row its numbers go to}``: its base run, whose finished seeds pool into one row; a seed
        not finished (its latest epoch is no final one) is a row of its own, ``RUN (not pooled)``."""
        base = self.base_runs()
        sizes = Counter(base.values())
        return {run: group if sizes[group] == 1 or self.status(run) == "finished" else f"{run} {APART}"
                for run, group in base.items()}

    def group_statuses(self) -> dict[str, str]:
        """``{row: status}`` of each row of :meth:`seed_groups` (a row of several seeds is a finished one)."""
        return {row: self.status(run) for run, row in self.seed_groups().items()}

    def run_dir(self, run: str) -> Path | None:
        """The run's directory (``dir`` in recipe.json is relative to the output directory); AblateError when it
        leads outside it (a crafted recipe.json must not make a report read, or publish, other files)."""
        relative = self.info(run).get("dir")
        if not relative:
            return None
        folder = folder_under(self.out_dir, str(relative))
        return folder if folder.is_dir() else None

    def run_file(self, run: str, name: str) -> Path | None:
        """A file of the run's directory (None when it has none); AblateError when it leads outside it (a link
        to a file elsewhere, whose contents a report would show: :func:`ablate.core.schema.file_in`)."""
        folder = self.run_dir(run)
        return file_in(folder, name) if folder else None

    def print_problems(self, console: Console) -> None:
        """One line per run that failed, and the runs not finished yet."""
        if self.results.empty:
            console.print("[yellow]no results yet[/]: runs write them after each epoch")
        for run in self.runs:
            info = self.info(run)
            if info.get("status") == "failed":
                console.print(f"[red]{escape(run)} failed[/]: {escape(info.get('error') or 'no error recorded')}")
        waiting = [r for r in self.runs if self.status(r) in ("pending", "running", "partial")]
        if waiting:
            console.print(f"[yellow]not finished yet[/]: {escape(', '.join(waiting))} (the numbers shown are partial)")


def with_seeds(results: pd.DataFrame, study: StudyResults) -> pd.DataFrame:
    """The results with every row's seed: rows of a results.csv written before the seed column take their run's."""
    if SEED in results and not results[SEED].isna().any():
        return results
    frame = results.copy()
    known = frame[SEED] if SEED in frame else pd.Series(np.nan, index=frame.index)
    frame[SEED] = known.fillna(frame["run"].map({run: study.seed(run) for run in frame["run"].unique()}))
    return frame


def first_conv_weight(state_dict: dict):
    """The first 4-D weight in state-dict order: the first convolution of the network."""
    return next((v for k, v in state_dict.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 4), None)


def first_layer_kernels(study: StudyResults, console: Console | None = None) -> dict[str, object]:
    """``{run: first conv weight}`` for every run with a readable checkpoint (others are noted and skipped)."""
    found = {}
    for run in study.runs:
        path = study.run_file(run, CHECKPOINT)
        try:
            checkpoint = load_checkpoint(path) if path else None
        except AblateError as exc:
            if console is not None:
                console.print(f"[yellow]kernels of {escape(run)} not shown[/]: {escape(str(exc))}")
            continue
        weight = first_conv_weight((checkpoint or {}).get("model") or {})
        if weight is not None:
            found[run] = weight
    return found


def probe_reports(study: StudyResults) -> dict[str, pd.DataFrame]:
    """``{run: probe_report.csv}`` for every run that wrote one."""
    found = {}
    for run in study.runs:
        path = study.run_file(run, PROBE_REPORT)
        if path and path.exists():
            found[run] = pd.read_csv(path)
    return found
