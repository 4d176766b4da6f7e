"""The hook specification keeps its promises.

Every hook says when it fires, what it receives and what it may return; every hook is in the
plugin guide and implemented somewhere (a built-in plugin, the example package or a test), so a
hook nobody uses fails here (datasette's tests/test_docs.py idea). The hooks no built-in plugin
implements (``ablate_optimizer``, ``ablate_after_step``) are checked to do what their docstrings
say, on a tiny run.
"""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest
import torch

import ablate
from ablate.core import hookspecs
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def hooks() -> list[tuple[str, object]]:
    return [(name, getattr(hookspecs, name)) for name in dir(hookspecs) if name.startswith("ablate_")]


def test_every_hook_says_when_it_fires_what_it_receives_and_what_it_may_return():
    assert len(hooks()) == 18
    for name, spec in hooks():
        doc = inspect.getdoc(spec) or ""
        assert "Fires" in doc, f"{name} does not say when it fires"
        assert re.search(r"\b[Rr]eturns?\b", doc), f"{name} does not say what it may return"
        unexplained = [p for p in inspect.signature(spec).parameters if f"``{p}" not in doc]
        assert not unexplained, f"{name} does not say what {unexplained} are"


def type_checking_namespace(module) -> dict:
    """The module's globals with the names its ``if TYPE_CHECKING:`` block imports for its annotations."""
    namespace = dict(vars(module))
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            exec(compile(ast.Module(node.body, type_ignores=[]), module.__file__, "exec"), namespace)
    return namespace


def test_every_hook_annotates_its_arguments_and_its_return_with_types_that_exist():
    namespace = type_checking_namespace(hookspecs)
    for name, spec in hooks():
        signature = inspect.signature(spec)
        bare = [p for p, param in signature.parameters.items() if param.annotation is inspect.Parameter.empty]
        assert not bare, f"{name} does not annotate {bare}"
        assert signature.return_annotation is not inspect.Signature.empty, f"{name} does not annotate its return"
        hints = typing.get_type_hints(spec, globalns=namespace)      # each annotation names a real type
        assert set(hints) == {*signature.parameters, "return"}, name


def test_every_hook_is_in_the_plugin_guide_and_implemented_somewhere():
    guide = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    code = "\n".join(path.read_text() for pattern in ("plugins/*.py", "examples/*/*/*.py", "tests/test_*.py")
                     for path in ROOT.glob(pattern))
    for name, _ in hooks():
        assert f"`{name}`" in guide, f"docs/writing-a-plugin.md does not mention {name}"
        assert f"def {name}(" in code, f"no plugin, example or test implements {name}"


def tiny_run(write_recipe, plugins=()):
    runs = f'[[runs]]\nname = "v"\nplugins = {list(plugins)!r}\n'.replace("'", '"')
    (run,) = expand(load_recipe(write_recipe(runs)), None, ["epochs=1"])
    return run


def parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


class FrozenOptimizer(ablate.Plugin):
    """An optimizer the settings do not offer: SGD with learning rate 0, which leaves every weight alone."""

    name = "frozen_optimizer"
    made: list[torch.optim.Optimizer] = []

    @ablate.hookimpl
    def ablate_optimizer(self, model, settings):
        FrozenOptimizer.made.append(torch.optim.SGD(model.parameters(), lr=0.0))
        return FrozenOptimizer.made[-1]


def test_a_plugins_optimizer_is_the_one_that_trains(write_recipe, ablate_plugin):
    ablate_plugin(FrozenOptimizer)
    FrozenOptimizer.made = []
    for plugins, moved in (((), True), (("frozen_optimizer",), False)):
        trainer = Trainer(tiny_run(write_recipe, plugins))
        trainer.build()
        before = parameters(trainer.model)
        trainer.fit()
        after = parameters(trainer.model)
        assert any(not torch.equal(before[n], after[n]) for n in before) == moved, plugins
    (made,) = FrozenOptimizer.made
    assert trainer.optimizer is made and trainer.schedule.optimizer is made      # the settings' schedule drives it


class MaxNorm(ablate.Plugin):
    """A max-norm constraint: after every step, each class's weight vector of the last layer is scaled back
    to a norm of at most ``limit``."""

    name = "max_norm"
    params = [ablate.Param("limit", float, 0.05, "largest norm of a class's weight vector", greater_than=0.0)]
    seen: list[tuple[int, float, bool]] = []

    @ablate.hookimpl
    def ablate_after_step(self, model, loss, state):
        MaxNorm.seen.append((state.step, float(loss), model.training))
        with torch.no_grad():
            weight = model.fc.weight
            weight.mul_((self.args.limit / weight.norm(dim=1, keepdim=True)).clamp(max=1.0))


def test_after_step_sees_every_step_and_its_changes_to_the_model_are_kept(write_recipe, ablate_plugin):
    ablate_plugin(MaxNorm)
    MaxNorm.seen = []
    plain, constrained = Trainer(tiny_run(write_recipe)), Trainer(tiny_run(write_recipe, ["max_norm"]))
    plain.fit()
    metrics = constrained.fit()
    assert [(step, training) for step, _, training in MaxNorm.seen] == [(s, True) for s in range(1, 7)]
    # 240 images in 6 batches of 40: the epoch's loss is the mean of the losses the hook saw
    epoch_loss = metrics.query("split == 'train' and metric == 'loss' and epoch == 1")["value"].item()
    assert sum(loss for _, loss, _ in MaxNorm.seen) / 6 == pytest.approx(epoch_loss, rel=1e-6)
    assert constrained.model.fc.weight.norm(dim=1).max() <= 0.05 + 1e-6
    assert plain.model.fc.weight.norm(dim=1).min() > 0.05
