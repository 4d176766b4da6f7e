"""The report layouts read stored results the way the study reads them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console

from ablate import AblateError, report
from ablate.core.schema import RESULT_COLUMNS
from ablate.report.layouts import figure5_layout
from ablate_plugins.frequency_filter import FrequencyFilter

EPOCHS = 3
# Final accuracies per run: (split, component, radius) -> fraction. Earlier epochs
# scale them by epoch / EPOCHS, so only the last epoch gives these numbers.
FINAL = {
    "vanilla": {("train", "original", None): 0.95, ("test", "original", None): 0.70,
                ("test", "low", 4.0): 0.30, ("test", "low", 8.0): 0.55,
                ("test", "high", 4.0): 0.20, ("test", "high", 8.0): 0.12},
    "mixup": {("train", "original", None): 0.80, ("test", "original", None): 0.72,
              ("test", "low", 4.0): 0.25, ("test", "low", 8.0): 0.60,
              ("test", "high", 4.0): 0.35, ("test", "high", 8.0): 0.18},
    "batchnorm": {("train", "original", None): 0.99, ("test", "original", None): 0.78,
                  ("test", "low", 4.0): 0.40, ("test", "low", 8.0): 0.50,
                  ("test", "high", 4.0): 0.10, ("test", "high", 8.0): 0.05},
}


def metric_rows(finals: dict, epochs: int = EPOCHS) -> list[dict]:
    """Tidy rows for each run and epoch, as the runner writes them (train rows from epoch 1)."""
    rows = []
    for run, values in finals.items():
        for epoch in range(epochs + 1):
            for (split, component, radius), final in values.items():
                if split == "train" and component == "original" and epoch == 0:
                    continue
                for metric, value in (("accuracy", final * epoch / epochs), ("loss", 2.3 - epoch * 0.1)):
                    rows.append({"run": run, "epoch": epoch, "split": split, "component": component,
                                 "radius": radius, "metric": metric, "value": value,
                                 "attack": None, "eps": None, "variant": None})
    return rows


def attack_rows(run: str, table: dict, epoch: int = EPOCHS) -> list[dict]:
    """Final evaluation rows: table = {variant: {(attack, eps): accuracy}}."""
    return [{"run": run, "epoch": epoch, "split": "test", "component": "original", "radius": None,
             "metric": "accuracy", "value": value, "attack": attack, "eps": eps, "variant": variant}
            for variant, cells in table.items() for (attack, eps), value in cells.items()]


def write_study(out_dir: Path, rows: list[dict], layout: str = "figure5", runs: list[dict] | None = None,
                checkpoints: dict[str, torch.Tensor] | None = None) -> Path:
    """A recipe output directory: results.csv, recipe.json, one folder per run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    frame.to_csv(out_dir / "results.csv", index=False)
    if runs is None:
        runs = [{"name": name, "status": "finished"} for name in dict.fromkeys(frame["run"])]
    plan = []
    for info in runs:
        directory = f"{info['name']}-0123abcd"
        (out_dir / directory).mkdir(exist_ok=True)
        weight = (checkpoints or {}).get(info["name"])
        if weight is not None:
            torch.save({"model": {"stem.weight": weight, "stem.bias": torch.zeros(weight.shape[0]),
                                  "fc.weight": torch.ones(10, weight.shape[0])}, "epoch": EPOCHS},
                       out_dir / directory / "checkpoint.pt")
        plan.append({"name": info["name"], "dir": directory, "plugins": info.get("plugins", {}), "settings": {},
                     "status": info.get("status", "finished"), "error": info.get("error")})
    (out_dir / "recipe.json").write_text(json.dumps(
        {"recipe": out_dir.name, "description": "a test study", "report": layout, "scale": "quick", "runs": plan}))
    return out_dir


def recording_console() -> Console:
    """A console that keeps what it printed (and prints nothing to the terminal)."""
    return Console(record=True, width=200, color_system="truecolor", file=io.StringIO())


