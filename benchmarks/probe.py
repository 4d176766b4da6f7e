"""Figures for the frequency probe, each a ratio against a baseline timed in the same process.

(a) split throughput (images x radii per second) of ablate.spectral.frequency.split against the
    official per-image numpy loop (transcribed from HaohanWang/HFC); the numpy loop is
    timed on a subset and extrapolated per image. Goal: >= 20x.
(b) probe overhead: one Prober pass (originals + LFC + HFC at every radius) through a
    ResNet18, divided by evaluating as many plain copies of the images (same model,
    batches, no_grad, accuracy computed). Goal: <= 1.10.
(c) Fourier heat map (Yin et al. 2019): the cost per (image, cell) of the whole probe
    (making the noisy images, then evaluating them), divided by a plain batched forward
    pass of as many images through the same ResNet18 on 32x32 images. Goal: <= 1.2. For
    information, the speed-up over a per-cell loop (one batch of the images per cell, as
    the public implementation evaluates), timed on a few cells and extrapolated.

(d) ImageNet-sized: ``ablate.probe_model`` (the whole probe of ``ablate probe MODEL``:
    resize, split, normalise, forward, count) of a torchvision ResNet-18 on 224x224 images
    at radii 4..64: images per second, and the share of the time spent in the split
    against the rest, mostly the model's forward passes. Goal: under 10 %.
(e) a zoo: three small torchvision models (SqueezeNet 1.1, MobileNetV3-small, ResNet-18, random
    weights) each probed once through a folder of synthetic PNG images (``imagefolder``,
    decoded as ``ablate probe --models`` streams it) at 224 px: images per second per model,
    with the decoding in the main process and in ``--zoo-workers`` DataLoader workers, and the
    share of the time spent decoding (the folder read alone, against the probe of the model).

    python benchmarks/probe.py [--data PATH] [--probe-images 300] [--width 0.25] [--heatmap-images 16]
    python benchmarks/probe.py --skip split --skip probe --skip heatmap --large-images 512 --device cuda

Not a test: it prints figures. The split is the study's (Wang et al., CVPR 2020,
"High-frequency Component Helps Explain the Generalization of CNNs", Section 3):
timings depend on the image size, not on the pictures, so ablate's ``synthetic``
dataset (CIFAR-sized) is the default; ``--data PATH`` times an npz file instead
(``x_train, y_train, x_test, y_test``, as the ``npz:PATH`` dataset reads it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from timing import timed
from torch import nn

from ablate.core.registry import get_registry
from ablate.data.loading import load_full
from ablate.spectral.frequency import split
from ablate.spectral.prober import Prober, split_probe
from ablate.spectral.probes import plan_probe
from ablate.spectral.scaling import model_input


def load_images(path: Path | None, count: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``count`` NHWC uint8 images and labels: test images first, then training ones.

    From the npz file at ``path``, or from ablate's synthetic dataset when there is none.
    """
    if path is not None and not path.exists():
        raise SystemExit(f"--data: {path} does not exist; give an npz file, or leave --data out for synthetic data")
    dataset = f"npz:{path.resolve()}" if path is not None else f"synthetic:train={count},test={count}"
    data = load_full(dataset)
    x = torch.cat([data.x_test, data.x_train])[:count].permute(0, 2, 3, 1).contiguous().numpy()
    y = torch.cat([data.y_test, data.y_train])[:count].numpy()
    return x, y, f"{path or 'synthetic data'} ({len(x)} images)"


# --------------------------------------------------------------------------
# The official code's split, transcribed: one image and one channel at a time
# --------------------------------------------------------------------------

def official_mask(rows: int, cols: int, r: float) -> np.ndarray:
    mask = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            mask[i, j] = 1.0 if np.sqrt((i - rows / 2) ** 2 + (j - rows / 2) ** 2) < r else 0.0
    return mask


def official_split(images: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """``generateDataWithDifferentFrequencies_3Channel``: NHWC in, NHWC LFC and HFC out."""
    mask = official_mask(images.shape[1], images.shape[2], r)
    lows, highs = [], []
    for i in range(images.shape[0]):
        low = np.zeros(images.shape[1:])
        for j in range(images.shape[3]):
            spectrum = np.fft.fftshift(np.fft.fft2(images[i, :, :, j])) * mask
            low[:, :, j] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum)))
        lows.append(low)
        high = np.zeros(images.shape[1:])
        for j in range(images.shape[3]):
            spectrum = np.fft.fftshift(np.fft.fft2(images[i, :, :, j])) * (1 - mask)
            high[:, :, j] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum)))
        highs.append(high)
    return np.array(lows), np.array(highs)


# --------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------

def best_of(fn, repeats: int, device: torch.device) -> float:
    fn()                                                   # warm-up: plans, caches, allocator
    return min(timed(fn, device) for _ in range(repeats))


