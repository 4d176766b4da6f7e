"""Report layouts: the study's tables on the console and its figures on disk.

A recipe's output directory holds ``results.csv`` (one tidy row per number:
``run, epoch, split, component, radius, metric, value, attack, eps, variant``)
and ``recipe.json`` (its runs, their directories and status). A layout reads the
results the way the paper reads them (Figure 5's accuracies per heuristic, Table
2's attacks per model and smoothing...), prints them with the best and worst
value of each column marked, and writes its figure as ``<layout>.<fmt>``.
Layouts are registered through ``ablate_register_reports`` like a plugin's, so a
plugin can add its own; :func:`print_report` and :func:`compare` are what the
``ablate report`` command calls. Every layout tolerates partial results: runs
still pending, failed, or probed at fewer radii than the others.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ablate import plots
from ablate.errors import AblateError
from ablate.hookspecs import hookimpl
from ablate.schema import CHECKPOINT, EXAMPLES, PLAN, PROBE_REPORT, RESULT_COLUMNS, RESULTS

BEST, WORST = "bold green", "red"
LEGEND = f"[{BEST}]best[/] and [{WORST}]worst[/] of each column marked; accuracy in %"


# --------------------------------------------------------------------------
# Reading a recipe's output
# --------------------------------------------------------------------------

def tidy(results: pd.DataFrame) -> pd.DataFrame:
    """The results with every expected column present, blanks as NaN and numbers as floats."""
    frame = results.copy()
    for column in RESULT_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    for column in ("run", "split", "component", "metric", "attack", "variant"):
        frame[column] = frame[column].replace("", np.nan)
    for column in ("epoch", "radius", "value", "eps"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.dropna(subset=["run", "value"])
    frame["run"] = frame["run"].astype(str)
    return frame.reset_index(drop=True)


def read_recipe(out_dir: Path) -> dict:
    """``recipe.json`` of an output directory, or ``{}`` when there is none yet."""
    path = Path(out_dir) / PLAN
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AblateError(f"{path}: unreadable ({type(exc).__name__}); run the recipe again to rewrite it") from None


def load_results(out_dir: Path) -> tuple[dict, pd.DataFrame]:
    """``(recipe.json, results)`` of a recipe's output directory; AblateError when there are none."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise AblateError(f"no such results directory: {out_dir}; give the output directory of a recipe "
                          f"(`ablate recipe NAME` writes one)")
    recipe = read_recipe(out_dir)
    path = out_dir / RESULTS
    if not path.exists():
        name = recipe.get("recipe", "NAME")
        raise AblateError(f"no results.csv in {out_dir}: run `ablate recipe {name}` first")
    try:
        results = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        results = pd.DataFrame(columns=RESULT_COLUMNS)
    return recipe, tidy(results)


@dataclass
class Study:
    """What a layout needs besides the numbers: run order, status, directories."""

    results: pd.DataFrame
    out_dir: Path
    recipe: dict

    @classmethod
    def of(cls, results: pd.DataFrame, out_dir: Path) -> "Study":
        return cls(tidy(results), Path(out_dir), read_recipe(out_dir))

    @property
    def runs(self) -> list[str]:
        """The recipe's runs in its order, then any run found only in the results."""
        listed = [r["name"] for r in self.recipe.get("runs", []) if "name" in r]
        return list(dict.fromkeys(listed + list(self.results["run"].unique())))

    def info(self, run: str) -> dict:
        return next((r for r in self.recipe.get("runs", []) if r.get("name") == run), {})

    def status(self, run: str) -> str:
        return self.info(run).get("status") or ("finished" if (self.results["run"] == run).any() else "unknown")

    def run_dir(self, run: str) -> Path | None:
        """The run's directory (``dir`` in recipe.json is relative to the output directory)."""
        relative = self.info(run).get("dir")
        if not relative:
            return None
        for base in (self.out_dir, self.out_dir.parent):
            if (base / relative).is_dir():
                return base / relative
        return None

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


