"""Hostile and mistaken inputs: exit 2, one line naming the problem, no traceback, nothing written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ablate.cli import cli

DROPOUT = '[[runs]]\nname = "d"\nplugins = ["dropout"]\n'
PGD = '[[runs]]\nname = "p"\nplugins = ["pgd"]\n'

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
    "misspelt parameter on the command line": (DROPOUT, ["--set", "dropout.pp=0.3"],
                                               "--set dropout: plugin 'dropout' has no parameter 'pp'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, write_recipe, tmp_path):
    runs, arguments, message = CASES[case]
    path = write_recipe(runs)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["recipe", str(path), "--out", str(out), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.rglob("*"))


def test_a_recipe_file_named_dot_dot_is_refused(tmp_path):
    path = tmp_path / "..toml"
    path.write_text('[[runs]]\nname = "x"\n')
    result = CliRunner().invoke(cli, ["recipe", str(path), "--out", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 2 and "recipe name" in result.stderr


def test_folders_derived_from_names_stay_under_out(tmp_path):
    """Names that bypass recipe parsing (a Run made in Python) are checked where folders are made."""
    import ablate
    from ablate.schema import folder_under

    for name in ("../escape", "/abs", ".", "a/../../b"):
        with pytest.raises(ablate.AblateError, match="outside"):
            folder_under(tmp_path / "out", name)
    assert folder_under(tmp_path / "out", "fine-name.1") == tmp_path / "out" / "fine-name.1"
