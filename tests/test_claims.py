"""A recipe's [[claims]]: the schema refused in one line when read, and the report's verdicts on known numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_report import metric_rows, recording_console, write_study

from ablate import AblateError, report
from ablate.execution.plan_file import save_plan
from ablate.report.claims import FAILS, HOLDS, UNDECIDED, claims_frame, what
from ablate.report.html import write_page
from ablate.report.results import StudyResults
from ablate.study.claim_schema import parse_claims
from ablate.study.expansion import expand
from ablate.study.recipe_file import builtin_recipes, load_recipe
from ablate.study.seeds import base_run

RUNS = '[[runs]]\nname = "vanilla"\n\n[[runs]]\nname = "mixup"\nplugins = ["mixup"]\n'
HEAD = '\n[[claims]]\ntext = "Mix-up catches more HFC"\nsource = "Figure 5"\n'
CLAIM = HEAD + 'run = "mixup"\nversus = "vanilla"\n'


# --------------------------------------------------------------------------
# The schema, when a recipe is read
# --------------------------------------------------------------------------

BAD = [
    (CLAIM + 'direction = "greater"\nwhere = "here"\n', "claims[0]: unknown key 'where'"),
    (CLAIM + 'direction = "bigger"\n', "claims[0].direction: found 'bigger'; allowed: greater, less, about"),
    (HEAD + 'run = "mixupp"\nversus = "vanilla"\ndirection = "greater"\n',
     "claims[0]: no run of this recipe is named 'mixupp'"),
    (HEAD + 'run = "mixup"\nversus = "vanila"\ndirection = "greater"\n', "no run of this recipe is named 'vanila'"),
    (CLAIM + 'direction = "about"\n', "an 'about' claim needs a margin > 0"),
    (CLAIM + 'direction = "greater"\nmargin = -1\n', "claims[0].margin: found -1"),
    (CLAIM + 'direction = "greater"\nradius = ["four"]\n', "claims[0].radius: found 'four'; expected a number"),
    (CLAIM + 'direction = "greater"\nmetric = "gap"\nsplit = "test"\n', "metric 'gap' is train - test accuracy"),
    (HEAD + 'run = "mixup"\nversus = { side = "b" }\ndirection = "greater"\n', "claims[0].versus: unknown key 'side'"),
    ('\n[[claims]]\nsource = "Figure 5"\nrun = "mixup"\nversus = "vanilla"\ndirection = "less"\n',
     "claims[0].text: every claim needs a text"),
]


@pytest.mark.parametrize("claims, message", BAD)
def test_a_bad_claim_is_one_line_naming_the_file_claim_and_key(write_recipe, claims, message):
    path = write_recipe(RUNS + claims)
    with pytest.raises(AblateError) as caught:
        load_recipe(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_claims_name_grid_and_seed_runs_by_their_run(write_recipe):
    path = write_recipe(RUNS + CLAIM.replace('run = "mixup"', 'run = "mixup-s2"') + 'direction = "greater"\n'
                        + 'radius = [4, 8]\ncomponent = ["low", "high"]\n')
    (claim,) = load_recipe(path).claims
    assert claim["run"] == "mixup-s2" and claim["versus"] == {"run": "vanilla"} and claim["margin"] == 0.0


def test_claims_change_no_run_hash(write_recipe):
    without = expand(load_recipe(write_recipe(RUNS, name="plain")))
    claimed = expand(load_recipe(write_recipe(RUNS + CLAIM + 'direction = "greater"\n', name="claimed")))
    assert [run.dir_name for run in claimed] == [run.dir_name for run in without]


@pytest.mark.parametrize("name", sorted(n for n in builtin_recipes() if load_recipe(n).claims))
def test_every_builtin_claim_names_a_run_the_paper_scale_trains(name):
    recipe = load_recipe(name)
    runs = {base_run(run.name, run.settings.seed) for run in expand(recipe, "paper")}
    for claim in recipe.claims:
        versus = claim["versus"]
        named = [claim["run"]] + ([versus.get("run", claim["run"])] if isinstance(versus, dict) else [])
        assert set(named) <= runs, (claim["text"], named)


def test_the_plan_keeps_the_claims_for_the_report(write_recipe, tmp_path):
    recipe = load_recipe(write_recipe(RUNS + CLAIM + 'direction = "greater"\ncomponent = "high"\n'))
    save_plan(tmp_path, recipe, None, [], expand(recipe))
    (claim,) = json.loads((tmp_path / "recipe.json").read_text())["claims"]
    assert claim["component"] == "high" and claim["direction"] == "greater"


# --------------------------------------------------------------------------
# The decision rule, on hand-made results
# --------------------------------------------------------------------------

def results(values: dict[str, list[float]], key=("test", "high", 4.0), extra: dict | None = None) -> pd.DataFrame:
    """Final-epoch rows: ``{run: [value of seed 0, seed 1, ...]}`` at one (split, component, radius); seeds
    after the first are runs ``RUN-sN``. ``extra``: more ``{key: {run: [values]}}``."""
    rows = []
    for (split, component, radius), table in {key: values, **(extra or {})}.items():
        for run, seeds in table.items():
            for seed, value in enumerate(seeds):
                rows.append({"run": run if seed == 0 else f"{run}-s{seed}", "epoch": 3, "split": split,
                             "component": component, "radius": radius, "metric": "accuracy", "value": value,
                             "seed": seed})
    return pd.DataFrame(rows)


def verdicts(frame: pd.DataFrame, tmp_path, *claims: dict) -> pd.DataFrame:
    full = [{"text": "a claim", "source": "Figure 5", "run": "mixup", "versus": "vanilla", "component": "high",
             "radius": 4, **claim} for claim in claims]
    full = [{key: value for key, value in claim.items() if value is not None} for claim in full]
    return claims_frame(StudyResults.of(frame, tmp_path), parse_claims(full, "test"))


@pytest.mark.parametrize("direction, margin, expected", [
    ("greater", 0.05, HOLDS), ("greater", 0.15, FAILS), ("less", 0.0, FAILS), ("about", 0.15, HOLDS),
    ("about", 0.05, FAILS)])
def test_one_seed_compares_the_points_with_the_margin(tmp_path, direction, margin, expected):
    (row,) = verdicts(results({"vanilla": [0.20], "mixup": [0.30]}), tmp_path,
                      {"direction": direction, "margin": margin}).itertuples()
    assert (row.verdict, row.reason) == (expected, "one seed")
    assert row.difference == pytest.approx(0.10) and (row.value, row.versus_value) == (0.30, 0.20)


def test_seeds_decide_by_the_paired_test_against_the_margin(tmp_path):
    vanilla = [0.20, 0.25, 0.30, 0.22, 0.28]
    frame = results({"vanilla": vanilla, "mixup": [v + d for v, d in zip(vanilla, [0.10, 0.11, 0.09, 0.10, 0.10])]})
    rows = verdicts(frame, tmp_path, {"direction": "greater", "margin": 0.05},       # +10 +- ~1 > 5: holds
                    {"direction": "greater", "margin": 0.12},                       # < 12: does not hold
                    {"direction": "greater", "margin": 0.10})                       # straddles 10: undecided
    assert list(rows["verdict"]) == [HOLDS, FAILS, UNDECIDED]
    assert rows["difference"].tolist() == pytest.approx([0.10] * 3)
    assert (rows["n"] == 5).all() and rows["half_width"].between(0.005, 0.02).all()
    assert rows.loc[2, "reason"] == "the 95% interval reaches the margin"
    assert (rows.loc[:1, "p_holm"] < 0.05).all() and rows.loc[2, "p_holm"] > 0.05


def test_about_holds_only_when_the_whole_interval_is_inside_the_band(tmp_path):
    vanilla = [0.20, 0.25, 0.30, 0.22, 0.28]
    frame = results({"vanilla": vanilla, "mixup": [v + d for v, d in zip(vanilla, [0.01, -0.01, 0.0, 0.005, 0.0])]})
    rows = verdicts(frame, tmp_path, {"direction": "about", "margin": 0.03}, {"direction": "about", "margin": 0.005})
    assert list(rows["verdict"]) == [HOLDS, UNDECIDED]


def test_holm_over_the_claims_can_leave_a_check_undecided_that_alone_would_hold(tmp_path):
    differences = [0.01, 0.02, 0.03, 0.04]                          # alone: p about 0.03 against zero
    vanilla = [0.2, 0.3, 0.25, 0.35]
    mixup = [v + d for v, d in zip(vanilla, differences)]
    alone = verdicts(results({"vanilla": vanilla, "mixup": mixup}), tmp_path, {"direction": "greater"})
    assert alone.loc[0, "verdict"] == HOLDS and alone.loc[0, "p"] < 0.05
    both = verdicts(results({"vanilla": vanilla, "mixup": mixup}, extra={("test", "high", 8.0): {
        "vanilla": vanilla, "mixup": mixup}}), tmp_path, {"direction": "greater", "radius": [4, 8]})
    assert list(both["verdict"]) == [UNDECIDED, UNDECIDED]
    assert (both["p"] < 0.05).all() and (both["p_holm"] > 0.05).all()
    assert both.loc[0, "reason"] == "not after Holm's correction over 2 seeded checks"


def test_missing_numbers_and_runs_are_undecided_with_the_reason(tmp_path):
    frame = results({"vanilla": [0.2], "mixup": [0.3]})
    rows = verdicts(frame, tmp_path, {"direction": "greater", "radius": 16}, {"direction": "greater", "run": "bn"},
                    {"direction": "greater", "metric": "loss"})
    assert list(rows["verdict"]) == [UNDECIDED] * 3
    assert list(rows["reason"]) == ["metric not recorded by mixup", "run bn is not in this study",
                                    "metric not recorded by mixup"]


def test_a_diverged_run_is_undecided_even_with_one_seed(tmp_path):
    (row,) = verdicts(results({"vanilla": [0.2], "mixup": [float("inf")]}), tmp_path,
                      {"direction": "greater"}).itertuples()
    assert (row.verdict, row.reason) == (UNDECIDED, "1 of 1 seeds diverged")


def test_the_gap_and_a_fixed_number(tmp_path):
    train = {"vanilla": [0.9], "mixup": [0.7]}
    test = {"vanilla": [0.6], "mixup": [0.65]}
    frame = results(test, ("test", "original", np.nan), extra={("train", "original", np.nan): train})
    gap, fixed = verdicts(frame, tmp_path, {"direction": "less", "metric": "gap", "component": None, "radius": None},
                          {"direction": "greater", "versus": 0.6, "margin": 0.01, "component": None,
                           "radius": None}).itertuples()
    assert gap.what.startswith("gap") and gap.difference == pytest.approx(0.05 - 0.30) and gap.verdict == HOLDS
    assert fixed.versus == "0.6" and fixed.difference == pytest.approx(0.05) and fixed.verdict == HOLDS


def test_a_variant_of_the_same_run_is_compared_with_the_run_itself(tmp_path):
    rows = [{"run": "natural", "epoch": 3, "split": "test", "component": "original", "metric": "accuracy",
             "attack": "pgd", "eps": 0.09, "variant": variant, "value": value, "seed": 0}
            for variant, value in (("final", 0.05), ("smooth1.0", 0.20))]
    claim = {"text": "smoothing helps", "source": "Table 2", "run": "natural", "versus": {"variant": "final"},
             "attack": "pgd", "eps": 0.09, "variant": "smooth1.0", "direction": "greater"}
    (row,) = claims_frame(StudyResults.of(pd.DataFrame(rows), tmp_path), parse_claims([claim], "t")).itertuples()
    assert row.verdict == HOLDS and row.difference == pytest.approx(0.15)
    assert (row.what, row.versus) == ("test pgd eps 0.09 accuracy smooth1.0", "natural (variant final)")
    assert what({"attack": "none", "eps": 0, "variant": "final"}) == "test clean accuracy final"


# --------------------------------------------------------------------------
# ablate report on a finished study
# --------------------------------------------------------------------------

FINALS = {"vanilla": {("train", "original", None): 0.95, ("test", "original", None): 0.70,
                      ("test", "high", 4.0): 0.20, ("test", "high", 8.0): 0.12},
          "mixup": {("train", "original", None): 0.80, ("test", "original", None): 0.71,
                    ("test", "high", 4.0): 0.35, ("test", "high", 8.0): 0.13}}
STUDY_CLAIMS = [
    {"text": "Mix-up gives similar accuracy", "source": "Figure 5, mix-up panel", "run": "mixup",
     "versus": "vanilla", "direction": "about", "margin": 0.02},
    {"text": "Mix-up catches much more of the HFC", "source": "Figure 5, mix-up panel", "run": "mixup",
     "versus": "vanilla", "component": "high", "radius": [4, 8], "direction": "greater", "margin": 0.05},
    {"text": "Vanilla beats chance on the HFC", "source": "made up", "run": "vanilla", "versus": "chance",
     "component": "high", "radius": 4, "direction": "greater"},
]


def claimed_study(tmp_path, claims) -> tuple:
    out = write_study(tmp_path / "figure5", metric_rows(FINALS),
                      checkpoints={"vanilla": torch.zeros(4, 3, 3, 3), "mixup": torch.zeros(4, 3, 3, 3)})
    plan = json.loads((out / "recipe.json").read_text())
    (out / "recipe.json").write_text(json.dumps(plan | {"claims": claims}))
    return out


def test_report_prints_the_claims_table_and_writes_claims_csv(tmp_path):
    out = claimed_study(tmp_path, STUDY_CLAIMS)
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text()
    assert "The paper's claims, checked by this study" in text
    lines = [line for line in text.splitlines() if line.startswith("│")]
    similar = next(line for line in lines if "Mix-up gives similar" in line)
    assert "71.0 vs 70.0" in similar and "+1.0" in similar and "within ±2.0" in similar and "holds" in similar
    r8 = next(line for line in lines if "test HFC r8 accuracy" in line)
    assert "+1.0" in r8 and "> +5.0" in r8 and "does not hold" in r8
    chance = next(line for line in lines if "Vanilla beats chance" in line)     # 10 classes: the fc's rows
    assert "20.0 vs 10.0" in chance and "holds" in chance
    saved = pd.read_csv(out / "claims.csv")
    assert list(saved["verdict"]) == [HOLDS, HOLDS, FAILS, HOLDS]
    assert saved.loc[3, "versus_value"] == pytest.approx(0.1) and set(saved["reason"]) == {"one seed"}


def test_the_html_page_has_a_claims_section(tmp_path):
    out = claimed_study(tmp_path, STUDY_CLAIMS)
    page = write_page(out).read_text()
    assert '<a href="#claims">Claims</a>' in page and '<section id="claims">' in page
    section = page.split('<section id="claims">')[1].split("</section>")[0]
    assert "Mix-up catches much more of the HFC" in section and "does not hold" in section


def test_a_malformed_claims_list_in_recipe_json_is_one_warning_and_the_report_goes_on(tmp_path):
    out = claimed_study(tmp_path, [{"text": "x", "source": "y", "run": "mixup", "versus": "vanilla",
                                    "direction": "sideways"}])
    console = recording_console()
    report.print_report(out, console)
    text = console.export_text()
    assert "claims not checked" in text and "direction: found 'sideways'" in text
    assert "Figure 5" in text and not (out / "claims.csv").exists()


def test_a_study_without_claims_prints_no_claims_table(tmp_path):
    out = write_study(tmp_path / "figure5", metric_rows(FINALS))
    console = recording_console()
    report.print_report(out, console)
    assert "claims, checked" not in console.export_text() and not (out / "claims.csv").exists()