# --------------------------------------------------------------------------
# Summaries: one row per run, the numbers of its last epoch
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One column of a summary: the accuracy of one split and component at one radius."""

    label: str
    split: str
    component: str
    radius: float | None = None


def radius_label(radius: float) -> str:
    return f"r{radius:g}"


def radius_key(radius) -> float | None:
    return None if radius is None or (isinstance(radius, float) and math.isnan(radius)) else round(float(radius), 6)


def latest_accuracies(results: pd.DataFrame) -> dict[tuple, float]:
    """``{(run, split, component, radius): accuracy}`` at the last epoch that measured it.

    The last epoch is taken per key, so a probe run every few epochs, or a run
    still training, shows its most recent numbers.
    """
    rows = results[results["attack"].isna() & (results["metric"] == "accuracy")]
    rows = rows.sort_values("epoch", kind="stable")
    return {(r.run, r.split, r.component, radius_key(r.radius)): r.value for r in rows.itertuples()}


def probed_radii(results: pd.DataFrame, split: str, components: Sequence[str] = ("low", "high")) -> list[float]:
    rows = results[(results["split"] == split) & results["component"].isin(components) & results["attack"].isna()]
    return sorted(rows["radius"].dropna().unique())


def figure5_columns(results: pd.DataFrame) -> list[Column]:
    """Train and test accuracy, then test LFC and HFC accuracy at every probed radius."""
    radii = probed_radii(results, "test")
    return ([Column("train", "train", "original"), Column("test", "test", "original")]
            + [Column(f"LFC {radius_label(r)}", "test", "low", r) for r in radii]
            + [Column(f"HFC {radius_label(r)}", "test", "high", r) for r in radii])


def figure3_columns(results: pd.DataFrame) -> list[Column]:
    """Train and test accuracy, then accuracy on the LFC of the TRAINING set at every radius."""
    radii = probed_radii(results, "train", ("low",))
    return ([Column("train", "train", "original"), Column("test", "test", "original")]
            + [Column(f"train LFC {radius_label(r)}", "train", "low", r) for r in radii])


def summary_frame(results: pd.DataFrame, runs: Sequence[str], columns: Sequence[Column],
                  gap: bool = True) -> pd.DataFrame:
    """Accuracies (fractions) indexed by run; NaN where a run has no such number.

    With ``gap``, a ``gap`` column (train - test) follows ``test``.
    """
    latest = latest_accuracies(results)
    frame = pd.DataFrame(
        {c.label: [latest.get((run, c.split, c.component, radius_key(c.radius)), np.nan) for run in runs]
         for c in columns},
        index=pd.Index(list(runs), name="run"), dtype=float)
    if gap and {"train", "test"} <= set(frame.columns):
        frame.insert(list(frame.columns).index("test") + 1, "gap", frame["train"] - frame["test"])
    return frame


def attack_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The final evaluation's accuracies: one row per run, variant, attack and eps (the latest)."""
    rows = results[results["attack"].notna() & (results["metric"] == "accuracy")].copy()
    rows["variant"] = rows["variant"].fillna("final")
    rows.loc[rows["attack"] == "none", "eps"] = np.nan
    rows = rows.sort_values("epoch", kind="stable")
    rows = rows.groupby(["run", "variant", "attack", "eps"], sort=False, dropna=False).tail(1)
    runs = list(dict.fromkeys(results["run"]))
    attacks = attack_order(rows["attack"])
    order = rows.apply(lambda r: (runs.index(r["run"]), variant_order(r["variant"]), attacks.index(r["attack"]),
                                  0.0 if math.isnan(r["eps"]) else r["eps"]), axis=1) if len(rows) else []
    return rows.assign(order=order).sort_values("order")[["run", "variant", "attack", "eps", "value"]]


