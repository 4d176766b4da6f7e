"""Param: the one validation system for settings and plugin parameters."""

from __future__ import annotations

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
