"""`ablate probe --models ZOO --rank`: a zoo measured once per model, resumable after a kill, ranked on a page."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ablate.cli import cli
from ablate.core.schema import LEADERBOARD, MEASURED

from planted_models import DATA

TESTS = Path(__file__).resolve().parent


def write_zoo(path: Path, names) -> Path:
    path.write_text("".join(f'[[model]]\nname = "{name}"\nsource = "planted_models:{name}_reader"\n\n'
                            for name in names))
    return path


def probe_args(zoo: Path, out: Path, *more) -> list[str]:
    return ["probe", "--models", str(zoo), "--trust-zoo-code", "--dataset", DATA, "--radii", "4,8,10", "--device",
            "cpu", "--out", str(out), *more]


def test_a_zoo_is_ranked_on_the_console_in_a_csv_and_on_a_page(tmp_path, monkeypatch):
    monkeypatch.setenv("ABLATE_TEST_LOG", str(tmp_path / "log"))
    zoo = write_zoo(tmp_path / "zoo.toml", ["low", "high"])
    page = tmp_path / "board.html"
    result = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--rank", "--html", str(page)))
    assert result.exit_code == 0, result.output
    board = pd.read_csv(tmp_path / "out" / LEADERBOARD)
    assert list(board["model"]) == ["high", "low"] and board.loc[0, "hfc_low"] > board.loc[1, "hfc_high"]
    assert "HFC reliance" in result.output and "#2" in result.output
    text = page.read_text()
    assert text.index(">high<") < text.index(">low<") and text.count("<img") == 3    # figure + 2 example grids
    # asked again: both read back, nothing evaluated
    (tmp_path / "log").unlink()
    again = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--rank"))
    assert again.exit_code == 0 and "read back 2 of 2" in again.output
    assert not (tmp_path / "log").exists()
    assert pd.read_csv(tmp_path / "out" / LEADERBOARD).equals(board)
    # other radii are other measurements
    other = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--rank") + ["--radii", "4,8"])
    assert other.exit_code == 0 and "read back" not in other.output


def test_html_needs_rank(tmp_path):
    zoo = write_zoo(tmp_path / "zoo.toml", ["low"])
    result = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--html", str(tmp_path / "p.html")))
    assert result.exit_code != 0 and "--rank" in result.output and "Traceback" not in result.output


def test_the_page_goes_into_a_folder_that_exists(tmp_path, monkeypatch):
    """A mistyped --html folder is refused before any model is evaluated, and none is created."""
    monkeypatch.setenv("ABLATE_TEST_LOG", str(tmp_path / "log"))
    zoo = write_zoo(tmp_path / "zoo.toml", ["low"])
    page = tmp_path / "no" / "such" / "board.html"
    result = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--rank", "--html", str(page)))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert f"the folder {page.parent} does not exist" in result.stderr
    assert not (tmp_path / "no").exists() and not (tmp_path / "log").exists() and not (tmp_path / "out").exists()


def test_a_killed_zoo_loses_only_the_model_in_progress(tmp_path):
    zoo = write_zoo(tmp_path / "zoo.toml", ["low", "slow", "high"])
    out, log = tmp_path / "out", tmp_path / "log"
    env = {**os.environ, "ABLATE_TEST_LOG": str(log), "ABLATE_TEST_SLOW": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys; sys.argv[0] = 'ablate'; from ablate.cli import main; main()",
               *probe_args(zoo, out, "--batch-size", "50")]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (log.exists() and "slow" in log.read_text()):      # the second model is being measured
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the zoo never reached its second model"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    kept = list((out / MEASURED).iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".npz"                  # the first model, whole
    log.unlink()
    env.pop("ABLATE_TEST_SLOW")
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "read back 1 of 3" in rerun.stdout
    assert log.read_text().split() == ["slow", "high"]                  # the first one was not evaluated again
    assert len(list((out / MEASURED).iterdir())) == 3


@pytest.mark.skipif(os.environ.get("ABLATE_REQUIRE_BROWSER") != "1",
                    reason="the headless-browser test runs with ABLATE_REQUIRE_BROWSER=1 (CI installs Chromium)")
def test_the_ranked_page_in_headless_chromium(tmp_path, monkeypatch):
    from headless_chromium import Chromium, find_chromium

    executable = find_chromium()
    assert executable, "ABLATE_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium, or ABLATE_CHROMIUM)"
    zoo = write_zoo(tmp_path / "zoo.toml", ["low", "high"])
    page = tmp_path / "board.html"
    result = CliRunner().invoke(cli, probe_args(zoo, tmp_path / "out", "--rank", "--html", str(page)))
    assert result.exit_code == 0, result.output
    with Chromium(executable) as browser:
        browser.open(page)
        rows = browser.evaluate("Array.from(document.querySelector('table').rows, "
                                "r => Array.from(r.cells, c => c.textContent.trim()))")
        assert [row[:2] for row in rows[1:]] == [["1", "high"], ["2", "low"]] and rows[1][-1] == "#2"
        widths = browser.evaluate("Array.from(document.images, i => i.complete && i.naturalWidth)")
        assert len(widths) == 3 and all(w > 0 for w in widths), widths
        assert browser.console_errors() == [] and browser.network_requests() == []
