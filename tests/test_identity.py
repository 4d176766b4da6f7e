"""A run's name, hash and folder say exactly what it trains (docs/recipes.md, "Identity")."""

from __future__ import annotations

import json

import pytest

import ablate
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe

GRID = """
    [[runs]]
    name = "b"
    plugins = ["dropout"]
    [runs.grid]
    epochs = [3]
    "dropout.p" = [0.2]
"""

# Every built-in recipe's run folders at the paper and quick scales (recorded when issue 22 made one hash
# of one training): a change here renames folders that hold finished runs. Issue 23 renamed adversarial's
# natural run on purpose (it trains with normalize = "max", as the official natural model) and, at the
# paper scale, both runs (their attacks also measure Table 2 as the official code did: foolbox's search).
BUILTIN_FOLDERS = {
    ("adversarial", "paper"): {"adversarial-ad5918f3", "natural-cdbdf873"},
    ("adversarial", "quick"): {"adversarial-bad3d2da", "natural-82626b07"},
    ("figure1", "paper"): {"vanilla-a78fc91b"},
    ("figure1", "quick"): {"vanilla-0c12dc03"},
    ("figure3", "paper"): {"shuffled-labels-17bce137", "true-labels-d592b032"},
    ("figure3", "quick"): {"shuffled-labels-2ac452d9", "true-labels-5c612cef"},
    ("figure4", "paper"): {
        "batch-size100-13950c21", "batch-size200-88971653", "batch-size25-baf93955", "batch-size400-f8b505ac",
        "batch-size50-700897d7"},
    ("figure4", "quick"): {
        "batch-size100-65a55e48", "batch-size200-ef36e46a", "batch-size25-901c3652", "batch-size400-ee155c81",
        "batch-size50-23ab8e42"},
    ("figure5", "paper"): {
        "adversarial-fcd11631", "batchnorm-aa1bc50c", "dropout-86118e0c", "mixup-e43a4d19",
        "vanilla-bddf4c9c"},
    ("figure5", "quick"): {
        "adversarial-caf8f870", "batchnorm-10f4281f", "dropout-43aeecb1", "mixup-b8bbc0df",
        "vanilla-6c2a8dba"},
    # fourier (unreleased, 0.2) spells eps = 4.0 and limit = 1000, the heat map's defaults: hashed before issue 22.
    # Issue 23 trains all its runs on pixels / 255 (normalize = "none", as its adversarial run already did):
    # every other run was renamed then.
    ("fourier", "paper"): {
        "adversarial-4eae795f", "batchnorm-52258cdb", "gaussian-87409a0e", "mixup-e2b15a3c",
        "vanilla-f841ad20"},
    ("fourier", "quick"): {
        "adversarial-34431e7c", "batchnorm-70a0c175", "gaussian-8acfae5d", "mixup-bd8bf1c9",
        "vanilla-499a94f0"},
    ("table1", "paper"): {
        "hfc-radius12-45d9c040", "hfc-radius16-8493126c", "hfc-radius4-d9474004", "hfc-radius8-3869f278",
        "lfc-radius12-f504a754", "lfc-radius16-cd9afe4a", "lfc-radius4-fd4067f6", "lfc-radius8-3aa95563"},
    ("table1", "quick"): {
        "hfc-radius12-af4fd218", "hfc-radius16-89d39708", "hfc-radius4-49bdf47e", "hfc-radius8-4b4601c5",
        "lfc-radius12-b0407ffd", "lfc-radius16-211f062a", "lfc-radius4-850347e8", "lfc-radius8-22245a67"},
}


# --------------------------------------------------------------------------
# --set: one rule for settings and plugin parameters
# --------------------------------------------------------------------------

def test_set_overrides_recipe_scale_and_run_tables_for_settings_and_parameters(write_recipe):
    path = write_recipe("""
        [scales.smoke.plugins.dropout]
        p = 0.4

        [[runs]]
        name = "a"
        settings = { epochs = 5 }
        [runs.plugins.dropout]
        p = 0.3
    """)
    (run,) = expand(load_recipe(path), "smoke", ["epochs=7", "dropout.p=0.9"])
    assert run.settings.epochs == 7
    assert dict(run.plugins)["dropout"]["p"] == 0.9