def table_rows(text: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of every body row of the rich tables in ``text``."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def header(text: str, first: str = "run") -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("┃") and first in line)
    return [c.strip() for c in line.strip("┃").split("┃")]


def styled_cells(html: str, *styles: str) -> list[str]:
    """The texts that rich's HTML export shows in spans whose style contains all ``styles``."""
    return [m.group(2) for m in re.finditer(r'<span style="([^"]*)">([^<]*)</span>', html)
            if all(style in m.group(1) for style in styles)]


# --------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["figure5", "figure4", "generic"])
def test_figure5_table_has_the_final_epoch_numbers(tmp_path, layout):
    out = write_study(tmp_path / layout, metric_rows(FINAL), layout=layout)
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert header(text) == ["run", "train", "test", "gap", "LFC r4", "LFC r8", "HFC r4", "HFC r8"]
    rows = table_rows(text)
    assert rows["vanilla"] == ["95.0", "70.0▼", "+25.0▼", "30.0", "55.0", "20.0", "12.0"]     # ▲ best, ▼ worst
    assert rows["mixup"] == ["80.0▼", "72.0", "+8.0▲", "25.0▼", "60.0▲", "35.0▲", "18.0▲"]
    assert rows["batchnorm"] == ["99.0▲", "78.0▲", "+21.0", "40.0▲", "50.0▼", "10.0▼", "5.0▼"]
    assert "▲ best" in text and "▼ worst" in text
    assert (out / f"{layout}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_and_worst_are_marked_per_column(tmp_path):
    rows = metric_rows(FINAL)
    frame = report.summary_frame(report.tidy(pd.DataFrame(rows)), list(FINAL),
                                 report.figure5_columns(report.tidy(pd.DataFrame(rows))))
    marks = report.extremes(frame)
    assert marks[("batchnorm", "train")] == "best" and marks[("mixup", "train")] == "worst"
    assert marks[("mixup", "gap")] == "best" and marks[("vanilla", "gap")] == "worst"   # smaller gap is better
    assert marks[("mixup", "HFC r4")] == "best" and marks[("batchnorm", "HFC r4")] == "worst"
    assert ("vanilla", "train") not in marks                                             # the middle is unmarked

    console = recording_console()
    console.print(report.summary_table(frame, "t"))
    html = console.export_html(inline_styles=True)
    best = styled_cells(html, "color: #008000", "font-weight: bold")
    red = styled_cells(html, "color: #800000")
    assert sorted(best) == sorted(["99.0▲", "78.0▲", "+8.0▲", "40.0▲", "60.0▲", "35.0▲", "18.0▲"])
    assert sorted(red) == sorted(["80.0▼", "70.0▼", "+25.0▼", "25.0▼", "50.0▼", "10.0▼", "5.0▼"])


def test_extremes_marks_ties_and_skips_columns_without_spread():
    frame = pd.DataFrame({"a": [0.5, 0.9, 0.9], "b": [0.3, 0.3, np.nan]}, index=["x", "y", "z"])
    assert report.extremes(frame) == {("x", "a"): "worst", ("y", "a"): "best", ("z", "a"): "best"}


def test_figure3_reads_the_training_set_lfc(tmp_path):
    finals = {run: {("train", "original", None): train, ("test", "original", None): test,
                    ("train", "low", 4.0): low4, ("train", "low", 8.0): low8, ("test", "low", 4.0): 0.01}
              for run, train, test, low4, low8 in (("true-labels", 0.99, 0.7, 0.6, 0.8),
                                                   ("shuffled", 0.90, 0.1, 0.15, 0.3))}
    out = write_study(tmp_path / "figure3", metric_rows(finals), layout="figure3")
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert header(text) == ["run", "train", "test", "gap", "train LFC r4", "train LFC r8"]
    assert table_rows(text)["shuffled"] == ["90.0▼", "10.0▼", "+80.0▼", "15.0▼", "30.0▼"]
    assert (out / "figure3.png").exists()


def test_table1_names_what_each_run_was_trained_on(tmp_path):
    finals = {"lfc-radius4": {("train", "original", None): 0.9, ("test", "original", None): 0.4},
              "hfc": {("train", "original", None): 0.8, ("test", "original", None): 0.2}}
    runs = [{"name": "lfc-radius4", "plugins": {"frequency_filter": {"component": "low", "radius": 4}}},
            {"name": "hfc", "plugins": {"frequency_filter": {"component": "high", "radius": 12}}}]
    out = write_study(tmp_path / "table1", metric_rows(finals), layout="table1", runs=runs)
    console = recording_console()
    report.print_report(out, console)
    rows = table_rows(console.export_text(clear=False))
    assert rows["lfc-radius4"] == ["LFC r4", "90.0▲", "40.0▲"]
    assert rows["hfc"] == ["HFC r12", "80.0▼", "20.0▼"]
    assert FrequencyFilter.trained_on({"component": "high", "radius": 16, "test": False}) == "HFC r16"
    labels = report.Labels({"frequency_filter": FrequencyFilter})
    assert labels.training({"frequency_filter": {"radius": 4}}) == "LFC r4"      # defaults filled in: low


ATTACKS = {   # run -> {variant: {(attack, eps): accuracy}}
    "natural": {"final": {("none", None): 0.80, ("fgsm", 0.03): 0.20, ("fgsm", 0.09): 0.05, ("pgd", 0.03): 0.01},
                "smooth1.0": {("none", None): 0.60, ("fgsm", 0.03): 0.30, ("fgsm", 0.09): 0.25, ("pgd", 0.03): 0.10}},
    "pgd": {"final": {("none", None): 0.70, ("fgsm", 0.03): 0.45, ("fgsm", 0.09): 0.15, ("pgd", 0.03): 0.40}},
}


def test_adversarial_table_has_table2_layout(tmp_path):
    rows = metric_rows({"natural": FINAL["vanilla"], "pgd": FINAL["mixup"]})
    rows += [r for run, table in ATTACKS.items() for r in attack_rows(run, table)]
    weight = torch.randn(16, 3, 3, 3)
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial",
                      checkpoints={"natural": weight, "pgd": weight * 2})
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert header(text) == ["run", "smoothing", "clean", "FGSM 0.03", "FGSM 0.09", "PGD 0.03"]
    lines = [line for line in text.splitlines() if re.search(r"│ (none|ρ=1) ", line)]
    assert [c.strip() for c in lines[0].strip("│").split("│")] == ["natural", "none", "80.0▲", "20.0▼", "5.0▼", "1.0▼"]
    assert [c.strip() for c in lines[1].strip("│").split("│")] == ["natural", "ρ=1", "60.0▼", "30.0", "25.0▲", "10.0"]
    assert [c.strip() for c in lines[2].strip("│").split("│")] == ["pgd", "none", "70.0", "45.0▲", "15.0", "40.0▲"]
    for name in ("adversarial.png", "adversarial-kernels.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_kernels_come_from_the_first_conv_weight_of_each_checkpoint(tmp_path):
    rows = metric_rows({"natural": FINAL["vanilla"], "pgd": FINAL["mixup"], "pending": {}})
    weight = torch.randn(8, 3, 3, 3)
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial",
                      runs=[{"name": "natural"}, {"name": "pgd"}, {"name": "pending", "status": "pending"},
                            {"name": "corrupt"}],
                      checkpoints={"natural": weight, "pgd": weight + 1})
    (out / "corrupt-0123abcd" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    study = report.StudyResults.of(report.load_results(out)[1], out)
    console = recording_console()
    kernels = report.first_layer_kernels(study, console)
    assert list(kernels) == ["natural", "pgd"]
    assert torch.equal(kernels["pgd"], weight + 1)
    assert "kernels of corrupt not shown" in console.export_text()


def test_figure1_prints_each_runs_probe_report(tmp_path):
    out = write_study(tmp_path / "figure1", metric_rows({"vanilla": FINAL["vanilla"]}), layout="figure1")
    run_dir = out / "vanilla-0123abcd"
    pd.DataFrame({"radius": [4, 8], "lfc_only": [100, 300], "hfc_only": [50, 20], "both": [10, 400],
                  "neither": [840, 280], "lfc_total": [110, 700], "hfc_total": [60, 420]}
                 ).to_csv(run_dir / "probe_report.csv", index=False)
    (run_dir / "examples.png").write_bytes(b"\x89PNG")
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert header(text, "radius") == ["radius", "LFC only", "HFC only", "both", "neither", "LFC total", "HFC total"]
    rows = table_rows(text)
    assert rows["8"] == ["300", "20", "400", "280", "700", "420"]
    assert "of 1000 test images" in text
    assert str(run_dir / "examples.png") in text.replace("\n", "")
    assert (out / "figure1.png").exists()


def test_partial_results_show_pending_and_failed_runs(tmp_path):
    rows = metric_rows({"vanilla": FINAL["vanilla"]})
    rows += metric_rows({"running": FINAL["mixup"]}, epochs=EPOCHS)[:8]      # epoch 0 only, a few radii
    frame = pd.DataFrame(rows).drop(columns=["attack", "eps", "variant"])     # an older results.csv
    runs = [{"name": "vanilla"}, {"name": "running", "status": "running"},
            {"name": "broken", "status": "failed", "error": "loss became NaN at epoch 2"},
            {"name": "later", "status": "pending"}]
    out = write_study(tmp_path / "figure5", [], runs=runs)
    frame.to_csv(out / "results.csv", index=False)
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    rows = table_rows(text)
    assert rows["vanilla"][:4] == ["finished", "95.0", "70.0▲", "+25.0"]
    assert rows["running"][0] == "running"
    assert rows["broken"][0] == "failed" and rows["later"][0] == "pending"
    assert set(rows["later"][1:]) == {"–"}
    assert "broken failed: loss became NaN at epoch 2" in text
    assert "not finished yet: running, later" in text


def test_missing_results_name_the_command_to_run(tmp_path):
    out = tmp_path / "figure5"
    out.mkdir()
    (out / "recipe.json").write_text(json.dumps({"recipe": "figure5", "runs": []}))
    with pytest.raises(AblateError, match=r"no results\.csv in .*figure5: run `ablate recipe figure5` first"):
        report.print_report(out, recording_console())
    with pytest.raises(AblateError, match="no such results directory"):
        report.print_report(tmp_path / "nowhere", recording_console())


def test_unknown_layout_lists_the_known_ones(tmp_path):
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}), layout="figure99")
    with pytest.raises(AblateError, match="unknown report layout 'figure99'; known layouts: .*figure5"):
        report.print_report(out, recording_console())


