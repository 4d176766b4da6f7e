"""The regularizer plugins inside real training runs: they compose and produce their rows."""

import pytest

import ablate
from ablate.recipe import expand, load_recipe
from ablate.trainer import train

FAST = ["epochs=1", "probe_every=0", "train_size=120", "test_size=40"]


def run_named(write_recipe, runs, overrides=FAST):
    (run,) = expand(load_recipe(write_recipe(runs)), None, list(overrides))
    return run


def test_table2_flow_adversarial_training_smoothing_and_attacks(write_recipe):
    runs = """
        [[runs]]
        name = "robust"
        [runs.plugins.pgd]
        steps = 2
        [runs.plugins.kernel_smoothing]
        rho = [1.0]
        [runs.plugins.attacks]
        eps = [0.0, 0.03]
        pgd_steps = 2
    """
    metrics = train(run_named(write_recipe, runs))
    attacked = metrics.dropna(subset=["attack"])
    assert set(attacked["variant"]) == {"final", "smooth1.0"}
    assert len(attacked) == 2 * (1 + 2 * 2)
    for variant, rows in attacked.groupby("variant"):
        values = rows.set_index(["attack", "eps"])["value"]
        assert values[("fgsm", 0.0)] == values[("none", 0.0)] == values[("pgd", 0.0)]
    final_clean = attacked.query("variant == 'final' and attack == 'none'")["value"].item()
    test_acc = metrics.query("split == 'test' and component == 'original' and metric == 'accuracy' "
                             "and epoch == 1 and attack != attack")["value"].item()
    assert final_clean == pytest.approx(test_acc)                        # the same model on the same images


def test_heuristics_compose_in_one_run(write_recipe):
    runs = """
        [[runs]]
        name = "everything"
        settings = { augment = "crop_flip" }
        [runs.plugins.batchnorm]
        [runs.plugins.dropout]
        [runs.plugins.pgd]
        steps = 1
        [runs.plugins.mixup]
    """
    metrics = train(run_named(write_recipe, runs))
    loss = metrics.query("split == 'train' and metric == 'loss'")["value"]
    assert loss.notna().all() and (loss > 0).all()


def test_data_plugins_in_a_run(write_recipe):
    runs = """
        [[runs]]
        name = "lfc-shuffled"
        plugins = ["frequency_filter", "shuffle_labels"]
    """
    metrics = train(run_named(write_recipe, runs))
    assert set(metrics["epoch"]) == {0, 1}


def test_mixup_before_pgd_is_refused_before_training(write_recipe):
    runs = '[[runs]]\nname = "wrong"\nplugins = ["mixup", "pgd"]\n'
    with pytest.raises(ablate.AblateError, match="list pgd before mixup"):
        run_named(write_recipe, runs)
