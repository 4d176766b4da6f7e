"""The adversarial layout shows attacks' minimal-eps results: the median per run, variant and attack,
and the accuracy-vs-eps curve they imply (adversarial-minimal.png)."""

import math

import torch
from test_report import EPOCHS, header, recording_console, write_study

from ablate import report

CURVE_EPS = [0.0, 0.05, 0.1]


def minimal_rows(run: str, variant: str, medians: dict[str, float], epoch: int = EPOCHS) -> list[dict]:
    """The rows ``attacks`` writes in minimal mode: clean accuracy, then per attack a median and a curve."""
    base = {"run": run, "epoch": epoch, "split": "test", "component": "original", "radius": None,
            "variant": variant}
    rows = [{**base, "metric": "accuracy", "value": 0.9, "attack": "none", "eps": 0.0}]
    for attack, median in medians.items():
        rows.append({**base, "metric": "median_min_eps", "value": median, "attack": attack, "eps": None})
        rows += [{**base, "metric": "min_eps_accuracy", "value": 0.9 - 4 * eps, "attack": attack, "eps": eps}
                 for eps in CURVE_EPS]
    return rows


def test_minimal_eps_table_and_curves(tmp_path):
    rows = (minimal_rows("natural", "final", {"fgsm": 0.0123, "pgd": 0.0081})
            + minimal_rows("natural", "smooth1.0", {"fgsm": 0.02, "pgd": 0.015})
            + minimal_rows("natural", "final", {"fgsm": 0.5, "pgd": 0.5}, epoch=EPOCHS - 1)   # older: not shown
            + minimal_rows("adversarial", "final", {"fgsm": math.inf, "pgd": 0.0456})
            + minimal_rows("[bold]odd", "final", {"fgsm": 0.01, "pgd": 0.01}))       # a results.csv's run name
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial",
                      checkpoints={"natural": torch.randn(8, 3, 3, 3)})
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert "Median minimal eps" in text
    assert header(text, first="FGSM") == ["run", "smoothing", "FGSM", "PGD"]
    lines = [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines()
             if line.startswith("│") and ("0.0" in line or ">" in line) and "%" not in line]
    assert ["natural", "none", "0.0123", "0.0081"] in lines
    assert ["natural", "ρ=1", "0.0200", "0.0150"] in lines
    assert ["adversarial", "none", "> 0.1", "0.0456"] in lines, "inf: no eps up to the largest tried"
    assert ["[bold]odd", "none", "0.0100", "0.0100"] in lines, "a run name is text, not markup"
    assert (out / "adversarial-minimal.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "adversarial.png").exists(), "no fixed-eps attack rows: no empty Table 2 figure"


def test_grid_results_alone_show_no_minimal_table(tmp_path):
    rows = minimal_rows("natural", "final", {})
    rows.append({**rows[0], "metric": "accuracy", "value": 0.4, "attack": "fgsm", "eps": 0.03})
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial")
    console = recording_console()
    report.print_report(out, console)
    assert "Median minimal eps" not in console.export_text()
    assert (out / "adversarial.png").exists() and not (out / "adversarial-minimal.png").exists()


def foolbox_rows(run: str, variant: str, medians: dict[str, float], eps=(0.01, 0.03),
                 failed: dict[str, int] | None = None) -> list[dict]:
    """The rows ``attacks`` writes with search = "foolbox": clean accuracy, per attack a median L-inf distance
    and the share of images whose closest adversarial is farther than each eps."""
    base = {"run": run, "epoch": EPOCHS, "split": "test", "component": "original", "radius": None,
            "variant": variant}
    rows = [{**base, "metric": "accuracy", "value": 0.9, "attack": "none", "eps": 0.0}]
    for attack, median in medians.items():
        rows.append({**base, "metric": "median_linf", "value": median, "attack": attack, "eps": None})
        rows += [{**base, "metric": "linf_accuracy", "value": 0.8 - 10 * e, "attack": attack, "eps": e} for e in eps]
        if failed is not None:
            rows.append({**base, "metric": "linf_failed", "value": failed[attack], "attack": attack, "eps": None})
    return rows


def test_foolbox_distances_show_as_the_official_table_2_and_a_median(tmp_path):
    rows = (foolbox_rows("natural", "final", {"fgsm": 0.0123, "pgd": 0.0081})
            + foolbox_rows("adversarial", "smooth1.0", {"fgsm": math.inf, "pgd": 0.0456}))
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial")
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text(clear=False)
    assert "Table 2 as the official code measured it" in text and "Median L-inf distance" in text
    assert "Median minimal eps" not in text
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]
    assert ["natural", "none", "0.0123", "0.0081"] in cells
    assert ["adversarial", "ρ=1", "none found", "0.0456"] in cells, "inf: no adversarial found at all"
    assert any(row[:3] == ["natural", "none", "90.0"] and "70.0" in row and "50.0" in row for row in cells), cells
    assert (out / "adversarial-linf.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "adversarial.png").exists() and not (out / "adversarial-minimal.png").exists()


def test_failed_foolbox_searches_are_counted_under_the_table(tmp_path):
    rows = (foolbox_rows("natural", "final", {"fgsm": 0.01, "pgd": 0.008}, failed={"fgsm": 0, "pgd": 0})
            + foolbox_rows("natural", "smooth1.0", {"fgsm": 0.02, "pgd": 0.01}, failed={"fgsm": 3, "pgd": 0}))
    out = write_study(tmp_path / "adversarial", rows, layout="adversarial")
    console = recording_console()
    report.print_report(out, console)
    text = " ".join(console.export_text().split())
    assert "foolbox's search found no adversarial for some images" in text
    assert "natural ρ=1: FGSM 3, PGD 0" in text and "natural none" not in text
    clean = foolbox_rows("natural", "final", {"fgsm": 0.01, "pgd": 0.008}, failed={"fgsm": 0, "pgd": 0})
    console = recording_console()
    report.print_report(write_study(tmp_path / "clean", clean, layout="adversarial"), console)
    assert "found an adversarial for every image searched" in " ".join(console.export_text().split())
