"""attacks: accuracy under FGSM/PGD per variant and eps; eps 0 is the clean accuracy; minimal eps;
no torchattacks needed for ablate's own attacks (tests/test_torchattacks.py has those that need it)."""

import sys

import pytest
import torch
from torch import nn

import ablate
from ablate.core.params import identity_values
from ablate.testing import make_plugin, train_state
from ablate_plugins.attacks import CURVE, LINF_CURVE, LINF_FAILED, LINF_MEDIAN, MEDIAN, Attacks, evaluation_subset

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
    rows = evaluate({"final": model, "smooth1.0": model}, data, eps=[0.05, 0.3], attacks=["fgsm", "PGD"])
    assert len(rows) == 2 * (1 + 2 * 2)
    for row in rows:
        assert row["split"] == "test" and row["component"] == "original" and row["radius"] is None
        assert row["metric"] == "accuracy" and 0 <= row["value"] <= 1
    keys = {(r["variant"], r["attack"], r["eps"]) for r in rows}
    assert ("final", "none", 0.0) in keys and ("smooth1.0", "pgd", 0.3) in keys


def test_the_clean_row_is_accuracy_without_attack_and_attacks_hurt(trained):
    """eps 0 is the clean row itself (attack "none"), so the grid's eps are in (0, 1]; an attack of size 0
    leaves the images as they are."""
    from ablate.api import fgsm, pgd

    model, data = trained
    rows = {(r["attack"], r["eps"]): r["value"] for r in evaluate({"final": model}, data, eps=[0.3])}
    clean = rows[("none", 0.0)]
    x = data.x_test.float() / 255
    with torch.no_grad():
        expected = (model(x).argmax(1) == data.y_test).float().mean().item()
    assert clean == pytest.approx(expected)
    assert clean == 1.0, "the hand-set model solves its task"
    assert torch.equal(fgsm(model, x, data.y_test, 0.0), x)
    assert torch.equal(pgd(model, x, data.y_test, 0.0, 2, 0.0), x)
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


def half_margins(data):
    """Each test image's smallest L-inf perturbation that flips the colour model, in closed form: every
    channel mean moves by at most eps, so the true channel's lead over the runner-up, m, needs eps >= m / 2
    (pixels stay inside [0, 1] here), and lowering the true channel while raising the others achieves it."""
    means = (data.x_test.double() / 255).mean(dim=(2, 3))
    true = means[torch.arange(len(means)), data.y_test]
    runner_up = means.scatter(1, data.y_test[:, None], -1.0).amax(dim=1)
    return (true - runner_up) / 2


