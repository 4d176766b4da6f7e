"""Launchers: parallel workers and cluster jobs keep the sequential runner's rules; a plugin adds a launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner
from test_runner import KILLER, RUNS

import ablate
from ablate.cli import cli
from ablate.core.registry import get_registry
from ablate.execution.launchers import LaunchContext, merge_options
from ablate.execution.launchers.cluster import submit
from ablate.execution.recipe_status import recipe_status
from ablate.execution.run_folder import RunTask, on_device
from ablate.execution.runner import plan, run_recipe
from ablate.study.expansion import Run
from ablate.train.checkpoint import load_checkpoint

THREE_RUNS = RUNS + '\n[[runs]]\nname = "mixup"\nplugins = ["mixup"]\n'


def test_two_jobs_give_the_sequential_results(write_recipe, tmp_path):
    path = write_recipe(THREE_RUNS)
    sequential = run_recipe(path, out=tmp_path / "seq")
    parallel = run_recipe(path, out=tmp_path / "par", jobs=2)
    pd.testing.assert_frame_equal(sequential, parallel)
    folders = {p.name for p in (tmp_path / "seq" / "tiny").iterdir() if p.is_dir()}
    assert folders == {p.name for p in (tmp_path / "par" / "tiny").iterdir() if p.is_dir()} and len(folders) == 3
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "seq" / "tiny" / "results.csv"),
                                  pd.read_csv(tmp_path / "par" / "tiny" / "results.csv"))
    assert set(recipe_status(tmp_path / "par" / "tiny")["status"]) == {"finished"}


def test_a_killed_worker_is_resumed_on_the_next_invocation(write_recipe, tmp_path):
    from test_plugin_system import install_distribution

    site = tmp_path / "site"
    site.mkdir()
    install_distribution(site, "ablate-kill", "1.0", {"kill": "ablate_kill:Kill"}, {"ablate_kill": KILLER})
    path = write_recipe(THREE_RUNS)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from ablate.cli import cli; cli()", "recipe", str(path), "--quiet",
               "--jobs", "2", "--out", str(tmp_path / "k")]
    killed = subprocess.run(command, env={**env, "KILL_RUN": "dropout", "KILL_STEP": "9"}, capture_output=True, text=True)
    assert killed.returncode != 0
    assert "dropout" in killed.stderr and "worker process died" in killed.stderr
    status = recipe_status(tmp_path / "k" / "tiny").set_index("run")["status"]
    assert status["dropout"] == "partial"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    sequential = run_recipe(path, out=tmp_path / "seq")
    pd.testing.assert_frame_equal(sequential, pd.read_csv(tmp_path / "k" / "tiny" / "results.csv"))


def test_cluster_jobs_through_submitit_survive_a_preemption(write_recipe, tmp_path, monkeypatch):
    """submitit's local executor stands in for Slurm; a simulated preemption requeues and resumes."""
    pytest.importorskip("submitit")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")     # the jobs compute as this process does, bit for bit
    path = write_recipe('[[runs]]\nname = "long"\nsettings = { epochs = 12 }\n'
                        '[[runs]]\nname = "short"\nsettings = { epochs = 1 }\n')
    overrides = []
    recipe, runs = plan(path, None, overrides)
    out = tmp_path / "cluster" / "tiny"
    options = merge_options("slurm", get_registry(), ({"cluster": "local", "time": 10}, "test"))
    jobs = submit(runs, LaunchContext(out, recipe.name, None, get_registry(), options))
    assert len(jobs) == 2
    checkpoint = out / runs[0].dir_name / "checkpoint.pt"
    deadline = time.time() + 240
    while time.time() < deadline:
        state = load_checkpoint(checkpoint) if checkpoint.exists() else None
        if state and 1 <= state["epoch"] < 12:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the long run never reached its first checkpoint")
    interrupted_at = state["epoch"]
    # What Slurm does before preempting a job: signal the job's process (submitit's USR2).
    from submitit.local.local import LocalJobEnvironment

    worker = json.loads((out / runs[0].dir_name / "running.json").read_text())["pid"]
    os.kill(worker, LocalJobEnvironment._usr_sig())
    for job in jobs:
        job.result()
    assert (out / runs[0].dir_name / "done.json").exists()
    final = load_checkpoint(checkpoint)
    assert final["epoch"] == 12 and len(final["resumes"]) == 1 and interrupted_at <= final["resumes"][0] < 12
    logs = "".join(p.read_text() for p in (out / ".submitit").rglob("*.err"))
    assert "Caught signal SIGUSR2" in logs
    assert json.loads((out / "jobs.json").read_text()).keys() == {"long", "short"}
    reference = run_recipe(path, None, overrides, out=tmp_path / "seq")
    metrics = pd.concat([pd.read_csv(out / r.dir_name / "metrics.csv") for r in runs], ignore_index=True)
    assert (reference.pop("seed") == 0).all()      # results.csv adds the run's seed to its metrics
    pd.testing.assert_frame_equal(reference.reset_index(drop=True), metrics[reference.columns])


# --------------------------------------------------------------------------
# The launcher interface: resolved runs in, failures out, any registered name
# --------------------------------------------------------------------------

TABLE = '\n[launcher]\ncluster = "local"\npartition = "gpu"\ntime = 5\n'


class Mine(ablate.Plugin):
    """A launcher plugin as a third party would write it: it trains each run here, through its task."""

    name = "mine"
    received: list = []

    class Launcher(ablate.Launcher):
        options = [ablate.Param("label", str, "none", "a word to prove options arrive")]

        def launch(self, runs, context):
            Mine.received.append(([type(r) for r in runs], [r.name for r in runs], dict(context.options)))
            failures = {}
            for run in runs:
                error = context.task(run)(registry=context.registry)
                if error:
                    failures[run.name] = error
            return failures

    @ablate.hookimpl
    def ablate_register_launchers(self, register):
        register("mine", Mine.Launcher(), help="trains here, for tests")


