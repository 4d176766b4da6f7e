"""Seeds: recipes expand them into runs, results carry them, and reports say how sure each number is."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_runner import RUNS  # vanilla and dropout
from test_stats import jitter

from ablate import AblateError
from ablate.cli import cli
from ablate.execution.runner import run_recipe
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe

from conftest import TINY


def names(runs):
    return [(r.name, r.settings.seed) for r in runs]


def test_one_seed_is_exactly_todays_runs(write_recipe):
    today = expand(load_recipe(write_recipe(RUNS)))
    seeded = expand(load_recipe(write_recipe(RUNS, name="one", head="seeds = 1\n" + TINY)))
    assert [(r.name, r.short_hash) for r in seeded] == [(r.name, r.short_hash) for r in today]


def test_seeds_expand_each_run_and_seed_zero_keeps_its_folder(write_recipe):
    recipe = load_recipe(write_recipe(RUNS))
    today = {r.name: r.dir_name for r in expand(recipe)}
    runs = expand(recipe, overrides=["seeds=3"])
    assert names(runs) == [("vanilla", 0), ("vanilla-s1", 1), ("vanilla-s2", 2),
                           ("dropout", 0), ("dropout-s1", 1), ("dropout-s2", 2)]
    assert {r.name: r.dir_name for r in runs if r.settings.seed == 0} == today
    assert len({r.dir_name for r in runs}) == 6


def test_seeds_in_a_run_a_scale_and_on_the_command_line(write_recipe):
    path = write_recipe(RUNS.replace('name = "dropout"', 'name = "dropout"\nseeds = 1')
                        + '\n[scales.few]\nseeds = [1, 2]\n', head="seeds = [0, 5]\n" + TINY)
    recipe = load_recipe(path)
    assert names(expand(recipe)) == [("vanilla", 0), ("vanilla-s5", 5), ("dropout", 0)]
    assert names(expand(recipe, "few")) == [("vanilla-s1", 1), ("vanilla-s2", 2), ("dropout-s1", 1), ("dropout-s2", 2)]
    assert names(expand(recipe, "few", ["seeds=1"])) == [("vanilla", 0), ("dropout", 0)]


def test_the_seed_a_run_has_without_seeds_keeps_the_plain_name(write_recipe):
    runs = expand(load_recipe(write_recipe(RUNS.replace('name = "vanilla"', 'name = "vanilla"\nsettings = {seed = 3}'),
                                           head="seeds = [3, 4]\n" + TINY)))
    assert names(runs)[:2] == [("vanilla", 3), ("vanilla-s4", 4)]


@pytest.mark.parametrize("head, overrides, message", [
    ("seeds = 0", [], r"seeds = 0: give a number of seeds from 1"),
    ("seeds = [1, 1]", [], r"expected a number of seeds .* distinct"),
    ("seeds = 'three'", [], r"seeds = 'three'"),
    ("seeds = 2", ["seed=4"], r"seeds and --set seed both choose the seed"),
])
def test_bad_seeds_are_refused_in_one_line(write_recipe, head, overrides, message):
    with pytest.raises(AblateError, match=message):
        expand(load_recipe(write_recipe(RUNS, head=head + "\n" + TINY)), overrides=overrides)


def test_seeds_and_a_grid_over_seed_are_refused(write_recipe):
    path = write_recipe('[[runs]]\nname = "v"\nseeds = 2\n[runs.grid]\nseed = [0, 1]\n')
    with pytest.raises(AblateError, match=r"seeds and a grid over seed"):
        expand(load_recipe(path))


def test_cli_seeds_option_in_the_dry_run(write_recipe, tmp_path):
    result = CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["recipe", str(write_recipe(RUNS)), "--seeds", "2",
                                                           "--dry-run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "vanilla-s1" in result.output and "dropout-s1" in result.output


# --------------------------------------------------------------------------
# Reports over seeds

def accuracy_rows(shift: float, noise: float) -> list[dict]:
    """A run's train and test accuracy: shared per-seed noise, and ``shift`` planted in the test accuracy."""
    return [{"split": split, "component": "original", "value": value}
            for split, value in (("train", 0.9 + noise / 2), ("test", 0.6 + shift + noise))]


