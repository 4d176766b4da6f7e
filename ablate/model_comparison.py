"""``ablate probe MODEL [MODEL ...]``: several models, of any origin, probed on one data set and compared.

Each MODEL (see :mod:`ablate.zoo`) is loaded with the options given for it, probed
by :func:`ablate.probe_any.measure` with a progress bar, and the results of all of
them are written together (file names in :mod:`ablate.schema`): the tidy rows, the
LFC-only / HFC-only / both / neither counts, accuracy against the radius, and one
comparison table on the console.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Sequence

import pandas as pd

from ablate.checkpoint import write_csv
from ablate.errors import AblateError
from ablate.probe_any import measure
from ablate.schema import PROBE_ACCURACY, PROBE_COUNTS, PROBE_COUNTS_FIGURE, PROBE_PER_CLASS, PROBE_RESULTS
from ablate.zoo import LoadedModel, ModelSpec, Preprocess, is_file, is_torchscript, load_model

PER_MODEL_OPTIONS = {"--weights": "weights", "--mean": "mean", "--std": "std", "--image-size": "image_size",
                     "--class-map": "class_map"}


def per_model_options(args: Sequence[str], value_options: set[str]) -> tuple[dict, list[dict]]:
    """``ablate probe``'s arguments -> (options before any MODEL, [options after each MODEL]).

    An option of :data:`PER_MODEL_OPTIONS` applies to the MODEL it follows; given before
    every MODEL, to all of them. ``value_options``: the command's options that take a value.
    """
    shared: dict = {}
    models: list[dict] = []
    tokens = list(args)
    k = 0
    while k < len(tokens):
        token = tokens[k]
        if token == "--":
            models.extend({} for _ in tokens[k + 1:])
            break
        name, eq, inline = token.partition("=")
        if token.startswith("-") and len(token) > 1:
            takes_value = name in value_options and not eq
            value = inline if eq else (tokens[k + 1] if takes_value and k + 1 < len(tokens) else None)
            if name in PER_MODEL_OPTIONS:
                (models[-1] if models else shared)[PER_MODEL_OPTIONS[name]] = value
            k += 2 if takes_value else 1
            continue
        models.append({})
        k += 1
    return shared, models


BYTE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """``--max-memory 512MB`` (or 512M, 1.5GiB, 1000000) -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", text.upper())
    if not match or float(match[1]) <= 0:
        raise AblateError(f"--max-memory {text!r}: expected a size such as 512MB or 4GB")
    return max(1, int(float(match[1]) * BYTE_UNITS[match[2]]))


def model_specs(sources: Sequence[str], shared: dict, own: list[dict], models_file: str | None) -> list[ModelSpec]:
    """The MODELs with their options (per-model ones over shared ones), then those of ``models_file``."""
    for source in sources:
        if ":" not in source and not is_file(source):
            raise AblateError(f"model {source!r}: no such file; give an ablate checkpoint, a TorchScript file, "
                              f"torchvision:NAME, timm:NAME or module.path:factory")
    specs = [spec_from(source, {**shared, **options}, "the command line") for source, options in zip(sources, own)]
    if models_file:
        specs += read_models_file(Path(models_file), shared)
    if not specs:
        raise AblateError("ablate probe: name at least one MODEL (a checkpoint, torchvision:NAME, "
                          "module:factory, a TorchScript file) or give --models FILE")
    names = [spec.label for spec in specs]
    if len(set(names)) != len(names):
        for k, spec in enumerate(specs):
            spec.name = f"{spec.label}#{k + 1}" if names.count(spec.label) > 1 else spec.label
    return specs


