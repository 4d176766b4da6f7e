"""The figures: one panel per run or attack, the right lines, files that open as images."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch

from ablate import AblateError
from ablate.report import plots, tidy
from ablate.train.kernels import smooth_kernels
from ablate_plugins.kernel_smoothing import kernel_montage, kernels_figure


def epoch_rows(run: str, epochs: int, probe_split: str = "test", radii=(4.0, 8.0)) -> list[dict]:
    rows = []
    for epoch in range(epochs + 1):
        rows.append({"run": run, "epoch": epoch, "split": "test", "component": "original",
                     "metric": "accuracy", "value": 0.1 * epoch})
        if epoch:
            rows.append({"run": run, "epoch": epoch, "split": "train", "component": "original",
                         "metric": "accuracy", "value": 0.2 * epoch})
        for component in ("low", "high"):
            for r in radii:
                rows.append({"run": run, "epoch": epoch, "split": probe_split, "component": component,
                             "radius": r, "metric": "accuracy", "value": 0.01 * r * epoch})
    return rows


def test_curves_have_one_panel_per_run_with_data():
    results = tidy(pd.DataFrame(epoch_rows("vanilla", 3) + epoch_rows("mixup", 2)))
    fig = plots.curves_figure(results, ["vanilla", "pending", "mixup"])
    assert [ax.get_title() for ax in fig.axes] == ["vanilla", "mixup"]
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 + 2 * 2                            # train, test, LFC and HFC at two radii
    train = lines[0]
    assert list(train.get_xdata()) == [1, 2, 3] and list(train.get_ydata()) == pytest.approx([0.2, 0.4, 0.6])
    styles = [line.get_linestyle() for line in lines[2:]]
    assert styles == ["-", "-", ":", ":"]                     # LFC solid, HFC dotted
    colors = [line.get_color() for line in lines[2:]]
    assert colors[0] == colors[2] and colors[1] == colors[3] and colors[0] != colors[1]   # one colour per radius


def test_a_diverged_seed_is_left_out_of_the_mean_curve_and_the_title_says_so():
    rows = epoch_rows("vanilla", 3) + epoch_rows("vanilla-s1", 3) + epoch_rows("vanilla-s2", 3)
    for row in rows:
        row["seed"] = int(row["run"][-1]) if "-s" in row["run"] else 0
        if row["run"] == "vanilla-s1":
            row["value"] += 0.1
        if row["run"] == "vanilla-s2" and row["split"] == "test" and row["component"] == "original" \
                and row["epoch"] >= 2:
            row["value"] = float("inf")
    fig = plots.curves_figure(tidy(pd.DataFrame(rows)), ["vanilla", "vanilla-s1", "vanilla-s2"])
    (ax,) = [ax for ax in fig.axes if ax.get_title()]
    test = ax.get_lines()[1]
    assert np.isfinite(test.get_ydata()).all()
    assert list(test.get_ydata())[2:] == pytest.approx([0.25, 0.35]), "the finite seeds' mean"
    assert list(test.get_ydata())[:2] == pytest.approx([0.1 / 3, 0.4 / 3]), "all three before it diverged"
    assert ax.get_title() == "vanilla (mean of 3 seeds, 95% CI; 1 diverged seed left out where not finite)"


def test_figure3_curves_read_the_training_set_probe():
    rows = epoch_rows("shuffled", 2, probe_split="train")
    results = tidy(pd.DataFrame([r for r in rows if r["component"] != "high"]))
    fig = plots.curves_figure(results, ["shuffled"], probe_split="train")
    assert len(fig.axes) == 1
    assert [line.get_linestyle() for line in fig.axes[0].get_lines()] == ["-", "--", "-", "-"]  # test dashed
    assert len(plots.curves_figure(results, ["shuffled"], probe_split="test").axes[0].get_lines()) == 2


def test_save_writes_each_format(tmp_path):
    results = tidy(pd.DataFrame(epoch_rows("vanilla", 2)))
    fig = plots.curves_figure(results, ["vanilla"])
    paths = plots.save(fig, tmp_path, "figure5", ["png", "svg", "pdf"])
    assert [p.name for p in paths] == ["figure5.png", "figure5.svg", "figure5.pdf"]
    image = matplotlib.image.imread(paths[0])
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert paths[2].read_bytes()[:4] == b"%PDF"
    with pytest.raises(AblateError, match="unknown plot format 'bmpx'"):
        plots.save(fig, tmp_path, "figure5", ["bmpx"])


def test_kernel_montage_stretches_each_kernel_into_a_grid():
    weight = torch.randn(20, 3, 3, 3)
    grid = kernel_montage(weight, max_kernels=32, columns=8)
    assert grid.shape == (3 * 4 + 1, 8 * 4 + 1, 3)            # 20 kernels in rows of 8, 1-pixel borders
    first = grid[1:4, 1:4]
    expected = weight[0].permute(1, 2, 0).numpy()
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert np.allclose(first, expected, atol=1e-6)
    grey = kernel_montage(torch.randn(4, 16, 3, 3))
    assert grey.shape == (5, 17, 3) and np.allclose(grey[..., 0], grey[..., 2])
    assert kernel_montage(torch.randn(64, 3, 3, 3), max_kernels=16).shape == (2 * 4 + 1, 8 * 4 + 1, 3)


def test_kernels_figure_shows_each_run_with_and_without_smoothing():
    kernels = {"natural": torch.randn(16, 3, 3, 3), "pgd": torch.randn(16, 3, 3, 3)}
    fig = kernels_figure(kernels, smooth_kernels, rho=1.0)
    assert [ax.get_title() for ax in fig.axes] == ["natural: no smoothing", "natural: smoothing ρ = 1",
                                                   "pgd: no smoothing", "pgd: smoothing ρ = 1"]
    plain, smoothed = (ax.get_images()[0].get_array() for ax in fig.axes[:2])
    assert np.allclose(plain, kernel_montage(kernels["natural"]))
    assert np.allclose(smoothed, kernel_montage(smooth_kernels(kernels["natural"], 1.0)))
    assert len(kernels_figure(kernels, None, rho=1.0).axes) == 2


def test_attack_figure_has_a_panel_per_attack_starting_at_clean_accuracy():
    table = pd.DataFrame([
        ("natural", "no smoothing", "none", np.nan, 0.8), ("natural", "no smoothing", "fgsm", 0.03, 0.2),
        ("natural", "no smoothing", "fgsm", 0.09, 0.05), ("natural", "no smoothing", "pgd", 0.03, 0.01),
        ("natural", "smoothing ρ=1", "none", np.nan, 0.6), ("natural", "smoothing ρ=1", "fgsm", 0.03, 0.3)],
        columns=["run", "variant", "attack", "eps", "value"])
    fig = plots.attack_figure(table)
    assert [ax.get_title() for ax in fig.axes] == ["FGSM", "PGD"]
    plain, smoothed = fig.axes[0].get_lines()
    assert list(plain.get_xdata()) == [0.0, 0.03, 0.09] and list(plain.get_ydata()) == [0.8, 0.2, 0.05]
    assert list(smoothed.get_ydata()) == [0.6, 0.3] and smoothed.get_linestyle() != plain.get_linestyle()
    assert len(fig.axes[1].get_lines()) == 1                  # the smoothed model has no PGD numbers


def test_probe_figure_has_a_panel_per_report():
    report = pd.DataFrame({"radius": [8, 4], "lfc_only": [3, 1], "hfc_only": [1, 2], "both": [5, 0],
                           "neither": [1, 7], "lfc_total": [8, 1], "hfc_total": [6, 2]})
    fig = plots.probe_figure({"a": report, "b": report})
    assert len(fig.axes) == 2
    first = fig.axes[0].get_lines()[0]
    assert list(first.get_xdata()) == [4, 8] and list(first.get_ydata()) == [1, 3]


def test_train_and_test_curves_lie_on_top_and_differ_without_colour():
    results = tidy(pd.DataFrame(epoch_rows("vanilla", 3)))
    lines = plots.curves_figure(results, ["vanilla"]).axes[0].get_lines()
    train, test, probes = lines[0], lines[1], lines[2:]
    assert min(train.get_zorder(), test.get_zorder()) > max(p.get_zorder() for p in probes)
    assert train.get_linestyle() != test.get_linestyle()                      # not told apart by colour alone
    assert min(train.get_linewidth(), test.get_linewidth()) > max(p.get_linewidth() for p in probes)
    low, high = probes[0], probes[2]                                          # LFC and HFC at one radius
    assert low.get_color() == high.get_color() and low.get_linestyle() != high.get_linestyle()


def test_a_changed_training_accuracy_is_labelled_in_its_panel():
    results = tidy(pd.DataFrame(epoch_rows("vanilla", 2) + epoch_rows("adversarial", 2)))
    fig = plots.curves_figure(results, ["vanilla", "adversarial"],
                              train_labels={"adversarial": "train (adversarial examples)"})
    plain, attacked = fig.axes
    assert plain.get_legend() is None
    assert [t.get_text() for t in attacked.get_legend().get_texts()] == ["train (adversarial examples)"]
    assert attacked.get_lines()[0].get_label() == "train (adversarial examples)"