@pytest.mark.parametrize("override, key", [("epochs=7", "epochs"), ("dropout.p=0.9", "dropout.p")])
def test_set_on_a_key_the_grid_varies_is_refused(write_recipe, override, key):
    path = write_recipe(GRID)
    with pytest.raises(ablate.AblateError) as caught:
        expand(load_recipe(path), None, [override])
    message = str(caught.value)
    assert f"--set {key}" in message and "grid" in message and "runs[0] (b)" in message
    assert "\n" not in message


def test_set_on_a_key_a_plugin_configures_is_refused():
    with pytest.raises(ablate.AblateError, match=r"plugin 'batch_size' sets 'batch_size'.*--set batch_size"):
        expand(load_recipe("figure4"), "smoke", ["batch_size=7"])


def test_the_cli_refuses_a_set_on_a_grid_key_with_exit_2(write_recipe):
    from click.testing import CliRunner

    from ablate.cli import cli

    path = write_recipe(GRID)
    result = CliRunner().invoke(cli, ["recipe", str(path), "--dry-run", "--set", "epochs=7"])
    assert result.exit_code == 2
    assert "--set epochs" in result.output and "Traceback" not in result.output


def test_run_names_are_built_from_the_final_values(write_recipe, ablate_plugin):
    class Halve(ablate.Plugin):
        """Configures a setting that the run's grid names."""
        name = "halve"

        @ablate.hookimpl
        def ablate_configure(self, settings):
            return {"lr": settings.lr / 2}

    ablate_plugin(Halve)
    path = write_recipe("""
        [[runs]]
        name = "h"
        plugins = ["halve"]
        [runs.grid]
        lr = [0.5]
    """)
    (run,) = expand(load_recipe(path))
    assert run.settings.lr == 0.25 and run.name == "h-lr0.25"


# --------------------------------------------------------------------------
# Autoloaded plugins are part of every run
# --------------------------------------------------------------------------

def autoloaded(affects_results: bool):
    class Tagger(ablate.Plugin):
        name = "zz-tagger"
        autoload = True
        params = [ablate.Param("strength", float, 1.0, "how much")]

        @ablate.hookimpl
        def ablate_check(self, plugins):
            seen.append(list(plugins))

    Tagger.affects_results = affects_results
    seen: list = []
    return Tagger, seen


def test_an_autoloaded_plugin_is_in_the_runs_plugins_hash_and_checks(write_recipe, ablate_plugin):
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["dropout"]\n')
    before = expand(load_recipe(path))[0]
    cls, seen = autoloaded(affects_results=True)
    ablate_plugin(cls)
    (run,) = expand(load_recipe(path))
    assert run.plugin_names() == ["dropout", "zz-tagger"]
    assert dict(run.plugins)["zz-tagger"] == {"strength": 1.0}
    assert seen == [["dropout", "zz-tagger"]]
    assert run.short_hash != before.short_hash
    # its parameters are set like any plugin's
    (stronger,) = expand(load_recipe(path), None, ["zz-tagger.strength=2"])
    assert stronger.short_hash != run.short_hash


def test_a_plugin_that_cannot_change_results_is_listed_but_not_hashed(write_recipe, ablate_plugin, tmp_path):
    from ablate.execution.plan_table import plan_table

    path = write_recipe('[[runs]]\nname = "x"\n')
    before = expand(load_recipe(path))[0]
    cls, _ = autoloaded(affects_results=False)
    ablate_plugin(cls)
    (run,) = expand(load_recipe(path))
    assert run.plugin_names() == ["zz-tagger"]
    assert run.short_hash == before.short_hash and run.dir_name == before.dir_name
    assert "zz-tagger" in plan_table([run]).loc[0, "plugins"]


def test_config_json_lists_autoloaded_plugins(write_recipe, ablate_plugin, tmp_path):
    cls, _ = autoloaded(affects_results=False)
    ablate_plugin(cls)
    path = write_recipe('[[runs]]\nname = "x"\n')
    ablate.run_recipe(path, "smoke", out=tmp_path / "out")
    (config,) = (tmp_path / "out" / "tiny").glob("x-*/config.json")
    assert [name for name, _ in json.loads(config.read_text())["plugins"]] == ["zz-tagger"]


# --------------------------------------------------------------------------
# The identity policy
# --------------------------------------------------------------------------

