"""Param: the one validation system for settings and plugin parameters."""

from __future__ import annotations

import re

import pytest

from ablate import AblateError, Param, Settings
from ablate.core.params import Number, identity_values

RULES = [
    (Param("p", float, 0.5, maximum=1.0), 1.5, "x.p: found 1.5, must be <= 1"),
    (Param("p", float, 0.5, minimum=0.0), -0.5, "x.p: found -0.5, must be >= 0"),
    (Param("p", float, 0.5, greater_than=0.0), 0.0, "x.p: found 0.0, must be > 0"),
    (Param("p", float, 0.5, less_than=1.0), 1.0, "x.p: found 1.0, must be < 1"),
    (Param("p", list, [1.0], items=float, minimum=0.0), [1, -2], "x.p[1]: found -2.0, must be >= 0"),
    (Param("p", list, [1.0], items=float), [1, "a"], "x.p[1]: found 'a'; each item must be a number"),
    (Param("p", list, [1], items=int), [True], "x.p[0]: found True; each item must be an integer"),
    (Param("p", list, [1.0], nonempty=True), [], "x.p: the list is empty"),
    (Param("p", list, ["a"], items=str, choices=("a", "b")), ["a", "c"], "x.p[1]: found 'c', allowed: a, b"),
    (Param("p", str, "cpu", "cpu or cuda:N", pattern=r"cpu|cuda:\d+"), "cuda:x", "found 'cuda:x', allowed: cpu or cuda:N"),
    (Param("p", int, 1), 1.5, "x.p: expected int, found 1.5"),
]


@pytest.mark.parametrize("param, value, message", RULES)
def test_each_rule_refuses_with_one_line_naming_the_place(param, value, message):
    with pytest.raises(AblateError) as caught:
        param.check(value, "x.p")
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("param, value, expected", [
    (Param("p", float, 0.5, minimum=0.0, maximum=1.0), 1, 1.0),             # bounds are inclusive
    (Param("p", float, 0.5, greater_than=0.0, less_than=1.0), "0.25", 0.25),  # CLI text is parsed
    (Param("p", list, [1.0], items=float), [1, 2.5], [1.0, 2.5]),
    (Param("p", list, [4], items=Number), [4.0, 8, 4.5], [4, 8, 4.5]),       # whole numbers stay ints
    (Param("p", list, [4], items=Number), 4.0, [4]),                          # a scalar becomes a list
])
def test_values_come_back_converted_and_canonical(param, value, expected):
    checked = param.check(value, "x.p")
    assert checked == expected and [type(v) for v in (checked if isinstance(checked, list) else [checked])] == \
        [type(v) for v in (expected if isinstance(expected, list) else [expected])]


def test_settings_are_params_with_the_same_rules():
    params = Settings.params()
    assert params["epochs"].minimum == 1 and params["width"].greater_than == 0
    assert params["radii"].items is Number and params["device"].affects_results is False
    settings = Settings()
    settings.set("radii", [4.0, 8.0], "--set radii")
    assert settings.radii == [4, 8]
    for key, value, message in (("width", 0, "must be > 0"), ("device", "tpu", "allowed: auto, cpu"),
                                ("optimizer", "lbfgs", "allowed: adam, sgd"), ("epoch", 3, "unknown setting")):
        with pytest.raises(AblateError, match=message):
            settings.set(key, value, f"--set {key}")


def test_identity_values_drop_what_cannot_change_results_and_new_keys_at_their_default():
    params = {"a": Param("a", int, 1), "log": Param("log", str, "x", affects_results=False),
              "new": Param("new", int, 0, since="0.2")}
    assert identity_values(params, {"a": 1, "log": "y", "new": 0}) == {"a": 1}
    assert identity_values(params, {"a": 1, "log": "y", "new": 3}) == {"a": 1, "new": 3}


def test_a_list_parameter_holds_at_least_one_value_each_once_unless_it_says_otherwise():
    plain = Param("p", list, [1.0], items=float)
    for value, message in (([], "x.p: the list is empty; give at least one value"),
                           ([1, 2, 1.0], "x.p[2]: 1.0 is given twice; give each value once")):
        with pytest.raises(AblateError, match=message.replace("[", r"\[").replace(".", r"\.")):
            plain.check(value, "x.p")
    lenient = Param("p", list, [], items=float, nonempty=False, unique=False)
    assert lenient.check([], "x.p") == [] and lenient.check([1, 1], "x.p") == [1.0, 1.0]
    assert Param("p", list, ["a"], items=str).check(["a", "A"], "x.p") == ["a", "A"]


