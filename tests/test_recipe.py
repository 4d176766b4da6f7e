"""Recipe parsing, expansion and every bad-input case."""

from __future__ import annotations

import pytest

import ablate
from ablate.study.expansion import expand
from ablate.study.recipe_file import builtin_recipes, load_recipe

from conftest import TINY

BUILT_IN = {"figure5", "figure4", "figure3", "figure1", "table1", "adversarial"}


def test_builtin_recipes_expand_at_every_scale():
    assert BUILT_IN <= set(builtin_recipes())
    for name in BUILT_IN:
        recipe = load_recipe(name)
        assert recipe.description
        for scale in ("paper", "quick", "smoke"):
            runs = expand(recipe, scale)
            assert runs and len({r.dir_name for r in runs}) == len(runs)
            if scale == "smoke":
                assert all(r.settings.dataset.split(":")[0] == "synthetic" for r in runs)


def test_figure5_paper_scale_is_the_study():
    runs = {r.name: r for r in expand(load_recipe("figure5"))}
    assert list(runs) == ["vanilla", "dropout", "mixup", "batchnorm", "adversarial"]
    vanilla = runs["vanilla"].settings
    assert (vanilla.epochs, vanilla.batch_size, vanilla.optimizer, vanilla.lr) == (100, 100, "adam", 1e-4)
    assert vanilla.radii == [4, 8, 12, 16] and vanilla.weight_decay == 0 and vanilla.augment == "none"
    assert runs["vanilla"].plugins == []
    pgd = dict(runs["adversarial"].plugins)["pgd"]
    assert pgd["eps"] == 0.03 and pgd["steps"] == 10 and pgd["random_start"] is False
    assert runs["adversarial"].settings.augment == "crop_flip"


# HaohanWang/HFC scripts/resnet.py: ``radius`` in ``train`` (line 448) and in ``trainMadry`` (line 625)
TRAIN_RADII = [4, 8, 12, 16]
TRAIN_MADRY_RADII = [4, 8, 12, 16, 20, 24, 28]


@pytest.mark.parametrize("scale", ["paper", "quick", "smoke"])
def test_runs_of_the_official_scripts_probe_their_radii(scale):
    figure5 = {r.name: r.settings.radii for r in expand(load_recipe("figure5"), scale)}
    adversarial = {r.name: r.settings.radii for r in expand(load_recipe("adversarial"), scale)}
    assert figure5 == {"vanilla": TRAIN_RADII, "dropout": TRAIN_RADII, "mixup": TRAIN_RADII,
                       "batchnorm": TRAIN_RADII, "adversarial": TRAIN_MADRY_RADII}
    assert adversarial == {"natural": TRAIN_RADII, "adversarial": TRAIN_MADRY_RADII}


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_batch_statistics_runs_evaluate_in_the_official_batches_of_100(name):
    """The official code evaluates 100 images at a time (scripts/resnet.py lines 435, 540, 557, 578); a model
    that normalises with its batch's statistics gives other numbers in other batches."""
    for scale in ["paper", *load_recipe(name).scales]:
        for run in expand(load_recipe(name), scale):
            if run.batch_dependent:
                assert run.settings.eval_batch_size == 100, (name, scale, run.name)


def test_every_batch_statistics_run_of_the_builtin_recipes_is_known():
    found = {(name, run.name) for name in builtin_recipes() for run in expand(load_recipe(name)) if run.batch_dependent}
    assert found == {("figure5", "batchnorm"), ("fourier", "batchnorm")}


def test_precedence_scale_run_grid_and_set(write_recipe):
    path = write_recipe("""
        [[runs]]
        name = "a"
        settings = { lr = 0.01 }

        [[runs]]
        name = "b"
        plugins = ["batch_size"]
        [runs.grid]
        "batch_size.size" = [10, 20]
        epochs = [3, 4]
    """)
    runs = expand(load_recipe(path), "smoke", ["width=0.125", "batch_size.scale_lr=true"])
    assert [r.name for r in runs] == ["a", "b-size10-epochs3", "b-size10-epochs4", "b-size20-epochs3",
                                      "b-size20-epochs4"]
    a = runs[0].settings
    assert (a.epochs, a.lr, a.width) == (1, 0.01, 0.125)       # scale, run settings, --set
    b = runs[3]
    assert b.settings.epochs == 3 and b.settings.batch_size == 20   # grid beats the scale
    assert dict(b.plugins)["batch_size"]["scale_lr"] is True
    assert len({r.short_hash for r in runs}) == len(runs)


def test_plugin_order_follows_the_recipe(write_recipe):
    path = write_recipe("""
        [[runs]]
        name = "x"
        [runs.plugins.pgd]
        steps = 1
        [runs.plugins.mixup]
        alpha = 0.5
        [runs.plugins.dropout]
    """)
    (run,) = expand(load_recipe(path))
    assert run.plugin_names() == ["pgd", "mixup", "dropout"]


def test_the_hash_ignores_the_device_but_not_the_settings(write_recipe):
    path = write_recipe('[[runs]]\nname = "x"\n')
    base = expand(load_recipe(path))[0].short_hash
    assert expand(load_recipe(path), None, ["device=cpu"])[0].short_hash == base
    assert expand(load_recipe(path), None, ["lr=0.5"])[0].short_hash != base