def seeded_study(out_dir, effects: dict[str, float], seeds=(0, 1, 2, 3), seed_column=True, layout="figure5",
                 rows_of=accuracy_rows, status=None, jitter_size=0.002):
    """A recipe output folder: runs whose numbers are shared per-seed noise, the run's own zero-mean jitter
    (``jitter_size`` times its place in ``effects``) and a planted effect (``rows_of`` gives a run's result
    rows from its effect and its seed's noise); ``status`` overrides runs' statuses."""
    noise = np.random.default_rng(3).normal(0, 0.02, size=len(seeds))
    out_dir.mkdir(parents=True)
    rows, plan = [], []
    for k, (run, shift) in enumerate(effects.items()):
        for seed, e in zip(seeds, noise + jitter(k, len(seeds), jitter_size)):
            name = run if seed == 0 else f"{run}-s{seed}"
            plan.append({"name": name, "dir": f"{name}-0123abcd", "plugins": {}, "settings": {"seed": seed},
                         "status": (status or {}).get(name, "finished")})
            (out_dir / f"{name}-0123abcd").mkdir()
            for row in rows_of(shift, e):
                rows.append({"run": name, "epoch": 1, "metric": "accuracy", **row,
                             **({"seed": seed} if seed_column else {})})
    pd.DataFrame(rows).to_csv(out_dir / "results.csv", index=False)
    (out_dir / "recipe.json").write_text(json.dumps({"recipe": "t", "report": layout, "runs": plan}))
    return out_dir


def report_text(out_dir, **env):
    result = CliRunner(env={"COLUMNS": "250", **env}).invoke(cli, ["report", str(out_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def body_rows(text: str) -> dict[str, list[list[str]]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows.setdefault(cells[0], []).append(cells[1:])
    return rows


@pytest.mark.parametrize("seed_column", [True, False])     # False: an older results.csv, seeds from recipe.json
def test_a_planted_effect_is_marked_and_no_effect_is_not(tmp_path, seed_column):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0}, seed_column=seed_column)
    text = report_text(out, NO_COLOR="1")
    rows = body_rows(text)
    assert set(rows) == {"vanilla", "mixup", "dropout"}                  # one row per run, not per seed
    summary, effects = rows["mixup"]
    assert summary[0] == "4" and " ± " in summary[2]                     # n, then train, test (mean ± CI)
    assert summary[2].startswith(f"{100 * (0.65 + np.random.default_rng(3).normal(0, 0.02, 4).mean()):.1f} ± ")
    assert effects[2].startswith("+5.0 ± ") and effects[2].endswith("*")  # test: marked
    assert not rows["dropout"][1][2].endswith("*")                        # no effect: not marked
    assert "Effect vs vanilla" in text and "Student t" in text
    assert "▲" in summary[2]                                                # best test mean, visible without colour


def attack_rows(shift: float, noise: float) -> list[dict]:
    """Table 2's rows of a run: clean and PGD accuracy of the final and the smoothed model; ``shift`` planted
    in the final model's PGD accuracy only."""
    return [{"split": "test", "component": "original", "value": 0.8 + noise},
            {"split": "test", "component": "original", "attack": "none", "eps": 0.0, "value": 0.8 + noise},
            {"split": "test", "component": "original", "attack": "pgd", "eps": 0.03, "value": 0.1 + shift + noise},
            {"split": "test", "component": "original", "attack": "none", "eps": 0.0, "variant": "smooth1.0",
             "value": 0.7 + noise},
            {"split": "test", "component": "original", "attack": "pgd", "eps": 0.03, "variant": "smooth1.0",
             "value": 0.2 + noise}]


def test_table2_over_seeds_has_intervals_and_effects_variant_by_variant(tmp_path):
    out = seeded_study(tmp_path / "study", {"natural": 0.0, "adversarial": 0.3}, layout="adversarial",
                       rows_of=attack_rows)
    text = report_text(out, NO_COLOR="1")
    table2 = text[text.index("Table 2"):]
    rows = body_rows(table2)
    assert set(rows) == {"natural", "adversarial"}
    summary = rows["adversarial"][:2]                     # one row per variant, not per seed
    assert [r[0] for r in summary] == ["none", "ρ=1"] and all(r[1] == "4" for r in summary)
    assert all(" ± " in cell for r in summary for cell in r[2:])
    assert "Effect vs natural" in table2
    final, smoothed = rows["adversarial"][2:]             # paired against natural's row of the same variant
    assert final[0] == "none" and final[3].startswith("+30.0 ± ") and final[3].endswith("*")
    assert smoothed[0] == "ρ=1" and smoothed[3].startswith("+0.0") and not smoothed[3].endswith("*")


def test_probe_tables_over_seeds_have_intervals(tmp_path):
    def band_rows(shift, noise):
        return accuracy_rows(shift, noise) + [{"split": "test", "component": "band", "radius": 0.0,
                                               "radius_outer": 4.0, "value": 0.3 + shift + noise}]
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.1}, rows_of=band_rows)
    text = report_text(out, NO_COLOR="1")
    probe = body_rows(text[text.index("probe bandpass"):])
    mean = 0.4 + np.random.default_rng(3).normal(0, 0.02, 4).mean()
    assert probe["mixup"][0][0] == "4" and probe["mixup"][0][1].startswith(f"{100 * mean:.1f} ± ")
    assert probe["mixup"][1][1].startswith("+10.0 ± ") and probe["mixup"][1][1].endswith("*")


