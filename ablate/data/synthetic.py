"""The ``synthetic`` dataset: offline, seeded images with known frequency content.

Each class gets its own plane waves in a low band and in a high band of the 2-D
spectrum, so a model can learn it from either band, and the probe (LFC/HFC at a
radius) has something to find on each side. Used by the tests, the smoke scales and
first tries; it needs no download. Options: ``synthetic:low=1.0,high=0.5,...``
(:data:`SYNTHETIC_OPTIONS`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ablate.core.errors import AblateError
from ablate.core.structs import Data

# name: (type, default, help). None defaults depend on `size`.
SYNTHETIC_OPTIONS = {
    "low": (float, 1.0, "amplitude of the class evidence at low frequencies (0 < dist <= low_radius)"),
    "high": (float, 0.5, "amplitude of the class evidence at high frequencies (dist > high_radius)"),
    "noise": (float, 0.5, "std of white Gaussian noise (all frequencies), same unit as low/high"),
    "jitter": (float, 0.0, "how much each image's wave phases vary: 0 = one fixed pattern per class, "
                           "1 = uniformly random phases (texture-like)"),
    "waves": (int, 3, "plane waves per class and band"),
    "train": (int, 2000, "training images"),
    "test": (int, 500, "test images"),
    "size": (int, 32, "image height and width"),
    "channels": (int, 3, "colour channels"),
    "classes": (int, 10, "number of classes"),
    "seed": (int, 0, "seed of the class patterns and the images"),
    "low_radius": (float, None, "outer radius of the low band in DFT bins (default 3 * size / 32)"),
    "high_radius": (float, None, "inner radius of the high band in DFT bins (default 12 * size / 32)"),
}
GREY = 128.0           # the mid-grey base every image starts from
UNIT = 48.0            # grey levels per unit of amplitude: low=1 is an RMS of 48 levels


def parse_synthetic_options(arg: str | None) -> dict:
    """``"low=1,high=0.5"`` -> all options with defaults filled in, checked."""
    values = {name: default for name, (_, default, _) in SYNTHETIC_OPTIONS.items()}
    for item in (arg or "").split(","):
        if not item.strip():
            continue
        key, sep, text = item.partition("=")
        key = key.strip()
        if key not in SYNTHETIC_OPTIONS:
            raise AblateError(f"dataset synthetic: unknown option {key!r}; known options: "
                              f"{', '.join(SYNTHETIC_OPTIONS)} (e.g. synthetic:low=1.0,high=0.5)")
        kind = SYNTHETIC_OPTIONS[key][0]
        try:
            if not sep:
                raise ValueError
            values[key] = kind(text.strip())
        except ValueError:
            raise AblateError(f"dataset synthetic: option {key!r} needs a {kind.__name__} value, "
                              f"found {item.strip()!r}; write {key}=VALUE") from None
    size = values["size"]
    if values["low_radius"] is None:
        values["low_radius"] = max(1.0, 3.0 * size / 32)
    if values["high_radius"] is None:
        values["high_radius"] = 12.0 * size / 32
    minimum = {"train": 1, "test": 1, "size": 4, "channels": 1, "classes": 2, "waves": 1,
               "low": 0, "high": 0, "noise": 0, "jitter": 0, "low_radius": 1, "seed": 0}
    for key, floor in minimum.items():
        if values[key] < floor or not math.isfinite(values[key]):
            raise AblateError(f"dataset synthetic: option {key!r} is {values[key]}; it must be >= {floor}")
    if values["high_radius"] <= values["low_radius"]:
        raise AblateError(f"dataset synthetic: high_radius ({values['high_radius']}) must exceed "
                          f"low_radius ({values['low_radius']}) so that the two bands do not overlap")
    return values


def frequency_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed frequencies (cycles per image) of the fftshift-ed spectrum: index i <-> i - size // 2."""
    f = np.arange(size) - size // 2
    return np.meshgrid(f, f, indexing="ij")


