"""A recipe's ``[[claims]]``: what the study it reproduces says, as comparisons the report can check.

A claim is data, never code: the paper's wording (``text``) and where it says so
(``source``), then one comparison in a fixed vocabulary (docs/recipes.md, "Claims"):
the final number of ``run`` against ``versus`` (another run, the same run's other
variant, ``"chance"``, or a fixed number), in a ``direction`` (``greater``, ``less``,
``about``) by a ``margin``. Which number is named with results.csv's own columns
(``split``, ``component``, ``radius``, ``metric``, ``attack``, ``eps``, ``variant``)
plus the derived metric ``gap`` (train - test accuracy); a list of values is one check
per value. This module checks the schema when a recipe is read, and again when a
report reads recipe.json (a file a user may hand us); :mod:`ablate.report.claims` checks
the claims against the numbers. Claims are not part of any run's identity.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from ablate.core.errors import AblateError, refuse_unknown_keys

KEY = "claims"
SELECTORS = ("split", "component", "radius", "metric", "attack", "eps", "variant")   # results.csv's columns
NUMERIC = ("radius", "eps")
DEFAULTS = {"split": "test", "component": "original", "metric": "accuracy"}
GAP = "gap"                         # train - test accuracy on the original images, as the summary tables show it
CHANCE = "chance"                   # 1 / the number of classes of the run's model
DIRECTIONS = ("greater", "less", "about")
CLAIM_KEYS = ("text", "source", "run", "versus", "direction", "margin", *SELECTORS)
VERSUS_KEYS = ("run", *SELECTORS)


def parse_claims(raw: Any, where: str, run_names: list[str] | None = None) -> list[dict]:
    """The ``[[claims]]`` array checked and normalised (``margin`` filled in, ``versus`` as a table or a number);
    AblateError naming the claim and key otherwise. With ``run_names`` (a recipe's ``[[runs]]`` names), every run
    a claim names must be one of them, or one of their grid or seed runs (``batch-size100``, ``vanilla-s1``)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(claim, dict) for claim in raw):
        raise AblateError(f"{where}: {KEY}: expected [[claims]] tables, found {raw!r}")
    return [parse_claim(claim, f"{where}: {KEY}[{i}]", run_names) for i, claim in enumerate(raw)]


def parse_claim(claim: dict, where: str, run_names: list[str] | None) -> dict:
    refuse_unknown_keys(claim, CLAIM_KEYS, where)
    for key in ("text", "source", "run"):
        if not isinstance(claim.get(key), str) or not claim[key].strip():
            raise AblateError(f"{where}.{key}: every claim needs a {key} (a non-empty string); "
                              f"see docs/recipes.md, \"Claims\"")
    direction = claim.get("direction")
    if direction not in DIRECTIONS:
        raise AblateError(f"{where}.direction: found {direction!r}; allowed: {', '.join(DIRECTIONS)}")
    margin = claim.get("margin", 0.0)
    if not is_number(margin) or margin < 0:
        raise AblateError(f"{where}.margin: found {margin!r}; give a number >= 0 in the metric's units "
                          f"(0.02 is 2 points of accuracy)")
    if direction == "about" and margin == 0:
        raise AblateError(f"{where}.margin: an 'about' claim needs a margin > 0: how close counts as about equal, "
                          f"in the metric's units (0.02 is 2 points of accuracy)")
    selectors = {key: claim[key] for key in SELECTORS if key in claim}
    for key, value in selectors.items():
        for one in value if isinstance(value, list) else [value]:
            check_selector(key, one, f"{where}.{key}")
        if isinstance(value, list) and not value:
            raise AblateError(f"{where}.{key}: an empty list; give a value or a list of values")
    check_gap(selectors, where)
    versus = parse_versus(claim.get("versus"), f"{where}.versus")
    for name in [claim["run"]] + ([versus["run"]] if isinstance(versus, dict) and "run" in versus else []):
        check_run(name, run_names, where)
    return {"text": claim["text"], "source": claim["source"], "run": claim["run"], "versus": versus,
            "direction": direction, "margin": float(margin), **selectors}


def parse_versus(versus: Any, where: str) -> dict | float | str:
    """A run's name -> ``{"run": name}``; ``"chance"``; a number; or a table of a run and selectors that replace
    the claim's own (``{ variant = "final" }``: the same run, unsmoothed)."""
    if versus == CHANCE:
        return CHANCE
    if isinstance(versus, str) and versus:
        return {"run": versus}
    if is_number(versus):
        return float(versus)
    if isinstance(versus, dict) and versus:
        refuse_unknown_keys(versus, VERSUS_KEYS, where)
        if "run" in versus and (not isinstance(versus["run"], str) or not versus["run"]):
            raise AblateError(f"{where}.run: expected a run's name, found {versus['run']!r}")
        for key, value in versus.items():
            if key != "run":
                check_selector(key, value, f"{where}.{key}")
        check_gap(versus, where)
        return dict(versus)
    raise AblateError(f"{where}: found {versus!r}; give a run's name, \"chance\", a number, or a table such as "
                      f"{{ run = \"vanilla\", variant = \"final\" }}")


def check_selector(key: str, value: Any, where: str) -> None:
    if key in NUMERIC and not (is_number(value) and value >= 0):
        raise AblateError(f"{where}: found {value!r}; expected a number >= 0 (or a list of them)")
    if key not in NUMERIC and (not isinstance(value, str) or not value):
        raise AblateError(f"{where}: found {value!r}; expected a name as results.csv writes it (or a list of them)")


def check_gap(selectors: dict, where: str) -> None:
    """``gap`` is train - test accuracy on the originals: it picks its own split, component and radius."""
    if GAP in (selectors.get("metric") if isinstance(selectors.get("metric"), list) else [selectors.get("metric")]):
        fixed = [key for key in ("split", "component", "radius") if key in selectors]
        if fixed:
            raise AblateError(f"{where}.{fixed[0]}: metric 'gap' is train - test accuracy on the original images; "
                              f"it takes no split, component or radius")


def check_run(name: str, run_names: list[str] | None, where: str) -> None:
    if run_names is None or any(name == run or name.startswith(f"{run}-") for run in run_names):
        return
    raise AblateError(f"{where}: no run of this recipe is named {name!r}; runs: {', '.join(run_names)} "
                      f"(a grid or seed run is named after its run: batch-size100, vanilla-s1)")



def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def checks(claim: dict) -> list[dict]:
    """A claim's checks: one selection of results per combination of its listed values (``radius = [4, 8]``: two),
    each ``{key: value}`` over the selectors the claim gives."""
    given = {key: claim[key] if isinstance(claim[key], list) else [claim[key]] for key in SELECTORS if key in claim}
    return [dict(zip(given, values)) for values in itertools.product(*given.values())]