# --------------------------------------------------------------------------
# (a) split throughput
# --------------------------------------------------------------------------

def split_figures(images: np.ndarray, radii: list[float], numpy_images: int, repeats: int) -> None:
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    cpu = torch.device("cpu")
    subset = images[:numpy_images].astype(np.float64)
    split(nchw, radii)                                     # warm-up
    ours, numpy_time = [], []
    for _ in range(repeats):                               # interleaved, so load changes hit both
        ours.append(timed(lambda: split(nchw, radii), cpu))
        start = time.perf_counter()
        reference = [official_split(subset, r) for r in radii]
        numpy_time.append(time.perf_counter() - start)
    ours, numpy_time = min(ours), min(numpy_time)
    ours_rate = len(images) * len(radii) / ours
    numpy_rate = len(subset) * len(radii) / numpy_time

    low, high = split(nchw[:numpy_images], radii)
    error = max(max(np.abs(low[k].permute(0, 2, 3, 1).numpy() - ref_low).max(),
                    np.abs(high[k].permute(0, 2, 3, 1).numpy() - ref_high).max())
                for k, (ref_low, ref_high) in enumerate(reference)) / 255

    print(f"(a) split, {len(images)} images x radii {radii}, CPU ({torch.get_num_threads()} threads), "
          f"best of {repeats} interleaved rounds")
    print(f"    ablate.spectral.frequency.split : {ours:8.3f} s   {ours_rate:12,.0f} images x radii / s")
    print(f"    official numpy loop    : {numpy_time:8.3f} s   {numpy_rate:12,.0f} images x radii / s "
          f"(timed on {len(subset)} images, extrapolated per image)")
    print(f"    speed-up               : {ours_rate / numpy_rate:8.1f}x   (goal >= 20x); "
          f"max |difference| {error:.1e} of the pixel range")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        on_gpu = nchw.to(gpu)
        seconds = best_of(lambda: split(on_gpu, radii), repeats, gpu)
        print(f"    on CUDA ({torch.cuda.get_device_name(gpu)}): {len(images) / seconds:,.0f} images / s, "
              f"{len(images) * len(radii) / seconds:,.0f} images x radii / s")


# --------------------------------------------------------------------------
# (b) probe overhead
# --------------------------------------------------------------------------

def resnet18(width: float) -> tuple[nn.Module, str]:
    """ablate's ResNet18 when ablate.train.models provides it, else a CIFAR ResNet18 defined here."""
    try:
        from ablate.core.structs import ModelParts
        from ablate.train import models
    except ImportError:
        models = None
    if models is not None and hasattr(models, "resnet18"):
        return models.resnet18(num_classes=10, width=width, parts=ModelParts()), "ablate.train.models.resnet18"
    if models is not None and hasattr(models, "build_model"):
        from ablate.study.settings import Settings
        return models.build_model(Settings(width=width), 10, ModelParts()), "ablate.train.models.build_model"
    return FallbackResNet18(width), "the benchmark's fallback CIFAR ResNet18"


class FallbackBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout
                         else nn.Identity())

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))


class FallbackResNet18(nn.Module):
    """3x3 stem, no max-pool, four stages of two basic blocks, no normalisation."""

    def __init__(self, width: float) -> None:
        super().__init__()
        channels = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        layers, cin = [nn.Conv2d(3, channels[0], 3, 1, 1, bias=False), nn.ReLU()], channels[0]
        for stage, cout in enumerate(channels):
            for block in range(2):
                layers.append(FallbackBlock(cin, cout, 2 if stage and not block else 1))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 10)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def probe_figures(images: np.ndarray, labels: np.ndarray, radii: list[float], args, device: torch.device) -> None:
    x = torch.from_numpy(images[: args.probe_images]).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(labels[: args.probe_images]).to(device)
    model, source = resnet18(args.width)
    model = model.to(device).eval()
    copies = 1 + 2 * len(radii)

    def plain() -> None:
        with torch.no_grad():
            right = torch.zeros((), dtype=torch.long, device=device)
            for _ in range(copies):
                for start in range(0, len(x), args.batch_size):
                    logits = model(model_input(x[start:start + args.batch_size], "max"))
                    right += (logits.argmax(1) == y[start:start + args.batch_size]).sum()
            right.item()

    built = time.perf_counter()
    prober = Prober(x, y, split_probe(radii), normalize="max", batch_size=args.batch_size)
    built = time.perf_counter() - built
    plain(), prober(model)                                  # warm-up
    base, probe = [], []
    for _ in range(args.repeats):                           # interleaved, so load changes hit both
        base.append(timed(plain, device))
        probe.append(timed(lambda: prober(model), device))
    ratios = [p / b for p, b in zip(probe, base)]
    print(f"(b) probe overhead, {len(x)} images, radii {radii}, {source} width {args.width}, "
          f"batch {args.batch_size}, {device}")
    print(f"    {copies} plain copies (no_grad) : {min(base):8.3f} s  (best of {args.repeats})")
    print(f"    one Prober pass           : {min(probe):8.3f} s  (best of {args.repeats})")
    print(f"    overhead                  : {min(probe) / min(base):8.3f}   (best / best; goal <= 1.10); "
          f"median of paired ratios {statistics.median(ratios):.3f}")
    print(f"    building the Prober (once per split): {built:.3f} s = {built / min(base):.2f} of a plain pass")


