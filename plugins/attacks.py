"""Accuracy under adversarial attack after training: Table 2 of the study.

Table 2 reports the accuracy of each model (natural and PGD-trained, each with
and without kernel smoothing) under FGSM and PGD at several eps, pixels in
[0, 1]. This plugin attacks the final model and every variant offered by
``ablate_final_models`` (list ``kernel_smoothing`` in the run for the smoothed
ones) on the test set and adds one row per variant, attack and eps
(``split = "test"``, ``metric = "accuracy"``, columns ``attack``, ``eps``,
``variant``), plus the clean accuracy (``attack = "none"``, ``eps = 0``).

Attacks. "fgsm" and "pgd" are ablate's own (:mod:`ablate.attacks`), or
torchattacks' with ``backend = "torchattacks"`` (the same examples). Any other
name is a torchattacks class, case-insensitively ("apgd", "square", ...), and
needs the extra: ``pip install "ablate[attacks]"``; any class whose constructor
takes ``eps`` works (eps is then in that attack's own norm). Constructor
arguments ``steps``, ``alpha`` and ``random_start`` are filled from
``pgd_steps``, ``step_size`` and ``random_start`` when the class has them.

Evaluation PGD defaults to 10 steps of size 2.5 * eps / steps (Madry et al.'s
rule, 0.25 * eps at 10 steps), so that the attack can cross the eps-ball and
come back within its budget, without random start (deterministic). Attacks run
in float32 with autocast off, with each model in eval mode; a model with
batch-statistics BatchNorm (the official kind) normalises each attacked batch
with its own statistics.

Minimal eps (``mode = "minimal"``). The official evaluation used foolbox's
minimal-perturbation attacks (FGSM stepping eps up, PGD with a binary search over
eps) rather than a fixed eps grid. This mode finds, per test image and attack
(fgsm and pgd, ablate's), the smallest eps at which the image is misclassified:
``search_grid`` evenly spaced eps up to ``max_eps`` first, then bisection down to
``tolerance`` (:func:`ablate.attacks.minimal_eps`); 0 for an image misclassified
unattacked, infinite where no eps up to ``max_eps`` succeeds. Rows, per variant and
attack: ``metric = "median_min_eps"`` (eps blank; the lower median; ``inf`` when
most images withstand ``max_eps``) and the accuracy-vs-eps curve it implies,
``metric = "min_eps_accuracy"`` at eps 0 and at each grid point (the fraction of
images whose minimal eps exceeds that eps); the clean accuracy row as above.

Images are the test set's originals, scaled as the probe scales them
(:func:`ablate.scaling.originals_scaling`: x / 255 under either ``normalize``, as
the official attacks were fed, ``utility/dataLoader.py`` ``loadDataCifar10``);
they must lie in [0, 1], which the attacks clip to.
"""

from __future__ import annotations

import inspect
from functools import partial

import pandas as pd
import torch

import ablate
from ablate import Param
from ablate.attacks import eps_grid, fgsm, minimal_eps, pgd, precision, require_torchattacks
from ablate.report import FINAL, Labels
from ablate.scaling import model_input, originals_scaling

RANGE_TOLERANCE = 1e-4
SUBSET_SEED = 0     # the same n test images for every run and variant
OWN = ("fgsm", "pgd")
MEDIAN = "median_min_eps"
CURVE = "min_eps_accuracy"


def attack_classes(torchattacks) -> dict[str, type]:
    """torchattacks' attack classes that take an ``eps``, by lower-case name."""
    found = {}
    for name in torchattacks.__all__:
        cls = getattr(torchattacks, name, None)
        if (inspect.isclass(cls) and issubclass(cls, torchattacks.attack.Attack)
                and "eps" in inspect.signature(cls.__init__).parameters):
            found[name.lower()] = cls
    return found


def evaluation_step(eps, steps: int, step_size: float):
    """The step of iterative attacks: ``step_size``, or Madry's 2.5 * eps / steps when it is 0."""
    return step_size or 2.5 * eps / max(steps, 1)


