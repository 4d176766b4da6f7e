"""``ablate probe MODEL [MODEL ...]``: several models, of any origin, probed on one data set and compared.

Each MODEL (see :mod:`ablate.zoo` and :mod:`ablate.model_specs`) is loaded with the
options given for it, probed by :func:`ablate.probe_any.measure` with a progress bar,
and the results of all of them are written together (file names in
:mod:`ablate.schema`): the tidy rows, the LFC-only / HFC-only / both / neither counts,
accuracy against the radius, and one comparison table on the console. What every
model shares comes in one :class:`ProbeOptions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ablate.checkpoint import write_csv
from ablate.checkpoint_probe import load_for_probe
from ablate.cli_values import parse_bytes, parse_formats
from ablate.errors import AblateError
from ablate.model_specs import is_ablate_checkpoint
from ablate.probe_any import measure
from ablate.schema import PROBE_ACCURACY, PROBE_COUNTS, PROBE_COUNTS_FIGURE, PROBE_PER_CLASS, PROBE_RESULTS
from ablate.zoo import LoadedModel, ModelSpec, Preprocess, load_model


@dataclass
class ProbeOptions:
    """What ``ablate probe`` is asked besides its models, as the command line gives it (``formats`` and
    ``max_memory`` as text, read where a comparison needs them; a lone checkpoint takes neither)."""

    radii: list[float]
    dataset: str | None = None          # default: the one the (first) checkpoint was trained on
    device: str = "auto"
    out: str | None = None              # default: beside the checkpoint, or ./probe
    formats: str = "png"
    example_radius: float | None = None
    limit: int = 0
    max_memory: str = "1GB"
    batch_size: int = 256
    per_class: bool = False


def load_models(specs: list[ModelSpec], num_classes: int | None,
                options: ProbeOptions) -> tuple[list[LoadedModel], object, list[str]]:
    """Every model, and the data they are probed on: ``options.dataset`` (else the first checkpoint's) as an
    :class:`ablate.Data`, or a DataLoader that streams an image folder (its stratified subset of
    ``options.limit`` images, when given); and the names of its classes."""
    from ablate.datasets import load_full

    dataset = options.dataset
    loaded: list[LoadedModel | None] = []
    for spec in specs:
        if is_ablate_checkpoint(spec.source):
            if spec.weights or spec.mean or spec.image_size:
                raise AblateError(f"{spec.source}: an ablate checkpoint holds its weights and preprocessing; "
                                  f"drop --weights/--mean/--std/--image-size for it")
            model, settings, _ = load_for_probe(Path(spec.source), options.device, dataset)
            dataset = dataset or settings.dataset
            loaded.append(LoadedModel(spec.label, model, Preprocess(scale=settings.normalize)))
        else:
            loaded.append(None)
    if not dataset:
        raise AblateError("ablate probe: --dataset is needed to probe a model that is not an ablate checkpoint, "
                          "e.g. --dataset cifar10, --dataset npz:PATH")
    name, _, arg = dataset.partition(":")
    if name == "imagefolder":                    # streamed: it need not fit in memory
        from ablate.image_datasets import imagefolder_stream

        data, classes = imagefolder_stream(arg, options.limit)
    else:
        data = load_full(dataset)
        classes = data.classes
    models = [model or load_model(spec, num_classes or len(classes)) for model, spec in zip(loaded, specs)]
    for model, spec in zip(models, specs):
        if spec.class_map:
            from ablate.class_map import read_class_map

            model.label_map = read_class_map(spec.class_map, classes)
            if model.classes is not None and int(model.label_map.max()) >= len(model.classes):
                raise AblateError(f"--class-map {spec.class_map}: output {int(model.label_map.max())} is beyond "
                                  f"{model.name}'s {len(model.classes)} outputs (0..{len(model.classes) - 1}); "
                                  f"fix the map's indices")
        elif model.classes is not None and len(model.classes) != len(classes):
            raise AblateError(f"{model.name}: its {len(model.classes)} outputs are not the data set's {len(classes)} "
                              f"classes; map each class to an output with --class-map FILE (JSON "
                              f"{{\"class\": index}} or class,index lines)")
    return models, data, list(classes)


def example_file(name: str, taken: set[str]) -> str:
    """``examples-<model>.png``: the model's name made safe as one file name (letters, digits, ``.-_``; no
    folders, no leading dot), unique among ``taken``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "model"
    file, k = f"examples-{slug}.png", 1
    while file in taken:
        k += 1
        file = f"examples-{slug}-{k}.png"
    taken.add(file)
    return file


