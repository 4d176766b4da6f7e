"""Probes wherever a run goes: the probes and probe_params settings, --set PROBE.PARAM, identity,
the trainer's schedule, `ablate probe --probe`, report and compare, and the gaussian_noise plugin."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

import ablate
from ablate.cli import cli
from ablate.core.schema import CHECKPOINT
from ablate.report import compare, print_report
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.train.trainer import train

RUN = '[[runs]]\nname = "v"\n'
PROBED = RUN + 'settings = { probes = ["split", "bandpass", "fourier_heatmap"] }\n'
FAST_HEATMAP = ["fourier_heatmap.window=3", "fourier_heatmap.limit=6"]


def one(path, scale=None, overrides=()):
    (run,) = expand(load_recipe(path), scale, list(overrides))
    return run


# --------------------------------------------------------------------------
# Settings and identity
# --------------------------------------------------------------------------

def test_default_probes_keep_every_run_name_and_hash(write_recipe):
    plain = one(write_recipe(RUN))
    spelled = one(write_recipe(RUN + 'settings = { probes = ["split"], probe_params = {} }\n', name="spelled"))
    assert plain.settings.probes == ["split"] and plain.settings.probe_params == {}
    assert "probes" not in plain.identity()["settings"] and "probe_params" not in plain.identity()["settings"]
    assert spelled.dir_name.split("-")[-1] == plain.short_hash
    assert one(write_recipe(PROBED, name="probed")).short_hash != plain.short_hash


def test_set_probe_param_goes_to_probe_params_checked_and_canonical(write_recipe):
    path = write_recipe(PROBED)
    run = one(path, None, ["fourier_heatmap.every=epochs", "bandpass.edges=[0.0, 4.0, \"max\"]"])
    assert run.settings.probe_params == {"fourier_heatmap": {"every": "epochs"}, "bandpass": {"edges": [0, 4, "max"]}}
    same = one(path, None, ["bandpass.edges=[0, 4, \"max\"]", "fourier_heatmap.every=epochs"])
    assert same.short_hash == run.short_hash
    with pytest.raises(ablate.AblateError, match=r"--set fourier_heatmap\.eps: found -1\.0, must be > 0"):
        one(path, None, ["fourier_heatmap.eps=-1"])
    with pytest.raises(ablate.AblateError, match="no run of this recipe records probe 'bandpass'"):
        one(write_recipe(RUN, name="plain"), None, ["bandpass.complement=true"])


def test_a_probe_parameter_given_at_its_default_keeps_the_hash(write_recipe):
    path = write_recipe(PROBED)
    plain = one(path)
    assert one(path, None, ["fourier_heatmap.eps=4"]).short_hash == plain.short_hash
    assert one(path, None, ["fourier_heatmap.limit=1000", "bandpass.every=epochs"]).short_hash == plain.short_hash
    assert one(path, None, ["fourier_heatmap.eps=2"]).short_hash != plain.short_hash


def test_probe_params_merge_across_layers_and_drop_unlisted_probes(write_recipe):
    path = write_recipe(PROBED + '[settings.probe_params.split]\nradii = [2]\n', head="""
        [settings]
        dataset = "synthetic"
        [settings.probe_params.fourier_heatmap]
        eps = 2.0
        window = 5
        [settings.probe_params.bandpass]
        complement = true
        [scales.smoke.probe_params.fourier_heatmap]
        window = 3
    """)
    run = one(path, "smoke")
    assert run.settings.probe_params == {"fourier_heatmap": {"eps": 2.0, "window": 3}, "bandpass": {"complement": True}}
    assert run.settings.radii == [2]                                # split.radii is the setting radii
    plain = write_recipe('[[runs]]\nname = "v"\n', name="unlisted", head="""
        [settings]
        [settings.probe_params.bandpass]
        complement = true
    """)
    assert one(plain).settings.probe_params == {}              # bandpass is not recorded by this run
    with pytest.raises(ablate.AblateError, match=r"probes: no probe named 'rings'"):
        one(write_recipe(RUN + 'settings = { probes = ["rings"] }\n', name="unknown"))


def test_split_radii_and_radii_are_one_setting_one_hash_and_what_is_probed(write_recipe):
    from ablate.core.registry import get_registry
    from ablate.execution.plan_table import plan_table
    from ablate.execution.preflight import check_against_data
    from ablate.spectral.probes import plan_probes

    path = write_recipe(RUN, head='[settings]\ndataset = "synthetic"\n')
    spelled = one(write_recipe(RUN + '[runs.settings.probe_params.split]\nradii = [2.0]\ninclusive = true\n',
                               name="spelled", head='[settings]\ndataset = "synthetic"\n'))
    grid = expand(load_recipe(write_recipe(RUN + '[runs.grid]\n"split.inclusive" = [true]\n', name="grid",
                                           head='[settings]\ndataset = "synthetic"\n')))[0]
    as_setting = one(path, None, ["radii=[2]", "inclusive=true"])
    assert one(path, None, ["split.radii=[2]", "split.inclusive=true"]).short_hash == as_setting.short_hash
    assert spelled.short_hash == as_setting.short_hash and spelled.settings.probe_params == {}
    assert grid.name == "v-inclusiveTrue" and grid.settings.inclusive and grid.settings.probe_params == {}
    (split,) = plan_probes(get_registry().registry("probes"), spelled.settings, "test")
    assert split.variants.keywords == {"radii": [2], "inclusive": True}          # what the run probes
    assert plan_table([spelled])["radii"].tolist() == ["2"]                       # is what --dry-run shows
    with pytest.raises(ablate.AblateError, match="radii: found 99, beyond the diagonal"):
        check_against_data([one(path, None, ["split.radii=[99]"])], get_registry())   # and what is checked
    with pytest.raises(ablate.AblateError, match="'split.radii' and 'radii' are one setting; give it once, as radii"):
        one(path, None, ["split.radii=[2]", "radii=[4]"])


def test_a_grid_over_a_probe_parameter_names_its_runs(write_recipe):
    path = write_recipe(PROBED + '[runs.grid]\n"fourier_heatmap.eps" = [2.0, 4.0]\n')
    runs = expand(load_recipe(path))
    assert [r.name for r in runs] == ["v-eps2.0", "v-eps4.0"]
    assert [r.settings.probe_params for r in runs] == [{"fourier_heatmap": {"eps": 2.0}}, {}]    # 4: the default
    with pytest.raises(ablate.AblateError, match="--set fourier_heatmap.eps would override"):
        expand(load_recipe(path), None, ["fourier_heatmap.eps=3"])


# --------------------------------------------------------------------------
# Training: each probe on its schedule
# --------------------------------------------------------------------------

def test_probes_run_on_their_schedule_and_leave_splits_rows_unchanged(write_recipe):
    plain = train(one(write_recipe(RUN), None, ["epochs=2"]))
    probed = train(one(write_recipe(PROBED, name="probed"), None, ["epochs=2"] + FAST_HEATMAP))
    split_rows = probed[~probed["component"].isin(["band", "fourier"])]
    pd.testing.assert_frame_equal(split_rows[plain.columns].reset_index(drop=True), plain)
    bands = probed[probed["component"] == "band"]
    assert sorted(bands["epoch"].unique()) == [0, 1, 2] and set(bands["radius_outer"]) == {4, 8, 12, 16, float("inf")}
    heat = probed[probed["component"] == "fourier"]
    assert set(heat["epoch"]) == {2} and len(heat) == 9 * 2           # a 3 x 3 window, accuracy and loss
    assert {"radius_outer", "row", "col"} <= set(probed.columns)


# --------------------------------------------------------------------------
# ablate probe, report, compare
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny recipe with all three probes, trained once for the tests below."""
    import textwrap

    from ablate.core.registry import reset_registry
    from ablate.execution.runner import run_recipe

    from conftest import TINY

    reset_registry()
    folder = tmp_path_factory.mktemp("probed")
    path = folder / "probed.toml"
    path.write_text(textwrap.dedent(TINY).replace('report = "figure5"', 'report = "generic"') + "\n" + PROBED
                    + '[[runs]]\nname = "w"\nsettings = { probes = ["split", "bandpass", "fourier_heatmap"], '
                      'lr = 0.001 }\n')
    run_recipe(path, overrides=["epochs=1"] + FAST_HEATMAP, out=folder / "out", console=Console(file=None, quiet=True))
    reset_registry()
    return folder / "out" / "probed"


