"""PGD adversarial training: the adversarial-training panel of Figure 5 and Table 2's robust model.

The official code (``trainMadry`` in ``scripts/resnet.py``, ``utility/pgd_attack.py``)
replaces every training batch by L-inf PGD examples: eps = 0.03, 10 steps of size
eps / 10, no random start, cross-entropy loss, clipping to the eps-ball and to
[0, 1]; it trains on the adversarial examples only, with pad-4 crop + flip
augmentation and images divided by 255 (set ``augment = "crop_flip"`` and
``normalize = "none"`` in the run to match). These are the defaults; the attack
is ablate's own (:func:`ablate.train.attacks.pgd`), or torchattacks' ``PGD`` with
``backend = "torchattacks"`` (the ``attacks`` extra; the same examples, for
comparison). ``clean_fraction`` keeps the first part of each (already shuffled)
batch clean, for the common half-and-half variant.

Pixel range. The attack clips to [0, 1]. Training inputs are in [0, 1] with
either ``normalize`` setting ("none": pixels / 255; "max": each image / its peak)
as long as the images are ordinary ones; the first batch is checked, and
``frequency_filter`` (signed or out-of-range images) is refused at validation.

Precision. By default (``precision = "fp32"``) the attack's forward and backward
passes run in float32 with autocast disabled, even in a run whose training step
runs under bf16 autocast (the run's ``precision = "bf16"``): a bf16 gradient's
sign is noisy near zero and PGD only uses the sign. ``precision = "autocast"``
runs the attack under the run's precision instead (bf16 in a bf16 run: faster,
less exact; ``benchmarks/attack_precision.py`` measures how often signs differ).

Model mode. By default (``mode = "eval"``, as torchattacks' default) the attack
runs in eval mode: dropout is off, so the attack targets the deterministic
network that is evaluated, and BatchNorm running averages (with
``batchnorm.stats = "running"``) are used as at test time and are not updated by
the ten attack passes; with the official BatchNorm (batch statistics) eval and train mode
normalise alike. ``mode = "train"`` attacks the network as it trains (dropout
active, batch statistics); BatchNorm running averages are saved before and
restored after the attack so that only the real training step updates them.
Either way every module is back in its mode when the hook returns.

Reports. The training accuracy of a PGD run is accuracy on the adversarial
examples it trained on: it is labelled ``train (adversarial examples)`` (or
``train (50% adversarial examples)`` with ``clean_fraction = 0.5``), from the
class method ``train_examples``.

Order. The attack needs integer labels, so ``pgd`` must be listed before
``mixup`` (attack, then mix adversarial examples); the other order is refused
at validation. Randomness (``random_start``) uses torch's global generator.
"""

from __future__ import annotations

import torch

import ablate
from ablate import Param
from ablate.api import model_mode, pgd, precision, require_torchattacks

RANGE_TOLERANCE = 1e-4


