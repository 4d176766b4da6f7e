"""The probe: how well a model classifies the variants a probe makes of a data set.

A :class:`Prober` is built once per data split and probe (the study's: the LFC
and HFC at every radius, :func:`ablate.spectral.probes.lfc_hfc`); it makes the variants
once and keeps them, already scaled as the model sees them, so each later pass
(every epoch) costs only the model's forward passes.
:mod:`ablate.spectral.probe_report` counts its per-image results into the study's Figure 1 and 2.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ablate.core.device import autocast, probe_budget
from ablate.core.errors import AblateError
from ablate.core.modes import in_mode
from ablate.data.loading import stratified_subset
from ablate.spectral.frequency import check_images
from ablate.spectral.probes import PlannedProbe, Variant, call_probe, check_variants, lfc_hfc, variant_key
from ablate.spectral.scaling import NORMALIZE_MODES, model_input, originals_scaling, to_float, without_round_off

Key = tuple       # (component, radius, *other labels): see ablate.spectral.probes.variant_key
ORIGINAL = {"component": "original", "radius": None}


@dataclass
class ProbeResult:
    """One probe pass.

    ``rows``: tidy metric rows ``{split, component, radius, ..., metric, value}``, one
    pair (metric ``accuracy``, and ``loss``: mean cross-entropy) for the originals
    (component ``original``, radius ``None``) and for every variant, whose labels
    fill the columns between. ``correct``: per-example correctness (CPU bool
    tensors) keyed by :func:`ablate.spectral.probes.variant_key`, e.g. ``("low", 4)``.
    """

    rows: list[dict] = field(default_factory=list)
    correct: dict[Key, torch.Tensor] = field(default_factory=dict)

    def accuracy(self, component: str = "original", radius: float | None = None) -> float:
        return float(self.correct[(component, radius)].float().mean())


def split_probe(radii: Sequence[float], inclusive: bool = False) -> Callable[[torch.Tensor], list[Variant]]:
    """The study's probe bound to its radii: what ``Prober(x, y, split_probe([4, 8]))`` evaluates."""
    return functools.partial(lfc_hfc, radii=list(radii), inclusive=inclusive)