def test_median_minimal_eps_over_seeds_is_one_row_with_the_seeds_median_and_range(tmp_path):
    def minimal_rows(shift, noise):
        base = {"split": "test", "component": "original"}
        return ([{**base, "attack": "none", "eps": 0.0, "value": 0.9},
                 {**base, "metric": "median_min_eps", "attack": "pgd", "value": 0.01 + shift + noise / 10}]
                + [{**base, "metric": "min_eps_accuracy", "attack": "pgd", "eps": eps, "value": 0.9 - 4 * eps}
                   for eps in (0.0, 0.05, 0.1)])
    out = seeded_study(tmp_path / "study", {"natural": 0.0, "adversarial": 0.02}, seeds=(0, 1, 2),
                       layout="adversarial", rows_of=minimal_rows, jitter_size=0)
    text = report_text(out, NO_COLOR="1")
    rows = body_rows(text[text.index("Median minimal eps"):])
    values = 0.03 + np.random.default_rng(3).normal(0, 0.02, 3) / 10
    assert rows["adversarial"] == [["none", "3", f"{np.median(values):.4f} [{values.min():.4f}–{values.max():.4f}]"]]
    assert set(rows) == {"natural", "adversarial"}                        # one row per run, not per seed


def test_a_seed_not_finished_is_a_row_apart_not_pooled_with_the_finished_ones(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05}, seeds=(0, 1, 2),
                       status={"mixup-s2": "running"})
    text = report_text(out, NO_COLOR="1")
    rows = body_rows(text)
    noise = np.random.default_rng(3).normal(0, 0.02, 3) + jitter(1, 3)
    assert rows["mixup"][0][:2] == ["finished", "2"] and rows["vanilla"][0][:2] == ["finished", "3"]
    assert rows["mixup"][0][3].startswith(f"{100 * (0.65 + noise[:2].mean()):.1f} ± ")      # seeds 0 and 1 only
    apart = rows["mixup-s2 (not pooled)"]
    assert len(apart) == 1 and apart[0][:2] == ["running", "1"]                         # and in no effect table
    assert apart[0][3].startswith(f"{100 * (0.65 + noise[2]):.1f}")
    assert "not pooled with the finished seeds" in text


def rewrite_results(out_dir, change) -> None:
    """Apply ``change`` (results -> results) to a study's results.csv."""
    results = pd.read_csv(out_dir / "results.csv")
    change(results).to_csv(out_dir / "results.csv", index=False)


def test_a_diverged_seed_is_shown_as_such(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0})

    def diverge(results):
        results.loc[(results["run"] == "mixup-s2") & (results["split"] == "test"), "value"] = float("inf")
        return results
    rewrite_results(out, diverge)
    text = report_text(out, NO_COLOR="1")
    summary, effects = body_rows(text)["mixup"]
    assert summary[0] == "4" and " ± " in summary[1]                     # train: all four seeds, a mean
    assert summary[2] == "diverged (1 of 4)" and effects[2] == "diverged (1 of 4)"   # test, and the gap from it
    assert summary[3] == "diverged (1 of 4)" and effects[3] == "diverged (1 of 4)"
    assert "k of the n seeds' numbers are infinite" in text


def test_n_counts_the_values_of_each_cell(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0})
    rewrite_results(out, lambda r: r[~((r["run"] == "vanilla-s3") & (r["split"] == "train"))])
    rows = body_rows(report_text(out, NO_COLOR="1"))
    summary, effects = rows["vanilla"][0], rows["mixup"][1]
    assert summary[0] == "3–4" and "(n=3)" in summary[1] and "(n=" not in summary[2]
    assert effects[0] == "3–4" and "(n=3)" in effects[1]          # the pairs: vanilla has 3 train values


def test_identical_seeds_are_flagged_and_not_starred(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05})

    def not_applied(results):                           # no seed took effect: every seed's numbers the same
        mixup = results["run"].str.startswith("mixup")
        results["value"] = results["split"].map({"train": 0.9, "test": 0.6}) + 0.05 * mixup
        return results
    rewrite_results(out, not_applied)
    text = report_text(out, NO_COLOR="1")
    summary, effects = body_rows(text)["mixup"]
    assert summary[2].startswith("65.0 ± 0.0≡")
    assert effects[2] == "+5.0 ± 0.0≡"                                  # was "+5.0 ± 0.0*": starred as real
    assert "every seed gave the same number" in text


