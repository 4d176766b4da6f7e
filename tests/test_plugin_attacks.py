"""attacks: accuracy under FGSM/PGD per variant and eps; eps 0 is the clean accuracy; minimal eps;
no torchattacks needed for ablate's own attacks (tests/test_torchattacks.py has those that need it)."""

import sys

import pytest
import torch
from torch import nn

import ablate
from ablate.testing import make_plugin, train_state
from ablate_plugins.attacks import CURVE, MEDIAN, Attacks, evaluation_subset

CLASSES = 3


def colour_data(n, seed):
    """Class c is the image whose channel c is brighter: easy to learn, easy to attack."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    x = 0.35 + 0.1 * torch.rand(n, 3, 8, 8, generator=generator)
    x[torch.arange(n), y] += 0.2
    return (x * 255).round().to(torch.uint8), y


def solved_model():
    """A model that solves the colour task: logits are the scaled channel means."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, CLASSES))
    with torch.no_grad():
        model[2].weight.copy_(30 * torch.eye(CLASSES))
        model[2].bias.zero_()
    return model.eval()


def colour_problem():
    """The solved model and a colour task's data (12 training, 30 test images)."""
    x_train, y_train = colour_data(12, seed=1)
    x_test, y_test = colour_data(30, seed=2)
    return solved_model(), ablate.Data(x_train, y_train, x_test, y_test, ["r", "g", "b"])


@pytest.fixture(scope="module")
def trained():
    return colour_problem()


def evaluate(models, data, **values):
    settings = ablate.Settings(normalize="none")
    plugin = make_plugin(Attacks, **values)
    plugin.ablate_check(settings=settings, plugins=["attacks"])
    return plugin.ablate_evaluate(models=models, data=data, state=train_state(settings, num_classes=CLASSES))


def test_rows_per_variant_attack_and_eps(trained):
    model, data = trained
    rows = evaluate({"final": model, "smooth1.0": model}, data, eps=[0.0, 0.3], attacks=["fgsm", "PGD"])
    assert len(rows) == 2 * (1 + 2 * 2)
    for row in rows:
        assert row["split"] == "test" and row["component"] == "original" and row["radius"] is None
        assert row["metric"] == "accuracy" and 0 <= row["value"] <= 1
    keys = {(r["variant"], r["attack"], r["eps"]) for r in rows}
    assert ("final", "none", 0.0) in keys and ("smooth1.0", "pgd", 0.3) in keys


def test_eps_zero_equals_clean_accuracy_and_attacks_hurt(trained):
    model, data = trained
    rows = {(r["attack"], r["eps"]): r["value"] for r in evaluate({"final": model}, data, eps=[0.0, 0.3])}
    clean = rows[("none", 0.0)]
    with torch.no_grad():
        expected = (model(data.x_test.float() / 255).argmax(1) == data.y_test).float().mean().item()
    assert clean == pytest.approx(expected)
    assert clean == 1.0, "the hand-set model solves its task"
    assert rows[("fgsm", 0.0)] == clean and rows[("pgd", 0.0)] == clean
    assert rows[("pgd", 0.3)] < clean - 0.5
    assert rows[("pgd", 0.3)] <= rows[("fgsm", 0.3)] + 1e-9


def test_subset_and_batching_do_not_change_the_counts(trained):
    model, data = trained
    whole = evaluate({"final": model}, data, eps=[0.05], attacks=["fgsm"])
    batched = evaluate({"final": model}, data, eps=[0.05], attacks=["fgsm"], batch_size=7)
    assert [r["value"] for r in whole] == [r["value"] for r in batched]
    subset = evaluate({"final": model}, data, eps=[0.05], attacks=["fgsm"], n=10)
    assert all(round(r["value"] * 10, 6) == int(round(r["value"] * 10)) for r in subset)
    index = evaluation_subset(30, 10)
    assert len(set(index.tolist())) == 10 and torch.equal(index, evaluation_subset(30, 10))


@pytest.fixture
def without_torchattacks(monkeypatch):
    """As if torchattacks were not installed (the default install): importing it fails."""
    monkeypatch.setitem(sys.modules, "torchattacks", None)


