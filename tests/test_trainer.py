"""The training loop: it learns, it resumes exactly, it stops on NaN, it calls hooks in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import ablate
from ablate.core.progress import SilentProgress
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.train.augment import crop_flip
from ablate.train.checkpoint import load_checkpoint
from ablate.train.trainer import Trainer, train


def tiny_run(write_recipe, runs='[[runs]]\nname = "vanilla"\n', overrides=()):
    (run,) = expand(load_recipe(write_recipe(runs)), None, list(overrides))
    return run


def test_a_tiny_model_learns(write_recipe):
    run = tiny_run(write_recipe, overrides=["epochs=4", "dataset=\"synthetic:train=400,test=200\"",
                                            "model=\"hfc-resnet\"", "width=0.5", "lr=0.001"])
    metrics = train(run)
    acc = metrics.query("split == 'test' and component == 'original' and metric == 'accuracy'")
    loss = metrics.query("split == 'train' and metric == 'loss'")["value"].tolist()
    assert loss[-1] < loss[0]
    assert acc["value"].iloc[-1] > 0.3            # 10 classes: chance is 0.1
    assert set(acc["epoch"]) == {0, 1, 2, 3, 4}
    probe = metrics.query("component in ['low', 'high']")
    assert set(probe["radius"]) == {4, 12} and len(probe) == 5 * 2 * 2 * 2


def test_same_seed_same_metrics(write_recipe):
    run = tiny_run(write_recipe, overrides=["epochs=1"])
    pd.testing.assert_frame_equal(train(run), train(run))


class CtrlCAfter(SilentProgress):
    """Raises KeyboardInterrupt after a number of training steps, as Ctrl-C would."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def batch(self, step, steps, loss):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def assert_resumes_identically(run, tmp_path):
    """Ctrl-C in epoch 2 of 3 (6 steps per epoch), then a resume: the same metrics as an uninterrupted run."""
    whole = train(run, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(run, tmp_path / "broken", progress=CtrlCAfter(8))
    assert load_checkpoint(tmp_path / "broken" / "checkpoint.pt")["epoch"] == 1
    resumed = train(run, tmp_path / "broken")
    pd.testing.assert_frame_equal(whole, resumed, check_exact=True)


def test_interrupted_run_resumes_to_identical_metrics(write_recipe, tmp_path):
    runs = '[[runs]]\nname = "v"\nplugins = ["dropout", "mixup"]\nsettings = { augment = "crop_flip" }\n'
    assert_resumes_identically(tiny_run(write_recipe, runs, ["epochs=3"]), tmp_path)


class NaNLoss(ablate.Plugin):
    name = "nan_loss"

    @ablate.hookimpl
    def ablate_loss(self, logits, state):
        if state.epoch == 2:
            return logits.sum() * float("nan")
        return None


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(write_recipe, tmp_path, ablate_plugin):
    ablate_plugin(NaNLoss)
    run = tiny_run(write_recipe, '[[runs]]\nname = "v"\nplugins = ["nan_loss"]\n', ["epochs=3"])
    with pytest.raises(ablate.TrainingDiverged, match="NaN or infinite in epoch 2.*epoch 1 is kept.*lr"):
        train(run, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


class Recorder(ablate.Plugin):
    name = "recorder"
    calls: list = []

    def _record(self, name):
        if not self.calls or self.calls[-1] != name:
            self.calls.append(name)

    @ablate.hookimpl
    def ablate_configure(self):
        self._record("configure")

    @ablate.hookimpl
    def ablate_check(self):
        self._record("check")

    @ablate.hookimpl
    def ablate_prepare_data(self, data):
        assert isinstance(data, ablate.Data)
        self._record("prepare_data")

    @ablate.hookimpl
    def ablate_model_parts(self, parts):
        self._record("model_parts")

    @ablate.hookimpl
    def ablate_modify_model(self, model):
        self._record("modify_model")

    @ablate.hookimpl
    def ablate_optimizer(self):
        self._record("optimizer")

    @ablate.hookimpl
    def ablate_train_batch(self, batch, model):
        assert model.training and batch.x.dtype == torch.float32
        self._record("train_batch")

    @ablate.hookimpl
    def ablate_loss(self):
        self._record("loss")

    @ablate.hookimpl
    def ablate_after_step(self):
        self._record("after_step")

    @ablate.hookimpl
    def ablate_epoch_end(self, model, state):
        assert not model.training
        self._record(f"epoch_end{state.epoch}")
        return [{"split": "test", "component": "original", "radius": None, "metric": "custom", "value": 1.0}]

    @ablate.hookimpl
    def ablate_final_models(self, model):
        self._record("final_models")
        return {"copy": torch.nn.Sequential(model)}

    @ablate.hookimpl
    def ablate_evaluate(self, models):
        assert set(models) == {"final", "copy"}
        self._record("evaluate")


def test_hooks_fire_in_the_documented_order(write_recipe, ablate_plugin):
    ablate_plugin(Recorder)
    Recorder.calls = []
    run = tiny_run(write_recipe, '[[runs]]\nname = "v"\nplugins = ["recorder"]\n', ["epochs=2"])
    metrics = train(run)
    step = ["train_batch", "loss", "after_step"]
    assert Recorder.calls[:7] == ["configure", "check", "prepare_data", "model_parts", "modify_model",
                                  "optimizer", "epoch_end0"]
    rest = Recorder.calls[7:]
    assert rest[:3] == step and "epoch_end1" in rest and rest[-3:] == ["epoch_end2", "final_models", "evaluate"]
    assert len(metrics.query("metric == 'custom'")) == 3


def official_crop_windows(image: np.ndarray) -> list[np.ndarray]:
    """Every image ``AugmentedCIFAR10Data`` (HaohanWang/HFC ``scripts/resnet.py``) can make of ``image`` (C, H, W):
    ``tf.image.resize_image_with_crop_or_pad(img, H + 4, W + 4)`` centres it in zeros, 2 pixels a side;
    ``tf.random_crop`` takes an H x W window (offsets 0..4); ``random_flip_left_right`` may mirror it."""
    _, h, w = image.shape
    padded = np.pad(image, ((0, 0), (2, 2), (2, 2)))           # resize_image_with_crop_or_pad: zeros
    windows = [padded[:, dy:dy + h, dx:dx + w] for dy in range(5) for dx in range(5)]
    return windows + [window[:, :, ::-1] for window in windows]


def test_crop_flip_is_the_official_pad_2_crop_and_flip():
    torch.manual_seed(0)
    x = torch.rand(400, 3, 32, 32) + 0.5                     # no zero pixel: a padded row is told apart
    y = crop_flip(x).numpy()
    assert y.shape == x.shape
    offsets = set()
    for i in range(len(x)):
        matches = [k for k, window in enumerate(official_crop_windows(x[i].numpy())) if np.array_equal(window, y[i])]
        assert matches, f"image {i} is no official crop of its input"
        offsets.add(matches[0] % 25)
    assert offsets == set(range(25))                          # every offset of the 36 x 36 image is drawn


def test_batch_size_changes_the_number_of_steps(write_recipe):
    steps = {}
    for size in (40, 120):
        run = tiny_run(write_recipe, f'[[runs]]\nname = "v"\n[runs.plugins.batch_size]\nsize = {size}\n', ["epochs=1"])
        trainer = Trainer(run)
        trainer.fit()
        steps[size] = trainer.state.step
    assert steps == {40: 6, 120: 2}


def test_batches_cover_the_training_set_once_in_an_order_fixed_by_seed_and_epoch(write_recipe):
    run = tiny_run(write_recipe, overrides=["batch_size=100", "epochs=1"])
    trainer = Trainer(run)
    assert trainer.data is None and trainer.model is None and trainer.optimizer is None   # made by setup()
    trainer.setup()
    batches = list(trainer.batches(1))
    assert [len(b.y) for b in batches] == [100, 100, 40] == [len(b.x) for b in batches]
    assert len(batches) == trainer.steps_per_epoch()
    labels = torch.cat([b.y for b in batches])
    assert sorted(labels.tolist()) == sorted(trainer.data.y_train.tolist())
    x = torch.cat([b.x for b in batches])
    assert x.dtype == torch.float32 and torch.allclose(x.amax(dim=(1, 2, 3)), torch.ones(len(x)))  # normalize=max
    torch.manual_seed(123)                        # the order does not depend on the global generator
    assert torch.equal(torch.cat([b.y for b in trainer.batches(1)]), labels)
    assert not torch.equal(torch.cat([b.x for b in trainer.batches(2)]), x)


def test_load_trained_rebuilds_the_data_and_model_of_training(write_recipe, tmp_path):
    from ablate.train.trained import load_trained

    run = tiny_run(write_recipe, '[[runs]]\nname = "v"\nplugins = ["shuffle_labels", "dropout"]\n', ["epochs=1"])
    trainer = Trainer(run, tmp_path)
    trainer.fit()
    model, settings, data = load_trained(tmp_path / "checkpoint.pt", device="cpu")
    assert settings.as_dict() == run.settings.as_dict()
    assert torch.equal(data.y_train, trainer.data.y_train) and torch.equal(data.x_test, trainer.data.x_test)
    assert not model.training
    trained = trainer.model.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in model.state_dict().items())
    assert [type(m) for m in model.modules()] == [type(m) for m in trainer.model.modules()]   # dropout inserted


class ScaledLoss(ablate.Plugin):
    """Returns None (ablate's cross-entropy) in epoch 1 and twice it afterwards."""

    name = "scaled_loss"

    @ablate.hookimpl
    def ablate_loss(self, logits, targets, state):
        return None if state.epoch == 1 else 2 * torch.nn.functional.cross_entropy(logits.float(), targets)


def test_a_loss_hook_returning_none_falls_back_to_cross_entropy(write_recipe, ablate_plugin):
    ablate_plugin(ScaledLoss)
    plain = train(tiny_run(write_recipe, overrides=["epochs=2"]))
    scaled = train(tiny_run(write_recipe, '[[runs]]\nname = "v"\nplugins = ["scaled_loss"]\n', ["epochs=2"]))
    loss = "split == 'train' and metric == 'loss' and epoch == {}"
    assert scaled.query(loss.format(1))["value"].item() == plain.query(loss.format(1))["value"].item()
    assert scaled.query(loss.format(2))["value"].item() != pytest.approx(plain.query(loss.format(2))["value"].item())