class PGD(ablate.Plugin):
    """Train on L-inf PGD adversarial examples (eps 0.03, 10 steps of eps/10, no random start)."""

    name = "pgd"
    params = [
        Param("eps", float, 0.03, "L-inf radius of the perturbation, pixels in [0, 1]", greater_than=0.0,
              maximum=1.0),
        Param("steps", int, 10, "PGD iterations", minimum=1, maximum=10_000),
        Param("step_size", float, 0.0, "size of each step; 0 = eps / 10 (official code)", minimum=0.0,
              maximum=1.0),
        Param("random_start", bool, False, "start from a uniform point in the eps-ball (official code: no)"),
        Param("clean_fraction", float, 0.0, "fraction of each batch kept clean (0 = adversarial only, "
              "as the official code)", minimum=0.0, maximum=1.0),
        Param("mode", str, "eval", "model mode during the attack: 'eval' or 'train' (see the docs)",
              choices=("eval", "train")),
        Param("precision", str, "fp32", "'fp32': attack outside autocast; 'autocast': in the "
              "training step's precision", choices=("fp32", "autocast")),
        Param("backend", str, "ablate", "whose PGD: 'ablate' (ablate.train.attacks) or 'torchattacks' (the "
              "attacks extra)", choices=("ablate", "torchattacks"), since="0.2"),
    ]

    def __init__(self, **values):
        super().__init__(**values)
        self.range_checked = False

    @ablate.hookimpl
    def ablate_check(self, settings, plugins):
        if "mixup" in plugins and plugins.index("mixup") < plugins.index("pgd"):
            raise ablate.AblateError("pgd is listed after mixup, but the attack needs integer labels and "
                                     "mix-up makes soft ones; list pgd before mixup (attack, then mix)")
        if "frequency_filter" in plugins:
            raise ablate.AblateError("pgd cannot train on frequency_filter's images: the attack clips to "
                                     "[0, 1] and LFC/HFC images leave that range; drop one of the two plugins")
        if self.args.backend == "torchattacks":
            require_torchattacks("pgd with backend = 'torchattacks'")

    @classmethod
    def extra_step_cost(cls, values):
        """Each attack step is a forward-backward pass over the attacked part of the batch."""
        if values["eps"] == 0:
            return 0.0
        return values["steps"] * (1 - values["clean_fraction"])

    @classmethod
    def train_examples(cls, values):
        """What a PGD run's training accuracy is measured on: ``adversarial examples``, or their share."""
        if values["steps"] == 0 or values["eps"] == 0 or values["clean_fraction"] >= 1:
            return ""
        share = 1 - values["clean_fraction"]
        return "adversarial examples" if share == 1 else f"{100 * share:g}% adversarial examples"

    @property
    def step_size(self) -> float:
        return self.args.step_size or self.args.eps / 10

    @ablate.hookimpl
    def ablate_train_batch(self, batch, model, state):
        if batch.y.is_floating_point():
            raise ablate.AblateError("pgd got soft targets (a plugin listed before it, such as mixup, made them); "
                                     "list pgd first so that it attacks with integer labels")
        if not self.range_checked:
            self.check_range(batch.x)
        keep = round(self.args.clean_fraction * batch.x.shape[0])
        if keep >= batch.x.shape[0] or self.args.steps == 0 or self.args.eps == 0:
            return
        adversarial = self.attack(model, batch.x[keep:], batch.y[keep:], state)
        batch.x = torch.cat([batch.x[:keep], adversarial]) if keep else adversarial

    def check_range(self, x: torch.Tensor) -> None:
        low, high = float(x.min()), float(x.max())
        if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            raise ablate.AblateError(f"pgd needs training inputs in [0, 1] but the first batch spans "
                                     f"[{low:.3g}, {high:.3g}]; train on ordinary images (no frequency filter)")
        self.range_checked = True

    def attack(self, model, x: torch.Tensor, y: torch.Tensor, state) -> torch.Tensor:
        """PGD examples for ``(x, y)``; every module of the model is back in its mode afterwards."""
        args, train_mode = self.args, self.args.mode == "train"
        dtype = state.autocast_dtype if args.precision == "autocast" else None
        if args.backend == "ablate":
            adversarial = pgd(model, x, y, args.eps, args.steps, self.step_size, args.random_start,
                              train_mode=train_mode, autocast_dtype=dtype)
            return adversarial.to(x.dtype)
        torchattacks = require_torchattacks("pgd with backend = 'torchattacks'")
        attack = torchattacks.PGD(model, eps=args.eps, alpha=self.step_size, steps=args.steps,
                                  random_start=args.random_start)
        attack.set_model_training_mode(model_training=train_mode, batchnorm_training=train_mode,
                                       dropout_training=train_mode)
        with model_mode(model, train_mode), torch.enable_grad(), precision(x.device, dtype):
            return attack(x.detach(), y).to(x.dtype)
