"""Training throughput of ablate's trainer against hand-written PyTorch loops, timed in one process.

(a) images per second of ``Trainer.train_epoch`` (probe off: probe_every=0, radii=[])
    against the baselines named by ``--baseline``, the same model (``build_model``),
    batch size, optimizer (Adam, lr 1e-4) and image scaling (``model_input``, "max"):

    plain       the same on-device uint8 data, gathered per batch and scaled the same
                way, under the same precision as ablate (``--precision``: fp32, tf32 or
                bf16 autocast; channels_last on CUDA, compiled when ``--compile``), but
                none of the trainer's extras (hooks, loss and accuracy sums, the
                divergence check): the ratio ablate/plain is the trainer's own
                overhead. Goal: >= 0.95.
    dataloader  what a first PyTorch script does: float32 images (scaled once) in a
                TensorDataset on the CPU, a shuffling DataLoader (pinned memory on
                CUDA), every batch moved to the device, float32, eager, PyTorch's
                defaults otherwise (but the TF32 and cuDNN autotuning flags a Trainer
                sets are process-wide: they apply to this baseline too).
                The ratio ablate/dataloader is the speed-up of ablate's GPU path (on
                CUDA; goal >= 3x).

    Epochs are timed in rounds whose order alternates (ABAB, then BABA), after one
    warm-up epoch each, and medians are reported: the machine may be shared and noisy.
(b) the cost of one epoch with the probe on (originals + LFC + HFC of ``--probe-images``
    test images at ``--radii``) as a ratio to the epoch without it (test originals only),
    and the probe's own cost (evaluation with it minus without) over the training epoch
    (goal at paper scale: < 0.15); under ``--precision bf16`` the probe keeps bf16 copies.
(c) the cost of an adversarial training epoch (the ``pgd`` plugin: eps 0.03, ``--pgd-steps``
    steps of eps/10, Madry et al.'s set-up) as a ratio to a clean epoch of the same trainer
    set-up, for ablate's PGD (``backend = "ablate"``) and, when the ``attacks`` extra is
    installed, torchattacks' (``backend = "torchattacks"``), timed in the same process and
    rounds. Goal: ablate's PGD no slower than torchattacks' (ratio ablate / torchattacks <= 1).

    python benchmarks/train.py [--model resnet18] [--width 0.25] [--images 2000]
        [--batch-size 100[,512]] [--device cpu] [--rounds 5] [--epochs 1]
        [--baseline plain[,dataloader]|none] [--compile] [--compile-mode reduce-overhead]
        [--precision fp32|tf32|bf16] [--probe-images 1000]
        [--pgd-steps 10] [--skip throughput|probe|adversarial]

Not a test: it prints figures, and one ``RESULT key=value ...`` line per measurement for
scripts (benchmarks/device_check.sh collects them). Data: ablate's ``synthetic``
dataset, CIFAR-sized (throughput depends on the image size, not on the pictures);
``--data PATH`` trains on an npz file instead (``x_train, y_train, x_test, y_test``,
as the ``npz:PATH`` dataset reads it). The training set-up is the study's (Wang et
al., CVPR 2020, "High-frequency Component Helps Explain the Generalization of CNNs":
Adam, lr 1e-4, each image divided by its maximum).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from timing import timed

from ablate.core.device import resolve_device
from ablate.core.registry import get_registry
from ablate.spectral.prober import Prober, split_probe
from ablate.spectral.scaling import model_input
from ablate.study.expansion import Run
from ablate.study.settings import Settings
from ablate.train.models import build_model
from ablate.train.trainer import Trainer

BASELINES = ("plain", "dataloader")


# --------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------

def dataset_name(args) -> str:
    """``npz:PATH`` for the npz file of ``--data``, else the synthetic dataset sized to what is asked."""
    if args.data not in (None, "synthetic"):
        path = Path(args.data)
        if not path.exists():
            raise SystemExit(f"--data: {args.data} does not exist; give an npz file, or leave --data out "
                             f"for synthetic data")
        return f"npz:{path.resolve()}"
    return f"synthetic:train={args.images},test={max(1, args.probe_images)}"


def make_settings(args, dataset: str, radii: list[float], probe_every: int, batch_size: int) -> Settings:
    settings = Settings()
    settings.update({"dataset": dataset, "train_size": args.images, "test_size": max(1, args.probe_images),
                     "model": args.model, "width": args.width, "batch_size": batch_size,
                     "optimizer": "adam", "lr": 1e-4, "normalize": "max", "radii": radii,
                     "probe_every": probe_every, "device": args.device, "compile": args.compile,
                     "precision": args.precision, "compile_mode": args.compile_mode,
                     "epochs": 100_000}, "benchmark")       # the most Settings allows: never the last epoch
    return settings


def make_trainer(settings: Settings, name: str, plugins: list[tuple[str, dict]] = ()) -> Trainer:
    """A set-up trainer; ``plugins`` are ``(name, values)``, checked as a recipe's would be."""
    registry = get_registry()
    checked = [(plugin, registry.get(plugin, "benchmark").cls.validate(values, f"benchmark: {plugin}"))
               for plugin, values in plugins]
    trainer = Trainer(Run(name, settings, checked), registry=registry)
    trainer.setup()
    return trainer