def attack_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Table 2: accuracy indexed by (run, variant); columns clean, then each attack at each eps."""
    rows = attack_rows(results)
    labels = rows.apply(lambda r: "clean" if r["attack"] == "none" else f"{r['attack'].upper()} {r['eps']:g}",
                        axis=1) if len(rows) else pd.Series(dtype=str)
    index = pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(rows["run"], rows["variant"]))), names=["run", "variant"])
    frame = pd.DataFrame(np.nan, index=index, columns=list(dict.fromkeys(labels)))
    for (run, variant, value), label in zip(rows[["run", "variant", "value"]].itertuples(index=False), labels):
        frame.loc[(run, variant), label] = value
    return frame


def attack_order(attacks: pd.Series) -> list[str]:
    """``none`` (clean) first, then FGSM, PGD, then any other attack by name."""
    known = ["none", "fgsm", "pgd"]
    found = list(dict.fromkeys(attacks))
    return [a for a in known if a in found] + sorted(a for a in found if a not in known)


def smoothing_rho(variant: str) -> float | None:
    """The rho of a kernel-smoothing variant name such as ``smooth1.0``; None for others."""
    match = re.fullmatch(r"smooth(?:ing)?[-_=]?(\d+(?:\.\d*)?|\.\d+)", str(variant))
    return float(match.group(1)) if match else None


def variant_order(variant: str) -> tuple:
    rho = smoothing_rho(variant)
    return (0, 0.0, "") if variant == "final" else (1, rho, "") if rho is not None else (2, 0.0, str(variant))


def variant_label(variant: str, short: bool = False) -> str:
    """``final`` -> ``no smoothing`` (short: ``none``); ``smooth1.0`` -> ``smoothing ρ=1`` (``ρ=1``)."""
    rho = smoothing_rho(variant)
    if variant == "final":
        return "none" if short else "no smoothing"
    if rho is not None:
        return f"ρ={rho:g}" if short else f"smoothing ρ={rho:g}"
    return str(variant)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def extremes(frame: pd.DataFrame, lower_is_better: Sequence[str] = ("gap",)) -> dict[tuple, str]:
    """``{(row, column): "best" | "worst"}`` for each column with at least two different values.

    Higher is better except in ``lower_is_better`` columns (the generalisation
    gap); ties are all marked.
    """
    marks = {}
    for column in frame.columns:
        values = frame[column].dropna()
        if values.nunique() < 2:
            continue
        high, low = values.max(), values.min()
        best, worst = (low, high) if column in lower_is_better else (high, low)
        for row, value in values.items():
            if value == best:
                marks[(row, column)] = "best"
            elif value == worst:
                marks[(row, column)] = "worst"
    return marks


def percent(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "[dim]–[/]"
    shown = round(100 * value, 1) + 0.0          # + 0.0 turns -0.0 into 0.0
    return f"{shown:+.1f}" if signed else f"{shown:.1f}"


def summary_table(frame: pd.DataFrame, title: str, marks: dict[tuple, str] | None = None,
                  study: Study | None = None, row_labels: dict[str, dict] | None = None,
                  extra: dict[str, dict] | None = None, width: int | None = None) -> Group:
    """Rich tables of a summary frame: index columns first, then one column per accuracy.

    ``marks`` colours the best and worst cells; with ``study``, a ``status``
    column appears when a run is not finished; ``row_labels`` renames index
    values per index level; ``extra`` adds text columns ``{name: {row: text}}``
    after the index. Where the table is wider than ``width`` (the console's),
    the accuracy columns go into several tables that repeat the row labels,
    so that no column is cut off or squeezed into ellipses.
    """
    marks = extremes(frame) if marks is None else marks
    names = [n or "run" for n in frame.index.names]
    # Each cell is (markup, width on screen).
    labels = {name: [(row_labels or {}).get(name, {}).get(key, str(key)) for key in frame.index.get_level_values(i)]
              for i, name in enumerate(names)}
    labels.update({name: [texts.get(row, "") for row in frame.index] for name, texts in (extra or {}).items()})
    left = {name: [(escape(text), len(text)) for text in texts] for name, texts in labels.items()}
    statuses = [study.status(row if isinstance(row, str) else row[0]) for row in frame.index] if study else []
    if any(status != "finished" for status in statuses):
        colours = {"finished": "green", "failed": "red"}
        left["status"] = [(f"[{colours.get(s, 'yellow')}]{s}[/]", len(s)) for s in statuses]
    right = {}
    for column in frame.columns:
        cells = []
        for row, value in frame[column].items():
            text, mark = percent(value, signed=column == "gap"), marks.get((row, column))
            cells.append((f"[{BEST if mark == 'best' else WORST}]{text}[/]" if mark else text, len(Text.from_markup(text))))
        right[str(column)] = cells

    def needed(name, cells):        # the column's text, its padding and one border
        return max([len(name), *(w for _, w in cells)]) + 3

    fixed = 1 + sum(needed(n, c) for n, c in left.items())

    def fits(chunk):
        return not width or len(chunk) < 2 or fixed + sum(needed(n, right[n]) for n in chunk) <= width

    chunks, current = [], []
    for name in right:                                   # greedy: as few tables as will fit...
        if not fits(current + [name]):
            chunks.append(current)
            current = []
        current.append(name)
    chunks.append(current)
    size = math.ceil(len(right) / len(chunks))           # ...then the columns shared out evenly
    even = [list(right)[i:i + size] for i in range(0, len(right), size)] or [[]]
    if len(even) == len(chunks) and all(map(fits, even)):
        chunks = even
    parts = []
    for number, chunk in enumerate(chunks):
        parts.append(Text(title if number == 0 else f"{title} (continued)", style="italic"))
        table = Table()
        for name in left:
            table.add_column(name, no_wrap=True)
        for name in chunk:
            table.add_column(name, justify="right")
        for i in range(len(frame)):
            table.add_row(*(cells[i][0] for cells in left.values()), *(right[name][i][0] for name in chunk))
        parts.append(table)
    return Group(*parts)


def print_figure(console: Console, fig, out_dir: Path, name: str, formats: Sequence[str]) -> None:
    for path in plots.save(fig, out_dir, name, formats):
        console.print(f"wrote {escape(str(path))}")


# --------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------

def curves_layout(results, out_dir, console, formats, name: str, title: str, probe_split: str = "test"):
    """A summary table per run and a panel of curves per run (Figures 3, 4 and 5)."""
    study = Study.of(results, out_dir)
    columns = figure3_columns(study.results) if probe_split == "train" else figure5_columns(study.results)
    frame = summary_frame(study.results, study.runs, columns)
    console.print(summary_table(frame, title, study=study, width=console.width))
    console.print(LEGEND + "; gap = train - test, smaller is better")
    study.print_problems(console)
    print_figure(console, plots.curves_figure(study.results, study.runs, probe_split), out_dir, name, formats)
    return study


def figure5_layout(results, out_dir, console, formats):
    """Figure 5: train, test, and test LFC/HFC accuracy at each radius, per heuristic."""
    curves_layout(results, out_dir, console, formats, "figure5",
                  "Figure 5: final accuracy per run, test LFC / HFC at each radius")


def figure4_layout(results, out_dir, console, formats):
    """Figure 4: Figure 5's table and curves, one run per batch size."""
    curves_layout(results, out_dir, console, formats, "figure4",
                  "Figure 4: final accuracy per batch size, test LFC / HFC at each radius")


def figure3_layout(results, out_dir, console, formats):
    """Figure 3: true vs shuffled labels, accuracy on the LFC of the training set."""
    curves_layout(results, out_dir, console, formats, "figure3",
                  "Figure 3: final accuracy per run, LFC of the TRAINING set at each radius", probe_split="train")


def generic_layout(results, out_dir, console, formats):
    """Figure 5's table and curves, plus whatever else the results hold (attacks, train-set probe)."""
    study = curves_layout(results, out_dir, console, formats, "generic", "Final accuracy per run")
    if probed_radii(study.results, "train", ("low",)):
        frame = summary_frame(study.results, study.runs, figure3_columns(study.results)[2:], gap=False)
        console.print(summary_table(frame, "Accuracy on the LFC of the training set", width=console.width))
    attacks = attack_frame(study.results)
    if not attacks.empty:
        console.print(adversarial_table(attacks, console.width))


def trained_on(info: dict, run: str) -> str:
    """What a Table 1 run was trained on (``LFC r4``), from its plugin parameters or its name."""
    names = {"low": "LFC", "lfc": "LFC", "high": "HFC", "hfc": "HFC"}
    for params in (info.get("plugins") or {}).values():
        if not isinstance(params, dict):
            continue
        component = next((names[str(v).lower()] for v in params.values() if str(v).lower() in names), None)
        radius = next((params[k] for k in ("radius", "r") if k in params), None)
        if component:
            return component + (f" {radius_label(float(radius))}" if radius is not None else "")
    component = re.search(r"(?<![a-z])(lfc|hfc|low|high)", run.lower())
    radius = re.search(r"(?:radius|r)(\d+(?:\.\d+)?)(?![\d.])", run.lower())
    if component:
        return names[component.group(1)] + (f" r{float(radius.group(1)):g}" if radius else "")
    return "original"


def table1_layout(results, out_dir, console, formats):
    """Table 1: models trained on the LFC or HFC at radius r; train accuracy, original test accuracy."""
    study = Study.of(results, out_dir)
    frame = summary_frame(study.results, study.runs,
                          [Column("train", "train", "original"), Column("test", "test", "original")], gap=False)
    extra = {"trained on": {run: trained_on(study.info(run), run) for run in study.runs}}
    console.print(summary_table(frame, "Table 1: trained on LFC / HFC, tested on the original test set",
                                study=study, extra=extra, width=console.width))
    console.print(LEGEND)
    study.print_problems(console)
    print_figure(console, plots.curves_figure(study.results, study.runs), out_dir, "table1", formats)


def adversarial_table(frame: pd.DataFrame, width: int | None = None) -> Group:
    variants = frame.index.get_level_values("variant")
    level = "smoothing" if all(v == "final" or smoothing_rho(v) is not None for v in variants) else "variant"
    frame = frame.rename_axis(["run", level])
    labels = {level: {v: variant_label(v, short=True) for v in variants}}
    return summary_table(frame, "Table 2: accuracy under attack (eps on pixels in [0, 1])", row_labels=labels, width=width)


def first_conv_weight(state_dict: dict):
    """The first 4-D weight in state-dict order: the first convolution of the network."""
    return next((v for k, v in state_dict.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 4), None)


def first_layer_kernels(study: Study, console: Console | None = None) -> dict[str, object]:
    """``{run: first conv weight}`` for every run with a readable checkpoint (others are noted and skipped)."""
    from ablate.checkpoint import load_checkpoint

    found = {}
    for run in study.runs:
        run_dir = study.run_dir(run)
        try:
            checkpoint = load_checkpoint(run_dir / CHECKPOINT) if run_dir else None
        except AblateError as exc:
            if console is not None:
                console.print(f"[yellow]kernels of {escape(run)} not shown[/]: {escape(str(exc))}")
            continue
        weight = first_conv_weight((checkpoint or {}).get("model") or {})
        if weight is not None:
            found[run] = weight
    return found


def adversarial_layout(results, out_dir, console, formats):
    """Table 2 (accuracy under FGSM/PGD per model and smoothing) and Figure 7 (first-layer kernels)."""
    study = Study.of(results, out_dir)
    frame = attack_frame(study.results)
    if frame.empty:
        console.print("[yellow]no attack results yet[/]: the final evaluation writes them after the last epoch")
    else:
        console.print(adversarial_table(frame, console.width))
        console.print(LEGEND)
    study.print_problems(console)
    table = attack_rows(study.results)
    table["variant"] = table["variant"].map(variant_label)
    print_figure(console, plots.attack_figure(table), out_dir, "adversarial", formats)
    from ablate.kernels import smooth_kernels

    # Figure 7 shows the largest rho evaluated (the paper's headline 1.0 when none was).
    rhos = [r for r in map(smoothing_rho, frame.index.get_level_values("variant")) if r is not None]
    rho = max(rhos, default=1.0)
    kernels = first_layer_kernels(study, console)
    print_figure(console, plots.kernels_figure(kernels, smooth_kernels, rho), out_dir, "adversarial-kernels", formats)


def probe_reports(study: Study) -> dict[str, pd.DataFrame]:
    """``{run: probe_report.csv}`` for every run that wrote one."""
    found = {}
    for run in study.runs:
        run_dir = study.run_dir(run)
        if run_dir and (run_dir / PROBE_REPORT).exists():
            found[run] = pd.read_csv(run_dir / PROBE_REPORT)
    return found


def figure1_layout(results, out_dir, console, formats):
    """Figures 1 and 2: per radius, how many test images are right on LFC only, HFC only, both, neither."""
    study = Study.of(results, out_dir)
    reports = probe_reports(study)
    for run, report in reports.items():
        console.print(Text(f"Figure 1: {run}, test images predicted correctly", style="italic"))
        table = Table()
        table.add_column("radius", justify="right")
        shown = [c for c in plots.PROBE_COLUMNS if c in report]
        for column in shown:
            table.add_column(plots.PROBE_COLUMNS[column], justify="right")
        for _, row in report.sort_values("radius").iterrows():
            table.add_row(f"{row['radius']:g}", *(f"{int(row[c])}" for c in shown))
        console.print(table)
        cells = [c for c in ("lfc_only", "hfc_only", "both", "neither") if c in report]
        if len(cells) == 4:
            console.print(f"of {int(report[cells].iloc[0].sum())} test images")
        examples = study.run_dir(run) / EXAMPLES
        if examples.exists():
            console.print(f"examples (HFC right, LFC wrong): {escape(str(examples))}")
    if not reports:
        console.print("[yellow]no probe_report.csv yet[/]: runs with probe_report = true write one after training")
    study.print_problems(console)
    print_figure(console, plots.probe_figure(reports), out_dir, "figure1", formats)


@hookimpl
def ablate_register_reports(register):
    register("generic", generic_layout, help="final accuracy table and curves per run, plus any attack results")
    register("figure5", figure5_layout, help="Figure 5: train/test and test LFC/HFC accuracy per heuristic")
    register("figure4", figure4_layout, help="Figure 4: Figure 5's table and curves per batch size")
    register("figure3", figure3_layout, help="Figure 3: true vs shuffled labels, LFC of the training set")
    register("table1", table1_layout, help="Table 1: trained on LFC/HFC, accuracy on the original test set")
    register("adversarial", adversarial_layout, help="Table 2 and Figure 7: attacks, smoothing, first-layer kernels")
    register("figure1", figure1_layout, help="Figures 1-2: LFC-only / HFC-only / both / neither per radius")


# --------------------------------------------------------------------------
# Entry points of `ablate report`
# --------------------------------------------------------------------------

def report_layouts() -> dict[str, tuple]:
    from ablate.plugins import get_registry

    return get_registry().registry("reports")


def print_report(out_dir: Path, console: Console, formats: Sequence[str] = ("png",),
                 layout: str | None = None) -> None:
    """Print a recipe output directory's report with its layout (or ``layout``) and write its plots."""
    out_dir = Path(out_dir)
    recipe, results = load_results(out_dir)
    name = layout or recipe.get("report") or "generic"
    layouts = report_layouts()
    if name not in layouts:
        raise AblateError(f"{out_dir}: unknown report layout {name!r}; known layouts: {', '.join(sorted(layouts))}")
    if recipe.get("description"):
        console.print(f"[bold]{escape(str(recipe.get('recipe', out_dir.name)))}[/]: {escape(recipe['description'])}"
                      + (f" (scale {recipe['scale']})" if recipe.get("scale") else ""))
    layouts[name][0](results, out_dir, console, list(formats))


def comparable_summary(results: pd.DataFrame, runs: Sequence[str]) -> pd.DataFrame:
    """Figure 5's summary, then each attack column per smoothing variant, indexed by run."""
    frame = summary_frame(results, runs, figure5_columns(results))
    attacks = attack_frame(results)
    for (run, variant), values in attacks.iterrows():
        if run not in frame.index:
            continue
        for column, value in values.items():
            frame.loc[run, f"{column}, {variant_label(variant)}"] = value
    return frame


def compare(dir_a: Path, dir_b: Path, console: Console) -> pd.DataFrame:
    """Two result sets side by side: A, B and B - A per run and number; returns that table.

    B - A is green where B is better (higher accuracy, smaller gap) and red where
    worse. Runs found on one side only are listed after the table.
    """
    _, results_a = load_results(dir_a)
    _, results_b = load_results(dir_b)
    runs_a, runs_b = list(results_a["run"].unique()), list(results_b["run"].unique())
    shared = [r for r in runs_a if r in runs_b]
    a, b = comparable_summary(results_a, shared), comparable_summary(results_b, shared)
    columns = list(dict.fromkeys(list(a.columns) + list(b.columns)))
    a, b = a.reindex(columns=columns), b.reindex(columns=columns)
    rows = [{"run": run, "metric": column, "a": a.loc[run, column], "b": b.loc[run, column],
             "diff": b.loc[run, column] - a.loc[run, column]}
            for run in shared for column in columns
            if not (np.isnan(a.loc[run, column]) and np.isnan(b.loc[run, column]))]
    diffs = pd.DataFrame(rows, columns=["run", "metric", "a", "b", "diff"])
    console.print(escape(f"A = {dir_a}\nB = {dir_b}"), highlight=False)
    table = Table()
    for name, justify in (("run", "left"), ("metric", "left"), ("A", "right"), ("B", "right"), ("B - A", "right")):
        table.add_column(name, justify=justify)
    previous = None
    for row in diffs.itertuples():
        if previous is not None and row.run != previous:
            table.add_section()
        better = -row.diff if row.metric == "gap" else row.diff
        colour = "dim" if np.isnan(row.diff) or round(100 * row.diff, 1) == 0 else "green" if better > 0 else "red"
        table.add_row(escape(row.run) if row.run != previous else "", escape(row.metric), percent(row.a), percent(row.b),
                      f"[{colour}]{percent(row.diff, signed=True)}[/]")
        previous = row.run
    console.print(table)
    console.print("accuracy in %; B - A in points, [green]green[/] where B is better, [red]red[/] where worse")
    for side, mine, other in (("A", runs_a, runs_b), ("B", runs_b, runs_a)):
        alone = [r for r in mine if r not in other]
        if alone:
            console.print(f"only in {side}: {escape(', '.join(alone))}")
    return diffs