BAD = [
    ('[[runs]]\nname = "x"\nplugins = ["nope"]\n', None, [], "unknown plugin 'nope'"),
    ('[[runs]]\nname = "x"\n[runs.plugins.dropout]\nq = 1\n', None, [], "plugin 'dropout' has no parameter 'q'"),
    ('[[runs]]\nname = "x"\n[runs.plugins.dropout]\np = "half"\n', None, [], "dropout.p: expected float, found 'half'"),
    ('[[runs]]\nname = "x"\nsettings = { epochs = "ten" }\n', None, [], "epochs: expected int, found 'ten'"),
    ('[[runs]]\nname = "x"\nsettings = { epoch = 3 }\n', None, [], "unknown setting 'epoch'"),
    ('[[runs]]\nname = "x"\nsettings = { radii = [4, -1] }\n', None, [], "radii[1]: found -1, must be >= 0"),
    ('[[runs]]\nname = "x"\nsettings = { optimizer = "lbfgs" }\n', None, [], "allowed: adam, sgd"),
    ('[[runs]]\nname = "x"\n', "huge", [], "unknown scale 'huge'"),
    ('[[runs]]\nname = "x"\nextra = 1\n', None, [], "unknown key 'extra'"),
    ('[[runs]]\nname = "x"\n[[runs]]\nname = "x"\n', None, [], "'x' is used twice"),
    ('[[runs]]\nname = "x"\n', None, ["epochs"], "expected KEY=VALUE"),
    ('[[runs]]\nname = "x"\n', None, ["dropout.p=0.1"], "no run of this recipe uses plugin 'dropout'"),
    ('[[runs]]\nname = "x"\n[runs.grid]\n"dropout.p" = [0.1]\n', None, [], "does not list in its plugins"),
    ('[[runs]]\nname = "x"\n[runs.grid]\nlr = 0.1\n', None, [], "expected a non-empty list"),
    ('[[runs]]\nname = "x"\nplugins = ["batch_size"]\nsettings = { batch_size = 7 }\n', None, ["batch_size.size=-3"],
     "batch_size.size"),
]


@pytest.mark.parametrize("runs, scale, overrides, message", BAD)
def test_bad_recipes_name_the_file_key_and_fix(write_recipe, runs, scale, overrides, message):
    path = write_recipe(runs)
    with pytest.raises(ablate.AblateError) as caught:
        expand(load_recipe(path), scale, overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    if not overrides:
        assert str(path) in str(caught.value)


def test_malformed_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[settings\nepochs = 3\n")
    with pytest.raises(ablate.AblateError, match=r"broken.toml: malformed TOML"):
        load_recipe(path)


def test_unknown_recipe_lists_the_builtins():
    with pytest.raises(ablate.AblateError, match="no recipe 'figure9'.*figure5"):
        load_recipe("figure9")


def test_two_plugins_setting_one_setting_are_refused(write_recipe, ablate_plugin):
    class OtherBatch(ablate.Plugin):
        name = "other_batch"

        @ablate.hookimpl
        def ablate_configure(self):
            return {"batch_size": 8}

    ablate_plugin(OtherBatch)
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["batch_size", "other_batch"]\n')
    with pytest.raises(ablate.AblateError, match="plugins 'batch_size' and 'other_batch' both set 'batch_size'"):
        expand(load_recipe(path))


SCALED_RUN = """
[[runs]]
name = "vanilla"
settings = { augment = "crop_flip" }

[[runs]]
name = "other"
settings = { augment = "crop_flip" }
"""


def test_a_scale_overrides_one_runs_own_settings_at_that_scale_only(write_recipe):
    head = TINY + "\n[scales.smoke.runs.vanilla]\naugment = \"none\"\n"
    recipe = load_recipe(write_recipe(SCALED_RUN, head=head))
    augments = {r.name: r.settings.augment for r in expand(recipe, "smoke")}
    assert augments == {"vanilla": "none", "other": "crop_flip"}
    assert {r.name: r.settings.augment for r in expand(recipe)} == {"vanilla": "crop_flip", "other": "crop_flip"}


@pytest.mark.parametrize("table, message", [
    ("[scales.smoke.runs.nosuch]\naugment = \"none\"", r"scales\.smoke\.runs\.nosuch: no run of this recipe .*vanilla, other"),
    ("[scales.smoke.runs]\nvanilla = 3", r"scales\.smoke\.runs\.vanilla: expected a table of settings"),
    ("[scales.smoke.runs.vanilla]\naugment = \"sideways\"", r"scales\.smoke\.runs\.vanilla.*augment"),
])
def test_a_scales_run_table_is_checked(write_recipe, table, message):
    with pytest.raises(ablate.AblateError, match=message):
        expand(load_recipe(write_recipe(SCALED_RUN, head=TINY + "\n" + table + "\n")), "smoke")


def test_run_selects_a_grid_runs_expansions_by_the_entrys_name(write_recipe):
    path = write_recipe('[[runs]]\nname = "a"\n\n[[runs]]\nname = "g"\nplugins = ["dropout"]\nseeds = 2\n'
                        '[runs.grid]\n"dropout.p" = [0.1, 0.2]\n')
    recipe = load_recipe(path)
    everything = [r.name for r in expand(recipe)]
    assert [r.name for r in expand(recipe, only=["g"])] == [n for n in everything if n.startswith("g-")]
    assert len(everything) == 1 + 4
    assert [r.name for r in expand(recipe, only=["g-p0.2"])] == ["g-p0.2", "g-p0.2-s1"]
    assert [r.name for r in expand(recipe, only=["a"])] == ["a"]
    with pytest.raises(ablate.AblateError, match=r"--run 'g-p0.3': no such run"):
        expand(recipe, only=["g-p0.3"])
