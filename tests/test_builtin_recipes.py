"""Every built-in recipe runs end to end at smoke scale: tables, results.csv and plots."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from ablate.cli import cli

from smoke_learning import assert_smoke_scale_learns

PNG = b"\x89PNG\r\n\x1a\n"

# recipe: (runs, words its report must print, plots it must write, extra per-run files)
EXPECTED = {
    "figure5": (["vanilla", "dropout", "mixup", "batchnorm", "adversarial"],
                ["train", "test", "gap", "LFC r4", "HFC r16", "claims, checked"], ["figure5.png"], []),
    "figure4": (["batch-size5", "batch-size10"], ["LFC r12", "HFC r8"], ["figure4.png"], []),
    "figure3": (["true-labels", "shuffled-labels"], ["LFC r4"], ["figure3.png"], []),
    "figure1": (["vanilla"], ["LFC only", "HFC only", "both", "neither"], ["figure1.png"],
                ["probe_report.csv", "examples.png"]),
    "table1": (["lfc-radius4", "lfc-radius12", "hfc-radius4", "hfc-radius12"], ["train", "test"],
               ["table1.png"], []),
    "adversarial": (["natural", "adversarial"], ["clean", "FGSM 0.03", "PGD 0.09", "ρ=1", "claims, checked"],
                    ["adversarial.png", "adversarial-kernels.png"], []),
    "fourier": (["vanilla", "gaussian", "adversarial", "mixup", "batchnorm"],
                ["probe bandpass", "band 16-max", "probe fourier_heatmap", "fourier mean"],
                ["generic.png", "bandpass.png", "fourier_heatmap.png"], []),
}
PROBE_COLUMNS = {"fourier": ["radius_outer", "row", "col"]}     # columns the recipe's probes add


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_recipe_at_smoke_scale(name, tmp_path):
    runs, words, plots, run_files = EXPECTED[name]
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        cli, ["recipe", name, "--scale", "smoke", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    for word in runs + words:
        assert word in result.output, f"{word!r} missing from the {name} report"
    out = tmp_path / name
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == ["run", "epoch", "split", "component", "radius", "metric", "value",
                                     "attack", "eps", "variant", "seed"] + PROBE_COLUMNS.get(name, [])
    assert (results["seed"] == 0).all()
    assert list(dict.fromkeys(results["run"])) == runs
    assert results["value"].notna().all() and set(results["metric"]) >= {"accuracy", "loss"}
    accuracy = results.query("metric == 'accuracy'")["value"]
    assert accuracy.between(0, 1).all()
    for plot in plots:
        assert (out / plot).read_bytes()[:8] == PNG, plot
    plan = json.loads((out / "recipe.json").read_text())
    assert {r["status"] for r in plan["runs"]} == {"finished"}
    for entry in plan["runs"]:
        for extra in run_files:
            assert (out / entry["dir"] / extra).exists()
    if name == "adversarial":
        attacked = results.dropna(subset=["attack"])
        assert set(attacked["attack"]) == {"none", "fgsm", "pgd"}
        assert set(attacked["eps"]) == {0.0, 0.01, 0.03, 0.06, 0.09}
        assert set(attacked["variant"]) == {"final", "smooth0.1", "smooth0.25", "smooth0.5", "smooth1.0"}
    if name == "fourier":
        heat = results.query("component == 'fourier'")
        assert set(heat["epoch"]) == {3} and len(heat) == 5 * 7 * 7 * 2      # 5 runs, a 7 x 7 window
    if name == "figure3":
        assert len(results.query("split == 'train' and component == 'low'"))
    assert_smoke_scale_learns(name, results)
    # the report again, from stored results only
    again = CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["report", str(out)])
    assert again.exit_code == 0 and all(run in again.output for run in runs)


@pytest.mark.parametrize("scale", ["paper", "quick", "smoke"])
def test_every_fourier_run_trains_and_is_probed_on_one_scaling(scale):
    """The heat maps of one figure compare models that learnt on the pixels the heat map feeds them (issue 23)."""
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    assert {run.settings.normalize for run in expand(load_recipe("fourier"), scale)} == {"none"}
