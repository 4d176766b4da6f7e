"""pgd: adversarial examples inside the eps-ball and [0, 1], raising the loss; mode, precision, order;
no torchattacks needed; resumed training is bit-identical."""

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ablate
from ablate.testing import make_plugin, tiny_model, train_state
from ablate_plugins.batchnorm import BatchNorm
from ablate_plugins.pgd import PGD

CLASSES = 4


def setup(seed=0, parts=None):
    torch.manual_seed(seed)
    model = tiny_model(CLASSES, parts=parts).train()
    x = torch.rand(12, 3, 8, 8)
    y = torch.arange(12) % CLASSES
    return model, x, y


def attacked(model, x, y, state=None, **values):
    batch = ablate.Batch(x=x.clone(), y=y.clone())
    make_plugin(PGD, **values).ablate_train_batch(batch=batch, model=model,
                                                  state=state or train_state(num_classes=CLASSES))
    return batch


def per_example_loss(model, x, y):
    with torch.no_grad():
        return F.cross_entropy(model.eval()(x), y, reduction="none")


def test_examples_stay_in_the_ball_and_the_pixel_range_and_raise_the_loss():
    model, x, y = setup()
    batch = attacked(model, x, y)                              # eps 0.03, 10 steps of eps/10
    assert model.training, "the model is back in train mode"
    assert batch.x.shape == x.shape and batch.x.dtype == x.dtype
    assert (batch.x - x).abs().max() <= 0.03 + 1e-6
    assert batch.x.min() >= 0 and batch.x.max() <= 1
    assert torch.equal(batch.y, y)
    clean, adversarial = per_example_loss(model, x, y), per_example_loss(model, batch.x, y)
    assert adversarial.mean() > clean.mean()
    assert (adversarial > clean).float().mean() > 0.9


def test_larger_eps_hurts_more():
    model, x, y = setup()
    small = per_example_loss(model, attacked(model, x, y, eps=0.01).x, y).mean()
    large = per_example_loss(model, attacked(model, x, y, eps=0.1).x, y).mean()
    assert large > small


def test_clean_fraction_keeps_the_first_part_of_the_batch():
    model, x, y = setup()
    batch = attacked(model, x, y, clean_fraction=0.25)
    torch.testing.assert_close(batch.x[:3], x[:3])
    assert (batch.x[3:] - x[3:]).abs().amax(dim=(1, 2, 3)).min() > 0
    untouched = attacked(model, x, y, clean_fraction=1.0)
    torch.testing.assert_close(untouched.x, x)


def modes_seen(model, **values):
    seen = []
    handle = model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    model, x, y = model, torch.rand(8, 3, 8, 8), torch.arange(8) % CLASSES
    attacked(model, x, y, steps=3, **values)
    handle.remove()
    return seen


def test_attack_runs_in_eval_mode_by_default_and_train_mode_on_request():
    model, _, _ = setup()
    assert set(modes_seen(model)) == {False}
    assert model.training
    assert set(modes_seen(model, mode="train")) == {True}
    assert model.training


def test_train_mode_attack_leaves_batchnorm_running_statistics_alone():
    parts = ablate.ModelParts()
    make_plugin(BatchNorm, stats="running").ablate_model_parts(parts=parts, settings=ablate.Settings())
    model, x, y = setup(parts=parts)
    before = [b.clone() for b in model.buffers()]
    batch = attacked(model, x, y, mode="train", steps=3)
    assert not torch.equal(batch.x, x)
    for saved, now in zip(before, model.buffers()):
        assert torch.equal(saved, now)


@pytest.mark.parametrize("precision, expected", [("fp32", torch.float32), ("autocast", torch.bfloat16)])
def test_attack_precision_under_an_outer_autocast(precision, expected):
    model, x, y = setup()
    dtypes = []
    model.fc.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    state = train_state(num_classes=CLASSES, autocast_dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        batch = attacked(model, x, y, state=state, steps=2, precision=precision)
    assert set(dtypes) == {expected}
    assert batch.x.dtype == torch.float32


def test_mixup_must_come_after_pgd():
    plugin = make_plugin(PGD)
    plugin.ablate_check(settings=ablate.Settings(), plugins=["pgd", "mixup"])
    with pytest.raises(ablate.AblateError, match="list pgd before mixup"):
        plugin.ablate_check(settings=ablate.Settings(), plugins=["mixup", "pgd"])
    with pytest.raises(ablate.AblateError, match="frequency_filter"):
        plugin.ablate_check(settings=ablate.Settings(), plugins=["frequency_filter", "pgd"])


def test_pgd_then_mixup_mixes_adversarial_examples():
    from ablate.core.registry import get_registry

    model, x, y = setup()
    hook = get_registry().run_manager([("pgd", {}), ("mixup", {})]).hook
    batch = ablate.Batch(x=x.clone(), y=y.clone())
    hook.ablate_train_batch(batch=batch, model=model, state=train_state(num_classes=CLASSES))
    assert batch.y.is_floating_point()
    assert batch.x.min() >= 0 and batch.x.max() <= 1


def test_soft_targets_and_out_of_range_inputs_are_clear_errors():
    model, x, y = setup()
    with pytest.raises(ablate.AblateError, match="soft targets"):
        attacked(model, x, F.one_hot(y, CLASSES).float())
    with pytest.raises(ablate.AblateError, match=r"\[0, 1\]"):
        attacked(model, x - 0.5, y)


@pytest.mark.parametrize("values, message", [
    ({"clean_fraction": 1.5}, "must be <= 1"), ({"eps": -0.1}, "> 0"), ({"eps": 0.0}, "> 0"), ({"steps": 0}, ">= 1"),
    ({"mode": "test"}, "allowed"), ({"precision": "fp16"}, "allowed"), ({"steps": 2.5}, "expected int"),
])
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ablate.AblateError, match=message):
        PGD.validate(values, "runs[0].plugins.pgd")


def test_step_size_defaults_to_a_tenth_of_eps():
    assert make_plugin(PGD).step_size == pytest.approx(0.003)
    assert make_plugin(PGD, eps=0.05).step_size == pytest.approx(0.005)
    assert make_plugin(PGD, step_size=0.01).step_size == 0.01


def test_nn_module_without_train_mode_hooks_is_not_needed():
    # Any nn.Module works: the attack only needs forward and parameters.
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, CLASSES)).train()
    x, y = torch.rand(8, 3, 8, 8), torch.arange(8) % CLASSES
    batch = attacked(model, x, y)
    assert (batch.x - x).abs().max() <= 0.03 + 1e-6 and not torch.equal(batch.x, x)


def test_training_needs_no_torchattacks_unless_asked(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    model, x, y = setup()
    batch = attacked(model, x, y)
    assert (batch.x - x).abs().max() > 0.02
    with pytest.raises(ablate.AblateError, match=r'backend = .torchattacks. needs torchattacks.*"ablate\[attacks\]"'):
        make_plugin(PGD, backend="torchattacks").ablate_check(settings=ablate.Settings(), plugins=["pgd"])


def test_interrupted_pgd_training_resumes_bit_identically(write_recipe, tmp_path):
    from test_trainer import assert_resumes_identically, tiny_run

    runs = '[[runs]]\nname = "v"\nsettings = { augment = "crop_flip" }\n[runs.plugins.pgd]\nsteps = 2\nrandom_start = true\n'
    assert_resumes_identically(tiny_run(write_recipe, runs, ["epochs=3"]), tmp_path)