def test_fgsm_and_pgd_need_no_torchattacks(trained, without_torchattacks):
    model, data = trained
    rows = evaluate({"final": model}, data, eps=[0.3])
    assert {r["attack"] for r in rows} == {"none", "fgsm", "pgd"}


@pytest.mark.parametrize("values, message", [
    ({"attacks": ["fgsm", "apgd"]}, "'apgd' .*needs torchattacks"),
    ({"backend": "torchattacks"}, "backend = 'torchattacks' needs torchattacks"),
])
def test_other_attacks_without_torchattacks_say_how_to_install_it(without_torchattacks, values, message):
    plugin = make_plugin(Attacks, **values)
    with pytest.raises(ablate.AblateError, match=message + r'.*pip install "ablate\[attacks\]"') as error:
        plugin.ablate_check(settings=ablate.Settings(), plugins=["attacks"])
    assert "\n" not in str(error.value)


def test_minimal_mode_rows(trained):
    model, data = trained
    rows = evaluate({"final": model, "smooth1.0": model}, data, mode="minimal", max_eps=0.4, search_grid=8,
                    tolerance=0.002)
    assert {r["metric"] for r in rows} == {"accuracy", MEDIAN, CURVE}
    for variant in ("final", "smooth1.0"):
        mine = [r for r in rows if r["variant"] == variant]
        (clean,) = [r["value"] for r in mine if r["metric"] == "accuracy"]
        assert clean == 1.0
        for attack in ("fgsm", "pgd"):
            (median,) = [r["value"] for r in mine if r["metric"] == MEDIAN and r["attack"] == attack]
            curve = [(r["eps"], r["value"]) for r in mine if r["metric"] == CURVE and r["attack"] == attack]
            assert [eps for eps, _ in curve] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
            assert curve[0][1] == clean and curve[-1][1] < 0.5
            assert all(a >= b for (_, a), (_, b) in zip(curve, curve[1:]))
            assert 0 < median < 0.4
            # The median is where the implied accuracy crosses one half.
            assert all(value >= 0.5 for eps, value in curve if eps < median - 0.002)
            assert all(value <= 0.5 for eps, value in curve if eps >= median)
    pgd = {r["eps"]: r["value"] for r in rows if r["metric"] == CURVE and r["attack"] == "pgd"}
    fgsm = {r["eps"]: r["value"] for r in rows if r["metric"] == CURVE and r["attack"] == "fgsm"}
    assert all(pgd[eps] <= fgsm[eps] + 1e-9 for eps in pgd)


@pytest.mark.parametrize("values", [{"attacks": ["fgsm", "square"]}, {"backend": "torchattacks"}])
def test_minimal_mode_is_for_ablates_own_attacks(values):
    plugin = make_plugin(Attacks, mode="minimal", **values)
    with pytest.raises(ablate.AblateError, match="minimal.*fgsm and pgd only"):
        plugin.ablate_check(settings=ablate.Settings(), plugins=["attacks"])


def test_images_outside_the_pixel_range_are_a_clear_error(trained):
    model, data = trained
    signed = ablate.Data(data.x_train, data.y_train, data.x_test.float() / 255 - 0.5, data.y_test, data.classes)
    with pytest.raises(ablate.AblateError, match=r"\[0, 1\]"):
        evaluate({"final": model}, signed, eps=[0.1], attacks=["fgsm"])


@pytest.mark.parametrize("values, message", [
    ({"eps": [-0.1]}, ">= 0"), ({"eps": [0.01, 0.03, 0.03]}, r"\[2\]: 0.03 is given twice"), ({"eps": ["big"]}, "number"), ({"attacks": [3]}, "must be a string"),
    ({"pgd_steps": 0}, ">= 1"), ({"n": -1}, ">= 0"), ({"backend": "foolbox"}, "allowed"),
    ({"mode": "fine"}, "allowed"), ({"max_eps": 0}, "> 0"), ({"tolerance": -1e-3}, "> 0"), ({"search_grid": 0}, ">= 1"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        Attacks.validate(values, "runs[0].plugins.attacks")
