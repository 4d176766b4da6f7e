"""Probe any image classifier on any images: :func:`probe_model`, the engine of ``ablate probe MODEL ...``.

The images stream through in chunks that fit a memory budget: each chunk is brought
to the model's size (:meth:`ablate.any_model.zoo.Preprocess.pixels`), split into its LFC and
HFC in pixel space by a :class:`ablate.spectral.prober.Prober`, which scales them as the model
expects (``Preprocess.scale``; for an ablate checkpoint its run's ``normalize``, the
test originals as :func:`ablate.spectral.scaling.originals_scaling` says), and only then are
the original, LFC and HFC alike given the model's own normalisation
(:class:`ablate.any_model.zoo.ModelInput`, the model's first layer here). Only the per-image
correctness is kept, so the data set never has to fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from ablate.any_model.measure_options import MeasureOptions
from ablate.any_model.zoo import ModelInput, Preprocess
from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.modes import in_mode
from ablate.core.schema import results_frame
from ablate.core.structs import Data
from ablate.data.loading import stratified_subset
from ablate.spectral.example_grid import Captions, example_radius, save_example_grid
from ablate.spectral.frequency import check_radii, split
from ablate.spectral.probe_report import hfc_only_examples, probe_report
from ablate.spectral.prober import Key, Prober, split_probe
from ablate.spectral.probes import variant_key
from ablate.study.settings import probe_radii

DEFAULT_RADII = (4, 8, 12, 16)
WORK_COPIES = 3          # the split's spectra and intermediate results, in image-sized copies, beside the variants


@dataclass
class Measured:
    """What :func:`measure` found for one model: tidy rows and per-image correctness."""

    name: str
    radii: list[float]
    rows: list[dict] = field(default_factory=list)
    correct: dict[Key, torch.Tensor] = field(default_factory=dict)
    labels: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    inclusive: bool = False
    examples: dict[float, list[int]] = field(default_factory=dict)      # radius -> HFC-right, LFC-wrong images
    pictures: dict[int, torch.Tensor] = field(default_factory=dict)     # image -> its pixels, as split (CPU)
    image_shape: tuple[int, ...] = ()

    def keep_examples(self, x: torch.Tensor, correct: dict[Key, torch.Tensor], offset: int, n: int) -> None:
        """Keep the pixels of the first ``n`` images per radius whose HFC is right and LFC wrong (``x``:
        one chunk, its first image the ``offset``-th): what the example grid draws."""
        self.image_shape = tuple(x.shape[1:])
        for radius in self.radii:
            kept = self.examples.setdefault(radius, [])
            for index in hfc_only_examples(correct, radius)[:max(0, n - len(kept))].tolist():
                kept.append(offset + index)
                if offset + index not in self.pictures:
                    self.pictures[offset + index] = x[index].detach().cpu().clone()

    def renamed(self, name: str) -> "Measured":
        """The same measurement under another model name (a zoo's label for a model measured before)."""
        return replace(self, name=name, rows=[{**row, "model": name} for row in self.rows])

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a results table (the columns of results.csv) plus ``model``."""
        frame = results_frame(self.rows)
        return frame[[c for c in frame.columns if c != "model"] + ["model"]]

    def per_class(self, classes: Sequence[str] | None = None) -> pd.DataFrame:
        """Accuracy per class on the originals and on every variant: ``model, class, images, component,
        radius, accuracy``."""
        rows = []
        for label in self.labels.unique().tolist():
            mine = self.labels == label
            name = classes[label] if classes is not None and label < len(classes) else str(label)
            for (component, radius, *_), correct in self.correct.items():
                rows.append({"model": self.name, "class": name, "images": int(mine.sum()), "component": component,
                             "radius": radius, "accuracy": float(correct[mine].double().mean())})
        return pd.DataFrame(rows, columns=["model", "class", "images", "component", "radius", "accuracy"])

    @property
    def counts(self) -> pd.DataFrame:
        """Figure 1's LFC-only / HFC-only / both / neither counts per radius."""
        return probe_report(self.correct, self.radii)

    def save_examples(self, path, classes: Sequence[str] | None = None, radius: float | None = None,
                      n: int = 8) -> float | None:
        """Figure 2 for this model: the kept images whose HFC is right and LFC wrong, at ``radius`` (a probed
        one) or the one :func:`ablate.spectral.example_grid.example_radius` picks. Returns the radius drawn (None
        when no probed radius leaves both components non-empty)."""
        if radius is None and self.image_shape:
            radius = example_radius(self.counts, *self.image_shape[-2:], self.inclusive)
        chosen = self.examples.get(radius, [])[:n] if radius is not None else []
        title = f"{self.name}: no probed radius leaves both the LFC and the HFC non-empty"
        if radius is not None:
            found = int(self.counts.set_index("radius").loc[radius, "hfc_only"])
            title = f"{self.name}: HFC right, LFC wrong at r = {radius:g} ({found} test images)"
        images = torch.stack([self.pictures[k] for k in chosen]) if chosen else \
            torch.zeros((0, *(self.image_shape or (1, 1, 1))))
        low, high = split(images, radius or 0.0, inclusive=self.inclusive)
        save_example_grid(images, low, high, range(len(chosen)), path,
                          Captions(title=title, classes=classes, labels=self.labels[chosen] if chosen else None,
                                   numbers=chosen))
        return radius


def probe_model(model: nn.Module, data, radii: Sequence[float] = DEFAULT_RADII,
                preprocess: Preprocess | None = None, **options) -> pd.DataFrame:
    """Accuracy and loss of ``model`` on the originals, and on the LFC and HFC at every radius.

    ``data``: ``(images, labels)`` tensors, an :class:`ablate.Data` (its test split), or a
    DataLoader (any iterable) of ``(images, labels)`` batches; images uint8 (0..255) or
    float pixels in [0, 1], *not* normalised: normalising is ``preprocess``'s job
    (:class:`ablate.any_model.zoo.Preprocess`, e.g. ``Preprocess(mean=..., std=..., image_size=224)``),
    applied after the split. ``options`` are :func:`measure`'s. Returns the tidy table
    (columns as results.csv plus ``model``).
    """
    return measure(model, data, radii, preprocess, **options).frame


def measure(model: nn.Module, data, radii: Sequence[float] = DEFAULT_RADII, preprocess: Preprocess | None = None,
            *, name: str = "model", label_map: Sequence[int] | torch.Tensor | None = None,
            progress: Callable[[int, int | None], None] | None = None, **options) -> Measured:
    """:func:`probe_model` with per-image results. ``label_map``: the model's output for each label of
    the data (:mod:`ablate.any_model.class_map`; the results keep the data's labels);
    ``progress(done, total)`` is called after every chunk; ``options``: the fields of
    :class:`ablate.any_model.measure_options.MeasureOptions` (device, batch_size, max_memory, limit, inclusive,
    examples)."""
    how = MeasureOptions(**options)
    radii = probe_radii(radii, "radii")
    preprocess = preprocess or Preprocess()
    target = resolve_device(how.device)
    wrapped = nn.Sequential(ModelInput(preprocess), model).to(target)
    lookup = None if label_map is None else torch.as_tensor(label_map, dtype=torch.int64).to(target)
    found = Measured(name, list(radii), inclusive=how.inclusive)
    parts: dict[Key, list[torch.Tensor]] = {}
    losses: dict[Key, float] = {}
    labels, done = [], 0
    batches, total = image_batches(data, how.limit)
    for x, y in chunks(batches, preprocess, how.max_memory, len(radii), how.batch_size):
        if not done:
            check_radii(radii, *x.shape[-2:], f"probe of {name}: radii")     # images as the model sees them
        x, y = x.to(target), y.to(target)
        outputs = model_labels(y, lookup, name)
        check_outputs(wrapped, x, outputs, name, lookup is not None)
        prober = Prober(x, outputs, split_probe(radii, how.inclusive), normalize=preprocess.scale,
                        batch_size=how.batch_size, max_bytes=how.max_memory // WORK_COPIES)
        result = prober(wrapped)
        for key, correct in result.correct.items():
            parts.setdefault(key, []).append(correct)
        for row in result.rows:
            if row["metric"] == "loss":
                key = variant_key({k: row[k] for k in ("component", "radius")})
                losses[key] = losses.get(key, 0.0) + row["value"] * len(y)
        found.keep_examples(x, result.correct, done, how.examples)
        labels.append(y.cpu())
        done += len(y)
        if progress:
            progress(done, total)
    if not done:
        raise AblateError(f"probe of {name}: the data holds no images")
    found.labels = torch.cat(labels)
    found.correct = {key: torch.cat(values) for key, values in parts.items()}
    for key, correct in found.correct.items():
        component, radius = key[0], key[1]
        for metric, value in (("accuracy", float(correct.double().mean())), ("loss", losses[key] / done)):
            found.rows.append({"split": "test", "component": component, "radius": radius, "metric": metric,
                               "value": value, "model": name})
    return found


def model_labels(y: torch.Tensor, lookup: torch.Tensor | None, name: str) -> torch.Tensor:
    """The model's output index for each label: the label itself, or its entry in the class map."""
    if lookup is None:
        return y
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(lookup)):
        raise AblateError(f"probe of {name}: the class map covers {len(lookup)} classes but the labels go up to "
                          f"{int(y.max())}; map every class of the data set")
    return lookup[y]


def image_batches(data, limit: int) -> tuple[Iterable[tuple[torch.Tensor, torch.Tensor]], int | None]:
    """``(batches of (images, labels), how many images in all or None)`` from what :func:`probe_model` takes."""
    if isinstance(data, Data):
        data = (data.x_test, data.y_test)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if y.ndim != 1 or len(y) != len(x) or y.dtype.is_floating_point:
            raise AblateError(f"probe: labels must be integers shaped ({len(x)},), got {y.dtype} {tuple(y.shape)}")
        x, y = stratified_subset(x, y, limit)
        return [(x, y)], len(y)
    if isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise AblateError(f"probe: data must be (images, labels) tensors, an ablate.Data or a DataLoader of "
                          f"(images, labels) batches, not {type(data).__name__}")
    total = len(data.dataset) if hasattr(data, "dataset") and hasattr(data.dataset, "__len__") else None
    total = min(total, limit) if total is not None and limit else (limit or total)
    return first_images(data, limit), total


def first_images(batches: Iterable, limit: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    taken = 0
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise AblateError(f"probe: the DataLoader must yield (images, labels) batches, got "
                              f"{type(batch).__name__}")
        x, y = torch.as_tensor(batch[0]), torch.as_tensor(batch[1])
        if limit:
            x, y = x[:limit - taken], y[:limit - taken]
        if x.dtype.is_floating_point and len(x) and (float(x.min()) < -0.01 or float(x.max()) > 1.01):
            raise AblateError(f"probe: images range over {float(x.min()):.2f}..{float(x.max()):.2f}, not pixels in "
                              f"[0, 1]: drop Normalize from the DataLoader and give mean/std as the preprocess "
                              f"(the split must see pixels)")
        yield x, y
        taken += len(y)
        if limit and taken >= limit:
            return


def chunks(batches, preprocess: Preprocess, max_memory: int, radii: int,
           batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Preprocessed pixels and labels in chunks of as many images as ``max_memory`` holds with their variants,
    rounded to a whole number of evaluation batches (at least one): each batch then holds the images it holds
    at any ``max_memory``, which a model normalising with batch statistics answers differently otherwise."""
    held_x, held_y, held = [], [], 0
    size = None
    for x, y in batches:
        if x.ndim == 3:
            x = x.unsqueeze(1)              # (N, H, W) grey images
        x = preprocess.pixels(x)
        if held_x and x.shape[1:] != held_x[0].shape[1:]:
            raise AblateError(f"probe: images of several sizes ({tuple(held_x[0].shape[1:])} and "
                              f"{tuple(x.shape[1:])}); give the model's --image-size (Preprocess(image_size=...))")
        if size is None:
            per_image = 4 * x[0].numel() * (1 + 2 * radii + WORK_COPIES)
            size = max(1, max_memory // max(1, per_image) // batch_size) * batch_size    # whole batches
        held_x.append(x)
        held_y.append(y.to(torch.int64))
        held += len(y)
        while held >= size:
            x_all, y_all = torch.cat(held_x), torch.cat(held_y)
            yield x_all[:size], y_all[:size]
            held_x, held_y, held = [x_all[size:]], [y_all[size:]], held - size
    if held:
        yield torch.cat(held_x), torch.cat(held_y)


def check_outputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str, mapped: bool = False) -> None:
    """One image through the model: its outputs must be ``(1, classes)`` with every label below ``classes``
    (``mapped``: the labels are a class map's output indices)."""
    if not len(y):
        return
    try:
        with in_mode(model, train=False), torch.inference_mode():
            out = model(x[:1])
    except RuntimeError as exc:
        raise AblateError(f"probe of {name}: the model cannot take images of {tuple(x.shape[1:])} "
                          f"({str(exc).splitlines()[0]}); give its --image-size, or data with its channels") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise AblateError(f"probe of {name}: the model must return logits (N, classes), got "
                          f"{getattr(out, 'shape', type(out).__name__)}")
    if int(y.max()) >= out.shape[1] or int(y.min()) < 0:
        if mapped:
            raise AblateError(f"probe of {name}: the class map names output {int(y.max())} but the model has "
                              f"{out.shape[1]} outputs (0..{out.shape[1] - 1}); fix the map's indices (or "
                              f"--num-classes)")
        raise AblateError(f"probe of {name}: the model has {out.shape[1]} outputs but the labels go up to "
                          f"{int(y.max())}; build it with the data set's classes (--num-classes) or map them "
                          f"(--class-map FILE)")