class PlainLoop:
    """The loop a careful user writes by hand: the same data on the device, the same steps, no extras."""

    def __init__(self, settings: Settings, trainer: Trainer) -> None:
        self.device = trainer.device
        self.x, self.y = trainer.data.x_train, trainer.data.y_train        # the same on-device uint8 tensors
        self.batch_size, self.normalize = settings.batch_size, settings.normalize
        self.dtype = trainer.state.autocast_dtype
        torch.manual_seed(settings.seed + 1)
        model = build_model(settings, trainer.data.num_classes, in_channels=trainer.data.image_shape[0])
        model = model.to(self.device)
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = torch.compile(model, mode=settings.compile_mode) if settings.compile else model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def epoch(self, epoch: int) -> None:
        self.model.train()
        order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(epoch)).to(self.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            x = model_input(self.x[index], self.normalize)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
                logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), self.y[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


class DataLoaderLoop:
    """A first PyTorch script: float32 images on the CPU, a shuffling DataLoader, fp32, eager."""

    def __init__(self, settings: Settings, trainer: Trainer) -> None:
        self.device = trainer.device
        x = model_input(trainer.data.x_train.cpu(), settings.normalize)   # scaled once, like a preprocessed set
        dataset = torch.utils.data.TensorDataset(x, trainer.data.y_train.cpu())
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=settings.batch_size, shuffle=True,
                                                  pin_memory=self.device.type == "cuda")
        torch.manual_seed(settings.seed + 2)
        self.model = build_model(settings, trainer.data.num_classes,
                                 in_channels=trainer.data.image_shape[0]).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.lr)

    def epoch(self, epoch: int) -> None:
        self.model.train()
        for x, y in self.loader:
            x, y = x.to(self.device), y.to(self.device)
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def interleaved(contenders: dict[str, Callable[[int], object]], rounds: int, epochs: int,
                device: torch.device, verbose: bool = True) -> dict[str, list[float]]:
    """Seconds per epoch of each contender, ``rounds`` times, in an order that alternates every round.

    Each contender first runs one untimed warm-up epoch (allocator, cuDNN plans, compilation).
    """
    counter = {name: 0 for name in contenders}

    def run(name: str) -> float:
        seconds = 0.0
        for _ in range(epochs):
            counter[name] += 1
            seconds += timed(lambda: contenders[name](counter[name]), device)
        return seconds / epochs

    for name in contenders:
        counter[name] += 1
        started = time.perf_counter()
        timed(lambda: contenders[name](counter[name]), device)
        if verbose:
            print(f"    warm-up {name:<11}: {time.perf_counter() - started:7.2f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(run(name))
        if verbose:
            print(f"    round {r + 1}: " + "  ".join(f"{n} {times[n][-1]:7.3f} s" for n in names)
                  + f"   (load {os.getloadavg()[0]:.1f})", flush=True)
    return times


# --------------------------------------------------------------------------
# (a) throughput
# --------------------------------------------------------------------------

def throughput(args, dataset: str, device: torch.device, batch_size: int) -> float:
    """Print ablate against the baselines at one batch size; return ablate's median seconds per epoch."""
    settings = make_settings(args, dataset, radii=[], probe_every=0, batch_size=batch_size)
    trainer = make_trainer(settings, "benchmark")
    n = len(trainer.data.y_train)
    contenders: dict[str, Callable[[int], object]] = {"ablate": trainer.train_epoch}
    for name in args.baseline:
        loop = (PlainLoop if name == "plain" else DataLoaderLoop)(settings, trainer)
        contenders[name] = loop.epoch
    precision = {"fp32": "float32", "tf32": "TF32", "bf16": "bf16 autocast"}[settings.precision]
    print(f"(a) training throughput: {settings.model} width {settings.width}, {n} images, batch "
          f"{settings.batch_size}, Adam lr {settings.lr}, {device} ({describe(device)}); ablate: {precision}"
          f"{', channels_last' if device.type == 'cuda' else ''}{', compiled' if settings.compile else ''}; "
          f"{args.rounds} rounds x {args.epochs} epoch(s), alternating order", flush=True)
    times = interleaved(contenders, args.rounds, args.epochs, device)
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in median.items():
        print(f"    {name:<11}: median {seconds:8.3f} s / epoch  {n / seconds:10,.0f} images / s  "
              f"(min {min(times[name]):.3f}, max {max(times[name]):.3f})")
    for name in args.baseline:
        paired = [b / a for a, b in zip(times["ablate"], times[name])]
        goal = "goal >= 0.95" if name == "plain" else "goal >= 3 on CUDA"
        print(f"    ablate / {name:<10}: {median[name] / median['ablate']:6.3f}  (images/s, medians; {goal}); "
              f"paired per round: median {statistics.median(paired):.3f}, "
              f"range {min(paired):.3f}..{max(paired):.3f}; best / best {min(times[name]) / min(times['ablate']):.3f}")
    fields = [f"batch={batch_size}", f"compile={int(settings.compile)}", f"precision={settings.precision}", f"images={n}"]
    fields += [f"{name}_s={seconds:.4f}" for name, seconds in median.items()]
    fields += [f"ablate_over_{name}={median[name] / median['ablate']:.3f}" for name in args.baseline]
    print("RESULT " + " ".join(fields), flush=True)       # one line per batch size, for scripts and logs
    return median["ablate"]


# --------------------------------------------------------------------------
# (b) probe cost
# --------------------------------------------------------------------------

def probe_cost(args, dataset: str, device: torch.device, batch_size: int, train_seconds: float | None) -> None:
    """An epoch with the probe on against one without: same training, evaluation with or without LFC/HFC."""
    settings = make_settings(args, dataset, radii=args.radii, probe_every=1, batch_size=batch_size)
    started = time.perf_counter()
    trainer = make_trainer(settings, "benchmark-probe")
    setup = time.perf_counter() - started
    started = time.perf_counter()
    Prober(trainer.data.x_test, trainer.data.y_test, split_probe(settings.radii, settings.inclusive),
           normalize=settings.normalize, batch_size=settings.eval_batch_size)
    built = time.perf_counter() - started

    def evaluate(probe_every: int) -> Callable[[int], object]:
        def run(epoch: int):
            settings.probe_every = probe_every
            return trainer.evaluate(epoch)
        return run

    contenders = {"probe-off": evaluate(0), "probe-on": evaluate(1)}
    if train_seconds is None:
        contenders["train"] = trainer.train_epoch
    copies = {str(prober.cache.dtype if prober.cache is not None else "remade each pass") for _, prober in
              trainer.probers}
    print(f"(b) probe cost: {len(trainer.data.y_test)} test images, radii {settings.radii}, eval batch "
          f"{settings.eval_batch_size}, precision {settings.precision}, copies {', '.join(copies)}; "
          f"{args.probe_rounds} rounds", flush=True)
    times = interleaved(contenders, args.probe_rounds, 1, device)
    off, on = statistics.median(times["probe-off"]), statistics.median(times["probe-on"])
    train = train_seconds if train_seconds is not None else statistics.median(times["train"])
    lines = [(f"training epoch ({len(trainer.data.y_train)} images)", f"{train:8.3f} s"),
             ("evaluation, test originals (probe off)", f"{off:8.3f} s"),
             ("evaluation with the probe", f"{on:8.3f} s  ({on / off:.1f}x the originals alone)"),
             ("epoch with probe / epoch without", f"{(train + on) / (train + off):8.3f}  "
                                                  f"(= ({train:.2f} + {on:.2f}) / ({train:.2f} + {off:.2f}))"),
             ("probe cost / training epoch", f"{(on - off) / train:8.3f}  (goal < 0.15 at paper scale)")]
    for label, value in lines:
        print(f"    {label:<40}: {value}")
    print(f"    once per run: building the test probe (split + scale) {built:.3f} s; trainer set-up {setup:.2f} s")
    print(f"RESULT probe_images={len(trainer.data.y_test)} train_s={train:.4f} eval_off_s={off:.4f} "
          f"eval_on_s={on:.4f} probe_epoch_ratio={(train + on) / (train + off):.3f} "
          f"probe_share={(on - off) / train:.3f} precision={settings.precision}", flush=True)


# --------------------------------------------------------------------------
# (c) adversarial training step
# --------------------------------------------------------------------------

def adversarial_cost(args, dataset: str, device: torch.device, batch_size: int) -> None:
    """Epochs of PGD training (ablate's attack, torchattacks' when installed) against clean epochs."""
    settings = make_settings(args, dataset, radii=[], probe_every=0, batch_size=batch_size)
    backends = ["ablate"] + (["torchattacks"] if importlib.util.find_spec("torchattacks") else [])
    contenders = {"clean": make_trainer(settings, "benchmark-clean").train_epoch}
    for backend in backends:
        pgd = {"eps": 0.03, "steps": args.pgd_steps, "backend": backend}
        contenders[f"pgd-{backend}"] = make_trainer(settings, f"benchmark-{backend}", [("pgd", pgd)]).train_epoch
    print(f"(c) adversarial training: PGD eps 0.03, {args.pgd_steps} steps of eps/10, batch {batch_size}, "
          f"{args.images} images; {args.rounds} rounds" + ("" if len(backends) == 2 else
                                                           "; torchattacks not installed (the attacks extra)"),
          flush=True)
    times = interleaved(contenders, args.rounds, 1, device)
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in median.items():
        ratio = seconds / median["clean"]
        print(f"    {name:<17}: median {seconds:8.3f} s / epoch  {ratio:6.2f} x a clean epoch")
    fields = [f"batch={batch_size}", f"pgd_steps={args.pgd_steps}"]
    fields += [f"{name.replace('-', '_')}_over_clean={median[name] / median['clean']:.3f}" for name in median]
    if "pgd-torchattacks" in median:
        paired = [a / t for a, t in zip(times["pgd-ablate"], times["pgd-torchattacks"])]
        print(f"    ablate / torchattacks: {median['pgd-ablate'] / median['pgd-torchattacks']:6.3f} (seconds, medians; "
              f"goal <= 1); paired per round: median {statistics.median(paired):.3f}, "
              f"range {min(paired):.3f}..{max(paired):.3f}")
        fields.append(f"ablate_over_torchattacks={median['pgd-ablate'] / median['pgd-torchattacks']:.3f}")
    print("RESULT " + " ".join(fields), flush=True)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="an npz file (x_train, y_train, x_test, y_test); default (or 'synthetic'): "
                             "ablate's synthetic dataset")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--images", type=int, default=2000, help="training images per epoch")
    parser.add_argument("--batch-size", default="100", help="one batch size, or several: 100,512")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (each: one epoch of every contender)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per contender per round")
    parser.add_argument("--baseline", default="plain",
                        help=f"comma-separated baselines: {', '.join(BASELINES)}, or none (ablate alone)")
    parser.add_argument("--compile", action="store_true", help="torch.compile ablate's model (and the plain loop's)")
    parser.add_argument("--compile-mode", default="default", choices=Settings.params()["compile_mode"].choices)
    parser.add_argument("--precision", default="fp32", choices=Settings.params()["precision"].choices,
                        help="the run's precision (the plain loop autocasts alike; TF32 is process-wide)")
    parser.add_argument("--probe-images", type=int, default=1000, help="test images of the probe; 0 skips (b)")
    parser.add_argument("--radii", default="4,8,12,16")
    parser.add_argument("--probe-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD steps of (c), the adversarial training step")
    parser.add_argument("--skip", choices=["throughput", "probe", "adversarial"], action="append", default=[],
                        help="leave out a part; repeatable")
    args = parser.parse_args(argv)
    args.baseline = [b.strip() for b in args.baseline.split(",") if b.strip() not in ("", "none")]
    unknown = [b for b in args.baseline if b not in BASELINES]
    if unknown:
        parser.error(f"--baseline: unknown {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
    args.radii = [float(r) for r in args.radii.split(",") if r.strip()]
    batch_sizes = [int(b) for b in args.batch_size.split(",") if b.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dataset = dataset_name(args)
    print(f"data: {dataset}; torch {torch.__version__}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    train_seconds = None
    if "throughput" not in args.skip:
        train_seconds = [throughput(args, dataset, device, b) for b in batch_sizes][0]
    if "probe" not in args.skip and args.probe_images > 0:
        probe_cost(args, dataset, device, batch_sizes[0], train_seconds)
    if "adversarial" not in args.skip:
        adversarial_cost(args, dataset, device, batch_sizes[0])


if __name__ == "__main__":
    main()