def test_every_layout_is_registered():
    assert {"generic", "figure5", "figure4", "figure3", "table1", "adversarial", "figure1"} <= set(
        report.report_layouts())
    assert report.report_layouts()["figure5"][0] is figure5_layout


def test_generic_layout_adds_attack_results(tmp_path):
    rows = metric_rows({"natural": FINAL["vanilla"]}) + attack_rows("natural", ATTACKS["natural"])
    out = write_study(tmp_path / "study", rows, layout="generic")
    console = recording_console()
    report.print_report(out, console, formats=["svg"])
    text = console.export_text(clear=False)
    assert "Table 2" in text and "FGSM 0.09" in text
    assert (out / "generic.svg").read_text().lstrip().startswith("<?xml")


def test_compare_shows_a_b_and_the_difference(tmp_path):
    better = {run: dict(values) for run, values in FINAL.items() if run != "mixup"}
    better["vanilla"][("test", "original", None)] = 0.75
    better["dropout"] = FINAL["vanilla"]
    robust = {"final": {**ATTACKS["pgd"]["final"], ("pgd", 0.03): 0.52}}
    dir_a = write_study(tmp_path / "a", metric_rows(FINAL) + attack_rows("vanilla", ATTACKS["pgd"]))
    dir_b = write_study(tmp_path / "b", metric_rows(better) + attack_rows("vanilla", robust))
    console = recording_console()
    diffs = report.compare(dir_a, dir_b, console).set_index(["run", "metric"])
    assert diffs.loc[("vanilla", "test"), "diff"] == pytest.approx(0.05)
    assert diffs.loc[("vanilla", "gap"), "diff"] == pytest.approx(-0.05)
    assert diffs.loc[("batchnorm", "LFC r4"), "diff"] == pytest.approx(0.0)
    assert diffs.loc[("vanilla", "PGD 0.03, no smoothing"), "diff"] == pytest.approx(0.12)
    assert diffs.loc[("vanilla", "clean, no smoothing"), "diff"] == pytest.approx(0.0)
    assert set(diffs.index.get_level_values("run")) == {"vanilla", "batchnorm"}
    text = console.export_text(clear=False)
    assert "only in A: mixup" in text and "only in B: dropout" in text
    html = console.export_html(inline_styles=True)
    assert "+5.0" in styled_cells(html, "color: #008000")     # higher test accuracy: better
    assert "-5.0" in styled_cells(html, "color: #008000")     # smaller gap: better too


