"""Hostile and mistaken inputs: exit 2, one line naming the problem, no traceback, nothing written."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from ablate.cli import cli

from conftest import TINY

DROPOUT = '[[runs]]\nname = "d"\nplugins = ["dropout"]\n'
PGD = '[[runs]]\nname = "p"\nplugins = ["pgd"]\n'
RUN = '[[runs]]\nname = "x"\n'
ATTACKS = '[[runs]]\nname = "a"\nplugins = ["attacks"]\n'

# (recipe runs, extra CLI arguments, text the one-line message must hold)
CASES = {
    "shell line in a launcher option": (
        '[launcher]\npartition = "gpu\\ntouch pwned #"\n[[runs]]\nname = "x"\n', ["--launcher", "slurm"],
        "partition: found 'gpu\\ntouch pwned #', allowed: a Slurm partition name"),
    "shell metacharacters in --launcher-opt": (
        '[[runs]]\nname = "x"\n', ["--launcher", "slurm", "--launcher-opt", "partition=gpu;touch pwned"],
        "--launcher-opt.partition: found 'gpu;touch pwned'"),
    "run name climbing out of --out": ('[[runs]]\nname = "../../evil"\n', [], "the run name '../../evil' is not allowed"),
    "absolute run name": ('[[runs]]\nname = "/abs/path"\n', [], "the run name '/abs/path' is not allowed"),
    "grid value making an unsafe name": (
        '[[runs]]\nname = "x"\n[runs.grid]\ndataset = ["synthetic:train=240,test=120", "npz:/etc/data.npz"]\n', [],
        "run name made from the grid values"),
    "two runs with one name": (
        '[[runs]]\nname = "a"\n[runs.grid]\nepochs = [3]\n[[runs]]\nname = "a-epochs3"\n', [],
        "expands to a run named 'a-epochs3', as does"),
    "NaN plugin parameter": (DROPOUT, ["--set", "dropout.p=nan"], "--set dropout.p: found nan; give a finite number"),
    "infinite setting": ('[[runs]]\nname = "x"\n', ["--set", "lr=inf"], "--set lr: found inf; give a finite number"),
    "NaN radius": ('[[runs]]\nname = "x"\n', ["--set", "radii=[4, nan]"], "--set radii[1]: found nan"),
    "absurd attack steps": (PGD, ["--set", "pgd.steps=1000000000000"], "must be <= 10000"),
    "absurd batch size": ('[[runs]]\nname = "x"\n', ["--set", "batch_size=100000000000000000"], "must be <= 1000000"),
    "an attack eps given twice": (ATTACKS, ["--set", "attacks.eps=[0.03, 0.03]"],
                                  "--set attacks.eps[1]: 0.03 is given twice; give each value once"),
    # one rule for every list parameter: at least one value, each value once (radii may be empty: no probe)
    "a radius given twice": (RUN, ["--set", "radii=[4, 4.0]"], "--set radii[1]: 4 is given twice; give each value once"),
    "an attack given twice": (ATTACKS, ["--set", "attacks.attacks=['fgsm', 'fgsm']"],
                              "--set attacks.attacks[1]: 'fgsm' is given twice"),
    "a smoothing rho given twice": ('[[runs]]\nname = "k"\nplugins = ["kernel_smoothing"]\n',
                                    ["--set", "kernel_smoothing.rho=[1, 1]"], "--set kernel_smoothing.rho[1]: 1.0 is given twice"),
    "no attack eps": (ATTACKS, ["--set", "attacks.eps=[]"], "--set attacks.eps: the list is empty; give at least one value"),
    # each parameter's real domain, checked before the first image is evaluated
    "a BatchNorm eps of zero": ('[[runs]]\nname = "b"\nplugins = ["batchnorm"]\n', ["--set", "batchnorm.eps=0"],
                                "--set batchnorm.eps: found 0.0, must be > 0; give a value in (0, inf)"),
    "an attack eps beyond a pixel's range": (ATTACKS, ["--set", "attacks.eps=[1e9]"],
                                             "--set attacks.eps[0]: found 1000000000.0, must be <= 1; give a value in (0, 1]"),
    "an attack eps of zero": (ATTACKS, ["--set", "attacks.eps=[0, 0.03]"], "--set attacks.eps[0]: found 0.0, must be > 0"),
    "PGD training without steps": (PGD, ["--set", "pgd.steps=0"], "--set pgd.steps: found 0, must be >= 1; give a value "
                                                                   "in [1, 10000]"),
    "misspelt parameter on the command line": (DROPOUT, ["--set", "dropout.pp=0.3"],
                                               "--set dropout: plugin 'dropout' has no parameter 'pp'"),
    # checked before training (the data-dependent ones when the data is loaded, before the first line)
    "unknown report layout": (RUN, ["{layout}"], "unknown report layout 'nosuch'"),
    "unknown plot format": (RUN, ["--format", "png,xyz"], "--format 'xyz': unknown plot format"),
    "train_size beyond the data": (RUN, ["--set", "train_size=1000"],
                                   "run 'x': train_size: found 1000, but 'synthetic:train=240,test=120' has only 240"),
    "test_size beyond the data": (RUN, ["--set", "test_size=121"], "run 'x': test_size: found 121"),
    "unknown synthetic option": (RUN, ["--dataset", "synthetic:bogus=1"], "dataset synthetic: unknown option 'bogus'"),
    "batch larger than the training set": (RUN, ["--set", "batch_size=500"],
                                           "run 'x': batch_size: found 500, but the run trains on 240 images"),
    "batch larger than train_size": (RUN, ["--set", "train_size=30"], "batch_size: found 40, but the run trains on 30"),
    "absent device": (RUN, ["--device", "cuda:99"], "run 'x': device 'cuda:99'"),
    "absent --devices": (RUN, ["--jobs", "2", "--devices", "cpu,cuda:99"], "--devices cuda:99 (for runs x): device"),
    "radius beyond the image diagonal": (RUN, ["--set", "radii=[4, 100]"],
                                         "run 'x': radii: found 100, beyond the diagonal (45.3) of these 32x32 "
                                         "images; the largest useful radius is 23"),
    "report radius beyond the image diagonal": (RUN, ["--set", "report_radii=[0, 46]"], "report_radii: found 46"),
    "npz label of a million": (RUN, ["--dataset", "npz:{npz}"], "label 1000000 would mean 1000001 classes"),
    "empty npz file": (RUN, ["--dataset", "npz:{empty}"], "cannot be read as .npz (EOFError"),
    "npz header claiming 256 TiB": (RUN, ["--dataset", "npz:{huge}"],
                                    "array 'x_train' claims (70368744177664, 2, 2, 1) of uint8"),
    "--launcher-opt without =": (RUN, ["--launcher-opt", "partition"],
                                 "--launcher-opt 'partition': expected KEY=VALUE, e.g. --launcher-opt partition=gpu"),
    "--out under a file": (RUN, ["--out", "{file}/out"], "is a file; choose a folder you can write to"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, write_recipe, tmp_path):
    runs, arguments, message = CASES[case]
    head = TINY
    if "{layout}" in arguments:
        arguments, head = [], TINY.replace('report = "figure5"', 'report = "nosuch"')
    path = write_recipe(runs, head=head)
    out = tmp_path / "out"
    places = {"npz": write_npz_with_a_stray_label(tmp_path), "file": tmp_path / "a-file",
              "empty": tmp_path / "empty.npz", "huge": write_npz_claiming_256_tib(tmp_path)}
    places["empty"].write_bytes(b"")
    (tmp_path / "a-file").write_text("not a folder")
    arguments = [a.format(**places) for a in arguments]
    result = CliRunner().invoke(cli, ["recipe", str(path), "--out", str(out), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.rglob("*"))


def write_npz_with_a_stray_label(tmp_path):
    path = tmp_path / "stray.npz"
    images = np.zeros((20, 8, 8, 3), np.uint8)
    np.savez(path, x_train=images, x_test=images, y_train=np.arange(20) % 4, y_test=np.array([10**6] + [0] * 19))
    return path


def write_npz_claiming_256_tib(tmp_path):
    """An npz whose x_train header claims 2**46 images (numpy would allocate them before reading a byte)."""
    import io
    import zipfile

    path = tmp_path / "huge.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (2**46, 2, 2, 1)})
    with zipfile.ZipFile(path, "w") as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            archive.writestr(f"{key}.npy", header.getvalue())
    return path


def test_a_recipe_file_named_dot_dot_is_refused(tmp_path):
    path = tmp_path / "..toml"
    path.write_text('[[runs]]\nname = "x"\n')
    result = CliRunner().invoke(cli, ["recipe", str(path), "--out", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 2 and "recipe name" in result.stderr


def test_folders_derived_from_names_stay_under_out(tmp_path):
    """Names that bypass recipe parsing (a Run made in Python) are checked where folders are made."""
    import ablate
    from ablate.core.schema import folder_under

    for name in ("../escape", "/abs", ".", "a/../../b"):
        with pytest.raises(ablate.AblateError, match="outside"):
            folder_under(tmp_path / "out", name)
    assert folder_under(tmp_path / "out", "fine-name.1") == tmp_path / "out" / "fine-name.1"


def test_an_out_folder_that_cannot_be_made_is_one_line_for_library_callers_too(tmp_path):
    import ablate
    from ablate.execution.preflight import make_folder

    (tmp_path / "a-file").write_text("")
    with pytest.raises(ablate.AblateError, match=r"--out: cannot write to .*a-file/out \(Not a directory\)"):
        make_folder(tmp_path / "a-file" / "out")


def test_dry_run_catches_what_needs_no_data(write_recipe, tmp_path):
    """Layout, format, devices and launcher options are checked at expansion, so --dry-run refuses them."""
    bad_layout = write_recipe(RUN, name="layout", head=TINY.replace('report = "figure5"', 'report = "nosuch"'))
    for path, arguments, message in ((bad_layout, [], "unknown report layout"),
                                     (write_recipe(RUN), ["--device", "cuda:99"], "device 'cuda:99'")):
        result = CliRunner().invoke(cli, ["recipe", str(path), "--dry-run", "--out", str(tmp_path), *arguments])
        assert result.exit_code == 2 and message in result.stderr, result.output


def test_an_unknown_plot_format_of_a_model_comparison_writes_nothing(tmp_path):
    """--format is checked before anything is measured or made: no empty measured/ folder is left behind."""
    from test_zoo_leaderboard import probe_args, write_zoo

    zoo = write_zoo(tmp_path / "zoo.toml", ["low"])
    result = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--format", "exe"))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--format 'exe': unknown plot format" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """One tiny trained run's checkpoint (32x32 synthetic images: the diagonal is 45.3 bins)."""
    from ablate.execution.runner import run_recipe

    root = tmp_path_factory.mktemp("trained")
    path = root / "tiny.toml"
    path.write_text(textwrap.dedent(TINY) + RUN)
    run_recipe(path, "smoke", out=root / "out", report=False)
    return next((root / "out" / "tiny").glob("x-*/checkpoint.pt"))