def test_builtin_hashes_are_unchanged():
    """Folders written before the identity policy still resume (hashes recorded at that change)."""
    runs = {r.name: r.dir_name for r in expand(load_recipe("figure5"))}
    assert runs == {"vanilla": "vanilla-bddf4c9c", "dropout": "dropout-86118e0c", "mixup": "mixup-e43a4d19",
                    "batchnorm": "batchnorm-aa1bc50c", "adversarial": "adversarial-fcd11631"}
    adversarial = {r.name: r.dir_name for r in expand(load_recipe("adversarial"))}
    # issue 23: the natural run trains with normalize = "max" (natural-0683d26e before), and both runs'
    # attacks measure foolbox's minimal search too (adversarial-965d17ed before): other runs
    assert adversarial == {"natural": "natural-cdbdf873", "adversarial": "adversarial-ad5918f3"}


@pytest.mark.parametrize("recipe, scale", list(BUILTIN_FOLDERS))
def test_builtin_recipes_keep_their_folders_at_paper_and_quick_scale(recipe, scale):
    assert {run.dir_name for run in expand(load_recipe(recipe), scale)} == BUILTIN_FOLDERS[recipe, scale]


def test_equal_values_written_differently_give_one_hash(write_recipe):
    ints = write_recipe('[settings]\nradii = [4, 8]\nwidth = 1\n[[runs]]\nname = "x"\n', name="ints", head="")
    floats = write_recipe('[settings]\nradii = [4.0, 8.0]\nwidth = 1.0\n[[runs]]\nname = "x"\n', name="floats",
                          head="")
    assert expand(load_recipe(ints))[0].short_hash == expand(load_recipe(floats))[0].short_hash


@pytest.mark.parametrize("ignored, used", [
    (["momentum=0.5"], ["optimizer=sgd"]),
    (["step_every=10", "step_gamma=0.5"], ["schedule=step"]),
    (["report_radii=[4]"], ["probe_report=true"]),
    (["batchnorm.momentum=0.3"], ["batchnorm.stats=running"]),
])
def test_a_value_the_run_ignores_names_no_other_run(write_recipe, ignored, used):
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["batchnorm"]\n')
    hashes = {tuple(given): expand(load_recipe(path), None, given)[0].short_hash
              for given in ([], ignored, used, used + ignored)}
    assert hashes[tuple(ignored)] == hashes[()]
    assert hashes[tuple(used + ignored)] != hashes[tuple(used)] != hashes[()]


def test_a_parameter_added_later_is_hashed_only_when_it_leaves_its_default(write_recipe, ablate_plugin):
    class Old(ablate.Plugin):
        name = "grower"
        params = [ablate.Param("a", float, 1.0, "an original parameter")]

    class Grown(ablate.Plugin):
        name = "grower"
        params = Old.params + [ablate.Param("b", int, 3, "added in a later release", since="0.2")]

    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["grower"]\n')
    ablate_plugin(Old)
    old = expand(load_recipe(path))[0].short_hash
    ablate_plugin(Grown)
    assert expand(load_recipe(path))[0].short_hash == old
    assert expand(load_recipe(path), None, ["grower.b=4"])[0].short_hash != old


def test_changing_a_default_changes_the_identity(write_recipe, ablate_plugin):
    def version(default):
        class Plugin(ablate.Plugin):
            name = "defaults"
            params = [ablate.Param("a", float, default, "a parameter")]
        return Plugin

    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["defaults"]\n')
    ablate_plugin(version(1.0))
    first = expand(load_recipe(path))[0].short_hash
    ablate_plugin(version(2.0))
    assert expand(load_recipe(path))[0].short_hash != first


def test_a_model_trained_with_a_logger_loads_after_the_logger_is_uninstalled(write_recipe, ablate_plugin, tmp_path):
    from ablate.core.registry import get_registry
    from ablate.train.trained import load_trained

    cls, _ = autoloaded(affects_results=False)
    ablate_plugin(cls)
    path = write_recipe('[[runs]]\nname = "x"\n')
    ablate.run_recipe(path, "smoke", out=tmp_path)
    (checkpoint,) = (tmp_path / "tiny").glob("x-*/checkpoint.pt")
    get_registry().remove("zz-tagger")
    model, settings, _ = load_trained(checkpoint, device="cpu")
    assert settings.epochs == 1 and not model.training