def read_models_file(path: Path, shared: dict) -> list[ModelSpec]:
    """A TOML file of ``[[model]]`` tables: ``source`` and optional ``name``, ``weights``, ``mean``, ``std``,
    ``image_size``, ``class_map``."""
    try:
        tables = tomllib.loads(path.read_text()).get("model", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AblateError(f"--models {path}: cannot read it ({exc})") from None
    known = {f.name for f in fields(ModelSpec)}
    specs = []
    for k, table in enumerate(tables if isinstance(tables, list) else []):
        unknown = sorted(set(table) - known)
        if unknown or "source" not in table:
            raise AblateError(f"--models {path}: model {k + 1} needs 'source' and knows only {', '.join(sorted(known))}"
                              + (f"; found {', '.join(unknown)}" if unknown else ""))
        specs.append(spec_from(table["source"], {**shared, **table}, f"--models {path}"))
    if not specs:
        raise AblateError(f"--models {path}: no [[model]] tables; give each model as [[model]] source = \"...\"")
    return specs


def spec_from(source: str, options: dict, where: str) -> ModelSpec:
    """A :class:`ModelSpec` from option values as given (text on the command line, numbers in TOML)."""
    values = {k: v for k, v in options.items() if k != "source"}
    try:
        for key in ("mean", "std"):
            if isinstance(values.get(key), str):
                values[key] = tuple(float(v) for v in values[key].split(","))
            elif values.get(key) is not None:
                values[key] = tuple(float(v) for v in values[key])
        if values.get("image_size") is not None:
            values["image_size"] = int(values["image_size"])
    except (TypeError, ValueError):
        raise AblateError(f"{where}: model {source}: --mean/--std take numbers per channel, e.g. "
                          f"0.485,0.456,0.406, and --image-size an integer") from None
    return ModelSpec(source=source, **values)


def is_ablate_checkpoint(source: str) -> bool:
    return is_file(source) and not is_torchscript(source)


def load_for_probe(checkpoint: Path, device: str, dataset: str | None):
    """The trained model, its settings and the data to probe, or one line saying why they do not fit together."""
    from ablate.checkpoint import load_checkpoint
    from ablate.datasets import load_full
    from ablate.trained import load_trained

    state = load_checkpoint(checkpoint) or {}
    trained = state.get("settings")
    if not isinstance(trained, dict) or not isinstance(state.get("plugins"), list):
        raise AblateError(f"{checkpoint}: not an ablate checkpoint (no settings or plugins); point at a run's "
                          f"checkpoint.pt, or give a state dict with its architecture: torchvision:NAME "
                          f"--weights {checkpoint}")
    if dataset:
        data = load_full(dataset)
        for setting, split, images in (("train_size", "training", data.y_train), ("test_size", "test", data.y_test)):
            if trained.get(setting, 0) > len(images):
                raise AblateError(f"--dataset {dataset}: has {len(images)} {split} images, but the model's run "
                                  f"used {setting}={trained[setting]}, which probe keeps; give a dataset with at "
                                  f"least {trained[setting]} {split} images")
    try:
        return load_trained(checkpoint, device=device, dataset=dataset)
    except RuntimeError as exc:
        if "size mismatch" not in str(exc):
            raise
        mismatch = str(exc).split("size mismatch for ", 1)[1].split(".", 1)[0]
        raise AblateError(f"--dataset {dataset}: the model was trained on {trained.get('dataset')!r} and does not "
                          f"fit this data (its layer {mismatch!r} has another shape: another channel or class "
                          f"count); probe it on data with the images and classes it was trained on") from None


def probe_checkpoint(checkpoint: Path, probe_names, params, report_radii, dataset, device, out, formats,
                     console, example_radius: float | None = None) -> None:
    """One ablate checkpoint: Figure 1's report (and examples) beside it, or the registered probes named."""
    from ablate.probe import report_table, write_probe_report
    from ablate.preflight import check_radii
    from ablate.schema import EXAMPLES, PROBE_REPORT

    model, settings, data = load_for_probe(checkpoint, device, dataset)
    out_dir = Path(out) if out else checkpoint.parent
    if probe_names:
        from ablate.report.probes import probe_checkpoint as probe_with

        probe_with(model, data, settings, list(probe_names), params, out_dir, checkpoint.parent.name,
                   console, [f.strip() for f in formats.split(",") if f.strip()])
        return
    if params:
        raise AblateError("--set: probe parameters need --probe NAME; without it the Figure 1 report takes --radii")
    check_radii(report_radii, *data.x_test.shape[-2:], "--radii")
    if example_radius is not None:
        check_radii([example_radius], *data.x_test.shape[-2:], "--example-radius")
    settings.report_radii = report_radii
    frame = write_probe_report(model, data, settings, out_dir, None, example_at=example_radius)
    console.print(report_table(frame, title=f"probe report: {checkpoint} on the {settings.dataset} test set"))
    drawn = frame.attrs["example_radius"]
    console.print(f"wrote {out_dir / PROBE_REPORT} and {out_dir / EXAMPLES} "
                  + ("(no radius splits the images into two non-empty components)" if drawn is None
                     else f"(examples at r = {drawn:g})"), highlight=False)


def load_models(specs: list[ModelSpec], dataset: str | None, device: str, num_classes: int | None,
                limit: int = 0) -> tuple[list[LoadedModel], object, list[str]]:
    """Every model, and the data they are probed on: ``dataset`` (else the first checkpoint's) as an
    :class:`ablate.Data`, or a DataLoader that streams an image folder (its stratified subset of ``limit``
    images, when given); and the names of its classes."""
    from ablate.datasets import load_full

    loaded: list[LoadedModel | None] = []
    for spec in specs:
        if is_ablate_checkpoint(spec.source):
            if spec.weights or spec.mean or spec.image_size:
                raise AblateError(f"{spec.source}: an ablate checkpoint holds its weights and preprocessing; "
                                  f"drop --weights/--mean/--std/--image-size for it")
            model, settings, _ = load_for_probe(Path(spec.source), device, dataset)
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

        data, classes = imagefolder_stream(arg, limit)
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


def compare_models(models: list[LoadedModel], data, radii: list[float], out_dir: Path, formats: list[str],
                   console, *, device: str = "auto", limit: int = 0, max_memory: int, batch_size: int = 256,
                   dataset: str = "", per_class: bool = False, classes: Sequence[str] | None = None,
                   example_radius: float | None = None) -> pd.DataFrame:
    """Probe every model on ``data``'s test split; write the files (an example grid per model, at
    ``example_radius`` or the radius the rule picks) and print the comparison. Returns the rows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ablate import plots

    measured = []
    probed = list(radii) + ([example_radius] if example_radius is not None and example_radius not in radii else [])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        for model in models:
            task = bar.add_task(f"probing {model.name}", total=None)
            measured.append(measure(model.module, data, probed, model.preprocess, name=model.name, device=device,
                                    batch_size=batch_size, max_memory=max_memory, limit=limit,
                                    label_map=model.label_map,
                                    progress=lambda done, total, task=task: bar.update(task, completed=done,
                                                                                       total=total)))
    results = pd.concat([m.frame for m in measured], ignore_index=True)
    counts = pd.concat([m.counts.assign(model=m.name) for m in measured], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / PROBE_RESULTS, results)
    write_csv(out_dir / PROBE_COUNTS, counts)
    if per_class:
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
    console.print(comparison_table(results, counts, f"{len(measured[0].labels)} test images of {dataset}"))
    console.print(f"wrote {out_dir / PROBE_RESULTS}, {out_dir / PROBE_COUNTS}, "
                  + (f"{out_dir / PROBE_PER_CLASS}, " if per_class else "")
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