def test_the_radii_setting_follows_the_list_rule_but_may_be_empty():
    """``radii = []``: no probe (recipes/table1.toml); a radius twice would be probed and written twice."""
    settings = Settings()
    settings.set("radii", [], "--set radii")
    assert settings.radii == []
    for key in ("radii", "report_radii"):
        with pytest.raises(AblateError, match=rf"--set {key}\[1\]: 4 is given twice"):
            settings.set(key, [4, 4.0], f"--set {key}")
    with pytest.raises(AblateError, match="report_radii: the list is empty"):
        settings.set("report_radii", [], "--set report_radii")


@pytest.mark.parametrize("param, domain", [
    (Param("p", float, 1.0, greater_than=0.0), "(0, inf)"),
    (Param("p", float, 0.5, minimum=0.0, less_than=1.0), "[0, 1)"),
    (Param("p", float, 0.5, greater_than=0.0, maximum=1.0), "(0, 1]"),
    (Param("p", int, 1, minimum=1, maximum=10_000), "[1, 10000]"),
    (Param("p", float, 0.0, maximum=2.5), "(-inf, 2.5]"),
    (Param("p", list, [0.5], items=float, minimum=0.0, maximum=1.0), "[0, 1]"),
    (Param("p", str, "a"), None),
])
def test_a_parameter_says_its_domain(param, domain):
    assert param.domain() == domain
    assert param.describe().get("domain") == domain


def test_a_value_outside_the_domain_is_one_line_with_the_value_domain_and_fix():
    with pytest.raises(AblateError) as caught:
        Param("eps", float, 1e-3, greater_than=0.0).check(0, "--set batchnorm.eps")
    assert str(caught.value) == "--set batchnorm.eps: found 0.0, must be > 0; give a value in (0, inf)"


def plugin_params() -> dict[str, Param]:
    from ablate.core.registry import builtin_plugins

    return {f"{name}.{p.name}": p for name, plugin in builtin_plugins() for p in plugin.params}


# (plugin.param, a value outside its real domain, the domain): what would fail inside training or an attack,
# or mean nothing (an eps beyond pixels in [0, 1]), is refused when the recipe is read
OUTSIDE = [
    ("batchnorm.eps", 0.0, "(0, inf)"), ("batchnorm.momentum", 1.5, "[0, 1]"), ("dropout.p", 1.0, "[0, 1)"),
    ("mixup.alpha", 0.0, "(0, inf)"), ("pgd.eps", 0.0, "(0, 1]"), ("pgd.eps", 2.0, "(0, 1]"),
    ("pgd.steps", 0, "[1, 10000]"), ("pgd.step_size", 1.5, "[0, 1]"), ("pgd.clean_fraction", 1.5, "[0, 1]"),
    ("attacks.eps", [1e9], "(0, 1]"), ("attacks.eps", [0.0], "(0, 1]"), ("attacks.step_size", 2.0, "[0, 1]"),
    ("attacks.max_eps", 2.0, "(0, 1]"), ("attacks.tolerance", 2.0, "(0, 1]"), ("kernel_smoothing.rho", [-1.0], "[0, inf)"),
    ("gaussian_noise.sigma", 2.0, "[0, 1]"), ("frequency_filter.radius", 1e308, "[0, 4096]"),
    ("batch_size.size", 0, "[1, 1000000]"), ("batch_size.base_size", 10**12, "[1, 1000000]"),
    ("shuffle_labels.seed", -1, "[0, inf)"), ("attacks.batch_size", 10**12, "[0, 1000000]"),
]


@pytest.mark.parametrize("name, value, domain", OUTSIDE)
def test_each_builtin_plugin_parameter_declares_its_real_domain(name, value, domain):
    param = plugin_params()[name]
    assert param.domain() == domain
    with pytest.raises(AblateError, match=rf"found .*; give a value in {re.escape(domain)}$"):
        param.check(value, f"--set {name}")
