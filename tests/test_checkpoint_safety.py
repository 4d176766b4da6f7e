"""Checkpoints are data: loading one never runs code, wherever ablate reads it."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch.torch_version import TorchVersion

import ablate
from ablate.cli import cli
from ablate.train.checkpoint import MIN_TORCH, load_checkpoint

from conftest import ctrl_c_at_epoch


class Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted(path, marker):
    torch.save({"model": {"conv.weight": torch.zeros(1)}, "settings": {}, "plugins": [], "payload": Payload(marker)},
               path)
    return path


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    path = crafted(tmp_path / "evil.pt", tmp_path / "pwned")
    with pytest.raises(ablate.AblateError, match="refused"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_ablate_probe_refuses_a_crafted_checkpoint(tmp_path):
    path = crafted(tmp_path / "evil.pt", tmp_path / "pwned")
    result = CliRunner().invoke(cli, ["probe", str(path), "--device", "cpu"])
    assert result.exit_code == 2 and "refused" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "pwned").exists()


def test_resume_refuses_a_crafted_checkpoint(write_recipe, tmp_path):
    path = write_recipe('[[runs]]\nname = "x"\n')
    from ablate.study.expansion import expand

    (run,) = expand(ablate.load_recipe(path), "smoke")
    run_dir = tmp_path / "out" / "tiny" / run.dir_name
    run_dir.mkdir(parents=True)
    crafted(run_dir / "checkpoint.pt", tmp_path / "pwned")
    from ablate.execution.runner import RecipeFailed

    with pytest.raises(RecipeFailed, match="refused"):
        ablate.run_recipe(path, "smoke", out=tmp_path / "out")
    assert not (tmp_path / "pwned").exists()


def test_the_report_refuses_a_crafted_checkpoint(tmp_path):
    out = tmp_path / "adversarial"
    run_dir = out / "natural-00000000"
    run_dir.mkdir(parents=True)
    crafted(run_dir / "checkpoint.pt", tmp_path / "pwned")
    pd.DataFrame([{"run": "natural", "epoch": 1, "split": "test", "component": "original", "metric": "accuracy",
                   "value": 0.5, "attack": "none", "eps": 0.0, "variant": "final"}]).to_csv(out / "results.csv")
    (out / "recipe.json").write_text(json.dumps({"recipe": "adversarial", "report": "adversarial",
                                                 "runs": [{"name": "natural", "dir": "natural-00000000"}]}))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["report", str(out)])
    assert not (tmp_path / "pwned").exists()
    assert "refused" in result.output


def declared_minimum(package: str) -> TorchVersion:
    """The lowest version of ``package`` that setup.cfg lets pip install."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[1] / "setup.cfg")
    lines = config["options"]["install_requires"].split()
    return TorchVersion(next(re.fullmatch(rf"{package}>=([\d.]+)", line)[1] for line in lines
                             if line.startswith(f"{package}>=")))


def test_setup_cfg_requires_a_torch_whose_loader_is_safe():
    assert declared_minimum("torch") >= MIN_TORCH
    assert declared_minimum("torchvision") >= "0.21"       # the torchvision released with torch 2.6


def test_an_old_torch_is_named_instead_of_a_damaged_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "epoch": 1}, path)
    monkeypatch.setattr(torch, "__version__", "2.4.1+cpu")
    with pytest.raises(ablate.AblateError, match=r"torch 2\.4\.1\+cpu cannot load checkpoints safely") as error:
        load_checkpoint(path)
    assert "pip install" in str(error.value) and "delete" not in str(error.value)


def test_new_checkpoints_load_with_weights_only_and_no_allowlist(write_recipe, tmp_path):
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["mixup"]\n')
    ablate.run_recipe(path, "smoke", out=tmp_path)
    (checkpoint,) = (tmp_path / "tiny").glob("x-*/checkpoint.pt")
    state = torch.load(checkpoint, weights_only=True)
    assert state["finished"] and state["rng"]["numpy"][0] == "MT19937"


def stop_at_epoch(path, out, epoch, monkeypatch) -> None:
    """Run the recipe at ``path`` until ``epoch`` starts, where Ctrl-C stops it."""
    with ctrl_c_at_epoch(epoch, monkeypatch):
        ablate.run_recipe(path, None, out=out)


def test_checkpoints_of_earlier_versions_still_resume(write_recipe, tmp_path, monkeypatch):
    """Before the safe format, the numpy random state was saved as an array: such a run still resumes."""
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["mixup"]\n')
    whole = ablate.run_recipe(path, None, out=tmp_path / "whole")
    stop_at_epoch(path, tmp_path / "old", 2, monkeypatch)
    (checkpoint,) = (tmp_path / "old" / "tiny").glob("x-*/checkpoint.pt")
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] == 1
    name, keys, *rest = state["rng"]["numpy"]
    state["rng"]["numpy"] = (name, np.asarray(keys, dtype=np.uint32), *rest)     # as earlier versions saved it
    torch.save(state, checkpoint)
    with pytest.raises(Exception):
        torch.load(checkpoint, weights_only=True)       # plain weights_only refuses it: the allowlist is needed
    pd.testing.assert_frame_equal(ablate.run_recipe(path, None, out=tmp_path / "old"), whole)


def test_a_run_stopped_in_its_first_epoch_resumes_without_repeating_epoch_0(write_recipe, tmp_path, monkeypatch):
    path = write_recipe('[[runs]]\nname = "x"\n')
    whole = ablate.run_recipe(path, None, out=tmp_path / "whole")
    stop_at_epoch(path, tmp_path / "stopped", 1, monkeypatch)
    pd.testing.assert_frame_equal(ablate.run_recipe(path, None, out=tmp_path / "stopped"), whole)
