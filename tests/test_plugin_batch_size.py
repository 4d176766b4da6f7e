"""batch_size: sets the batch size (and optionally scales the learning rate); the trainer obeys."""

import math

import pytest

import ablate
from ablate.testing import make_plugin
from ablate_plugins.batch_size import BatchSize


def test_configure_sets_the_batch_size_and_leaves_lr_alone():
    changes = make_plugin(BatchSize, size=32).ablate_configure(settings=ablate.Settings(), run_name="b")
    assert changes == {"batch_size": 32}


def test_linear_lr_scaling():
    settings = ablate.Settings(lr=1e-4)
    changes = make_plugin(BatchSize, size=400, scale_lr=True).ablate_configure(settings=settings, run_name="b")
    assert changes == {"batch_size": 400, "lr": pytest.approx(4e-4)}
    changes = make_plugin(BatchSize, size=50, scale_lr=True, base_size=200).ablate_configure(
        settings=settings, run_name="b")
    assert changes["lr"] == pytest.approx(2.5e-5)


@pytest.mark.parametrize("values, message", [({"size": 0}, ">= 1"), ({"size": 3.5}, "expected int"),
                                             ({"base_size": 0}, ">= 1")])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        BatchSize.validate(values, "runs[0].plugins.batch_size")


class BatchRecorder(ablate.Plugin):
    """Records the size of every training batch the trainer hands to plugins."""

    name = "batch_recorder"
    sizes: list = []

    @ablate.hookimpl
    def ablate_train_batch(self, batch, model, state):
        BatchRecorder.sizes.append(batch.x.shape[0])


def test_the_trainer_uses_the_size(write_recipe, ablate_plugin):
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe
    from ablate.train.trainer import Trainer

    ablate_plugin(BatchRecorder)
    runs = '[[runs]]\nname = "b"\nplugins = ["batch_size", "batch_recorder"]\n[runs.grid]\n"batch_size.size" = [50, 120]\n'
    expanded = expand(load_recipe(write_recipe(runs)), None,
                      ["epochs=1", "probe_every=0", "train_size=150", "test_size=30"])
    for run, size in zip(expanded, [50, 120]):
        assert run.settings.batch_size == size
        BatchRecorder.sizes = []
        trainer = Trainer(run)
        trainer.fit()
        n = len(trainer.data.y_train)
        assert trainer.state.steps_per_epoch == math.ceil(n / size) == len(BatchRecorder.sizes)
        assert BatchRecorder.sizes[0] == size and sum(BatchRecorder.sizes) == n


class OtherBatchSize(ablate.Plugin):
    name = "other_batch_size"

    @ablate.hookimpl
    def ablate_configure(self, settings, run_name):
        return {"batch_size": 64}


def test_two_plugins_setting_the_batch_size_are_refused(write_recipe, ablate_plugin):
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    ablate_plugin(OtherBatchSize)
    runs = '[[runs]]\nname = "b"\nplugins = ["batch_size", "other_batch_size"]\n'
    with pytest.raises(ablate.AblateError, match="both set 'batch_size'"):
        expand(load_recipe(write_recipe(runs)))