def test_the_effect_tables_star_is_holms_over_its_cells(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0})
    text = report_text(out, NO_COLOR="1")
    assert "Holm's correction over the table's 6 tested cells" in text      # 2 runs x train, test, gap


def test_marks_survive_plain_text(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05}, seeds=(0,))
    text = report_text(out, NO_COLOR="1")                # CliRunner's output is not a terminal either
    rows = body_rows(text)
    assert rows["mixup"][0][1].endswith("▲") and rows["vanilla"][0][1].endswith("▼")
    assert "Effect vs" not in text and " ± " not in text                   # one seed: the table of old


def test_results_carry_the_seed_and_rerunning_trains_only_new_seeds(write_recipe, tmp_path):
    path = write_recipe('[[runs]]\nname = "vanilla"\n')
    out = tmp_path / "out"
    run_recipe(path, "smoke", out=out, report=False)
    first = {p.parent.name: p.stat().st_mtime_ns for p in (out / "tiny").glob("vanilla-*/done.json")}
    results = run_recipe(path, "smoke", ["seeds=2"], out=out, report=False)
    assert sorted(results.groupby("run")["seed"].first().items()) == [("vanilla", 0), ("vanilla-s1", 1)]
    done = {p.parent.name: p.stat().st_mtime_ns for p in (out / "tiny").glob("vanilla-*/done.json")}
    assert len(done) == 2 and all(done[name] == stamp for name, stamp in first.items())
    saved = pd.read_csv(out / "tiny" / "results.csv")
    assert set(saved["seed"]) == {0, 1}


def test_curves_over_seeds_are_means_with_bands_and_one_seed_has_none(tmp_path):
    from ablate.report import StudyResults
    from ablate.report.plots import curves_figure

    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05})
    study = StudyResults.of(pd.read_csv(out / "results.csv"), out)
    fig = curves_figure(study.results, study.runs)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["vanilla (mean of 4 seeds, 95% CI)", "mixup (mean of 4 seeds, 95% CI)"]
    assert all(ax.collections for ax in panels)                                   # the shaded bands
    test_line = panels[1].lines[1]
    expected = 0.65 + np.random.default_rng(3).normal(0, 0.02, 4).mean()
    assert test_line.get_ydata()[0] == pytest.approx(expected)

    single = StudyResults.of(pd.read_csv(out / "results.csv").query("seed == 0"), out)
    fig = curves_figure(single.results, ["vanilla", "mixup"])
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["vanilla", "mixup"]
    assert not any(ax.collections for ax in fig.axes)


def test_compare_pairs_seeds_and_marks_a_real_difference(tmp_path):
    a = seeded_study(tmp_path / "a", {"vanilla": 0.0, "mixup": 0.0})
    b = seeded_study(tmp_path / "b", {"vanilla": 0.0, "mixup": 0.04}, jitter_size=0.003)
    result = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"}).invoke(cli, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    rows, run = {}, None
    for line in result.output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            run = cells[0] or run                     # a run's name is shown on its first row only
            rows[(run, cells[1])] = cells
    assert rows[("mixup", "test")][4] == "+4.0 ± 0.2*"
    assert rows[("vanilla", "test")][4] == "+0.0 ± 0.0"
    assert "paired by seed" in result.output

    import io

    from rich.console import Console

    from ablate.report import compare
    diffs = compare(a, b, Console(file=io.StringIO())).set_index(["run", "metric"])
    assert diffs.loc[("mixup", "test"), "n"] == 4 and diffs.loc[("mixup", "test"), "marked"]
    assert not diffs.loc[("vanilla", "test"), "marked"]


def test_compare_marks_only_differences_that_hold_after_holms_correction(tmp_path):
    # mixup's test accuracy differs with a raw p of 0.03 (its own interval excludes zero); with the gap and
    # the train accuracy tested too, Holm's correction lifts it above 5 %, as ablate report would.
    import io

    from rich.console import Console

    from ablate.report import compare
    from ablate.report.stats import holm
    a = seeded_study(tmp_path / "a", {"vanilla": 0.0, "mixup": 0.0})
    b = seeded_study(tmp_path / "b", {"vanilla": 0.0, "mixup": 0.02}, jitter_size=0.01)
    console = Console(file=io.StringIO(), record=True, width=250)
    diffs = compare(a, b, console).set_index(["run", "metric"])
    test, gap = diffs.loc[("mixup", "test")], diffs.loc[("mixup", "gap")]
    assert test["p"] < 0.05 and test["p_adjusted"] >= 0.05 and not test["marked"]
    assert gap["marked"] and gap["p_adjusted"] < 0.05
    assert np.allclose(diffs["p_adjusted"], holm(diffs["p"]), equal_nan=True)
    assert "Holm's correction over the table's 3 tested differences" in " ".join(console.export_text().split())
