"""A run folder is never reused for other data (issue 22, item 1: ablate.execution.run_conditions), nor, for a
batch-statistics BatchNorm run, at another evaluation batch size (issue 22, item 3; since issue 31 that size is
part of the run's identity)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ablate.cli import cli
from ablate.core.evaluation import EVALUATION_VERSION
from ablate.data.loading import clear_cache
from ablate.train.checkpoint import load_checkpoint, save_checkpoint

NPZ_RECIPE = """
    description = "a tiny study on an npz file"
    report = "figure5"

    [settings]
    dataset = "npz:{path}"
    model = "resnet18"
    width = 0.0625
    epochs = 1
    batch_size = 20
    radii = [4]
    eval_batch_size = 20
    device = "cpu"

    [[runs]]
    name = "plain"
"""


def write_npz(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8), y_train=np.arange(40) % 4,
             x_test=rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8), y_test=np.arange(20) % 4)


def ablate(*args: str):
    clear_cache()                   # as a new process would: the data set is read from disk again
    return CliRunner().invoke(cli, [*args, "--quiet"])


def test_a_finished_run_on_changed_data_is_refused_in_one_line(tmp_path, write_recipe):
    data = tmp_path / "data.npz"
    write_npz(data, seed=0)
    recipe = write_recipe("", head=NPZ_RECIPE.format(path=data))
    first = ablate("recipe", str(recipe), "--out", str(tmp_path / "runs"))
    assert first.exit_code == 0, first.output
    config = json.loads(next((tmp_path / "runs").glob("tiny/plain-*/config.json")).read_text())
    assert set(config["conditions"]) == {"data", "device_type", "test_originals", "evaluation"}   # no batch BN
    assert config["conditions"]["evaluation"] == EVALUATION_VERSION
    again = ablate("recipe", str(recipe), "--out", str(tmp_path / "runs"))
    assert again.exit_code == 0, again.output                            # the same data: skipped as finished
    write_npz(data, seed=1)                                              # other images under the same name
    changed = ablate("recipe", str(recipe), "--out", str(tmp_path / "runs"))
    assert changed.exit_code == 2
    errors = [line for line in changed.output.splitlines() if line.startswith("ablate: error:")]
    assert len(errors) == 1 and "data changed since this run was trained" in errors[0], changed.output
    assert "Traceback" not in changed.output


def test_a_batch_statistics_run_at_another_eval_batch_size_is_another_run(tmp_path, write_recipe):
    """Its numbers depend on the evaluation batch (issue 31: part of its identity, no longer a recorded condition)."""
    recipe = write_recipe('[[runs]]\nname = "bn"\nplugins = ["batchnorm"]\n[[runs]]\nname = "plain"\n')
    out = ["--out", str(tmp_path), "--scale", "smoke"]
    assert ablate("recipe", str(recipe), *out).exit_code == 0
    again = ablate("recipe", str(recipe), *out, "--set", "eval_batch_size=7")
    assert again.exit_code == 0, again.output
    assert len(list(tmp_path.glob("tiny/bn-*/done.json"))) == 2                  # trained anew, under its own name
    assert len(list(tmp_path.glob("tiny/plain-*"))) == 1                     # its evaluation needs no batch


def test_another_device_type_is_a_warning(tmp_path, write_recipe):
    recipe = write_recipe('[[runs]]\nname = "plain"\n')
    out = ["--out", str(tmp_path), "--scale", "smoke"]
    assert ablate("recipe", str(recipe), *out).exit_code == 0
    path = next(tmp_path.glob("tiny/plain-*/config.json"))
    config = json.loads(path.read_text())
    config["conditions"]["device_type"] = "cuda"
    path.write_text(json.dumps(config))
    again = CliRunner().invoke(cli, ["recipe", str(recipe), *out])
    assert again.exit_code == 0, again.output
    assert "trained on cuda, now on cpu" in again.output


def test_a_run_evaluated_before_test_originals_were_fed_at_x_over_255_is_noted_or_refused(tmp_path, write_recipe):
    """A folder recorded without ``test_originals`` tested its originals with its own ``normalize``: a finished
    "max" run is a note (training was the same), resuming it is refused (one curve would mix two scales);
    a "none" run fed them as x / 255 then too and is reused silently."""
    recipe = write_recipe('[[runs]]\nname = "plain"\n[[runs]]\nname = "flat"\nsettings = { normalize = "none" }\n')
    out = ["--out", str(tmp_path), "--scale", "smoke"]
    assert ablate("recipe", str(recipe), *out).exit_code == 0
    for name in ("plain", "flat"):
        path = next(tmp_path.glob(f"tiny/{name}-*/config.json"))
        config = json.loads(path.read_text())
        assert config["conditions"]["test_originals"] == "none"          # x / 255 under either normalize
        del config["conditions"]["test_originals"]                        # as ablate wrote it before issue 23
        path.write_text(json.dumps(config))
    finished = CliRunner().invoke(cli, ["recipe", str(recipe), *out])
    assert finished.exit_code == 0, finished.output
    notes = [line for line in finished.output.splitlines() if "fed as x / max(x)" in line]
    assert len(notes) == 1 and "'plain'" in notes[0], finished.output
    next(tmp_path.glob("tiny/plain-*/done.json")).unlink()               # half-finished: it would resume
    refused = ablate("recipe", str(recipe), *out)
    assert refused.exit_code == 2 and "resuming would mix both in one curve" in refused.output, refused.output
    assert "Traceback" not in refused.output


def test_a_folder_of_an_older_evaluation_is_noted_and_measured_again_from_its_checkpoint(tmp_path, write_recipe):
    recipe = write_recipe('[[runs]]\nname = "plain"\n')
    out = ["--out", str(tmp_path), "--scale", "smoke"]
    assert ablate("recipe", str(recipe), *out).exit_code == 0
    study = tmp_path / "tiny"
    run_dir = next(study.glob("plain-*"))
    before = pd.read_csv(study / "results.csv")
    last = int(before["epoch"].max())
    final_test = (before["epoch"] == last) & (before["split"] == "test") & (before["component"] == "original") \
        & (before["metric"] == "accuracy")
    true_value = float(before.loc[final_test, "value"].iloc[0])
    # As a folder measured by version 3 would be: no "evaluation" record, and its own final number.
    config = json.loads((run_dir / "config.json").read_text())
    del config["conditions"]["evaluation"]
    (run_dir / "config.json").write_text(json.dumps(config))
    state = load_checkpoint(run_dir / "checkpoint.pt")
    for row in state["rows"]:
        if (row["epoch"], row["split"], row["component"], row["metric"]) == (last, "test", "original", "accuracy"):
            row["value"] = 0.123
    save_checkpoint(run_dir / "checkpoint.pt", state)
    tampered = before.copy()
    tampered.loc[final_test, "value"] = 0.123
    tampered.to_csv(study / "results.csv", index=False)
    tampered[tampered["run"] == "plain"].drop(columns="seed").to_csv(run_dir / "metrics.csv", index=False)

    again = CliRunner().invoke(cli, ["recipe", str(recipe), *out])
    assert again.exit_code == 0, again.output
    notes = [line for line in again.output.splitlines() if "its numbers were measured by evaluation version 3" in line]
    assert len(notes) == 1 and "--reevaluate" in notes[0], again.output
    assert "measured by an older evaluation" in " ".join(again.output.split()), "its report says so too"
    shown = CliRunner(env={"COLUMNS": "400"}).invoke(cli, ["report", str(study)])
    assert shown.exit_code == 0 and "measured by an older evaluation" in " ".join(shown.output.split())

    measured = CliRunner(env={"COLUMNS": "400"}).invoke(cli, ["report", str(study), "--reevaluate"])
    assert measured.exit_code == 0, measured.output
    assert "measured again: plain" in measured.output and "older evaluation" not in measured.output
    after = pd.read_csv(study / "results.csv")
    assert float(after.loc[final_test, "value"].iloc[0]) == pytest.approx(true_value, abs=1e-6)
    earlier_epochs = before["epoch"] < last
    pd.testing.assert_frame_equal(after[earlier_epochs].reset_index(drop=True),
                                  before[earlier_epochs].reset_index(drop=True))
    assert len(after) == len(before)
    old = pd.read_csv(run_dir / "earlier_evaluations.csv")
    row = old[(old["split"] == "test") & (old["component"] == "original") & (old["metric"] == "accuracy")]
    assert row["value"].tolist() == [0.123] and set(old["evaluation"]) == {3} and set(old["epoch"]) == {last}
    conditions = json.loads((run_dir / "config.json").read_text())["conditions"]
    assert conditions["evaluation"] == EVALUATION_VERSION and conditions["curves_evaluation"] == 3
    nothing = CliRunner().invoke(cli, ["report", str(study), "--reevaluate"])
    assert nothing.exit_code == 0 and "nothing to measure again" in nothing.output


def test_a_half_finished_folder_of_an_older_evaluation_resumes_with_a_note_and_records_its_curves_version(
        tmp_path, write_recipe):
    recipe = write_recipe('[[runs]]\nname = "plain"\n')
    out = ["--out", str(tmp_path), "--scale", "smoke"]
    assert ablate("recipe", str(recipe), *out).exit_code == 0
    run_dir = next((tmp_path / "tiny").glob("plain-*"))
    config = json.loads((run_dir / "config.json").read_text())
    del config["conditions"]["evaluation"]
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "done.json").unlink()                                      # as if killed before it was marked
    resumed = CliRunner().invoke(cli, ["recipe", str(recipe), *out])
    assert resumed.exit_code == 0, resumed.output
    assert "its epochs so far were measured by evaluation version 3" in resumed.output
    conditions = json.loads((run_dir / "config.json").read_text())["conditions"]
    assert conditions["evaluation"] == EVALUATION_VERSION and conditions["curves_evaluation"] == 3