def test_foolbox_search_rows_give_the_closed_form_distances(trained):
    model, data = trained
    expected = half_margins(data)
    eps = [0.09, 0.05, 0.104, 0.11]
    assert all(((expected - e).abs() > 1.2e-3).all() for e in eps), "no image too close to an eps to call"
    rows = evaluate({"final": model}, data, mode="minimal", search="foolbox", eps=eps)
    assert {r["metric"] for r in rows} == {"accuracy", LINF_MEDIAN, LINF_CURVE, LINF_FAILED}
    assert [r["value"] for r in rows if r["metric"] == LINF_FAILED] == [0, 0], "every search found one"
    assert [(r["attack"], r["eps"]) for r in rows if r["metric"] == "accuracy"] == [("none", 0.0)]
    lower_median = float(expected.sort().values[(len(expected) - 1) // 2])
    for attack, slack in (("pgd", 1e-4), ("fgsm", 1.1e-3)):      # FGSM's scan: steps of 0.001
        (median,) = [r["value"] for r in rows if r["metric"] == LINF_MEDIAN and r["attack"] == attack]
        assert lower_median - 1e-6 <= median <= lower_median + slack
        curve = [(r["eps"], r["value"]) for r in rows if r["metric"] == LINF_CURVE and r["attack"] == attack]
        assert curve == [(e, pytest.approx(float((expected > e).double().mean()))) for e in sorted(eps)]
    assert 0 < curve[2][1] < 1, "the curve crosses the images' distances"


def test_a_failed_foolbox_search_records_distance_0_and_is_counted(trained):
    # A model that always answers class 0 cannot be fooled on class-0 images: HFC stores the clean image
    # (utility/attackHelper.py 30-40), distance 0, so they read as not robust; the others are wrong unattacked.
    _, data = trained
    constant = solved_model()
    with torch.no_grad():
        constant[2].weight.zero_()
        constant[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
    rows = evaluate({"final": constant}, data, mode="minimal", search="foolbox", eps=[0.01, 0.5])
    right = int((data.y_test == 0).sum())
    assert right > 0
    for attack in ("fgsm", "pgd"):
        (failed,) = [r["value"] for r in rows if r["metric"] == LINF_FAILED and r["attack"] == attack]
        (median,) = [r["value"] for r in rows if r["metric"] == LINF_MEDIAN and r["attack"] == attack]
        assert failed == right and median == 0.0
        assert all(r["value"] == 0.0 for r in rows if r["metric"] == LINF_CURVE and r["attack"] == attack)


def test_both_modes_in_one_evaluation(trained):
    model, data = trained
    eps = [0.098, 0.1]
    grid = evaluate({"final": model}, data, mode="grid", eps=eps, n=12)
    minimal = evaluate({"final": model}, data, mode="minimal", search="foolbox", eps=eps, n=12)
    key = lambda rows: {(r["metric"], r["attack"], r["eps"]): r["value"] for r in rows}
    both = evaluate({"final": model}, data, mode="both", search="foolbox", eps=eps, n=12)
    assert key(both) == {**key(grid), **key(minimal)}
    assert sum(r["attack"] == "none" for r in both) == 1
    # minimal_n: the grid on the n images, the search on the first minimal_n of the same subset.
    fewer = evaluate({"final": model}, data, mode="minimal", search="foolbox", eps=eps, n=5)
    some = evaluate({"final": model}, data, mode="both", search="foolbox", eps=eps, n=12, minimal_n=5)
    searched = {k: v for k, v in key(fewer).items() if k[0] != "accuracy"}
    assert key(some) == {**key(grid), **searched} and not searched.items() <= key(both).items()
    more = evaluate({"final": model}, data, mode="both", search="foolbox", eps=eps, n=12, minimal_n=20)
    assert key(more) == key(both), "never beyond the n attacked"


def test_search_is_part_of_a_runs_identity_only_where_it_is_used():
    params = {p.name: p for p in Attacks.params}

    def identity(**values):
        return identity_values(params, Attacks.validate(values, "attacks"))

    assert identity() == identity(search="bisect") == identity(search="foolbox")        # mode = grid: unused
    assert "search" not in identity(mode="minimal") and "max_eps" in identity(mode="minimal", max_eps=0.2)
    foolbox = identity(mode="minimal", search="foolbox")
    assert foolbox["search"] == "foolbox" and foolbox != identity(mode="minimal")
    assert identity(mode="minimal", search="foolbox", max_eps=0.2, tolerance=0.01, search_grid=3) == foolbox
    assert identity(mode="minimal", minimal_n=100) == identity(mode="minimal")      # only with mode = "both"
    assert identity(mode="both", minimal_n=100)["minimal_n"] == 100


@pytest.mark.parametrize("mode", ["minimal", "both"])
@pytest.mark.parametrize("values", [{"attacks": ["fgsm", "square"]}, {"backend": "torchattacks"}])
def test_minimal_mode_is_for_ablates_own_attacks(values, mode):
    plugin = make_plugin(Attacks, mode=mode, **values)
    with pytest.raises(ablate.AblateError, match=f"{mode}.*fgsm and pgd only"):
        plugin.ablate_check(settings=ablate.Settings(), plugins=["attacks"])


def test_images_outside_the_pixel_range_are_a_clear_error(trained):
    model, data = trained
    signed = ablate.Data(data.x_train, data.y_train, data.x_test.float() / 255 - 0.5, data.y_test, data.classes)
    with pytest.raises(ablate.AblateError, match=r"\[0, 1\]"):
        evaluate({"final": model}, signed, eps=[0.1], attacks=["fgsm"])


@pytest.mark.parametrize("values, message", [
    ({"eps": [-0.1]}, r"> 0; give a value in \(0, 1\]"), ({"eps": [0.0]}, "> 0"), ({"eps": [1.5]}, "<= 1"), ({"eps": [0.01, 0.03, 0.03]}, r"\[2\]: 0.03 is given twice"), ({"eps": ["big"]}, "number"), ({"attacks": [3]}, "must be a string"),
    ({"pgd_steps": 0}, ">= 1"), ({"n": -1}, ">= 0"), ({"backend": "foolbox"}, "allowed"),
    ({"mode": "fine"}, "allowed"), ({"max_eps": 0}, "> 0"), ({"tolerance": -1e-3}, "> 0"), ({"search_grid": 0}, ">= 1"),
    ({"search": "deepfool"}, "allowed: bisect, foolbox"), ({"minimal_n": -1}, ">= 0"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        Attacks.validate(values, "runs[0].plugins.attacks")
