"""The short scale (issue 34): the paper's set-up on all of CIFAR-10, cut to the epochs one GPU trains in
minutes; and a CPU run of it on the decoded JPEG CIFAR-10 when that file is at hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ablate.execution.runner import run_recipe
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe

SHORT = ["figure5", "adversarial", "table1", "figure1", "figure4"]
ROOT = Path(__file__).resolve().parents[1]
# the machines' copy of CIFAR-10 as JPEG bytes and its decoder (DEVELOPERS.md); ABLATE_CIFAR10_JPEG names another
ARCHIVE = Path(os.environ.get("ABLATE_CIFAR10_JPEG", ROOT.parent / "shared" / "data" / "cifar10-jpeg-full.npz"))
DECODER = ARCHIVE.parent.parent / "tools" / "cifar10_jpeg.py"


@pytest.mark.parametrize("name", SHORT)
def test_short_is_the_paper_scale_but_for_its_epochs(name):
    """All the data, the full width, the paper's optimiser, batch and probe: only the epochs differ (and, for
    Table 2's attacks, how many test images are attacked)."""
    recipe = load_recipe(name)
    paper = {run.name: run for run in expand(recipe, "paper")}
    short = {run.name: run for run in expand(recipe, "short")}
    assert list(short) == list(paper)
    for run_name, run in short.items():
        s, p = run.settings.as_dict(), paper[run_name].settings.as_dict()
        assert (s["train_size"], s["test_size"], s["width"], s["dataset"]) == (0, 0, 1.0, "cifar10")
        assert 0 < s["epochs"] < p["epochs"]
        assert {k: v for k, v in s.items() if k != "epochs"} == {k: v for k, v in p.items() if k != "epochs"}
        plugins, paper_plugins = dict(run.plugins), dict(paper[run_name].plugins)
        if "attacks" in plugins:
            assert plugins.pop("attacks")["n"] == 1000 and paper_plugins.pop("attacks")["n"] != 1000
        assert plugins == paper_plugins
        assert run.dir_name != paper[run_name].dir_name


def test_the_other_recipes_have_no_short_scale():
    for name in ("figure3", "fourier"):
        assert "short" not in load_recipe(name).scales


@pytest.fixture(scope="module")
def cifar10_npz(tmp_path_factory):
    if not (ARCHIVE.is_file() and DECODER.is_file()):
        pytest.skip(f"no JPEG CIFAR-10 at {ARCHIVE} (or its decoder at {DECODER}); set ABLATE_CIFAR10_JPEG to "
                    f"the archive of ../shared/data to run this")
    out = tmp_path_factory.mktemp("cifar10") / "cifar10.npz"
    subprocess.run([sys.executable, str(DECODER), str(out), str(ARCHIVE)], check=True, capture_output=True)
    return out


def test_figure5_short_runs_on_the_decoded_cifar10(cifar10_npz, tmp_path):
    """The issue's CPU check: one epoch of 500 training images at width 0.125 (and 1000 test images, for CI's
    time), every run of figure5 finished and probed on the real images."""
    run_recipe("figure5", "short", out=tmp_path, report=False,
               overrides=["epochs=1", "train_size=500", "test_size=1000", "width=0.125",
                          f"dataset=npz:{cifar10_npz}"])
    results = pd.read_csv(tmp_path / "figure5" / "results.csv")
    assert set(results["run"]) == {"vanilla", "dropout", "mixup", "batchnorm", "adversarial"}
    split = results.query("split == 'test' and component in ['low', 'high']")
    assert set(split.query("run == 'adversarial'")["radius"]) == {4, 8, 12, 16, 20, 24, 28}
    assert set(split.query("run == 'vanilla'")["radius"]) == {4, 8, 12, 16}
    assert results["value"].notna().all()
