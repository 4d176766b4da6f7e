"""Accuracy under adversarial attack after training: Table 2 of the study.

Table 2 reports the accuracy of each model (natural and PGD-trained, each with
and without kernel smoothing) under FGSM and PGD at several eps, pixels in
[0, 1]. This plugin attacks the final model and every variant offered by
``ablate_final_models`` (list ``kernel_smoothing`` in the run for the smoothed
ones) on the test set and adds one row per variant, attack and eps
(``split = "test"``, ``metric = "accuracy"``, columns ``attack``, ``eps``,
``variant``), plus the clean accuracy (``attack = "none"``, ``eps = 0``).

Attacks. "fgsm" and "pgd" are ablate's own (:mod:`ablate.train.attacks`), or
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

Minimal perturbations (``mode = "minimal"``, or ``"both"`` for these rows and the
grid's from one run). The official evaluation used foolbox's minimal-perturbation
attacks rather than a fixed eps: per test image and attack (fgsm and pgd only), the
smallest perturbation that gets the image misclassified; 0 for an image misclassified
unattacked. Two searches (``search``; docs/recipes.md, "The adversarial recipe"):

- ``"foolbox"``, the official one: foolbox 1.8/2.4's ``FGSM`` and ``PGD`` at their
  defaults, as HFC's ``utility/attackHelper.py`` ran them (:mod:`ablate.train.foolbox_search`:
  FGSM scans 1000 eps up to 1; PGD grows eps from 0.3 by 1.5 until it succeeds, then
  bisects 20 times, 40 steps of eps/30 a try, stopping at the first adversarial).
  Each image's result is the actual L-inf distance of the closest adversarial found;
  where none is found, 0, as the official code records it (it stores the clean image,
  ``utility/attackHelper.py`` 30-40). Rows: ``metric = "median_linf"`` (eps blank, the
  lower median), ``metric = "linf_accuracy"`` at each ``eps``, the share of images whose
  closest adversarial is farther than eps: Table 2 as the official code measured it, and
  ``metric = "linf_failed"`` (eps blank), the number of images the search found no
  adversarial for, which the ``adversarial`` report prints under the table.
  ``pgd_steps``, ``step_size``, ``random_start``, ``max_eps``, ``search_grid`` and
  ``tolerance`` do not apply: foolbox's defaults are fixed. Slow: up to 1020 forward
  passes (FGSM) and 1600 forward-backward passes (PGD) of each batch.
- ``"bisect"`` (the default, fast, not foolbox's): ``search_grid`` evenly spaced eps up
  to ``max_eps``, then bisection of the first successful bracket down to ``tolerance``
  with ablate's attacks (``pgd_steps`` ...; :func:`ablate.train.attacks.minimal_eps`). The
  result is the bracket's eps, infinite where no eps up to ``max_eps`` succeeds; a
  coarse grid can skip a success at a small eps (success need not grow with eps).
  Rows: ``metric = "median_min_eps"`` (``inf`` when most images withstand ``max_eps``)
  and ``metric = "min_eps_accuracy"`` at eps 0 and at each grid point.

Both keep the clean accuracy row as above. With ``mode = "both"``, ``minimal_n`` (if
set) searches fewer images than the grid attacks: the first ``minimal_n`` of the same
fixed random subset (the official code searched 100 test images).

Images are the test set's originals, scaled as the probe scales them
(:func:`ablate.spectral.scaling.originals_scaling`: x / 255 under either ``normalize``, as
the official attacks were fed, ``utility/dataLoader.py`` ``loadDataCifar10``);
they must lie in [0, 1], which the attacks clip to.
"""

from __future__ import annotations

import inspect
from functools import partial

import torch

import ablate
from ablate import Param
from ablate.api import (
    LINF_CURVE,
    LINF_FAILED,
    LINF_MEDIAN,
    MIN_EPS_CURVE,
    MIN_EPS_MEDIAN,
    eps_grid,
    fgsm,
    foolbox_fgsm,
    foolbox_pgd,
    minimal_eps,
    model_input,
    originals_scaling,
    pgd,
    precision,
    require_torchattacks,
)