def test_latest_accuracy_per_key_tolerates_sparse_probes():
    rows = pd.DataFrame(metric_rows({"vanilla": FINAL["vanilla"]}))
    rows = rows[~((rows["component"] == "low") & (rows["epoch"] == EPOCHS))]   # last probe an epoch earlier
    latest = report.latest_accuracies(report.tidy(rows))
    assert latest[("vanilla", "test", "low", 4.0)] == pytest.approx(0.30 * (EPOCHS - 1) / EPOCHS)
    assert latest[("vanilla", "test", "original", None)] == pytest.approx(0.70)


def test_a_wide_table_is_split_for_a_narrow_console_without_losing_columns():
    columns = [report.Column(f"{c} r{r}", "test", comp, float(r))
               for c, comp in (("LFC", "low"), ("HFC", "high")) for r in (4, 8, 12, 16)]
    frame = pd.DataFrame(0.5, index=pd.Index(["adversarial-training", "vanilla"], name="run"),
                         columns=["train", "test"] + [c.label for c in columns])
    console = Console(record=True, width=80, file=io.StringIO())
    console.print(report.summary_table(frame, "wide", width=console.width))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    headers = [cell for line in text.splitlines() if line.startswith("┃") for cell in header(line)]
    assert sorted(h for h in headers if h != "run") == sorted(frame.columns)
    assert headers.count("run") == 2 and text.count("adversarial-training") == 2