def band_waves(size: int, inner: float, outer: float) -> np.ndarray:
    """The distinct plane waves (fy, fx) with ``inner < dist <= outer`` from the spectrum's centre.

    A wave and its mirror (-fy, -fx) are one real wave; one of each pair is kept.
    """
    fy, fx = frequency_grid(size)
    dist = np.hypot(fy, fx)
    inside = (dist > inner) & (dist <= outer)
    wrap = lambda f: (-f + size // 2) % size - size // 2      # the mirror frequency, wrapped into range
    pairs = {max((int(a), int(b)), (int(wrap(a)), int(wrap(b)))) for a, b in zip(fy[inside], fx[inside])}
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def band_evidence(rng: np.random.Generator, labels: np.ndarray, waves: np.ndarray, colours: np.ndarray,
                  phases: np.ndarray, jitter: float, size: int) -> np.ndarray:
    """Per image: the sum of its class's plane waves, unit RMS, (N, C, H, W) float32.

    ``waves`` (K, W, 2) frequencies, ``colours`` (K, W, C) unit vectors, ``phases``
    (K, W) class phases; each image adds ``jitter * U(-pi, pi)`` to every phase.
    """
    n, per_class, channels = len(labels), waves.shape[1], colours.shape[2]
    pos = np.arange(size)
    phase = phases[labels] + jitter * rng.uniform(-np.pi, np.pi, size=(n, per_class))
    images = np.empty((n, channels, size, size), dtype=np.float32)
    for k in range(len(waves)):             # cos(a + p) = cos a cos p - sin a sin p, per class
        mine = labels == k
        angle = 2 * np.pi * (waves[k, :, 0, None, None] * pos[:, None]
                             + waves[k, :, 1, None, None] * pos[None, :]) / size   # (waves, H, W)
        cos_part = np.cos(phase[mine])[:, :, None] * colours[k]                   # (images, waves, C)
        sin_part = np.sin(phase[mine])[:, :, None] * colours[k]
        images[mine] = (np.tensordot(cos_part, np.cos(angle), axes=([1], [0]))
                        - np.tensordot(sin_part, np.sin(angle), axes=([1], [0])))
    return images * np.float32(math.sqrt(2 * channels / per_class))


def load_synthetic(arg: str | None, settings=None) -> Data:
    """Seeded images: ``grey + UNIT * (low * L + high * H + noise * white)``, clipped to uint8.

    Each class owns ``waves`` plane waves in the low band (0 < dist <= low_radius;
    radius 3 for 32x32, inside the probe's r = 4 disc) and ``waves`` in the high band
    (dist > high_radius; 12 for 32x32, outside the r = 12 disc), each with its own
    colour (a unit vector over channels) and phase. L and H are those waves summed
    (unit RMS each), so by default every class has one fixed smooth pattern and one
    fixed fine pattern, and a model can learn the classes from the LFC alone, from
    the HFC alone, or from both; set ``low=0`` or ``high=0`` to remove one. With
    ``jitter`` > 0 every image shifts the phases at random, so that the class is told
    by which waves and colours are present (a texture) rather than by a template.
    The defaults give a pixel spread close to CIFAR-10's (std about 57 grey levels,
    about 3% of the pixels clipped). Class counts are balanced; the same options
    give identical tensors.
    """
    o = parse_synthetic_options(arg)
    size, channels, classes, per_class = o["size"], o["channels"], o["classes"], o["waves"]
    rng = np.random.default_rng(np.random.SeedSequence([o["seed"], 0]))
    bands = {}
    for band, (inner, outer) in {"low": (0.0, o["low_radius"]), "high": (o["high_radius"], math.inf)}.items():
        candidates = band_waves(size, inner, outer)
        if len(candidates) < per_class:
            raise AblateError(f"dataset synthetic: the {band} band of a {size}x{size} image holds only "
                              f"{len(candidates)} waves, fewer than waves={per_class}; change size, "
                              f"low_radius/high_radius or waves")
        chosen = np.stack([candidates[rng.choice(len(candidates), per_class, replace=False)] for _ in range(classes)])
        colours = rng.standard_normal((classes, per_class, channels))
        colours /= np.linalg.norm(colours, axis=2, keepdims=True)
        bands[band] = (chosen, colours, rng.uniform(-np.pi, np.pi, size=(classes, per_class)))

    def make(count: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        split_rng = np.random.default_rng(np.random.SeedSequence([o["seed"], stream]))
        labels = split_rng.permutation(np.arange(count) % classes)
        images = np.full((count, channels, size, size), GREY, dtype=np.float32)
        for band in ("low", "high"):        # drawn even at amplitude 0: changing one knob keeps the rest
            images += UNIT * o[band] * band_evidence(split_rng, labels, *bands[band], o["jitter"], size)
        images += (UNIT * o["noise"]) * split_rng.standard_normal(images.shape, dtype=np.float32)
        pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
        return torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64))

    x_train, y_train = make(o["train"], 1)
    x_test, y_test = make(o["test"], 2)
    return Data(x_train, y_train, x_test, y_test, [f"class{k}" for k in range(classes)])
