"""The PGD step in float32 against bf16 autocast: how often the gradient's sign differs, and the speed.

PGD (ablate.train.attacks.pgd, the pgd plugin) only uses the sign of the input gradient, so
the question for ``precision = "bf16"`` with ``pgd.precision = "autocast"`` is how
often bf16 flips a sign on a trained model, and what it saves. For a model trained
briefly here (ablate's trainer, float32, on the synthetic CIFAR-sized data or an npz
file), or loaded from ``--checkpoint``, on ``--images`` test images:

* sign disagreement: the fraction of input-gradient entries whose sign differs between
  float32 and bf16 autocast, at the clean images and at every step of an fp32 PGD
  trajectory (the points the attack really visits), gradient entries that are exactly
  zero in float32 left out; and how often the final PGD examples classify differently;
* time per attack step (one forward and backward pass of a batch) in each mode, and
  with ``torch.compile`` in ``--compile-modes`` on CUDA.

    python benchmarks/attack_precision.py [--device cuda] [--images 1000] [--train-images 5000]
        [--epochs 2] [--width 1] [--checkpoint runs/.../checkpoint.pt] [--compile-modes default,reduce-overhead]

Not a test: it prints figures and ``RESULT key=value ...`` lines. On the CPU, bf16
autocast runs too (slowly: the figures that matter are the GPU's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import timed

from ablate.core.device import channels_last, resolve_device
from ablate.spectral.scaling import model_input, originals_scaling
from ablate.study.expansion import Run
from ablate.study.settings import Settings
from ablate.train.attacks import model_mode, pgd, precision
from ablate.train.trained import load_trained
from ablate.train.trainer import Trainer

EPS, STEPS = 0.03, 10


def trained_model(args, device: torch.device):
    """(model in eval mode, test images as the model sees them, labels): from --checkpoint or trained here."""
    if args.checkpoint:
        model, settings, data = load_trained(Path(args.checkpoint), device=str(device))
    else:
        settings = Settings()
        dataset = args.data and f"npz:{Path(args.data).resolve()}" or \
            f"synthetic:train={args.train_images},test={args.images}"
        settings.update({"dataset": dataset, "train_size": args.train_images, "test_size": args.images,
                         "width": args.width, "epochs": args.epochs, "probe_every": 0, "radii": [],
                         "lr": 1e-3, "device": str(device)}, "benchmark")
        trainer = Trainer(Run("attack-precision", settings, []))
        trainer.fit()
        model, data = trainer.model.eval(), trainer.data
    x = channels_last(model_input(data.x_test[:args.images], originals_scaling(settings.normalize, "test")), device)
    return model, x, data.y_test[:args.images].to(device)


def gradient(model, x, y, dtype) -> torch.Tensor:
    with model_mode(model, False), precision(x.device, dtype), torch.enable_grad():
        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


def sign_disagreement(model, x, y, batch: int) -> tuple[float, float, float]:
    """(at the clean images, along the fp32 PGD trajectory, of the final examples' predictions)."""
    clean = [0, 0]
    along = [0, 0]
    flipped = 0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        points = [xb]
        adversarial = xb
        for _ in range(STEPS - 1):
            adversarial = pgd(model, adversarial, yb, EPS, 1, EPS / 10)
            points.append(adversarial)
        for k, point in enumerate(points):
            exact, fast = gradient(model, point, yb, None), gradient(model, point, yb, torch.bfloat16)
            counted = exact != 0
            differ = (exact.sign() != fast.sign()) & counted
            for tally in ([clean, along] if k == 0 else [along]):
                tally[0] += int(differ.sum())
                tally[1] += int(counted.sum())
        exact_examples = pgd(model, xb, yb, EPS, STEPS, EPS / 10)
        fast_examples = pgd(model, xb, yb, EPS, STEPS, EPS / 10, autocast_dtype=torch.bfloat16)
        with torch.no_grad():
            flipped += int((model(exact_examples).argmax(1) != model(fast_examples).argmax(1)).sum())
    return clean[0] / max(1, clean[1]), along[0] / max(1, along[1]), flipped / len(x)


def step_seconds(forward, x, y, dtype, rounds: int, device) -> float:
    """Median seconds of one attack step (forward + input gradient) on the batch ``x``."""
    def step():
        with precision(device, dtype), torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            return torch.autograd.grad(F.cross_entropy(forward(xr), y), xr)[0].sign()
    for _ in range(3):                      # warm-up (and compilation)
        timed(step, device)
    return statistics.median(timed(step, device) for _ in range(rounds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint", help="a run's checkpoint.pt (default: train a model here)")
    parser.add_argument("--data", help="an npz file to train on (default: synthetic CIFAR-sized data)")
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--images", type=int, default=500, help="test images attacked")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=100, help="the attack's batch (the study's: 100)")
    parser.add_argument("--rounds", type=int, default=10, help="timed steps per mode")
    parser.add_argument("--compile-modes", default="default,reduce-overhead",
                        help="torch.compile modes timed on CUDA; 'none' for none")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model, x, y = trained_model(args, device)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    source = (f"checkpoint {args.checkpoint}" if args.checkpoint else
              f"resnet18 width {args.width}, {args.epochs} epochs on {args.train_images} images")
    card = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"model: {source}; test accuracy {accuracy:.3f} on {len(y)} images; {device}{card}", flush=True)
    if accuracy <= 1.5 / int(y.max() + 1):
        print("    warning: the model is at chance; the sign figures below are of an untrained model "
              "(train longer: --epochs, or a narrower --width)", flush=True)
    clean, along, flipped = sign_disagreement(model, x, y, args.batch_size)
    print(f"    gradient signs differing, fp32 vs bf16 autocast: {100 * clean:.3f} % at the clean images, "
          f"{100 * along:.3f} % along the PGD-{STEPS} trajectory; final examples classified differently: "
          f"{100 * flipped:.2f} %")
    print(f"RESULT sign_disagreement_clean={clean:.5f} sign_disagreement_pgd={along:.5f} "
          f"prediction_flips={flipped:.5f} accuracy={accuracy:.4f} images={len(y)}", flush=True)
    xb, yb = x[:args.batch_size], y[:args.batch_size]
    times = {"fp32": step_seconds(model, xb, yb, None, args.rounds, device),
             "bf16": step_seconds(model, xb, yb, torch.bfloat16, args.rounds, device)}
    modes = [m for m in args.compile_modes.split(",") if m and m != "none"] if device.type == "cuda" else []
    for mode in modes:
        compiled = torch.compile(model, mode=mode)
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            times[f"{name}_compiled_{mode.replace('-', '_')}"] = step_seconds(compiled, xb, yb, dtype, args.rounds,
                                                                            device)
    for name, seconds in times.items():
        print(f"    attack step {name:<34}: {1000 * seconds:8.2f} ms  ({times['fp32'] / seconds:5.2f}x fp32)")
    print("RESULT " + f"batch={len(yb)} " + " ".join(f"{name}_ms={1000 * s:.3f}" for name, s in times.items()),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
