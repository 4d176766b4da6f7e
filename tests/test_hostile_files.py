"""Hostile files given to report, compare, status and probe; a full disk; what kills leave behind."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time

import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from ablate.cli import cli
from ablate.execution.runner import run_recipe
from ablate.study.expansion import Run

from conftest import TINY


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One tiny trained recipe (train_size 200): its output folder and its run's checkpoint."""
    root = tmp_path_factory.mktemp("study")
    path = root / "tiny.toml"
    path.write_text(TINY.replace("batch_size = 40", "batch_size = 40\ntrain_size = 200") + '\n[[runs]]\nname = "x"\n')
    run_recipe(path, "smoke", out=root / "out", report=False)
    out = root / "out" / "tiny"
    return out, next(out.glob("x-*/checkpoint.pt"))


def copy_of(out, tmp_path, **files):
    """A copy of the study's output folder with some of its files replaced (bytes or text)."""
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name, content in files.items():
        target = copy / name.replace("__", ".")
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    return copy


# (how to make the arguments from the study and tmp_path, text the one-line message holds)
ONE_LINERS = {
    "report on a binary results.csv": (
        lambda out, ckpt, tmp: ["report", copy_of(out, tmp, results__csv=bytes(range(256)) * 8)],
        "results.csv: not a results table"),
    "compare with a binary results.csv": (
        lambda out, ckpt, tmp: ["compare", out, copy_of(out, tmp, results__csv=b"\xff\xfe\x00" * 300)],
        "not a results table"),
    "status on a corrupt recipe.json": (
        lambda out, ckpt, tmp: ["status", copy_of(out, tmp, recipe__json='{"runs": [')],
        "recipe.json: damaged or not written by ablate"),
    "status on a recipe.json that is a list": (
        lambda out, ckpt, tmp: ["status", copy_of(out, tmp, recipe__json="[1, 2]")], "recipe.json: damaged"),
    "report on a recipe.json that is a list": (
        lambda out, ckpt, tmp: ["report", copy_of(out, tmp, recipe__json="[1, 2]")], "not a recipe plan (a list)"),
    "report on a recipe.json whose runs are not tables": (
        lambda out, ckpt, tmp: ["report", copy_of(out, tmp, recipe__json='{"recipe": "tiny", "runs": [1, "x"]}')],
        "recipe.json: damaged: its runs are not tables"),
    "probe of a plain tensor file": (
        lambda out, ckpt, tmp: ["probe", save(tmp / "plain.pt", torch.zeros(3))], "holds a Tensor, not a dict"),
    "probe of a bare state dict": (
        lambda out, ckpt, tmp: ["probe", save(tmp / "sd.pt", {"model": {"w": torch.zeros(1)}})],
        "not an ablate checkpoint (no settings or plugins)"),
    "probe on another channel count": (
        lambda out, ckpt, tmp: ["probe", ckpt, "--dataset", "synthetic:channels=1", "--out", tmp / "p"],
        "the model was trained on 'synthetic:train=240,test=120' and does not fit this data (its layer 'stem'"),
    "probe on another class count": (
        lambda out, ckpt, tmp: ["probe", ckpt, "--dataset", "synthetic:classes=4", "--out", tmp / "p"],
        "does not fit this data (its layer 'fc'"),
    "probe on too few images": (
        lambda out, ckpt, tmp: ["probe", ckpt, "--dataset", "synthetic:train=20,test=10", "--out", tmp / "p"],
        "--dataset synthetic:train=20,test=10: has 20 training images, but the model's run used train_size=200, "
        "which probe keeps"),
    "probe --html without --rank": (
        lambda out, ckpt, tmp: ["probe", ckpt, "--html", tmp / "p" / "board.html", "--out", tmp / "p"],
        "--html writes the leaderboard's page: give --rank with it"),
    "probe radius beyond the diagonal": (
        lambda out, ckpt, tmp: ["probe", ckpt, "--radii", "4,50", "--out", tmp / "p"],
        "--radii: found 50, beyond the diagonal (45.3) of these 32x32 images; the largest useful radius is 23"),
}


def save(path, value):
    torch.save(value, path)
    return path


@pytest.mark.parametrize("case", list(ONE_LINERS))
def test_a_hostile_file_is_one_line_and_exit_2(case, study, tmp_path):
    make, message = ONE_LINERS[case]
    arguments = [str(a) for a in make(*study, tmp_path)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "p").exists()


