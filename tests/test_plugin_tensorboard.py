"""The tensorboard plugin: live curves that hold the same numbers as results.csv, and no run renamed."""

from __future__ import annotations

import importlib.util
import math

import pandas as pd
import pytest

from ablate.core.registry import get_registry, reset_registry
from ablate.execution.runner import run_recipe
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate_plugins.tensorboard import tag


@pytest.fixture(autouse=True)
def tensorboard_enabled(monkeypatch):
    """conftest.py keeps optional autoloaded plugins out of other tests; these tests are about one."""
    monkeypatch.delenv("ABLATE_DISABLE_PLUGINS")
    reset_registry()


needs_extra = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                 reason='needs the extra: pip install "ablate[tensorboard]"')

RUNS = '''
[[runs]]
name = "vanilla"

[[runs]]
name = "dropout"
plugins = ["dropout"]
'''


def test_a_row_is_tagged_by_its_non_blank_columns():
    assert tag({"run": "a", "epoch": 1, "split": "test", "component": "original", "radius": math.nan,
                "metric": "accuracy", "value": 0.5}) == "test/accuracy"
    assert tag({"run": "a", "epoch": 1, "split": "test", "component": "low", "radius": 4.0,
                "metric": "accuracy", "value": 0.5, "attack": None}) == "test/accuracy/component=low/radius=4"


def test_it_is_autoloaded_exactly_when_the_extra_is_installed_and_never_hashed(write_recipe):
    info = get_registry().plugins["tensorboard"]
    assert info.cls.autoload == (importlib.util.find_spec("tensorboard") is not None)
    assert info.cls.affects_results is False
    run = expand(load_recipe(write_recipe(RUNS)))[0]
    assert ("tensorboard" in run.plugin_names()) == info.cls.autoload
    assert "tensorboard" not in [name for name, _ in run.identity()["plugins"]]


@needs_extra
def test_the_event_files_hold_every_row_of_results_csv(write_recipe, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_recipe(write_recipe(RUNS), out=tmp_path, report=False)
    out = tmp_path / "tiny"
    results = pd.read_csv(out / "results.csv")
    assert (results["seed"] == 0).all()
    results = results.drop(columns=["seed"])     # the run's seed, added to results.csv: not part of a logged row
    runs = expand(load_recipe(write_recipe(RUNS)))
    for run in runs:
        logs = out / "tensorboard" / run.dir_name
        events = EventAccumulator(str(logs), size_guidance={"scalars": 0})
        events.Reload()
        written = {(name, e.step): e.value for name in events.Tags()["scalars"] for e in events.Scalars(name)}
        rows = results[results["run"] == run.name]
        expected = {(tag(row), int(row["epoch"])): row["value"] for row in rows.to_dict("records")}
        assert len(expected) == len(rows) > 10
        assert written.keys() == expected.keys()
        for key, value in expected.items():
            assert written[key] == pytest.approx(value, rel=1e-6), key
