"""Running whole recipes: folders, skipping, resuming, failures, results.csv."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

import ablate
from ablate.cli import cli
from ablate.core.schema import RESULT_COLUMNS
from ablate.execution.runner import RecipeFailed, run_recipe

RUNS = """
    [[runs]]
    name = "vanilla"

    [[runs]]
    name = "dropout"
    plugins = ["dropout"]
"""

GRID_AND_PLAIN = """
    [[runs]]
    name = "a"

    [[runs]]
    name = "c"
    plugins = ["dropout"]

    [[runs]]
    name = "g"
    plugins = ["dropout"]
    [runs.grid]
    "dropout.p" = [0.1, 0.2]
"""


def test_set_on_a_grid_key_is_refused_for_the_selected_runs_only(write_recipe, tmp_path):
    path, out = write_recipe(GRID_AND_PLAIN), tmp_path / "out"

    def recipe(*arguments):
        return CliRunner().invoke(cli, ["recipe", str(path), "--scale", "smoke", "--out", str(out), "--quiet",
                                        *arguments])

    for selection in ([], ["--run", "g-p0.1"], ["--run", "a", "--run", "g-p0.2"]):
        refused = recipe(*selection, "--set", "dropout.p=0.9")
        assert refused.exit_code == 2 and "--set dropout.p would override 'dropout.p'" in refused.stderr
    trained = recipe("--run", "c", "--set", "dropout.p=0.9")
    assert trained.exit_code == 0, trained.output
    (entry,) = json.loads((out / "tiny" / "recipe.json").read_text())["runs"]
    assert entry["name"] == "c" and entry["plugins"]["dropout"]["p"] == 0.9 and entry["status"] == "finished"


def test_a_selected_run_leaves_the_other_runs_in_recipe_json_and_results(write_recipe, tmp_path):
    path, out = write_recipe(GRID_AND_PLAIN), tmp_path / "out"
    run_recipe(path, "smoke", out=out, only=["a", "g-p0.1", "g-p0.2"])
    before = pd.read_csv(out / "tiny" / "results.csv")
    results = run_recipe(path, "smoke", ["dropout.p=0.9"], out=out, only=["c"])
    plan = json.loads((out / "tiny" / "recipe.json").read_text())
    assert [r["name"] for r in plan["runs"]] == ["a", "g-p0.1", "g-p0.2", "c"]
    assert {r["status"] for r in plan["runs"]} == {"finished"}
    on_disk = pd.read_csv(out / "tiny" / "results.csv")
    pd.testing.assert_frame_equal(on_disk[on_disk["run"] != "c"].reset_index(drop=True), before)
    assert set(on_disk["run"]) == set(results["run"]) == {"a", "g-p0.1", "g-p0.2", "c"}


def test_run_recipe_writes_folders_and_results(write_recipe, tmp_path):
    path = write_recipe(RUNS)
    results = run_recipe(path, "smoke", out=tmp_path / "out")
    out = tmp_path / "out" / "tiny"
    assert set(results["run"]) == {"vanilla", "dropout"}
    on_disk = pd.read_csv(out / "results.csv")
    assert list(on_disk.columns[:7]) == ["run", "epoch", "split", "component", "radius", "metric", "value"]
    assert len(on_disk) == len(results)
    plan = json.loads((out / "recipe.json").read_text())
    assert [r["status"] for r in plan["runs"]] == ["finished", "finished"]
    config = json.loads((out / plan["runs"][1]["dir"] / "config.json").read_text())
    assert config["plugins"] == [["dropout", {"p": 0.5, "where": "pool"}]]
    assert config["ablate_version"] == ablate.__version__ and config["torch_version"] and config["device"] == "cpu"
    assert "git_revision" in config and config["seed"] == 0


def test_finished_runs_are_skipped(write_recipe, tmp_path):
    path = write_recipe(RUNS)
    run_recipe(path, "smoke", out=tmp_path)
    done = sorted(tmp_path.glob("tiny/*/done.json"))
    stamps = [p.stat().st_mtime_ns for p in done]
    again = run_recipe(path, "smoke", out=tmp_path)
    assert [p.stat().st_mtime_ns for p in done] == stamps
    assert len(again) == len(pd.read_csv(tmp_path / "tiny" / "results.csv"))


class Explode(ablate.Plugin):
    name = "explode"

    @ablate.hookimpl
    def ablate_train_batch(self, batch):
        raise ValueError("kaboom")


def test_a_failing_run_is_reported_and_the_others_go_on(write_recipe, tmp_path, ablate_plugin):
    ablate_plugin(Explode)
    path = write_recipe('[[runs]]\nname = "bad"\nplugins = ["explode"]\n' + RUNS)
    with pytest.raises(RecipeFailed, match="1 of 3 runs failed.*bad: plugin 'explode' raised ValueError: kaboom"):
        run_recipe(path, "smoke", out=tmp_path)
    results = pd.read_csv(tmp_path / "tiny" / "results.csv")
    assert set(results["run"]) == {"bad", "vanilla", "dropout"}
    assert set(results.query("run == 'bad'")["epoch"]) == {0}          # what it measured before failing
    assert set(results.query("run == 'vanilla'")["epoch"]) == {0, 1}
    statuses = {r["name"]: r["status"] for r in json.loads((tmp_path / "tiny" / "recipe.json").read_text())["runs"]}
    assert statuses == {"bad": "failed", "vanilla": "finished", "dropout": "finished"}
    with pytest.raises(RecipeFailed, match="run 'bad' failed"):
        run_recipe(path, "smoke", out=tmp_path / "ff", fail_fast=True)
    ran = set(pd.read_csv(tmp_path / "ff" / "tiny" / "results.csv")["run"])
    assert ran == {"bad"}                                  # stopped before the others started


def test_cli_runs_a_recipe_and_reports(write_recipe, tmp_path):
    path = write_recipe(RUNS)
    result = CliRunner().invoke(cli, ["recipe", str(path), "--scale", "smoke", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "vanilla" in result.output and "dropout" in result.output
    assert (tmp_path / "tiny" / "results.csv").exists()
    again = CliRunner().invoke(cli, ["report", str(tmp_path / "tiny")])
    assert again.exit_code == 0 and "dropout" in again.output


KILLER = """
    import os, signal
    import ablate

    class Kill(ablate.Plugin):
        '''Kills its own process (SIGKILL, no clean-up) in the given run at the given step.'''
        name = "kill"
        autoload = True

        @ablate.hookimpl
        def ablate_after_step(self, state):
            if state.run_name == os.environ.get("KILL_RUN") and state.step == int(os.environ["KILL_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_recipe_resumes_to_the_uninterrupted_results(write_recipe, tmp_path):
    """SIGKILL mid-run: finished runs are not recomputed, the killed one resumes, results are identical."""
    from test_plugin_system import install_distribution

    site = tmp_path / "site"
    site.mkdir()
    install_distribution(site, "ablate-kill", "1.0", {"kill": "ablate_kill:Kill"}, {"ablate_kill": KILLER})
    path = write_recipe(RUNS + '\n[[runs]]\nname = "mixup"\nplugins = ["mixup"]\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from ablate.cli import cli; cli()", "recipe", str(path), "--quiet"]

    whole = subprocess.run(command + ["--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    # 2 epochs of 6 steps: kill the second run in its second epoch
    killed = subprocess.run(command + ["--out", str(tmp_path / "k")], env={**env, "KILL_RUN": "dropout", "KILL_STEP": "9"},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    first_done = next((tmp_path / "k" / "tiny").glob("vanilla-*/done.json"))
    stamp = first_done.stat().st_mtime_ns
    resumed = subprocess.run(command + ["--out", str(tmp_path / "k")], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert first_done.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / "tiny" / "results.csv"),
                                  pd.read_csv(tmp_path / "k" / "tiny" / "results.csv"))


def test_a_run_another_live_process_trains_is_left_alone(write_recipe, tmp_path):
    from ablate.core.files import write_json
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    path = write_recipe(RUNS)
    vanilla = expand(load_recipe(path), "smoke")[0]
    busy = tmp_path / "tiny" / vanilla.dir_name
    write_json(busy / "running.json", {"host": __import__("socket").gethostname(), "pid": os.getppid()})
    results = run_recipe(path, "smoke", out=tmp_path)
    assert set(results["run"]) == {"dropout"}
    assert not (busy / "checkpoint.pt").exists()
    (busy / "running.json").write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": 2**22 + 7}))
    results = run_recipe(path, "smoke", out=tmp_path)       # its owner is gone: the run is trained now
    assert set(results["run"]) == {"vanilla", "dropout"}


def test_sigterm_stops_like_ctrl_c(write_recipe, tmp_path):
    path = write_recipe('[[runs]]\nname = "long"\nsettings = { epochs = 40 }\n')
    command = [sys.executable, "-c", "from ablate.cli import cli; cli()", "recipe", str(path), "--quiet",
               "--out", str(tmp_path)]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    checkpoint = None
    for _ in range(600):
        found = list((tmp_path / "tiny").glob("long-*/checkpoint.pt"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.1)
    assert checkpoint is not None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    plan = json.loads((tmp_path / "tiny" / "recipe.json").read_text())
    assert plan["runs"][0]["status"] == "partial"


def test_the_python_api_is_the_cli_without_the_cli(write_recipe, tmp_path):
    recipe = ablate.load_recipe(write_recipe(RUNS))
    results = ablate.run_recipe(recipe, "smoke", ["epochs=1"], out=tmp_path)
    assert isinstance(results, pd.DataFrame) and set(results["run"]) == {"vanilla", "dropout"}
    assert callable(ablate.split)


def test_a_plugins_own_metric_columns_reach_metrics_and_results(write_recipe, ablate_plugin, tmp_path):
    class Sharpness(ablate.Plugin):
        name = "sharpness"

        @ablate.hookimpl
        def ablate_epoch_end(self, state):
            return [{"split": "test", "component": "original", "radius": None, "metric": "sharpness",
                     "value": 0.5 * state.epoch, "direction": "top-eigen"}]

    ablate_plugin(Sharpness)
    path = write_recipe('[[runs]]\nname = "plain"\n[[runs]]\nname = "sharp"\nplugins = ["sharpness"]\n')
    results = ablate.run_recipe(path, "smoke", out=tmp_path)
    on_disk = pd.read_csv(tmp_path / "tiny" / "results.csv")
    assert list(on_disk.columns[:10]) == RESULT_COLUMNS and "direction" in on_disk.columns
    rows = on_disk[on_disk["metric"] == "sharpness"]
    assert list(rows["direction"]) == ["top-eigen", "top-eigen"] and list(rows["value"]) == [0.0, 0.5]
    assert on_disk.loc[on_disk["run"] == "plain", "direction"].isna().all()
    assert "direction" in results.columns
    (metrics,) = (tmp_path / "tiny").glob("sharp-*/metrics.csv")
    assert "direction" in pd.read_csv(metrics).columns
