"""`ablate recipes`: runs, epochs and a time estimate per scale, from a short cached calibration."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from ablate.cli import cli
from ablate.core.progress import StepCost
from ablate.core.registry import get_registry
from ablate.execution import calibration
from ablate.execution.calibration import (
    CALIBRATION_TEST_IMAGES,
    cache_path,
    calibration_run,
    cost_kind,
    estimate,
    measured_epochs,
)
from ablate.execution.recipe_overview import builtin_overview
from ablate.execution.rough_estimate import (
    relative_step_cost,
    rough_duration,
    rough_rate,
    rough_seconds,
    training_flops,
)
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.study.run_sizes import run_steps


def runs_of(write_recipe, text, scale=None):
    return expand(load_recipe(write_recipe(text)), scale)


def test_calibration_copy_keeps_the_run_and_shrinks_the_data(write_recipe):
    (run,) = runs_of(write_recipe, '[[runs]]\nname = "v"\nplugins = ["dropout"]\n')
    small = calibration_run(run, 120)
    assert small.settings.dataset == "synthetic:train=80,test=120"       # 2 steps of 40, the run's test set
    assert calibration_run(run, 10_000).settings.dataset == f"synthetic:train=80,test={CALIBRATION_TEST_IMAGES}"
    assert (small.settings.epochs, small.settings.train_size, small.settings.test_size) == (2, 0, 0)
    assert small.plugins == run.plugins and small.settings.model == run.settings.model
    assert run.settings.dataset == "synthetic:train=240,test=120"        # the run itself is untouched
    assert run_steps(run, get_registry()) == 2 * math.ceil(240 / 40)


def test_estimate_measures_once_per_kind_then_reads_the_cache(write_recipe, monkeypatch, tmp_path):
    runs = runs_of(write_recipe, '[[runs]]\nname = "a"\n[[runs]]\nname = "b"\n'
                                 '[[runs]]\nname = "c"\nplugins = ["dropout"]\n')
    measured = []

    def fake_measure(run, registry):
        measured.append(run.name)
        return (0.5 if "dropout" in run.plugin_names() else 0.25), 1.0      # per step; per evaluation

    monkeypatch.setattr(calibration, "measure", fake_measure)
    heard = []
    seconds = estimate(runs, get_registry(), measuring=True, say=heard.append)
    assert measured == ["a", "c"] and len(heard) == 2                   # one run per kind
    cost = StepCost()                                                   # an epoch: 6 steps and an evaluation
    cost.record(cost_kind(runs[0], 240, 120), 6, 6 * 0.25 + 1.0)
    cost.record(cost_kind(runs[2], 240, 120), 6, 6 * 0.5 + 1.0)
    work = [(cost_kind(r, 240, 120), run_steps(r, get_registry())) for r in runs]
    assert seconds == pytest.approx(cost.estimate(work)) == pytest.approx(2 * 2 * 2.5 + 2 * 4.0)
    assert cache_path().parent == tmp_path / "user-cache" / "ablate" and len(json.loads(cache_path().read_text())) == 2
    assert estimate(runs, get_registry(), measuring=False) == pytest.approx(seconds) and len(measured) == 2


def test_a_recipe_eta_starts_from_what_the_cache_measured(write_recipe, monkeypatch):
    runs = runs_of(write_recipe, '[[runs]]\nname = "a"\n[[runs]]\nname = "c"\nplugins = ["dropout"]\n')
    assert measured_epochs(runs, get_registry(), "cpu") == {}                # nothing cached: nothing to start from
    monkeypatch.setattr(calibration, "measure", lambda run, registry: (0.25, 1.0))
    estimate(runs[:1], get_registry(), measuring=True)                       # only run a's kind is measured
    assert measured_epochs(runs, get_registry(), "cpu") == {(): (6, 6 * 0.25 + 1.0)}    # 240 images at batch 40
    assert measured_epochs(runs, get_registry(), "cuda") == {}               # measured on another device


def test_a_larger_test_set_scales_the_evaluation(write_recipe, monkeypatch):
    (run,) = runs_of(write_recipe, '[[runs]]\nname = "a"\n')
    run.settings.dataset, run.settings.train_size, run.settings.test_size = "cifar10", 400, 3000
    monkeypatch.setattr(calibration, "measure", lambda run, registry: (0.0, 1.0))
    scale = 3000 / CALIBRATION_TEST_IMAGES                          # the evaluation timed on fewer
    assert estimate([run], get_registry(), measuring=True) == pytest.approx(2 * scale)   # 2 epochs


def test_without_measuring_and_nothing_cached_the_estimate_is_unknown(write_recipe):
    runs = runs_of(write_recipe, '[[runs]]\nname = "a"\n')
    assert estimate(runs, get_registry()) is None            # ABLATE_NO_CALIBRATION=1 in the tests


def test_a_real_calibration_of_a_tiny_run(write_recipe):
    runs = runs_of(write_recipe, '[[runs]]\nname = "a"\n')
    seconds = estimate(runs, get_registry(), measuring=True)
    assert 0 < seconds < 120
    ((step, evaluation),) = json.loads(cache_path().read_text()).values()
    assert step > 0 and evaluation > 0
    assert seconds == pytest.approx(2 * (6 * step + evaluation))          # 2 epochs of 6 steps and a test pass


def test_full_cifar_runs_are_counted_without_downloading():
    rows = builtin_overview(get_registry(), ["paper"], measuring=False)
    figure5 = next(r for r in rows if r["recipe"] == "figure5")
    assert (figure5["runs"], figure5["epochs"]) == (5, 500)
    assert figure5["estimate"].startswith("~") and figure5["estimate"].endswith("(rough)")
    (run, *_) = expand(load_recipe("figure5"), "paper")
    assert run_steps(run, get_registry()) == 100 * 500


def test_recipes_shows_runs_epochs_and_an_estimate_per_scale(monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda run, registry: (0.01, 0.0))
    result = CliRunner(env={"COLUMNS": "250", "ABLATE_NO_CALIBRATION": ""}).invoke(cli, ["recipes", "--estimate"])
    assert result.exit_code == 0, result.output
    rows, name = {}, ""
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")] if line.startswith("│") else []
        if cells and cells[1] in ("paper", "quick", "smoke"):
            name = cells[0] or name
            rows[(name, cells[1])] = cells[2:5]
    assert rows[("figure5", "quick")] == ["5", "50", "about 25 s"]      # 5 runs x 10 epochs x 50 steps x 0.01 s
    assert rows[("figure5", "paper")] == ["5", "500", "about 41 min 40 s"]
    assert rows[("table1", "smoke")][:2] == ["4", "12"]                 # 4 runs x 3 epochs
    assert {scale for _, scale in rows} == {"paper", "quick", "smoke"}
    monkeypatch.setattr(calibration, "measure", None)               # without --estimate nothing is measured...
    cached = CliRunner(env={"COLUMNS": "250", "ABLATE_NO_CALIBRATION": ""}).invoke(
        cli, ["recipes", "--scale", "quick"])
    assert cached.exit_code == 0, cached.output
    assert "about 25 s" in cached.output and "smoke" not in cached.output     # ...and reads the cache


def test_the_rough_estimate_is_steps_times_step_weight_times_the_models_flops(write_recipe):
    plain, pgd = runs_of(write_recipe, '[[runs]]\nname = "a"\n[[runs]]\nname = "p"\nplugins = ["pgd"]\n')
    registry = get_registry()
    flops = training_flops(plain.settings.model, plain.settings.width, registry)
    wider = training_flops(plain.settings.model, 4 * plain.settings.width, registry)
    assert 12 < wider / flops < 16            # convolutions cost the square of the width (the stem and fc less)
    seconds = rough_seconds([plain], registry)
    assert seconds == pytest.approx(run_steps(plain, registry) * 40 * flops / rough_rate("cpu"))
    assert rough_seconds([pgd], registry) == pytest.approx(relative_step_cost(pgd, registry) * seconds)
    assert rough_seconds([plain, pgd], registry) == pytest.approx(rough_seconds([pgd], registry) + seconds)
    assert [rough_duration(s) for s in (0.2, 3141, 4700, 9986400)] == ["1 s", "52 min", "1.3 h", "2774 h"]


def test_a_fresh_machine_lists_rough_estimates_without_measuring(monkeypatch):
    monkeypatch.setattr(calibration, "measure", None)          # nothing is measured, nothing is cached
    result = CliRunner(env={"COLUMNS": "250", "ABLATE_NO_CALIBRATION": ""}).invoke(cli, ["recipes"])
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in result.output.splitlines()
             if line.startswith("│")]
    estimates = [row[4] for row in cells if row[1] in ("paper", "quick", "smoke")]
    assert len(estimates) > 10 and all(e.startswith("~") and e.endswith("(rough)") for e in estimates), estimates
    assert "(rough): nothing measured yet" in " ".join(result.output.split())
    assert not cache_path().exists()
