"""The engine's report layouts: Figures 1, 3, 4 and 5, Table 1, and the generic one.

Each reads a :class:`StudyResults` the way the paper reads it, prints its tables with the
best and worst value of each column marked, and writes its figure as
``<layout>.<fmt>``. They are registered by the built-in plugin ``reports``
(``plugins/reports.py``), exactly as a plugin registers its own; layouts that
belong to one plugin live with it (Table 2 and Figure 7 in ``kernel_smoothing``).
Every layout tolerates partial results: runs still pending, failed, or probed at
fewer radii than the others.
"""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ablate.core.schema import EXAMPLES
from ablate.report import plots
from ablate.report.attack_table import attack_frame, print_attack_table
from ablate.report.labels import Labels
from ablate.report.probe_sections import print_probes
from ablate.report.results import StudyResults, probe_reports
from ablate.report.tables import (
    Column,
    example_caption,
    figure3_columns,
    figure5_columns,
    print_figure,
    print_image,
    probed_radii,
    summary_frame,
)
from ablate.report.uncertainty import print_summary


def train_examples(study: StudyResults, labels: Labels | None) -> dict[str, dict]:
    """The ``train on`` column of a summary table: what each run's training accuracy is measured on, where a
    plugin changed its training batches (``adversarial examples``); no column when none did."""
    if labels is None:
        return {}
    texts = {run: labels.train_examples_of(study.plugins(run)) for run in study.runs}
    return {"train on": texts} if any(texts.values()) else {}


def curves_layout(study: StudyResults, console: Console, formats, name: str, title: str, probe_split: str = "test",
                  registry=None, reference: Sequence[str] = (), labels: Labels | None = None) -> None:
    """A summary table per run and a panel of curves per run (Figures 3, 4 and 5), then the other probes'
    tables and figures (with the ``registry`` that registered them). With several seeds, the table shows
    confidence intervals and an effect table follows, against the first of ``reference`` the study has
    (else its first run). Runs whose training batches a plugin changed (mix-up, PGD) have their training
    accuracy labelled, as their plugins name it (``labels``)."""
    columns = figure3_columns(study.results) if probe_split == "train" else figure5_columns(study.results)
    frame = summary_frame(study.results, study.runs, columns)
    extra = train_examples(study, labels)
    legend = "gap = train - test, smaller is better" + (
        "; train on: what the train accuracy is measured on, where not the training images" if extra else "")
    print_summary(study, console, frame, title, legend, reference, extra=extra)
    study.print_problems(console)
    train_labels = {run: labels.train_label(study.plugins(run)) for run in study.runs} if labels else None
    print_figure(console, plots.curves_figure(study.results, study.runs, probe_split, train_labels),
                 study.out_dir, name, formats)
    if registry is not None:
        print_probes(study, console, formats, registry.registry("probes"), reference)


def figure5_layout(study: StudyResults, console: Console, formats, registry=None, labels: Labels | None = None) -> None:
    """Figure 5: train, test, and test LFC/HFC accuracy at each radius, per heuristic."""
    curves_layout(study, console, formats, "figure5", "Figure 5: final accuracy per run, test LFC / HFC at each radius",
                  registry=registry, reference=["vanilla"], labels=labels)


def figure4_layout(study: StudyResults, console: Console, formats, registry=None, labels: Labels | None = None) -> None:
    """Figure 4: Figure 5's table and curves, one run per batch size."""
    curves_layout(study, console, formats, "figure4",
                  "Figure 4: final accuracy per batch size, test LFC / HFC at each radius", registry=registry,
                  reference=["batch-size100"], labels=labels)


def figure3_layout(study: StudyResults, console: Console, formats, registry=None, labels: Labels | None = None) -> None:
    """Figure 3: true vs shuffled labels, accuracy on the LFC of the training set."""
    curves_layout(study, console, formats, "figure3",
                  "Figure 3: final accuracy per run, LFC of the TRAINING set at each radius", probe_split="train",
                  registry=registry, reference=["true-labels"], labels=labels)


def generic_layout(study: StudyResults, console: Console, formats, labels: Labels, registry=None) -> None:
    """Figure 5's table and curves, plus whatever else the results hold (other probes, attacks, train-set probe)."""
    curves_layout(study, console, formats, "generic", "Final accuracy per run", registry=registry, labels=labels)
    if probed_radii(study.results, "train", ("low",)):
        frame = summary_frame(study.results, study.runs, figure3_columns(study.results)[2:], gap=False)
        print_summary(study, console, frame, "Accuracy on the LFC of the training set", reference=None)
    attacks = attack_frame(study.results, labels)
    if not attacks.empty:
        print_attack_table(study, console, attacks, labels, reference=())


def table1_layout(study: StudyResults, console: Console, formats, labels: Labels) -> None:
    """Table 1: models trained on the LFC or HFC at radius r; train accuracy, original test accuracy.

    What each run was trained on is the ``trained_on`` description (a plugin class method) of
    its plugins (frequency_filter's ``LFC r4``), ``original`` for a run with none.
    """
    frame = summary_frame(study.results, study.runs,
                          [Column("train", "train", "original"), Column("test", "test", "original")], gap=False)
    extra = {"trained on": {run: labels.training(study.plugins(run)) for run in study.runs}}
    extra |= train_examples(study, labels)
    print_summary(study, console, frame, "Table 1: trained on LFC / HFC, tested on the original test set",
                  extra=extra, reference=None)
    study.print_problems(console)
    train_labels = {run: labels.train_label(study.plugins(run)) for run in study.runs}
    print_figure(console, plots.curves_figure(study.results, study.runs, train_labels=train_labels), study.out_dir,
                 "table1", formats)


def figure1_layout(study: StudyResults, console: Console, formats) -> None:
    """Figures 1 and 2: per radius, how many test images are right on LFC only, HFC only, both, neither."""
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
        examples = study.run_file(run, EXAMPLES)
        if examples and examples.exists():
            print_image(console, examples, example_caption(run))
    if not reports:
        console.print("[yellow]no probe_report.csv yet[/]: runs with probe_report = true write one after training")
    study.print_problems(console)
    print_figure(console, plots.probe_figure(reports), study.out_dir, "figure1", formats)
