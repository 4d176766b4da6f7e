"""The tests that need the ``attacks`` extra (torchattacks): ablate's PGD and FGSM give torchattacks'
examples, and the plugins' ``backend = "torchattacks"`` and other attack names work.

Skipped where torchattacks is absent (the ``test`` extra leaves it out); .ci/run installs
the extra afterwards and runs these with ``pytest -m torchattacks``.
"""

import copy

import pytest
import torch
from test_plugin_attacks import colour_problem, evaluate

import ablate
from ablate.testing import make_plugin, tiny_model, train_state
from ablate.train.attacks import fgsm, pgd
from ablate_plugins.attacks import Attacks
from ablate_plugins.batchnorm import BatchNorm
from ablate_plugins.pgd import PGD

pytestmark = pytest.mark.torchattacks
torchattacks = pytest.importorskip("torchattacks", reason="needs the attacks extra: pip install \"ablate[attacks]\"")

CLASSES = 4


def model_and_batch(batchnorm: bool, seed=0):
    torch.manual_seed(seed)
    parts = ablate.ModelParts()
    if batchnorm:
        make_plugin(BatchNorm, stats="running").ablate_model_parts(parts=parts, settings=ablate.Settings())
    model = tiny_model(CLASSES, parts=parts)
    if batchnorm:                                  # running statistics that differ from a batch's own
        model.train()
        with torch.no_grad():
            model(torch.rand(32, 3, 8, 8))
    return model, torch.rand(16, 3, 8, 8), torch.arange(16) % CLASSES


def torchattacks_examples(cls, model, x, y, train_mode, **options):
    attack = cls(model, **options)
    attack.set_model_training_mode(model_training=train_mode, batchnorm_training=train_mode,
                                   dropout_training=train_mode)
    return attack(x, y)


@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
def test_pgd_and_fgsm_give_torchattacks_examples(batchnorm, train_mode):
    model, x, y = model_and_batch(batchnorm)
    # Each side gets its own copy: torchattacks' train mode updates BatchNorm's running statistics.
    theirs = torchattacks_examples(torchattacks.PGD, copy.deepcopy(model), x, y, train_mode,
                                   eps=0.03, alpha=0.0075, steps=10, random_start=False)
    ours = pgd(copy.deepcopy(model), x, y, eps=0.03, steps=10, step_size=0.0075, train_mode=train_mode)
    assert (ours - theirs).abs().max() < 1e-6
    assert (ours - x).abs().max() > 0.02, "the attack moved the images"
    theirs = torchattacks_examples(torchattacks.FGSM, copy.deepcopy(model), x, y, train_mode, eps=0.03)
    ours = fgsm(copy.deepcopy(model), x, y, eps=0.03, train_mode=train_mode)
    assert (ours - theirs).abs().max() < 1e-6


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_pgd_plugin_backends_agree(mode):
    model, x, y = model_and_batch(batchnorm=True)
    out = {}
    for backend in ("ablate", "torchattacks"):
        batch = ablate.Batch(x=x.clone(), y=y.clone())
        trained = copy.deepcopy(model).train()
        make_plugin(PGD, backend=backend, mode=mode).ablate_train_batch(
            batch=batch, model=trained, state=train_state(num_classes=CLASSES))
        assert trained.training
        out[backend] = batch.x
    assert (out["ablate"] - out["torchattacks"]).abs().max() < 1e-6


def test_attacks_plugin_backends_give_the_same_rows():
    model, data = colour_problem()
    values = {"eps": [0.04, 0.06, 0.08, 0.1, 0.3], "attacks": ["fgsm", "pgd"]}
    ours = evaluate({"final": model}, data, **values)
    theirs = evaluate({"final": model}, data, backend="torchattacks", **values)
    assert ours == theirs
    assert len({row["value"] for row in ours}) > 2, "the eps chosen give different accuracies"


def test_other_torchattacks_classes_by_name():
    model, data = colour_problem()
    rows = evaluate({"final": model}, data, eps=[0.1], attacks=["bim", "fgsm"], pgd_steps=3)
    assert {r["attack"] for r in rows} == {"none", "bim", "fgsm"}


def test_unknown_attack_is_refused_at_check_time_with_the_known_names():
    plugin = make_plugin(Attacks, attacks=["fgsm", "deepfoo"])
    with pytest.raises(ablate.AblateError, match="unknown attack 'deepfoo'.*fgsm.*apgd"):
        plugin.ablate_check(settings=ablate.Settings(), plugins=["attacks"])