def test_a_plugin_launcher_gets_resolved_runs_from_the_api_and_the_cli(write_recipe, tmp_path, ablate_plugin):
    ablate_plugin(Mine)
    Mine.received.clear()
    path = write_recipe(RUNS)
    results = ablate.run_recipe(path, "smoke", out=tmp_path / "api", launcher="mine",
                                launcher_options={"label": "api"})
    assert Mine.received == [([Run, Run], ["vanilla", "dropout"], {"label": "api"})]
    assert set(results["run"]) == {"vanilla", "dropout"}
    assert set(recipe_status(tmp_path / "api" / "tiny")["status"]) == {"finished"}

    result = CliRunner().invoke(cli, ["recipe", str(path), "--scale", "smoke", "--quiet", "--out", str(tmp_path / "cli"),
                                      "--launcher", "mine", "--launcher-opt", "label=cli"])
    assert result.exit_code == 0, result.output
    assert Mine.received[1] == ([Run, Run], ["vanilla", "dropout"], {"label": "cli"})
    again = ablate.run_recipe(path, "smoke", out=tmp_path / "cli", launcher="mine")
    assert Mine.received[2][1] == []                     # finished runs are not handed out again
    pd.testing.assert_frame_equal(results, again)


def test_an_unknown_launcher_is_one_line_listing_the_known_ones(write_recipe, tmp_path):
    result = CliRunner().invoke(cli, ["recipe", str(write_recipe(RUNS)), "--dry-run", "--launcher", "ray"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "ablate: error: --launcher 'ray': unknown launcher; known launchers: local, processes, slurm "
        "(see `ablate plugins`)"]


def test_run_recipe_from_python_honours_the_recipes_launcher_table(write_recipe, tmp_path, monkeypatch):
    import ablate.execution.launchers.cluster as cluster

    given = []
    monkeypatch.setattr(cluster, "submit", lambda runs, context: given.append((runs, context.options)) or [])
    path = write_recipe(RUNS + TABLE)
    ablate.run_recipe(path, "smoke", out=tmp_path, launcher="slurm", launcher_options={"time": 7})
    runs, options = given[0]
    assert [r.name for r in runs] == ["vanilla", "dropout"]
    assert options == {"cluster": "local", "partition": "gpu", "time": 7, "gpus": None, "cpus": None,
                       "mem_gb": None, "parallel": None, "wait": False}


def test_submitit_waits_when_the_recipe_says_so(write_recipe, tmp_path, monkeypatch):
    """wait = true in the recipe's table, given only to run_recipe: the jobs run (locally) and results come back."""
    pytest.importorskip("submitit")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = write_recipe('[[runs]]\nname = "vanilla"\n\n[launcher]\ncluster = "local"\nwait = true\n')
    results = run_recipe(path, "smoke", out=tmp_path / "slurm", launcher="slurm")
    assert set(results["run"]) == {"vanilla"}
    assert json.loads((tmp_path / "slurm" / "tiny" / "jobs.json").read_text()).keys() == {"vanilla"}
    pd.testing.assert_frame_equal(results, run_recipe(path, "smoke", out=tmp_path / "seq"))


def test_other_launchers_options_in_the_recipe_are_checked_but_do_not_stop_a_local_run(write_recipe, tmp_path):
    path = write_recipe(RUNS + TABLE)
    assert set(run_recipe(path, "smoke", out=tmp_path, only=["vanilla"])["run"]) == {"vanilla"}
    bad = write_recipe(RUNS + '\n[launcher]\ngpus = "many"\n', name="bad")
    with pytest.raises(ablate.AblateError, match=r"bad.toml: launcher.gpus: expected int, found 'many'"):
        run_recipe(bad, "smoke", out=tmp_path)


def test_the_recipe_is_expanded_once_per_call(write_recipe, tmp_path, monkeypatch):
    import ablate.execution.runner

    calls = []
    real = ablate.execution.runner.expand
    monkeypatch.setattr(ablate.execution.runner, "expand", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    path = write_recipe(RUNS)
    run_recipe(path, "smoke", out=tmp_path / "api")
    assert len(calls) == 1
    result = CliRunner().invoke(cli, ["recipe", str(path), "--scale", "smoke", "--quiet", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2


def test_workers_train_the_resolved_runs_without_reading_the_recipe_again(write_recipe, tmp_path):
    from ablate.execution.recipe_options import RecipeOptions
    from ablate.execution.runner import prepare, run_study

    path = write_recipe(RUNS)
    study = prepare(path, RecipeOptions("smoke", out=tmp_path / "par", jobs=2))
    path.unlink()                                   # a worker that re-expanded the recipe would fail now
    parallel = run_study(study)
    assert set(parallel["run"]) == {"vanilla", "dropout"}
    assert set(recipe_status(tmp_path / "par" / "tiny")["status"]) == {"finished"}


def test_a_workers_device_keeps_the_runs_folder(write_recipe, tmp_path):
    run = plan(write_recipe(RUNS), "smoke", ['device="auto"'])[1][0]
    assert on_device(run, "cpu").settings.device == "cpu" and run.settings.device == "auto"
    assert on_device(run, "cpu").dir_name == run.dir_name
    task = RunTask(run, tmp_path, "tiny", "smoke")
    assert task(device="cpu") is None
    config = json.loads((tmp_path / run.dir_name / "config.json").read_text())
    assert config["settings"]["device"] == "cpu" and config["hash"] == run.short_hash