# --------------------------------------------------------------------------
# (c) Fourier heat map
# --------------------------------------------------------------------------

def heatmap_figures(images: np.ndarray, labels: np.ndarray, args, device: torch.device) -> None:
    x = torch.from_numpy(images[: args.heatmap_images]).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(labels[: args.heatmap_images]).to(device)
    model, source = resnet18(args.width)
    model = model.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    probe = plan_probe(get_registry().registry("probes"), "fourier_heatmap",
                       {"window": args.window, "limit": len(x)}, "benchmark")
    prober = Prober(x, y, probe.variants, normalize="max", batch_size=args.batch_size, originals=False)
    cells, distinct = len(prober.labels), len(prober.firsts)
    total = distinct * len(x)                     # (image, cell) pairs evaluated: conjugate twins once
    sample = model_input(x.repeat((args.batch_size + len(x) - 1) // len(x), 1, 1, 1)[: args.batch_size], "max")

    def plain() -> None:
        with torch.inference_mode():
            right = torch.zeros((), dtype=torch.long, device=device)
            for start in range(0, total, args.batch_size):
                batch = sample[: min(args.batch_size, total - start)]
                right += (model(batch).argmax(1) == y[0]).sum()
            right.item()

    def whole_probe() -> None:                    # made once per run, so making the images counts
        Prober(x, y, probe.variants, normalize="max", batch_size=args.batch_size, originals=False)(model)

    from ablate_plugins.fourier import basis, random_signs  # the probe's own maths, one cell at a time

    found = [(v["row"] - 16, v["col"] - 16) for v in prober.labels[: args.loop_cells]]
    pixels = x.float() / 255

    def loop() -> None:                           # one batch of the images per cell, as the public code
        with torch.inference_mode():
            for u, v in found:
                pattern = basis(32, 32, ((u, v),), device)[0]
                signs = random_signs(0, torch.arange(len(x), device=device), torch.tensor([u % 32 * 32 + v % 32],
                                     device=device), 3)[:, 0]
                noisy = (pixels + 4.0 * signs[..., None, None] * pattern).clamp(0, 1)
                right = (model(model_input(noisy, "max")).argmax(1) == y).sum()
            right.item()

    plain(), whole_probe(), loop()                                # warm-up
    base, ours, looped = [], [], []
    for _ in range(args.repeats):                                 # interleaved, so load changes hit both
        base.append(timed(plain, device))
        ours.append(timed(whole_probe, device))
        looped.append(timed(loop, device) * cells / len(found))
    per_pair = min(ours) / total
    print(f"(c) Fourier heat map, {len(x)} images x {cells} cells ({distinct} distinct; "
          f"window {args.window or 'full'}), "
          f"{source} width {args.width}, batch {args.batch_size}, {device}")
    print(f"    plain forward of {total} images : {min(base):8.3f} s  ({1e6 * min(base) / total:.1f} us per image)")
    print(f"    heat map probe (make + evaluate): {min(ours):8.3f} s  ({1e6 * per_pair:.1f} us per (image, cell))")
    print(f"    cost ratio                     : {min(ours) / min(base):8.3f}   (goal <= 1.2); median of paired "
          f"ratios {statistics.median(o / b for o, b in zip(ours, base)):.3f}")
    print(f"    per-cell loop (extrapolated from {len(found)} cells): {min(looped):8.3f} s; "
          f"speed-up {min(looped) / min(ours):.1f}x")


def imagenet_sized_figures(args, device: torch.device) -> None:
    """(d): the whole probe of a 224x224 ResNet-18, and the split's share of it."""
    import torchvision

    from ablate.any_model.probe_model import measure
    from ablate.any_model.zoo import Preprocess

    radii = [float(r) for r in args.large_radii.split(",")]
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.large_images, 3, 224, 224), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 1000, (args.large_images,), generator=generator)
    model = torchvision.models.resnet18(num_classes=1000).eval()
    preprocess = Preprocess(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    whole = timed(lambda: measure(model, (x, y), radii, preprocess, device=str(device),
                                  batch_size=args.batch_size), device)
    pixels = x.to(device).float().div(255)
    step = max(1, args.batch_size)
    splitting = timed(lambda: [split(pixels[k:k + step], radii) for k in range(0, len(pixels), step)], device)
    print(f"(d) whole probe, torchvision ResNet-18, {len(x)} images 224x224, radii {radii}, {device}:")
    print(f"    probe: {whole:8.2f} s   {len(x) / whole:8.1f} images / s "
          f"({len(x) * (1 + 2 * len(radii)) / whole:.1f} forward passes / s)")
    print(f"    split: {splitting:8.2f} s   = {100 * splitting / max(whole - splitting, 1e-9):.1f} % of the rest "
          f"(goal < 10 %)")


def zoo_figures(args, device: torch.device) -> None:
    """(e): three small models, each streamed once through an image folder of synthetic PNGs."""
    import tempfile

    import torchvision
    from PIL import Image

    from ablate.any_model.probe_model import measure
    from ablate.any_model.zoo import Preprocess
    from ablate.data.image_datasets import imagefolder_stream

    generator = np.random.default_rng(0)
    names = ("squeezenet1_1", "mobilenet_v3_small", "resnet18")
    preprocess = Preprocess(image_size=224, resize=256, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    with tempfile.TemporaryDirectory(prefix="ablate-zoo-") as folder:
        for k in range(args.zoo_images):            # photo-sized, of a few sizes, as a real folder holds
            size = (int(generator.integers(260, 340)), int(generator.integers(260, 340)))
            (Path(folder) / f"class{k % 2}").mkdir(exist_ok=True)
            Image.fromarray(generator.integers(0, 256, (*size, 3), dtype=np.uint8)).save(
                Path(folder) / f"class{k % 2}" / f"{k}.png")
        decode = timed(lambda: sum(1 for _ in imagefolder_stream(folder)[0]), device)
        print(f"(e) zoo of {len(names)} models, {args.zoo_images} PNG images (about 300x300) resized to 224, "
              f"radii 4,8,16,32, {device}; decoding the folder alone: {decode:.2f} s "
              f"({args.zoo_images / decode:.0f} images / s)")
        for name in names:
            model = torchvision.models.get_model(name, num_classes=2).eval()
            seconds = {}
            for workers in (0, args.zoo_workers):
                stream = imagefolder_stream(folder, workers=workers, pin_memory=device.type == "cuda")[0]
                seconds[workers] = timed(lambda: measure(model, stream, [4, 8, 16, 32], preprocess,
                                                         device=str(device), batch_size=args.batch_size), device)
            print(f"    {name:<20}: {args.zoo_images / seconds[0]:7.1f} images / s decoding in the main process "
                  f"(decoding {100 * decode / seconds[0]:4.1f} % of it), {args.zoo_images / seconds[args.zoo_workers]:7.1f}"
                  f" with {args.zoo_workers} workers ({seconds[0] / seconds[args.zoo_workers]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="an npz file (x_train, y_train, x_test, y_test); default: ablate's synthetic dataset")
    parser.add_argument("--radii", default="4,8,12,16")
    parser.add_argument("--split-images", type=int, default=2000)
    parser.add_argument("--numpy-images", type=int, default=100, help="images the slow numpy loop is timed on")
    parser.add_argument("--probe-images", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="device of the probe-overhead figure (cpu, cuda)")
    parser.add_argument("--heatmap-images", type=int, default=16, help="images per cell of the heat map figure")
    parser.add_argument("--window", type=int, default=0, help="heat map window (0 = the full 32x32 map)")
    parser.add_argument("--loop-cells", type=int, default=32, help="cells the per-cell loop is timed on")
    parser.add_argument("--large-images", type=int, default=512, help="224x224 images of the ImageNet-sized figure")
    parser.add_argument("--large-radii", default="4,8,16,32,64")
    parser.add_argument("--zoo-images", type=int, default=64, help="PNG images of the zoo figure")
    parser.add_argument("--zoo-workers", type=int, default=2, help="DataLoader workers of the zoo figure")
    parser.add_argument("--skip", choices=["split", "probe", "heatmap", "large", "zoo"], action="append", default=[])
    args = parser.parse_args()
    radii = [float(r) for r in args.radii.split(",")]
    images, labels, source = load_images(args.data, max(args.split_images, args.probe_images, args.heatmap_images))
    print(f"data: {source}; torch {torch.__version__}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (other processes slow the multi-threaded figures most)")
    if "split" not in args.skip:
        split_figures(images[: args.split_images], radii, min(args.numpy_images, args.split_images), args.repeats)
    if "probe" not in args.skip:
        probe_figures(images, labels, radii, args, torch.device(args.device))
    if "heatmap" not in args.skip:
        heatmap_figures(images, labels, args, torch.device(args.device))
    if "large" not in args.skip:
        imagenet_sized_figures(args, torch.device(args.device))
    if "zoo" not in args.skip:
        zoo_figures(args, torch.device(args.device))


if __name__ == "__main__":
    main()
