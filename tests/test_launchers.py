"""Parallel workers and cluster jobs keep the sequential runner's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from ablate.checkpoint import load_checkpoint
from ablate.launchers import LaunchContext, merge_options
from ablate.launchers.cluster import submit
from ablate.plugins import get_registry
from ablate.runner import plan, recipe_status, run_recipe

from test_runner import KILLER, RUNS

THREE_RUNS = RUNS + '\n[[runs]]\nname = "mixup"\nplugins = ["mixup"]\n'


def test_two_jobs_give_the_sequential_results(write_recipe, tmp_path):
    path = write_recipe(THREE_RUNS)
    sequential = run_recipe(path, out=tmp_path / "seq")
    parallel = run_recipe(path, out=tmp_path / "par", jobs=2)
    pd.testing.assert_frame_equal(sequential, parallel)
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
    pd.testing.assert_frame_equal(reference.reset_index(drop=True), metrics[reference.columns])
