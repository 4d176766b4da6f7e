"""Accuracy under adversarial attack after training: Table 2 of the study.

Table 2 reports the accuracy of each model (natural and PGD-trained, each with
and without kernel smoothing) under FGSM and PGD at several eps, pixels in
[0, 1]. This plugin attacks the final model and every variant offered by
``ablate_final_models`` (list ``kernel_smoothing`` in the run for the smoothed
ones) on the test set, through torchattacks, and adds one row per variant,
attack and eps (``split = "test"``, ``metric = "accuracy"``, columns ``attack``,
``eps``, ``variant``), plus the clean accuracy (``attack = "none"``, ``eps = 0``).

Attacks. ``attacks`` names torchattacks classes, case-insensitively ("fgsm",
"pgd", "apgd", "square", ...); any class whose constructor takes ``eps`` works
(eps is then in that attack's own norm). Constructor arguments ``steps``,
``alpha`` and ``random_start`` are filled from ``pgd_steps``, ``step_size`` and
``random_start`` when the class has them.

The official evaluation used foolbox's minimal-perturbation attacks, which have no
fixed eps; ablate uses a fixed-eps grid instead. Evaluation PGD defaults to 10
steps of size 2.5 * eps / steps (Madry et al.'s rule, 0.25 * eps at 10 steps),
so that the attack can cross the eps-ball and come back within its budget,
without random start (deterministic). Attacks run in float32 with autocast off,
with each model in eval mode; a model with batch-statistics BatchNorm (the
official kind) normalises each attacked batch with its own statistics.

Images are scaled as everywhere else (``ablate.scaling.model_input`` with
``settings.normalize``); they must lie in [0, 1], which torchattacks clips to.
"""

from __future__ import annotations

import inspect
from contextlib import nullcontext

import torch

import ablate
from ablate import Param
from ablate.scaling import model_input

RANGE_TOLERANCE = 1e-4
SUBSET_SEED = 0     # the same n test images for every run and variant


def attack_classes() -> dict[str, type]:
    """torchattacks' attack classes that take an ``eps``, by lower-case name."""
    import torchattacks

    found = {}
    for name in torchattacks.__all__:
        cls = getattr(torchattacks, name, None)
        if (inspect.isclass(cls) and issubclass(cls, torchattacks.attack.Attack)
                and "eps" in inspect.signature(cls.__init__).parameters):
            found[name.lower()] = cls
    return found


def build_attack(cls: type, model, eps: float, steps: int, step_size: float, random_start: bool):
    """An attack instance at ``eps``, filling the optional arguments the class accepts."""
    accepted = inspect.signature(cls.__init__).parameters
    options = {"eps": eps}
    if "steps" in accepted:
        options["steps"] = steps
    if "alpha" in accepted:
        options["alpha"] = step_size or 2.5 * eps / max(steps, 1)
    if "random_start" in accepted:
        options["random_start"] = random_start
    return cls(model, **options)


def evaluation_subset(n_total: int, n: int) -> torch.Tensor:
    """Indices of ``n`` test images, the same for every run (all when n = 0)."""
    if n == 0 or n >= n_total:
        return torch.arange(n_total)
    generator = torch.Generator(device="cpu").manual_seed(SUBSET_SEED)
    return torch.randperm(n_total, generator=generator)[:n].sort().values


class Attacks(ablate.Plugin):
    """Test accuracy of the final model and its variants under FGSM and PGD at several eps (Table 2)."""

    name = "attacks"
    params = [
        Param("eps", list, [0.01, 0.03, 0.06, 0.09], "perturbation sizes, pixels in [0, 1]", items=float, minimum=0.0),
        Param("attacks", list, ["fgsm", "pgd"], "torchattacks class names, any case", items=str),
        Param("pgd_steps", int, 10, "iterations of iterative attacks", minimum=1, maximum=10_000),
        Param("step_size", float, 0.0, "step of iterative attacks; 0 = 2.5 * eps / pgd_steps", minimum=0.0),
        Param("random_start", bool, False, "random start of attacks that have one"),
        Param("n", int, 0, "test images attacked (a fixed random subset); 0 = all", minimum=0),
        Param("batch_size", int, 0, "images attacked at once; 0 = settings.eval_batch_size", minimum=0),
    ]

    @ablate.hookimpl
    def ablate_check(self, settings, plugins):
        known = attack_classes()
        for name in self.args.attacks:
            if str(name).lower() not in known:
                raise ablate.AblateError(f"attacks: unknown attack {name!r}; torchattacks attacks with an eps: "
                                         f"{', '.join(sorted(known))}")

    @ablate.hookimpl
    def ablate_evaluate(self, models, data, state):
        classes = attack_classes()
        chosen = [(name.lower(), classes[name.lower()]) for name in self.args.attacks]
        settings = state.settings
        index = evaluation_subset(data.x_test.shape[0], self.args.n)
        batch_size = self.args.batch_size or settings.eval_batch_size
        rows = []
        for variant, model in models.items():
            correct = self.count_correct(model, data, index, batch_size, chosen, settings.normalize, state)
            for (attack, eps), hits in correct.items():
                rows.append({"split": "test", "component": "original", "radius": None, "metric": "accuracy",
                             "value": hits / len(index), "attack": attack, "eps": eps, "variant": variant})
        return rows

    def count_correct(self, model, data, index, batch_size, chosen, normalize, state) -> dict:
        """``{(attack, eps): correctly classified images}``, clean accuracy under ("none", 0.0)."""
        args = self.args
        attacks = {(name, eps): build_attack(cls, model, eps, args.pgd_steps, args.step_size, args.random_start)
                   for name, cls in chosen for eps in args.eps}
        correct = dict.fromkeys([("none", 0.0), *attacks], 0)
        device = next(model.parameters()).device
        autocast_off = (torch.autocast(device_type=device.type, enabled=False)
                        if state.autocast_dtype is not None else nullcontext())
        with torch.enable_grad(), autocast_off:
            for start in range(0, len(index), batch_size):
                chunk = index[start:start + batch_size].to(data.x_test.device)
                x = model_input(data.x_test[chunk], normalize).to(device).clone()
                y = data.y_test[chunk].to(device).clone()
                self.check_range(x)
                correct[("none", 0.0)] += self.hits(model, x, y)
                for key, attack in attacks.items():
                    correct[key] += self.hits(model, attack(x, y), y)
        return correct

    @staticmethod
    def hits(model, x, y) -> int:
        with torch.no_grad():
            return int((model(x).argmax(dim=1) == y).sum())

    @staticmethod
    def check_range(x: torch.Tensor) -> None:
        low, high = float(x.min()), float(x.max())
        if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            raise ablate.AblateError(f"attacks needs test images in [0, 1] but they span [{low:.3g}, {high:.3g}] "
                                     f"(frequency_filter with test = true?); attack unfiltered test images")
