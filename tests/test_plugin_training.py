"""The regularizer plugins inside real training runs: they compose and produce their rows."""

import numpy as np
import pytest
import torch

import ablate
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.train.trainer import Trainer, train

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
        eps = [0.01, 0.03]
        pgd_steps = 2
    """
    metrics = train(run_named(write_recipe, runs))
    attacked = metrics.dropna(subset=["attack"])
    assert set(attacked["variant"]) == {"final", "smooth1.0"}
    assert len(attacked) == 2 * (1 + 2 * 2)
    for variant, rows in attacked.groupby("variant"):
        assert set(rows.set_index(["attack", "eps"]).index) == {("none", 0.0), *((attack, eps) for attack in (
            "fgsm", "pgd") for eps in (0.01, 0.03))}
    final_clean = attacked.query("variant == 'final' and attack == 'none'")["value"].item()
    test_acc = metrics.query("split == 'test' and component == 'original' and metric == 'accuracy' "
                             "and epoch == 1 and attack != attack")["value"].item()
    assert final_clean == pytest.approx(test_acc)                        # the same model on the same images


class Watch(ablate.Plugin):
    """Records every training batch as the hook chain reaches it (listed first: clean; listed last: final)."""

    name = "watch_first"
    seen: dict[str, list] = {}

    @ablate.hookimpl
    def ablate_train_batch(self, batch, model):
        Watch.seen.setdefault(self.name, []).append((batch.x.clone(), batch.y.clone(), model.training))


class WatchLast(Watch):
    name = "watch_last"


def test_heuristics_compose_in_one_run(write_recipe, ablate_plugin):
    """BatchNorm, dropout, PGD and mix-up in one run: every one acts (BN layers, dropout, attacked then mixed
    batches), in the recipe's order, and the model is back in train mode after the attack."""
    ablate_plugin(Watch)
    ablate_plugin(WatchLast)
    Watch.seen = {}
    runs = """
        [[runs]]
        name = "everything"
        settings = { augment = "crop_flip" }
        [runs.plugins.watch_first]
        [runs.plugins.batchnorm]
        [runs.plugins.dropout]
        [runs.plugins.pgd]
        steps = 1
        [runs.plugins.mixup]
        [runs.plugins.watch_last]
    """
    trainer = Trainer(run_named(write_recipe, runs))
    metrics = trainer.fit()
    kinds = {type(m) for m in trainer.model.modules()}
    assert torch.nn.BatchNorm2d in kinds and isinstance(trainer.model.pre_pool, torch.nn.Dropout)
    first, last = Watch.seen["watch_first"], Watch.seen["watch_last"]
    assert len(first) == len(last) == 3                                     # 120 images, batches of 40
    for (x, y, _), (x_final, y_final, training) in zip(first, last):
        assert not y.is_floating_point() and y_final.shape == (len(y), 10)    # mix-up made soft targets
        assert torch.allclose(y_final.sum(1), torch.ones(len(y))) and training
        assert not torch.equal(x_final, x) and -1e-6 <= x_final.min() and x_final.max() <= 1 + 1e-6
    assert metrics.query("split == 'train' and metric == 'loss'")["value"].between(0, 10).all()


def lfc_reference(images: np.ndarray, radius: float) -> np.ndarray:
    """The LFC as the official utility/frequencyHelper.py computes it: fftshift(fft2(x)), the disc
    dist((i, j), (H/2, W/2)) < r kept, inverse transform, real part (docs: paper-notes.md, section 1)."""
    h, w = images.shape[-2:]
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    disc = np.hypot(i - h // 2, j - w // 2) < radius
    spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * disc, axes=(-2, -1))))


def test_data_plugins_in_a_run(write_recipe):
    """frequency_filter and shuffle_labels in one run: the training images become their LFC at radius 8 and
    the training labels a permutation; the test set stays as it was; the run trains on them."""
    runs = """
        [[runs]]
        name = "lfc-shuffled"
        plugins = ["frequency_filter", "shuffle_labels"]
    """
    plain = Trainer(run_named(write_recipe, '[[runs]]\nname = "plain"\n'))
    both = Trainer(run_named(write_recipe, runs))
    plain.build()
    both.build()
    original = plain.data.x_train.double().numpy()
    np.testing.assert_allclose(both.data.x_train.numpy(), lfc_reference(original, 8) / 255, atol=1e-5)
    assert sorted(both.data.y_train.tolist()) == sorted(plain.data.y_train.tolist())
    assert (both.data.y_train != plain.data.y_train).float().mean() > 0.5
    assert torch.equal(both.data.x_test, plain.data.x_test) and torch.equal(both.data.y_test, plain.data.y_test)
    assert set(train(run_named(write_recipe, runs))["epoch"]) == {0, 1}


def test_mixup_before_pgd_is_refused_before_training(write_recipe):
    runs = '[[runs]]\nname = "wrong"\nplugins = ["mixup", "pgd"]\n'
    with pytest.raises(ablate.AblateError, match="list pgd before mixup"):
        run_named(write_recipe, runs)