class Prober:
    """Evaluates a model on the originals of one data split and on the variants a probe makes of them.

    ``x``: uint8 (0..255) or float (already scaled) images ``(N, C, H, W)`` on the
    device the model runs on; ``y``: int64 labels. ``variants``: a bound probe,
    ``images -> list[Variant]`` (:meth:`ablate.spectral.probes.Probe.bind`, :func:`split_probe`),
    given float images on the pixel scale (uint8 divided by 255; the split is
    linear, so this equals splitting raw pixels). The variants are made once, here,
    one call per chunk of images, and kept scaled by
    :func:`ablate.spectral.scaling.model_input` with ``normalize`` (a variant image that is
    FFT round-off of its original becomes exactly zero first, so that ``"max"``
    does not stretch noise into a picture: :func:`ablate.spectral.scaling.without_round_off`;
    a variant made with ``rescale=False`` is kept as it is: :func:`as_model_input`),
    unless they would take more than ``max_bytes`` (default: a share of the memory free on the device
    now, :func:`ablate.core.device.probe_budget`): then each pass makes them again, chunk by chunk (same
    results, slower). They are kept as float32, or as ``cache_dtype = torch.bfloat16`` (half the memory)
    for a model evaluated under bf16 autocast, whose first convolution rounds its input to bf16 anyway;
    evaluated without autocast, such copies are widened back to float32 batch by batch. An evaluation batch
    holds images ``b * batch_size`` to ``(b + 1) * batch_size`` of one variant (or of the originals) and
    nothing else, cached or not, whatever ``max_bytes``: a model whose prediction depends on the rest of
    its batch (BatchNorm on batch statistics) gives each variant the numbers it gives when probed alone.
    The originals are scaled as :func:`ablate.spectral.scaling.originals_scaling` says for ``split_name``: under
    ``"max"``, the test set's as x / 255 (as the official code fed them), the training set's by their maximum.
    ``originals=False`` leaves out the originals' rows (another probe of the same
    split gives them). Variants whose images are the same tensor object (a heat-map
    cell and its conjugate-symmetric twin) are evaluated once and give equal rows.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, variants: Callable[[torch.Tensor], list[Variant]], *,
                 normalize: str = "max", batch_size: int = 500, split_name: str = "test",
                 max_bytes: int | None = None, originals: bool = True,
                 cache_dtype: torch.dtype = torch.float32) -> None:
        check_arguments(x, y, normalize, batch_size, cache_dtype, f"probe of the {split_name} set")
        budget = probe_budget(x.device) if max_bytes is None else max_bytes     # the memory free now, before any copy
        self.variants = variants
        self.originals = originals
        self.normalize = normalize
        self.batch_size = batch_size
        self.split_name = split_name
        self.x = x
        self.y = y.to(device=x.device, dtype=torch.int64)
        self.cache_dtype = cache_dtype
        self.find_variants()
        self.plan_memory(budget)
        self.cache: torch.Tensor | None = self.cached_variants() if self.cached and self.labels else None

    def find_variants(self) -> None:
        """What the variants are, from the probe's answer for one image (none when there are no images): their
        labels and keys, and which of them share their images (:attr:`source`, :attr:`firsts`)."""
        first = to_float(self.x[:1])
        index = torch.arange(len(first), device=self.x.device)
        made = check_variants(call_probe(self.variants, first, index), first, self.where)
        self.labels = [v.labels for v in made]
        self.keys = [variant_key(labels) for labels in self.labels]
        self.source = shared_images(made)           # variant -> the distinct images it is evaluated on
        self.firsts = [self.source.index(k) for k in range(len(set(self.source)))]

    def plan_memory(self, max_bytes: int) -> None:
        """Whether the variants are kept (:attr:`cached`), and if not, how many images and variants a pass
        remakes at once (:attr:`chunk`, :attr:`group`, :attr:`sub_chunk`) within ``max_bytes``."""
        x, batch_size, distinct = self.x, self.batch_size, len(self.firsts)
        image_bytes = self.cache_dtype.itemsize * x[0].numel() if len(x) else 0
        self.copies_bytes = distinct * len(x) * image_bytes
        self.cached = self.copies_bytes <= max_bytes
        # Uncached, each pass remakes the variants of ``chunk`` images at a time (a whole number of evaluation
        # batches, so that every batch holds the same images as when cached), ``group`` variants of them at
        # once; when not even one batch of every variant fits in max_bytes, a group is gathered from the
        # variants of ``sub_chunk`` images at a time, remade once per group (slower, same results).
        made_bytes = self.made_bytes
        per_chunk = max(1, max_bytes // max(1, distinct * made_bytes))
        self.group, self.sub_chunk = distinct, per_chunk
        if self.cached:
            self.chunk = len(x)
        elif per_chunk >= batch_size:
            self.chunk = per_chunk - per_chunk % batch_size
        else:
            self.chunk = batch_size
            self.group = max(1, (max_bytes // 2) // max(1, batch_size * made_bytes))
            self.sub_chunk = max(1, (max_bytes // 2) // max(1, distinct * made_bytes))

    @property
    def made_bytes(self) -> int:
        """Bytes of one remade variant image (float32, whatever :attr:`cache_dtype`)."""
        return 4 * self.x[0].numel() if len(self.x) else 0

    def cached_variants(self) -> torch.Tensor:
        """Every distinct variant of every image, scaled for the model: made once, in steps of about 128 MiB."""
        x, distinct = self.x, len(self.firsts)
        cache = torch.empty((distinct,) + tuple(x.shape), dtype=self.cache_dtype, device=x.device)
        step = max(1, 2**27 // max(1, distinct * self.made_bytes))
        for start in range(0, len(x), step):
            for k, images in enumerate(self.scaled_variants(start, start + step)):
                cache[k, start:start + step] = images
        return cache

    @property
    def where(self) -> str:
        return f"probe of the {self.split_name} set"

    def scaled_variants(self, start: int, stop: int) -> list[torch.Tensor]:
        """The distinct variants of images ``start:stop`` (see :attr:`source`), in the order of :attr:`labels`,
        scaled for the model."""
        images = to_float(self.x[start:stop])
        index = torch.arange(start, start + len(images), device=self.x.device)
        variants = check_variants(call_probe(self.variants, images, index), images, self.where)
        if [v.labels for v in variants] != self.labels or shared_images(variants) != self.source:
            raise AblateError(f"{self.where}: the probe gave other variants for images {start}:{stop} than "
                              f"for the first image; a probe must give the same variants for every chunk")
        return [as_model_input(variants[k], images, self.normalize) for k in self.firsts]

    def variant_groups(self, start: int, stop: int) -> Iterator[tuple[int, list[torch.Tensor]]]:
        """The distinct variants of images ``start:stop``, ``group`` at a time: (number of the group's first
        variant, its variants' images), each gathered from the variants of ``sub_chunk`` images at a time."""
        if self.group >= len(self.firsts):
            yield 0, self.scaled_variants(start, stop)
            return
        for first in range(0, len(self.firsts), self.group):
            parts = [self.scaled_variants(at, min(stop, at + self.sub_chunk))[first:first + self.group]
                     for at in range(start, stop, self.sub_chunk)]
            yield first, [torch.cat(images) for images in zip(*parts)]

    def __call__(self, model: torch.nn.Module, autocast_dtype: torch.dtype | None = None, *,
                 with_variants: bool = True) -> ProbeResult:
        """Evaluate ``model`` on the originals, and on every variant unless ``with_variants`` is False.

        The model runs in eval mode without gradients, under autocast when
        ``autocast_dtype`` is given; every module's train/eval mode is restored afterwards.
        """
        with in_mode(model, train=False), torch.inference_mode():
            return self.evaluate(model, autocast_dtype, with_variants and bool(self.labels))

    def evaluate(self, model, autocast_dtype, with_variants: bool) -> ProbeResult:
        n = len(self.x)
        labels = [ORIGINAL] + (self.labels if with_variants else [])
        distinct = 1 + (len(self.firsts) if with_variants else 0)
        correct = torch.zeros((distinct, n), dtype=torch.bool, device=self.x.device)
        losses = torch.zeros((distinct, n), dtype=torch.float32, device=self.x.device)

        def run(row: int, start: int, images: torch.Tensor) -> None:
            """Evaluate ``images``, images ``start:start + len(images)`` of one variant (``row`` 0: the
            originals), in batches of ``batch_size`` images; ``start`` is a multiple of ``batch_size``."""
            for offset in range(0, len(images), self.batch_size):
                batch = images[offset:offset + self.batch_size]
                if autocast_dtype is None:
                    batch = batch.float()           # bf16 copies evaluated without autocast
                with autocast(self.x.device, autocast_dtype):
                    logits = model(batch)
                image = slice(start + offset, start + offset + len(batch))
                targets = self.y[image]
                logits = logits.float()
                correct[row, image] = logits.argmax(dim=1) == targets
                losses[row, image] = F.cross_entropy(logits, targets, reduction="none")

        if self.originals:
            scaling = originals_scaling(self.normalize, self.split_name)
            for start in range(0, n, self.batch_size):
                run(0, start, model_input(self.x[start:start + self.batch_size], scaling))
        if with_variants and n:
            if self.cache is not None:
                for k, images in enumerate(self.cache):
                    run(1 + k, 0, images)
            else:
                for start in range(0, n, self.chunk):
                    for first, variants in self.variant_groups(start, min(n, start + self.chunk)):
                        for k, images in enumerate(variants):
                            run(1 + first + k, start, images)
        rows_of = torch.tensor([0] + ([1 + k for k in self.source] if with_variants else []), device=self.x.device)
        correct = correct[rows_of].cpu()
        mean_loss = losses[rows_of].double().mean(dim=1).cpu() if n else torch.full((len(labels),), float("nan"))
        rows = []
        for k, variant in enumerate(labels):
            if k == 0 and not self.originals:
                continue
            accuracy = float(correct[k].double().mean()) if n else float("nan")
            for metric, value in (("accuracy", accuracy), ("loss", float(mean_loss[k]))):
                rows.append({"split": self.split_name, **variant, "metric": metric, "value": value})
        return ProbeResult(rows=rows, correct={variant_key(v): correct[k] for k, v in enumerate(labels)
                                               if k or self.originals})


def check_arguments(x: torch.Tensor, y: torch.Tensor, normalize: str, batch_size: int, cache_dtype: torch.dtype,
                    where: str) -> None:
    """A :class:`Prober`'s images, labels and settings, checked before anything is made of them."""
    check_images(x, where)
    if x.ndim != 4:
        raise AblateError(f"{where}: images must be (N, C, H, W), got {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.dtype.is_floating_point:
        raise AblateError(f"{where}: labels must be integers shaped ({x.shape[0]},), "
                          f"got {getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
    if normalize not in NORMALIZE_MODES:
        raise AblateError(f"normalize={normalize!r} is not known; use one of {', '.join(NORMALIZE_MODES)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AblateError(f"batch_size={batch_size!r}: must be an integer >= 1")
    if cache_dtype not in (torch.float32, torch.bfloat16):
        raise AblateError(f"cache_dtype={cache_dtype}: the probe keeps its copies as float32 or bfloat16")


def planned_probers(planned: Sequence[PlannedProbe], splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
                    **options) -> list[tuple[PlannedProbe, Prober]]:
    """A :class:`Prober` per planned probe and split ``{name: (x, y)}``, on a stratified subset of ``limit``
    images, without the originals (one Prober of the split gives those); ``options`` go to every Prober."""
    made = []
    for probe in planned:
        for name, (x, y) in splits.items():
            x, y = stratified_subset(x, y, probe.limit)
            made.append((probe, Prober(x, y, probe.variants, split_name=name, originals=False, **options)))
    return made


def shared_images(variants: list[Variant]) -> list[int]:
    """For each variant, the number of the distinct images tensor it holds (0, 1, ... in first-seen order);
    one tensor given once to be rescaled and once not is two."""
    seen: dict[tuple[int, bool], int] = {}
    return [seen.setdefault((id(v.images), v.rescale), len(seen)) for v in variants]


def as_model_input(variant: Variant, originals: torch.Tensor, normalize: str) -> torch.Tensor:
    """A variant's images as the model sees them: scaled by ``normalize`` after :func:`without_round_off`
    (against ``originals``, the images it was made from), or as they are when it says ``rescale=False``."""
    if not variant.rescale:
        return model_input(variant.images, "none")
    return model_input(without_round_off(variant.images, originals), normalize)