def torchattacks_attack(cls: type, steps: int, step_size: float, random_start: bool, model, x, y, eps: float):
    """Examples from a torchattacks class at ``eps``, filling the optional arguments the class accepts."""
    accepted = inspect.signature(cls.__init__).parameters
    options = {"eps": eps}
    if "steps" in accepted:
        options["steps"] = steps
    if "alpha" in accepted:
        options["alpha"] = evaluation_step(eps, steps, step_size)
    if "random_start" in accepted:
        options["random_start"] = random_start
    with torch.enable_grad():
        return cls(model, **options)(x, y)


def own_pgd(steps: int, step_size: float, random_start: bool, model, x, y, eps):
    return pgd(model, x, y, eps, steps, evaluation_step(eps, steps, step_size), random_start)


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
        Param("eps", list, [0.01, 0.03, 0.06, 0.09], "perturbation sizes, pixels in [0, 1]", items=float, minimum=0.0,
              unique=True),
        Param("attacks", list, ["fgsm", "pgd"], "fgsm, pgd, or torchattacks class names, any case", items=str),
        Param("pgd_steps", int, 10, "iterations of iterative attacks", minimum=1, maximum=10_000),
        Param("step_size", float, 0.0, "step of iterative attacks; 0 = 2.5 * eps / pgd_steps", minimum=0.0),
        Param("random_start", bool, False, "random start of attacks that have one"),
        Param("n", int, 0, "test images attacked (a fixed random subset); 0 = all", minimum=0),
        Param("batch_size", int, 0, "images attacked at once; 0 = settings.eval_batch_size", minimum=0),
        Param("backend", str, "ablate", "whose fgsm and pgd: 'ablate' or 'torchattacks' (the attacks extra)",
              choices=("ablate", "torchattacks"), since="0.2"),
        Param("mode", str, "grid", "'grid': accuracy at each eps; 'minimal': each image's smallest successful "
              "eps (median and accuracy curve)", choices=("grid", "minimal"), since="0.2"),
        Param("max_eps", float, 0.1, "minimal mode: the largest eps tried", greater_than=0.0, since="0.2"),
        Param("search_grid", int, 10, "minimal mode: evenly spaced eps up to max_eps, tried before bisecting",
              minimum=1, maximum=10_000, since="0.2"),
        Param("tolerance", float, 0.001, "minimal mode: bisect until the eps bracket is this narrow",
              greater_than=0.0, since="0.2"),
    ]

    @ablate.hookimpl
    def ablate_check(self, settings, plugins):
        names = [str(name).lower() for name in self.args.attacks]
        if self.args.mode == "minimal":
            others = [name for name in names if name not in OWN]
            if others or self.args.backend != "ablate":
                raise ablate.AblateError(f"attacks: mode = 'minimal' searches with ablate's fgsm and pgd only; "
                                         f"drop {', '.join(others) or 'backend = torchattacks'} or use mode = 'grid'")
        self.attack_functions(names)

    def attack_functions(self, names: list[str]) -> dict:
        """``{name: attack(model, x, y, eps) -> examples}``; torchattacks only where it is asked for."""
        args = self.args
        functions = {}
        for name in names:
            if name in OWN and args.backend == "ablate":
                functions[name] = fgsm if name == "fgsm" else partial(own_pgd, args.pgd_steps, args.step_size,
                                                                      args.random_start)
                continue
            what = ("attacks: backend = 'torchattacks'" if name in OWN else
                    f"attacks: {name!r} (not one of ablate's own: {', '.join(OWN)})")
            classes = attack_classes(require_torchattacks(what))
            if name not in classes:
                raise ablate.AblateError(f"attacks: unknown attack {name!r}; ablate's own: {', '.join(OWN)}; "
                                         f"torchattacks attacks with an eps: {', '.join(sorted(classes))}")
            functions[name] = partial(torchattacks_attack, classes[name], args.pgd_steps, args.step_size,
                                      args.random_start)
        return functions

    @ablate.hookimpl
    def ablate_evaluate(self, models, data, state):
        chosen = self.attack_functions([name.lower() for name in self.args.attacks])
        settings = state.settings
        index = evaluation_subset(data.x_test.shape[0], self.args.n)
        batch_size = self.args.batch_size or settings.eval_batch_size
        count = self.minimal_rows if self.args.mode == "minimal" else self.grid_rows
        rows = []
        for variant, model in models.items():
            batches = self.batches(model, data, index, batch_size, settings.normalize)
            with precision(next(model.parameters()).device, None):        # float32, whatever the caller runs
                found = count(model, batches, chosen, len(index))
            rows += [{"split": "test", "component": "original", "radius": None, **row, "variant": variant}
                     for row in found]
        return rows

    def batches(self, model, data, index, batch_size, normalize):
        """The attacked test images, ``(x, y)`` on the model's device, in batches."""
        device = next(model.parameters()).device
        for start in range(0, len(index), batch_size):
            chunk = index[start:start + batch_size].to(data.x_test.device)
            x = model_input(data.x_test[chunk], originals_scaling(normalize, "test")).to(device).clone()
            self.check_range(x)
            yield x, data.y_test[chunk].to(device).clone()

    def grid_rows(self, model, batches, chosen, total: int) -> list[dict]:
        """Accuracy unattacked, then under each attack at each eps."""
        correct = dict.fromkeys([("none", 0.0), *((name, eps) for name in chosen for eps in self.args.eps)], 0)
        for x, y in batches:
            correct[("none", 0.0)] += self.hits(model, x, y)
            for name, attack in chosen.items():
                for eps in self.args.eps:
                    correct[(name, eps)] += self.hits(model, attack(model, x, y, eps), y)
        return [{"metric": "accuracy", "value": hits / total, "attack": attack, "eps": eps}
                for (attack, eps), hits in correct.items()]

    def minimal_rows(self, model, batches, chosen, total: int) -> list[dict]:
        """The clean accuracy, then per attack the median minimal eps and the accuracy curve it implies."""
        args = self.args
        hits, found = 0, {name: [] for name in chosen}
        for x, y in batches:
            hits += self.hits(model, x, y)
            for name, attack in chosen.items():
                found[name].append(minimal_eps(attack, model, x, y, args.max_eps, args.search_grid, args.tolerance))
        rows = [{"metric": "accuracy", "value": hits / total, "attack": "none", "eps": 0.0}]
        for name, parts in found.items():
            per_image = torch.cat(parts).cpu()
            rows.append({"metric": MEDIAN, "value": float(per_image.median()), "attack": name, "eps": None})
            rows += [{"metric": CURVE, "value": float((per_image > eps).double().mean()), "attack": name, "eps": eps}
                     for eps in [0.0, *eps_grid(args.max_eps, args.search_grid)]]
        return rows

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


