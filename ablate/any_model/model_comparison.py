"""``ablate probe MODEL [MODEL ...]``: several models, of any origin, probed on one data set and compared.

Each MODEL (see :mod:`ablate.any_model.zoo` and :mod:`ablate.any_model.model_specs`) is loaded with the
options given for it, probed by :func:`ablate.any_model.probe_model.measure` with a progress bar,
and the results of all of them are written together (file names in
:mod:`ablate.core.schema`): the tidy rows, the LFC-only / HFC-only / both / neither counts,
accuracy against the radius, and one comparison table on the console. What every
model shares comes in one :class:`ProbeOptions`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ablate.any_model import leaderboard
from ablate.any_model.checkpoint_probe import load_for_probe, trained_settings
from ablate.any_model.class_map import read_class_map
from ablate.any_model.measurements import (
    DamagedMeasurement,
    measurement_key,
    model_identity,
    read_measured,
    save_measured,
)
from ablate.any_model.model_sources import ModelSpec, check_checkpoint_options, weights_file
from ablate.any_model.model_specs import is_ablate_checkpoint
from ablate.any_model.probe_model import Measured, measure
from ablate.any_model.probe_options import ProbeOptions
from ablate.any_model.zoo import LoadedModel, Preprocess, load_model
from ablate.core.device import parse_bytes, resolve_device
from ablate.core.errors import AblateError
from ablate.core.files import write_csv
from ablate.core.schema import (
    LEADERBOARD,
    MEASURED,
    PROBE_ACCURACY,
    PROBE_COUNTS,
    PROBE_COUNTS_FIGURE,
    PROBE_PER_CLASS,
    PROBE_RESULTS,
    file_in,
)
from ablate.data.image_datasets import imagefolder_stream, stream_fingerprint
from ablate.data.loading import data_fingerprint, load_full
from ablate.report import plots
from ablate.report.plots import parse_formats
from ablate.study.settings import Settings


def load_data(specs: list[ModelSpec], options: ProbeOptions) -> tuple[object, list[str], str, str]:
    """The data every model is probed on: ``options.dataset`` (else the first checkpoint's) as an
    :class:`ablate.Data`, or a DataLoader that streams an image folder (its stratified subset of
    ``options.limit`` images, when given, decoded by ``options.workers`` processes); the names of its
    classes; the data set's name; and a fingerprint of the images (what a kept measurement is matched on)."""
    dataset = options.dataset
    for spec in specs:
        if not dataset and is_ablate_checkpoint(spec.source):
            dataset = trained_settings(Path(spec.source)).get("dataset", Settings.params()["dataset"].default)
    if not dataset:
        raise AblateError("ablate probe: --dataset is needed to probe a model that is not an ablate checkpoint, "
                          "e.g. --dataset cifar10, --dataset npz:PATH")
    name, _, arg = dataset.partition(":")
    if name == "imagefolder":                    # streamed: it need not fit in memory
        cuda = resolve_device(options.device).type == "cuda"
        data, classes = imagefolder_stream(arg, options.limit, options.workers, pin_memory=cuda)
        return data, list(classes), dataset, stream_fingerprint(data)
    data = load_full(dataset)
    return data, list(data.classes), dataset, data_fingerprint(dataset)


def load_one(spec: ModelSpec, classes: Sequence[str], num_classes: int | None, options: ProbeOptions) -> LoadedModel:
    """One model, ready to probe on data of ``classes``: an ablate checkpoint with its run's scaling, or any
    other source with its options; its class map read and checked against the model's outputs."""
    if is_ablate_checkpoint(spec.source):
        check_checkpoint_options(spec)
        model, settings, _ = load_for_probe(Path(spec.source), options.device, options.dataset)
        return LoadedModel(spec.label, model, Preprocess(scale=settings.normalize))
    model = load_model(spec, num_classes or len(classes))
    if spec.class_map:
        model.label_map = read_class_map(spec.class_map, classes)
        if model.classes is not None and int(model.label_map.max()) >= len(model.classes):
            raise AblateError(f"--class-map {spec.class_map}: output {int(model.label_map.max())} is beyond "
                              f"{model.name}'s {len(model.classes)} outputs (0..{len(model.classes) - 1}); "
                              f"fix the map's indices")
    elif model.classes is not None and len(model.classes) != len(classes):
        raise AblateError(f"{model.name}: its {len(model.classes)} outputs are not the data set's {len(classes)} "
                          f"classes; map each class to an output with --class-map FILE (JSON "
                          f"{{\"class\": index}} or class,index lines)")
    return model


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


def measure_all(specs: list[ModelSpec], data, classes: Sequence[str], fingerprint: str, num_classes: int | None,
                options: ProbeOptions, console) -> list[Measured]:
    """Every model measured on ``data``, one after another under one progress bar, each loaded only for its
    turn. A model measured before on the same data with the same options is read back from
    ``OUT/measured`` (:mod:`ablate.any_model.measurements`); each new measurement is saved as soon as it is made,
    so an interrupted zoo loses at most the model in progress."""
    max_memory, radii, example_radius = parse_bytes(options.max_memory), options.radii, options.example_radius
    probed = list(radii) + ([example_radius] if example_radius is not None and example_radius not in radii else [])
    identity = {"radii": probed, "limit": options.limit, "batch_size": options.batch_size,
                "device": resolve_device(options.device).type}
    per_model = image_count(data, options.limit)
    measured, kept = [], 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("probing", total=per_model * len(specs) if per_model else None)
        for k, spec in enumerate(specs):
            path = file_in(options.out_dir, MEASURED, measurement_key(
                model_identity(spec, weights_file(spec)), fingerprint, identity) + ".npz")
            found = kept_measurement(path, probed, per_model, len(classes), spec, console)
            if found is None:
                model = load_one(spec, classes, num_classes, options)
                bar.update(task, description=f"probing {model.name} ({k + 1} of {len(specs)})")
                found = measure(model.module, data, probed, model.preprocess, name=model.name, device=options.device,
                                batch_size=options.batch_size, max_memory=max_memory, limit=options.limit,
                                label_map=model.label_map,
                                progress=lambda done, _, k=k: bar.update(task, completed=k * per_model + done))
                save_measured(path, found)
                del model
            else:
                kept += 1
            measured.append(found.renamed(spec.label))
            bar.update(task, completed=(k + 1) * per_model)
    if kept:
        console.print(f"read back {kept} of {len(specs)} models measured before on the same data and options "
                      f"({options.out_dir / MEASURED})", highlight=False)
    return measured


def kept_measurement(path: Path, radii: list, images: int, classes: int, spec: ModelSpec, console) -> Measured | None:
    """The measurement kept at ``path`` for this model, data and options; None when there is none, or it is
    damaged (said in one line: the model is measured again and the file replaced)."""
    if not path.is_file():
        return None
    try:
        return read_measured(path, radii, images, classes)
    except DamagedMeasurement as exc:
        console.print(f"ablate: ignored {path} ({exc}); measuring {spec.label} again", highlight=False, markup=False,
                      soft_wrap=True)
        return None


def image_count(data, limit: int) -> int:
    """How many images each model is probed on (0 when a stream does not say)."""
    if hasattr(data, "x_test"):
        return min(limit, len(data.x_test)) if limit else len(data.x_test)
    return len(data.dataset) if hasattr(data, "dataset") else 0


def compare_models(measured: list[Measured], classes: Sequence[str], options: ProbeOptions, console) -> pd.DataFrame:
    """Write the files of the measured models (an example grid per model, at ``options.example_radius`` or
    the radius the rule picks), print the comparison, and with ``options.rank`` the leaderboard (and its
    page with ``options.html``). Returns the rows."""
    formats, out_dir, example_radius = parse_formats(options.formats), options.out_dir, options.example_radius
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
    examples: dict[str, Path] = {}
    taken: set[str] = set()
    for m in measured:
        path = examples[m.name] = file_in(out_dir, example_file(m.name, taken))
        drawn = m.save_examples(path, classes, example_radius)
        written.append(f"{path} (" + ("no radius splits the images into two non-empty components" if drawn is None
                                      else f"r = {drawn:g}") + ")")
    what = f"{len(measured[0].labels)} test images of {options.dataset}"
    console.print(comparison_table(results, counts, what))
    if options.rank:
        written += rank_models(measured, results, examples, options, what, console)
    console.print(f"wrote {out_dir / PROBE_RESULTS}, {out_dir / PROBE_COUNTS}, "
                  + (f"{out_dir / PROBE_PER_CLASS}, " if options.per_class else "")
                  + ", ".join(str(p) for p in written), highlight=False)
    return results


def rank_models(measured: list[Measured], results: pd.DataFrame, examples: dict[str, Path], options: ProbeOptions,
                what: str, console) -> list[str]:
    """``--rank``: the leaderboard on the console and in leaderboard.csv, and with ``--html`` as a page."""
    entries = leaderboard.rank(measured, options.radii)
    out_dir = options.out_dir
    console.print(leaderboard.table(entries, options.radii, what))
    write_csv(out_dir / LEADERBOARD, leaderboard.frame(entries, options.radii))
    written = [str(out_dir / LEADERBOARD)]
    if options.html:
        figure = plots.radius_accuracy_figure(results)
        pictures = {name: path.read_bytes() for name, path in examples.items() if path.is_file()}
        written.append(str(leaderboard.write_page(Path(options.html), entries, options.radii, what, figure,
                                                  pictures)))
    return written


def comparison_table(results: pd.DataFrame, counts: pd.DataFrame, what: str):
    """One row per model and radius: accuracy on the original, the LFC and the HFC, and Figure 1's counts."""
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
