"""The cost of Table 2's minimal-perturbation searches: foolbox's official procedure against ablate's bisection.

For a ResNet18 briefly trained here on synthetic CIFAR-sized data (ablate's trainer), on
``--images`` test images attacked in one batch:

* foolbox's FGSM (1000 linearly spaced eps, a finer rescan) and PGD (eps from 0.3, x1.5 until it
  succeeds, 20 bisections, 40 steps a try) as the official HFC code ran them
  (:mod:`ablate.train.foolbox_search`);
* ablate's faster ``search = "bisect"`` (:func:`ablate.train.attacks.minimal_eps`: a 10-point
  grid to 0.1, then bisection to 0.001) with FGSM and PGD-10.

Prints seconds per search, images per second, each as a ratio against bisect's FGSM timed in
the same process, and the median distance each finds (the two measure different things: foolbox
the closest adversarial's actual L-inf distance, bisect the bracket's eps).

    python benchmarks/minimal_search.py [--device cuda] [--images 100] [--width 0.25]

Not a test: it prints figures and ``RESULT key=value`` lines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial

import torch
from timing import timed

from ablate.core.device import resolve_device
from ablate.spectral.scaling import model_input
from ablate.study.expansion import Run
from ablate.study.settings import Settings
from ablate.train.attacks import fgsm, minimal_eps, pgd
from ablate.train.foolbox_search import foolbox_fgsm, foolbox_pgd
from ablate.train.trainer import Trainer


def trained(args, device):
    settings = Settings()
    settings.update({"dataset": f"synthetic:train={args.train_images},test={args.images}",
                     "train_size": args.train_images, "test_size": args.images, "width": args.width,
                     "epochs": args.epochs, "batch_size": 10, "lr": 5e-4, "probe_every": 0, "radii": [],
                     "device": str(device)}, "benchmark")
    trainer = Trainer(Run("minimal-search", settings, []))
    trainer.fit()
    model = trainer.model.eval()
    x = model_input(trainer.data.x_test[:args.images], "none").to(device)
    return model, x, trainer.data.y_test[:args.images].to(device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=100, help="test images, attacked in one batch (HFC's 100)")
    parser.add_argument("--train-images", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.25)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model, x, y = trained(args, device)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    print(f"resnet18 width {args.width}, test accuracy {accuracy:.3f} on {len(y)} images, {device}", flush=True)
    pgd10 = partial(lambda steps, m, a, b, eps: pgd(m, a, b, eps, steps, 2.5 * eps / steps), 10)
    searches = {
        "bisect fgsm": lambda: minimal_eps(fgsm, model, x, y, 0.1, 10, 0.001),
        "bisect pgd-10": lambda: minimal_eps(pgd10, model, x, y, 0.1, 10, 0.001),
        "foolbox fgsm": lambda: foolbox_fgsm(model, x, y).distance,
        "foolbox pgd": lambda: foolbox_pgd(model, x, y).distance,
    }
    seconds, medians = {}, {}
    for name, search in searches.items():
        found = search()                                        # warm-up, and the distances
        finite = found[torch.isfinite(found)]
        medians[name] = float(finite.median()) if len(finite) else float("inf")
        seconds[name] = statistics.median(timed(search, device) for _ in range(2))
    base = seconds["bisect fgsm"]
    for name in searches:
        print(f"    {name:<14}: {seconds[name]:8.2f} s  {len(y) / seconds[name]:8.1f} images / s  "
              f"({seconds[name] / base:6.1f}x bisect fgsm); median distance {medians[name]:.4f}")
    print("RESULT " + " ".join(f"{name.replace(' ', '_').replace('-', '')}_s={s:.3f}" for name, s in seconds.items())
          + f" images={len(y)} accuracy={accuracy:.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