WARNINGS = {
    "truncated results.csv": (lambda out, tmp: ["report", copy_of(out, tmp, results__csv=truncated(out))],
                              "rows are incomplete (a truncated file?) and are left out"),
    "results.csv with other columns": (lambda out, tmp: ["report", copy_of(out, tmp, results__csv="a,b\n1,2\n")],
                                       "no run, metric, value column (found a, b)"),
    "compare of two recipes": (lambda out, tmp: ["compare", out, copy_of(
        out, tmp, recipe__json=(out / "recipe.json").read_text().replace('"tiny"', '"other"'))],
        "A is recipe tiny and B is recipe other"),
}


def truncated(out) -> str:
    text = (out / "results.csv").read_text()
    return text[:len(text) // 2]


@pytest.mark.parametrize("case", list(WARNINGS))
def test_a_damaged_table_warns_instead_of_printing_dashes(case, study, tmp_path):
    make, message = WARNINGS[case]
    result = CliRunner().invoke(cli, [str(a) for a in make(study[0], tmp_path)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert message in " ".join(result.output.split())


def test_a_full_disk_stops_the_recipe_at_the_first_error(write_recipe, tmp_path, monkeypatch):
    """torch wraps the OSError of a full disk in a RuntimeError; the recipe stops there, not at every run."""
    import ablate.train.checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 1088 vs 1036")

    monkeypatch.setattr(ablate.train.checkpoint.torch, "save", full)
    path = write_recipe('[[runs]]\nname = "a"\n[[runs]]\nname = "b"\n[[runs]]\nname = "c"\n')
    result = CliRunner().invoke(cli, ["recipe", str(path), "--scale", "smoke", "--out", str(tmp_path / "out"),
                                      "--quiet"])
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ablate: error: disk full while writing") and "checkpoint.pt" in last
    started = sorted(p.parent.name.split("-")[0] for p in (tmp_path / "out").rglob("config.json"))
    assert started == ["a"]
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_an_out_of_space_os_error_is_disk_full(tmp_path):
    import errno

    from ablate.core.files import DiskFull, atomic_write

    def write(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull, match="disk full while writing"):
        atomic_write(tmp_path / "x.json", write, mode="w")
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_are_removed_and_files_follow_the_umask(write_recipe, tmp_path):
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    path = write_recipe('[[runs]]\nname = "a"\n')
    (run,) = expand(load_recipe(path), "smoke")
    run_dir = tmp_path / "out" / "tiny" / run.dir_name
    run_dir.mkdir(parents=True)
    for i in range(3):
        (run_dir / f".checkpoint.pt.k{i}ll3d.tmp").write_bytes(b"half a checkpoint")
    previous = os.umask(0o027)
    try:
        run_recipe(path, "smoke", out=tmp_path / "out", report=False)
    finally:
        os.umask(previous)
    assert not list(run_dir.glob("*.tmp"))
    for name in ("config.json", "checkpoint.pt", "metrics.csv", "done.json"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o640, name


def running(run_dir, **owner):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "running.json").write_text(json.dumps(owner))
    return run_dir / "running.json"


def test_a_running_json_of_a_live_process_names_it_and_says_what_to_do(tmp_path):
    from ablate.execution.run_folder import process_start, run_status

    path = running(tmp_path / "r", host=socket.gethostname(), pid=os.getpid(), pid_start=process_start(os.getpid()),
                   started="2026-01-01 00:00:00")
    state, detail = run_status(tmp_path / "r")
    assert state == "running" and f"pid {os.getpid()} on {socket.gethostname()}" in detail
    assert "heartbeat 0 s ago" in detail and f"delete {path}" in detail


@pytest.mark.parametrize("owner, age", [
    (dict(pid_start="1"), 0),              # the pid is alive, but it is another program (reused pid)
    (dict(pid=2**22 + 7), 0),              # the pid is gone
    (dict(host="elsewhere"), 3600),        # another host, no heartbeat for an hour
    (None, 0),                             # a damaged file: no owner at all
])
def test_a_stale_running_json_does_not_block_the_run(tmp_path, owner, age):
    from ablate.execution.run_folder import needs_training, process_start, run_status

    if process_start(os.getpid()) is None and "pid_start" in (owner or {}):
        pytest.skip("no /proc: process start times are unknown here")
    path = running(tmp_path / "r", **{"host": socket.gethostname(), "pid": os.getpid(), **(owner or {})})
    if owner is None:
        path.write_text('{"host": "mid-wri')
    os.utime(path, (time.time() - age, time.time() - age))
    assert run_status(tmp_path / "r") == ("pending", None) and needs_training(tmp_path / "r")


def test_another_hosts_run_with_a_recent_heartbeat_is_left_alone_and_said(write_recipe, tmp_path):
    from ablate.core.progress import ConsoleProgress
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    path = write_recipe('[[runs]]\nname = "a"\n')
    (run,) = expand(load_recipe(path), "smoke")
    running(tmp_path / "out" / "tiny" / run.dir_name, host="elsewhere", pid=12, started="today")
    console = Console(record=True, width=300, file=io.StringIO())
    run_recipe(path, "smoke", out=tmp_path / "out", report=False, progress=ConsoleProgress(console, quiet=True))
    said = console.export_text()
    assert "[a] skipped: another process is training it (pid 12 on elsewhere" in said and "delete" in said


def test_run_names_are_printed_as_they_are_never_as_markup():
    from ablate.core.progress import ConsoleProgress
    from ablate.execution.launchers import LaunchContext
    from ablate.study.settings import Settings

    console = Console(record=True, width=300, file=io.StringIO())
    progress = ConsoleProgress(console, quiet=True)
    LaunchContext(None, "r", None, None, progress=progress).say("[x] finished (3 s)")     # --jobs lines
    odd = Run("[bold red]x", Settings())
    progress.start_recipe([odd], [1])
    progress.start_run(0, odd)
    progress.end_run(odd, "failed: [red]boom", 1.0)
    said = console.export_text()
    assert "[x] finished (3 s)" in said and "[1/1 [bold red]x] failed: [red]boom" in said


def test_a_full_disk_during_a_zoo_is_one_line_naming_the_file(tmp_path, monkeypatch):
    import errno

    import numpy as np

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    zoo = tmp_path / "zoo.toml"
    zoo.write_text('[[model]]\nsource = "torchvision:resnet18"\n')
    result = CliRunner().invoke(cli, ["probe", "--models", str(zoo), "--dataset", "synthetic:train=40,test=40",
                                      "--radii", "2", "--limit", "10", "--device", "cpu", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ablate: error: disk full while writing"), result.stderr
    assert str(tmp_path / "p" / "measured") in lines[0] and lines[0].endswith(".npz; free space there (the previous "
                                                                              "version of the file is intact) and run "
                                                                              "the same command again")
    assert not [p for p in (tmp_path / "p").rglob("*") if p.is_file()]


def test_a_kills_temp_files_in_the_study_folder_are_removed_by_the_next_run(write_recipe, tmp_path):
    """recipe.json and results.csv are written atomically: a kill mid-write leaves a temp file beside them, which
    the next run of the study removes; one written moments ago may be another process's write, and stays."""
    path = write_recipe('[[runs]]\nname = "a"\n')
    out = tmp_path / "out" / "tiny"
    out.mkdir(parents=True)
    killed, in_flight = out / ".recipe.json.k1ll3d.tmp", out / ".results.csv.wr1t1ng.tmp"
    for temp in (killed, in_flight):
        temp.write_text('{"runs": [')
    os.utime(killed, (time.time() - 3600, time.time() - 3600))
    run_recipe(path, "smoke", out=tmp_path / "out", report=False)
    assert not killed.exists() and in_flight.exists()


def test_control_characters_in_a_model_name_are_shown_escaped_on_the_page(tmp_path):
    """A model's name is the user's text: a NUL, a terminal escape or a DEL in it is escaped on the page (shown as
    its \\xNN code), never written as it is (a page cannot hold it)."""
    import math
    import re

    from ablate.any_model import leaderboard
    from ablate.any_model.reliance import Reliance

    nan = Reliance(math.nan, math.nan, math.nan, {})
    entries = [leaderboard.RankedModel("evil\x00name\x1b[31m\x7f", 10, 0.5, Reliance(0.5, 0.4, 0.6, {}), nan)]
    page = leaderboard.write_page(tmp_path / "board.html", entries, [4], "1 model\x00").read_text(encoding="utf-8")
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", page)
    assert r"evil\x00name\x1b[31m\x7f" in page and r"1 model\x00" in page