def minimal_eps_results(results: pd.DataFrame, labels: Labels = Labels()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The minimal-eps rows for a report: the median per (run, variant) and attack, and the curves
    (columns ``run, variant, attack, eps, value``, as :func:`ablate.plots.attack_figure` draws them)."""
    columns = ["run", "variant", "attack", "eps", "value"]
    if "metric" not in results or not results["metric"].isin([MEDIAN, CURVE]).any():
        return pd.DataFrame(), pd.DataFrame(columns=columns)
    rows = results[results["metric"].isin([MEDIAN, CURVE])].copy()
    rows["variant"] = rows["variant"].astype(object).fillna(FINAL)
    rows = rows.sort_values("epoch", kind="stable")
    rows = rows.groupby(["run", "variant", "attack", "metric", "eps"], sort=False, dropna=False).tail(1)
    runs = list(dict.fromkeys(results["run"]))
    rows = rows.assign(order=[(runs.index(r), labels.variant_order(v)) for r, v in zip(rows["run"], rows["variant"])])
    rows = rows.sort_values(["order", "attack", "eps"], kind="stable")
    medians = rows[rows["metric"] == MEDIAN].pivot_table(index=["run", "variant"], columns="attack", values="value",
                                                         sort=False)
    return medians, rows.loc[rows["metric"] == CURVE, columns]