def test_report_and_compare_show_every_probe(finished, tmp_path):
    console = Console(record=True, width=200)
    print_report(finished, console, ["png"])
    text = console.export_text()
    assert "probe bandpass" in text and "band 16-max" in text and "fourier mean" in text
    assert (finished / "bandpass.png").exists() and (finished / "fourier_heatmap.png").exists()
    diffs = compare(finished, finished, Console(record=True, width=200))
    assert {"band 0-4", "fourier mean"} <= set(diffs["metric"]) and (diffs["diff"].dropna() == 0).all()


def test_ablate_probe_evaluates_named_probes_on_a_checkpoint(finished, tmp_path):
    checkpoint = next(finished.glob("v-*")) / CHECKPOINT
    result = CliRunner().invoke(cli, ["probe", str(checkpoint), "--probe", "bandpass", "--probe", "fourier_heatmap",
                                      "--set", "fourier_heatmap.window=3", "--set", "fourier_heatmap.limit=4",
                                      "--set", "bandpass.edges=[0, 8, \"max\"]", "--device", "cpu",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "probes.csv")
    assert set(rows["component"]) == {"band", "fourier"} and len(rows[rows["component"] == "fourier"]) == 18
    assert (tmp_path / "bandpass.png").exists() and (tmp_path / "fourier_heatmap.png").exists()
    refused = CliRunner().invoke(cli, ["probe", str(checkpoint), "--set", "bandpass.complement=true"])
    assert refused.exit_code == 2 and "need --probe" in refused.output
    unused = CliRunner().invoke(cli, ["probe", str(checkpoint), "--probe", "bandpass", "--set", "split.radii=[2]"])
    assert unused.exit_code == 2 and "add --probe split" in unused.output


def test_ablate_probe_draws_examples_at_a_nontrivial_radius_and_says_which(finished, tmp_path):
    checkpoint = next(finished.glob("v-*")) / CHECKPOINT
    chosen = CliRunner().invoke(cli, ["probe", str(checkpoint), "--radii", "0,4,8,30", "--device", "cpu",
                                      "--out", str(tmp_path / "a")])
    assert chosen.exit_code == 0, chosen.output
    drawn = float(chosen.output.split("examples at r = ")[1].split(")")[0])
    assert drawn in (4, 8)                                       # never r = 0 (no LFC) or 30 (no HFC)
    asked = CliRunner().invoke(cli, ["probe", str(checkpoint), "--radii", "0,4", "--example-radius", "6",
                                     "--device", "cpu", "--out", str(tmp_path / "b")])
    assert asked.exit_code == 0 and "examples at r = 6)" in asked.output
    assert list(pd.read_csv(tmp_path / "b" / "probe_report.csv")["radius"]) == [0, 4]
    refused = CliRunner().invoke(cli, ["probe", str(checkpoint), "--example-radius", "-1"])
    assert refused.exit_code == 2 and "--example-radius" in refused.output


# --------------------------------------------------------------------------
# gaussian_noise
# --------------------------------------------------------------------------

def test_gaussian_noise_adds_clipped_noise_of_the_asked_size():
    from ablate_plugins.gaussian_noise import GaussianNoise

    x = torch.full((64, 3, 8, 8), 0.5)
    for random, expected in ((False, 0.1), (True, 0.1 / 3 ** 0.5)):     # uniform sigma: RMS sigma / sqrt(3)
        batch = ablate.Batch(x=x.clone(), y=torch.zeros(64, dtype=torch.long))
        torch.manual_seed(0)
        GaussianNoise(sigma=0.1, random=random).ablate_train_batch(batch=batch, model=None, state=None)
        noise = batch.x - x
        assert noise.std().item() == pytest.approx(expected, rel=0.1)
        assert batch.x.min() >= 0 and batch.x.max() <= 1
    batch = ablate.Batch(x=x.clone(), y=torch.zeros(64, dtype=torch.long))
    GaussianNoise(sigma=0.0).ablate_train_batch(batch=batch, model=None, state=None)
    assert torch.equal(batch.x, x)


def test_gaussian_noise_sigma_has_no_assumed_default(tmp_path):
    """Yin et al.'s noise level is not read from their text yet: a run must state it (issue 23)."""
    from ablate_plugins.gaussian_noise import GaussianNoise

    recipe = tmp_path / "noise.toml"
    recipe.write_text('[settings]\ndataset = "synthetic"\n[[runs]]\nname = "g"\nplugins = ["gaussian_noise"]\n')
    refused = CliRunner().invoke(cli, ["recipe", str(recipe), "--dry-run", "--out", str(tmp_path / "out")])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "gaussian_noise" in refused.output and "'sigma'" in refused.output and "no default" in refused.output
    assert GaussianNoise.validate({"sigma": 0.1}, "here")["sigma"] == 0.1
    described = next(p for p in GaussianNoise.params if p.name == "sigma").describe()
    assert described["default"] == "required"