def compare_models(models: list[LoadedModel], data, classes: Sequence[str], options: ProbeOptions,
                   console) -> pd.DataFrame:
    """Probe every model on ``data``'s test split; write the files (an example grid per model, at
    ``options.example_radius`` or the radius the rule picks) and print the comparison. Returns the rows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ablate import plots

    formats, max_memory = parse_formats(options.formats), parse_bytes(options.max_memory)
    out_dir, radii, example_radius = Path(options.out or "probe"), options.radii, options.example_radius
    measured = []
    probed = list(radii) + ([example_radius] if example_radius is not None and example_radius not in radii else [])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        for model in models:
            task = bar.add_task(f"probing {model.name}", total=None)
            measured.append(measure(model.module, data, probed, model.preprocess, name=model.name,
                                    device=options.device, batch_size=options.batch_size, max_memory=max_memory,
                                    limit=options.limit, label_map=model.label_map,
                                    progress=lambda done, total, task=task: bar.update(task, completed=done,
                                                                                       total=total)))
    results = pd.concat([m.frame for m in measured], ignore_index=True)
    counts = pd.concat([m.counts.assign(model=m.name) for m in measured], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / PROBE_RESULTS, results)
    write_csv(out_dir / PROBE_COUNTS, counts)
    if options.per_class:
        write_csv(out_dir / PROBE_PER_CLASS, pd.concat([m.per_class(classes) for m in measured], ignore_index=True))
    written = plots.save(plots.radius_accuracy_figure(results), out_dir, PROBE_ACCURACY, formats)
    written += plots.save(plots.probe_figure({m.name: m.counts for m in measured}), out_dir, PROBE_COUNTS_FIGURE,
                          formats)
    taken: set[str] = set()
    for m in measured:
        path = out_dir / example_file(m.name, taken)
        drawn = m.save_examples(path, classes, example_radius)
        written.append(f"{path} (" + ("no radius splits the images into two non-empty components" if drawn is None
                                      else f"r = {drawn:g}") + ")")
    dataset = options.dataset or "the checkpoint's data set"
    console.print(comparison_table(results, counts, f"{len(measured[0].labels)} test images of {dataset}"))
    console.print(f"wrote {out_dir / PROBE_RESULTS}, {out_dir / PROBE_COUNTS}, "
                  + (f"{out_dir / PROBE_PER_CLASS}, " if options.per_class else "")
                  + ", ".join(str(p) for p in written), highlight=False)
    return results


def comparison_table(results: pd.DataFrame, counts: pd.DataFrame, what: str):
    """One row per model and radius: accuracy on the original, the LFC and the HFC, and Figure 1's counts."""
    from rich.table import Table

    accuracy = results[results["metric"] == "accuracy"]
    table = Table(title=f"LFC / HFC probe: {what}")
    table.add_column("model", no_wrap=True, min_width=max(len(str(m)) for m in [*counts["model"], "model"]))
    for column in ("radius", "original", "LFC", "HFC", "LFC only", "HFC only", "both", "neither"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for row in counts.itertuples(index=False):
        own = accuracy[accuracy["model"] == row.model]
        value = {c: own[(own["component"] == c) & ((own["radius"] == row.radius) if c != "original"
                                                   else own["radius"].isna())]["value"] for c in
                 ("original", "low", "high")}
        table.add_row(row.model, f"{row.radius:g}", *(f"{float(v.iloc[0]):.3f}" for v in value.values()),
                      str(row.lfc_only), str(row.hfc_only), str(row.both), str(row.neither))
    return table