# ablate probe refuses radii by the rules ablate recipe uses (the radii setting, then the image's diagonal),
# whichever path the probe takes (a lone checkpoint, or --rank's comparison), before any image is evaluated
PROBE_CASES = {
    "a radius past any image, with --rank": (["--radii", "0:100000", "--rank"],
                                            "--radii: found 100000, must be <= 4096; give a value in [0, 4096]"),
    "a range ending past any image": (["--radii", "4:1e12"], "--radii: found 1000000000000, must be <= 4096"),
    "a radius past the diagonal, with --rank": (["--radii", "4,50", "--rank"],
                                                "radii: found 50, beyond the diagonal (45.3) of these 32x32 images"),
    "a radius given twice": (["--radii", "4,8,4"], "--radii[2]: 4 is given twice; give each value once"),
    "no radius": (["--radii", ","], "--radii: the list is empty; give at least one value"),
    "an example radius past any image": (["--example-radius", "1e308"],
                                         "--example-radius: found 1e+308, must be <= 4096; give a value in [0, 4096]"),
    "an infinite example radius": (["--example-radius", "inf", "--rank"], "--example-radius: found inf; give a finite"),
    "an example radius past the diagonal, with --rank": (["--radii", "4", "--example-radius", "46", "--rank"],
                                                         "radii: found 46, beyond the diagonal (45.3)"),
}


@pytest.mark.parametrize("case", list(PROBE_CASES))
def test_probe_radii_are_bounded_before_any_image_is_evaluated(case, checkpoint, tmp_path, monkeypatch):
    import ablate.spectral.prober as prober

    def evaluated(*args, **kwargs):
        raise AssertionError("an image was evaluated")

    monkeypatch.setattr(prober.Prober, "__call__", evaluated)
    arguments, message = PROBE_CASES[case]
    out = tmp_path / "p"
    result = CliRunner().invoke(cli, ["probe", str(checkpoint), "--device", "cpu", "--out", str(out), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output and not any(out.rglob("*.csv"))