RANGE_TOLERANCE = 1e-4
SUBSET_SEED = 0     # the same n test images for every run and variant
OWN = ("fgsm", "pgd")
MEDIAN = MIN_EPS_MEDIAN      # search = "bisect": each image's smallest successful eps (names in ablate.api,
CURVE = MIN_EPS_CURVE        # where the report reads them too)
FOOLBOX = {"fgsm": foolbox_fgsm, "pgd": foolbox_pgd}


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
        Param("eps", list, [0.01, 0.03, 0.06, 0.09], "perturbation sizes, pixels in [0, 1]", items=float,
              greater_than=0.0, maximum=1.0),
        Param("attacks", list, ["fgsm", "pgd"], "fgsm, pgd, or torchattacks class names, any case", items=str),
        Param("pgd_steps", int, 10, "iterations of iterative attacks", minimum=1, maximum=10_000),
        Param("step_size", float, 0.0, "step of iterative attacks; 0 = 2.5 * eps / pgd_steps", minimum=0.0,
              maximum=1.0),
        Param("random_start", bool, False, "random start of attacks that have one"),
        Param("n", int, 0, "test images attacked (a fixed random subset); 0 = all", minimum=0,
              maximum=1_000_000_000),
        Param("batch_size", int, 0, "images attacked at once; 0 = settings.eval_batch_size", minimum=0,
              maximum=1_000_000),
        Param("backend", str, "ablate", "whose fgsm and pgd: 'ablate' or 'torchattacks' (the attacks extra)",
              choices=("ablate", "torchattacks"), since="0.2"),
        Param("mode", str, "grid", "'grid': accuracy at each eps; 'minimal': each image's smallest "
              "perturbation (median and accuracy curve); 'both'", choices=("grid", "minimal", "both"), since="0.2"),
        Param("search", str, "bisect", "minimal mode: 'foolbox' (the official code's FGSM/PGD searches, slow) or "
              "'bisect' (a coarse eps grid, then bisection)", choices=("bisect", "foolbox"), since="0.2",
              only_when={"mode": ("minimal", "both")}),
        Param("minimal_n", int, 0, "mode 'both': test images the minimal search takes (a fixed random subset of "
              "the n attacked); 0 = all n", minimum=0, maximum=1_000_000_000, since="0.2", only_when={"mode": ("both",)}),
        Param("max_eps", float, 0.1, "minimal mode, bisect: the largest eps tried", greater_than=0.0, maximum=1.0,
              since="0.2",
              only_when={"search": ("bisect",)}),
        Param("search_grid", int, 10, "minimal mode, bisect: evenly spaced eps up to max_eps, tried before "
              "bisecting", minimum=1, maximum=10_000, since="0.2", only_when={"search": ("bisect",)}),
        Param("tolerance", float, 0.001, "minimal mode, bisect: bisect until the eps bracket is this narrow",
              greater_than=0.0, maximum=1.0, since="0.2", only_when={"search": ("bisect",)}),
    ]

    @ablate.hookimpl
    def ablate_check(self, settings, plugins):
        names = [str(name).lower() for name in self.args.attacks]
        if self.args.mode != "grid":
            others = [name for name in names if name not in OWN]
            if others or self.args.backend != "ablate":
                drop = ", ".join(others) or "backend = torchattacks"
                raise ablate.AblateError(f"attacks: mode = {self.args.mode!r} searches with ablate's fgsm and pgd "
                                         f"only; drop {drop} or use mode = 'grid'")
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
        args = self.args
        index = evaluation_subset(data.x_test.shape[0], args.n)
        searched = index
        if args.mode == "both" and args.minimal_n and (args.n == 0 or args.minimal_n < args.n):
            searched = evaluation_subset(data.x_test.shape[0], args.minimal_n)     # n's first minimal_n
        batch_size = args.batch_size or settings.eval_batch_size
        rows = []
        for variant, model in models.items():
            with precision(next(model.parameters()).device, None):        # float32, whatever the caller runs
                found = self.accuracy_rows(model, self.batches(model, data, index, batch_size, settings.normalize),
                                           chosen, len(index))
                if args.mode != "grid":
                    found += self.minimal_rows(model, self.batches(model, data, searched, batch_size,
                                                                   settings.normalize), chosen)
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

    def accuracy_rows(self, model, batches, chosen, total: int) -> list[dict]:
        """The clean accuracy, then (grid) the accuracy under each attack at each eps."""
        grid = self.args.eps if self.args.mode != "minimal" else []
        hits, correct = 0, dict.fromkeys([(name, eps) for name in chosen for eps in grid], 0)
        for x, y in batches:
            hits += self.hits(model, x, y)
            for name, attack in chosen.items():
                for eps in grid:
                    correct[(name, eps)] += self.hits(model, attack(model, x, y, eps), y)
        return [{"metric": "accuracy", "value": hits / total, "attack": "none", "eps": 0.0},
                *({"metric": "accuracy", "value": n / total, "attack": name, "eps": eps}
                  for (name, eps), n in correct.items())]

    def minimal_rows(self, model, batches, chosen) -> list[dict]:
        """Per attack, the median smallest perturbation and the accuracy it implies at each eps."""
        args = self.args
        found = {name: [] for name in chosen}
        failed = dict.fromkeys(chosen, 0)
        for x, y in batches:
            for name, attack in chosen.items():
                if args.search == "foolbox":
                    closest = FOOLBOX[name](model, x, y)
                    found[name].append(closest.distance)
                    failed[name] += int(closest.failed.sum())
                else:
                    found[name].append(minimal_eps(attack, model, x, y, args.max_eps, args.search_grid,
                                                   args.tolerance))
        foolbox = args.search == "foolbox"
        median, curve = (LINF_MEDIAN, LINF_CURVE) if foolbox else (MEDIAN, CURVE)
        points = sorted(args.eps) if foolbox else [0.0, *eps_grid(args.max_eps, args.search_grid)]
        rows = []
        for name, parts in found.items():
            per_image = torch.cat(parts).cpu()
            rows.append({"metric": median, "value": float(per_image.median()), "attack": name, "eps": None})
            rows += [{"metric": curve, "value": float((per_image > eps).double().mean()), "attack": name, "eps": eps}
                     for eps in points]
            if foolbox:
                rows.append({"metric": LINF_FAILED, "value": failed[name], "attack": name, "eps": None})
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

