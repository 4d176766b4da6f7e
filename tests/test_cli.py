"""The command line, through click's test runner: listings, dry runs and bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_plugin_system import BUILTINS

from ablate.cli import cli


def invoke(*args):
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args))


def test_plugins_json_lists_builtins_with_parameters():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    plugins = {p["name"]: p for p in json.loads(result.output)}
    assert BUILTINS <= set(plugins)
    assert plugins["dropout"]["source"] == "built-in"
    assert {"name": "p", "type": "float", "default": 0.5} .items() <= plugins["dropout"]["params"][0].items()
    assert "ablate_modify_model" in plugins["dropout"]["hooks"]


def test_plugins_table():
    result = invoke("plugins")
    assert result.exit_code == 0
    for name in BUILTINS:
        assert name in result.output


def test_recipes_lists_builtins():
    result = invoke("recipes")
    assert result.exit_code == 0
    for name in ("figure5", "figure4", "figure3", "figure1", "table1", "adversarial"):
        assert name in result.output


def test_dry_run_shows_the_expanded_runs_and_trains_nothing(tmp_path):
    result = invoke("recipe", "figure4", "--dry-run", "--out", str(tmp_path), "--set", "epochs=7")
    assert result.exit_code == 0, result.output
    for size in (25, 50, 100, 200, 400):
        assert f"batch-size{size}" in result.output
    assert "7" in result.output
    assert not (tmp_path / "figure4").exists()


@pytest.mark.parametrize("args, message", [
    (["recipe", "figure9"], "no recipe 'figure9'"),
    (["recipe", "figure5", "--scale", "huge", "--dry-run"], "unknown scale 'huge'"),
    (["recipe", "figure5", "--set", "epochs=ten", "--dry-run"], "epochs: expected int, found 'ten'"),
    (["recipe", "figure5", "--set", "colour=red", "--dry-run"], "unknown setting 'colour'"),
    (["recipe", "figure5", "--set", "dropout.q=1", "--dry-run"], "plugin 'dropout' has no parameter 'q'"),
    (["recipe", "figure5", "--set", "nope.q=1", "--dry-run"], "unknown plugin 'nope'"),
    (["recipe", "figure5", "--set", "radii=[4,-2]", "--dry-run"], "radii[1]: found -2, must be >= 0"),
    (["recipe", "figure5", "--dataset", "imagenet", "--scale", "smoke"], "unknown dataset 'imagenet'"),
    (["recipe", "figure5", "--dataset", "npz:/no/such.npz", "--scale", "smoke"], "/no/such.npz"),
    (["recipe", "figure5", "--device", "tpu", "--dry-run"], "allowed: auto, cpu"),
    (["recipe", "figure5", "--launcher-opt", "queue=gpu", "--dry-run"], "unknown launcher option 'queue'"),
    (["recipe", "figure5", "--launcher-opt", "gpus=many", "--dry-run"], "gpus: expected int, found 'many'"),
    (["probe", "README.md"], "not an ablate checkpoint"),
    (["probe", "README.md", "--radii", "a:b"], "--radii 'a:b'"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    result = CliRunner().invoke(cli, args + (["--out", str(tmp_path)] if args[0] == "recipe" else []))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("ablate: error:")]
    assert len(lines) == 1 and result.output.rstrip().endswith(lines[0]), result.output
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback():
    result = CliRunner().invoke(cli, ["--debug", "recipe", "figure9"])
    assert result.exit_code != 0
    assert result.exception is not None and "figure9" in str(result.exception)
