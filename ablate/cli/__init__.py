"""The ``ablate`` command: a thin layer over the Python API.

Errors the user can fix (:class:`ablate.AblateError`) print one line and exit
with code 2; anything else prints one line and exits 1. ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ablate.any_model.probe_options import ProbeOptions
from ablate.cli.per_model_options import PerModelOption, ProbeCommand
from ablate.core.errors import AblateError
from ablate.core.progress import ConsoleProgress

# Each command imports its implementation when it runs, so that `ablate --help` and the quick commands
# do not pay for torch, pandas and the engine (ruff's PLC0415 is off for this file in pyproject.toml).
# Measured on the development machine's CPU, best of 5: `import ablate.cli` 0.11 s with the commands'
# imports inside them, 2.76 s with them at the top; `ablate --help` 0.11 s against 2.67 s.
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class ErrorHandlingGroup(click.Group):
    """Turns errors into one line and an exit code, unless ``--debug`` asks for the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.exceptions.Abort):
            err_console.print("ablate: interrupted; finished runs and checkpoints are kept: run the same "
                              "command again to resume", highlight=False)
            ctx.exit(130)
        except AblateError as exc:
            if ctx.params.get("debug"):
                raise
            fail(ctx, f"ablate: error: {exc}", 2)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            fail(ctx, f"ablate: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)


def fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(" ".join(message.split()), err=True)
    ctx.exit(code)


@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="ablate")
def cli(debug: bool) -> None:
    """Frequency-ablation studies of image classifiers (Wang et al., CVPR 2020)."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json: bool) -> None:
    """List the installed plugins, their hooks and parameters."""
    from ablate.core.registry import get_registry

    infos = [info.describe() for info in sorted(get_registry().plugins.values(), key=lambda i: i.name)]
    if as_json:
        click.echo(json.dumps(infos, indent=2, default=str))
        return
    table = Table(title="ablate plugins", show_lines=True)
    for column in ("name", "source", "hooks", "parameters (default)"):
        table.add_column(column)
    for info in infos:
        params = "\n".join(f"{p['name']}: {p['type']} = {p['default']!r}" for p in info["params"]) or "-"
        hooks = "\n".join(h.removeprefix("ablate_") for h in info["hooks"])
        table.add_row(f"[bold]{info['name']}[/]\n{info['help']}", info["source"], hooks, params)
    console.print(table)


@cli.command()
@click.option("--scale", "scales", multiple=True, help="Only this scale (paper, short, quick, smoke); repeatable.")
@click.option("--estimate", is_flag=True, help="Measure each kind of run on this machine (a few training steps "
              "and an evaluation each: minutes in all, once; cached) to fill in the time column.")
def recipes(scales, estimate) -> None:
    """List the built-in recipes: runs, epochs and an estimated time on this machine, per scale.

    The estimate comes from a short measurement of each kind of run, made with --estimate and cached in
    ~/.cache/ablate/calibration.json. Until then a rough figure, marked (rough): the models' FLOPs at a
    typical speed of this kind of device; `?` where the data set's size is unknown.
    """
    from ablate.core.registry import get_registry
    from ablate.execution.calibration import cache_path
    from ablate.execution.recipe_overview import builtin_overview, overview_table

    def say(text: str) -> None:
        err_console.print(f"ablate: {text} (once; cached in {cache_path()})", highlight=False)

    rows = builtin_overview(get_registry(), list(scales) or None, None if estimate else False, say)
    console.print(overview_table(rows))


@cli.command()
@click.argument("name_or_path")
@click.option("--scale", default=None, help="paper (default), short, quick or smoke: how big a study to run.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting (epochs=3) or a plugin parameter (dropout.p=0.3); repeatable.")
@click.option("--seeds", default=None, type=click.IntRange(min=1),
              help="Repeat every run with seeds 0..N-1 (replaces the recipe's seeds); tables then show 95% CIs.")
@click.option("--dataset", default=None, help="cifar10, cifar100, synthetic or npz:PATH.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where results go: OUT/RECIPE/.")
@click.option("--dry-run", is_flag=True, help="Show the expanded runs and train nothing.")
@click.option("--wide", is_flag=True, help="Dry run: every plugin parameter and column, however wide the table.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed run.")
@click.option("--run", "only", multiple=True, help="Run only this run (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress display; one line per run.")
@click.option("--format", "formats", default="png", show_default=True, help="Plot formats, e.g. png,svg,pdf.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Train up to N runs at once in worker processes, one device each.")
@click.option("--devices", default=None, help="Devices for --jobs, e.g. cuda:0,cuda:1 (default: every GPU, or the CPU).")
@click.option("--launcher", default="local", show_default=True,
              help="Who trains the runs: local, processes (what --jobs N picks), slurm (cluster jobs through "
                   "submitit) or a launcher a plugin registers.")
@click.option("--launcher-opt", "launcher_opts", multiple=True, metavar="KEY=VALUE",
              help="Launcher option (slurm: partition, time, gpus, cpus, mem_gb, parallel, cluster, wait); "
                   "overrides the recipe's [launcher] table.")
def recipe(name_or_path, dry_run, wide, quiet, **given) -> None:
    """Run a recipe (a built-in name or a TOML file)."""
    from ablate.core.device import resolve_device
    from ablate.execution.plan_table import plan_table, print_plan
    from ablate.execution.preflight import check_against_data, check_out_folder
    from ablate.execution.recipe_options import RecipeOptions
    from ablate.execution.runner import prepare, run_study
    from ablate.report.plots import parse_formats
    from ablate.study.overrides import parse_assignment

    overrides = list(given["overrides"])        # --seeds, --dataset and --device are settings too
    if given["seeds"]:
        overrides.append(f"seeds={given['seeds']}")
    overrides += [f"{key}={json.dumps(given[key])}" for key in ("dataset", "device") if given[key]]
    options = RecipeOptions(
        scale=given["scale"], overrides=overrides, out=given["out"], only=list(given["only"]) or None,
        fail_fast=given["fail_fast"], formats=parse_formats(given["formats"]), jobs=given["jobs"],
        devices=given["devices"].split(",") if given["devices"] else None, launcher=given["launcher"],
        launcher_options=dict(parse_assignment(o, "--launcher-opt", "partition=gpu") for o in given["launcher_opts"]))
    study = prepare(name_or_path, options)
    scale, out = options.scale, options.out
    name, runs = study.recipe.name, study.runs
    if dry_run:
        print_plan(plan_table(runs, Path(out) / name, study.registry, wide),
                   f"{name} ({scale or 'paper'} scale): {len(runs)} runs, nothing trained", wide, console)
        return
    check_against_data(runs, study.registry)          # loads the data: sizes it lacks stop here, in one line
    check_out_folder(Path(out) / name)
    device_used = str(resolve_device(runs[0].settings.device))
    epochs = sum(r.settings.epochs for r in runs)
    err_console.print(f"ablate: {name} ({scale or 'paper'} scale): {len(runs)} runs, {epochs} epochs "
                      f"in all, on {device_used}; results in {Path(out) / name}", highlight=False)
    if device_used == "cpu" and (scale or "paper") == "paper":
        err_console.print("ablate: the paper scale is sized for a GPU; on this CPU it will take very long. "
                          "Try --scale quick.", style="yellow", highlight=False)
    signal.signal(signal.SIGTERM, stop_on_sigterm)       # `kill` (and Slurm's end) stops like Ctrl-C
    run_study(study, console=console, progress=ConsoleProgress(err_console, quiet=quiet, device=device_used))


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def status(directory) -> None:
    """Which runs of a recipe are pending, running, finished or failed (OUT/RECIPE)."""
    from ablate.execution.recipe_status import recipe_status

    frame = recipe_status(Path(directory))
    print_frame(frame, f"{directory}: " + ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items()))


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "formats", default="png", show_default=True, help="Plot formats, e.g. png,svg,pdf.")
@click.option("--html", "html_path", is_flag=False, flag_value=".", default=None, metavar="[PATH]",
              help="Write the report as one self-contained HTML page to share (tables, figures, recipe, settings, "
                   "provenance; no network needed) instead of printing it; PATH defaults to DIRECTORY/report.html.")
@click.option("--reevaluate", is_flag=True, help="First measure again, from their checkpoints and without "
              "training, the final epoch of finished runs that an older version of the evaluation measured.")
def report(directory, formats, html_path, reevaluate) -> None:
    """Print a recipe's report again from stored results (OUT/RECIPE), or write it as a page (--html)."""
    from ablate.report import print_report
    from ablate.report.plots import parse_formats

    if reevaluate:
        from ablate.execution.reevaluation import reevaluate_study

        done = reevaluate_study(Path(directory), say=lambda line: err_console.print(line, markup=False,
                                                                                     highlight=False))
        err_console.print(f"measured again: {', '.join(done)}" if done else
                          "every finished run was measured by the current evaluation: nothing to measure again",
                          markup=False, highlight=False)

    if html_path is None:
        print_report(Path(directory), console, parse_formats(formats))
        return
    from ablate.report.html import write_page

    path = write_page(Path(directory), None if html_path == "." else Path(html_path))
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, self-contained)", highlight=False, markup=False)


@cli.command()
@click.argument("dir_a", type=click.Path(exists=True, file_okay=False))
@click.argument("dir_b", type=click.Path(exists=True, file_okay=False))
def compare(dir_a, dir_b) -> None:
    """Show two result sets side by side, with their differences."""
    from ablate.report import compare as compare_results

    compare_results(Path(dir_a), Path(dir_b), console)


@cli.command(cls=ProbeCommand)
@click.argument("models", nargs=-1)
@click.option("--probe", "probe_names", multiple=True, metavar="NAME",
              help="Evaluate this registered probe (bandpass, fourier_heatmap, split...) on one ablate checkpoint; "
                   "repeatable. Without it: the LFC-only / HFC-only / both / neither report (Figure 1).")
@click.option("--set", "overrides", multiple=True, metavar="PROBE.PARAM=VALUE",
              help="A probe parameter, e.g. fourier_heatmap.limit=100 or bandpass.edges=[0,8,\"max\"]; repeatable.")
@click.option("--radii", default="0:16", show_default=True, help="START:END (inclusive) or a list: 4,8,12.")
@click.option("--dataset", default=None, help="Dataset to probe (default: the one the model was trained on).")
@click.option("--weights", cls=PerModelOption, metavar="PATH|DEFAULT",
              help="State dict for the MODEL it follows (torchvision:NAME, timm:NAME, module:factory); DEFAULT: "
                   "torchvision's own weights, from torch's cache.")
@click.option("--mean", cls=PerModelOption, metavar="M1,M2,M3",
              help="Per-channel mean of the MODEL it follows, applied after the split.")
@click.option("--std", cls=PerModelOption, metavar="S1,S2,S3",
              help="Per-channel std of the MODEL it follows.")
@click.option("--image-size", cls=PerModelOption, type=int,
              help="Resize and centre-crop to this size before the split, for the MODEL it follows.")
@click.option("--class-map", cls=PerModelOption, metavar="FILE",
              help="The output of the MODEL it follows for each class of the data set: JSON {\"class\": index} or "
                   "class,index lines.")
@click.option("--models", "models_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A TOML file of [[model]] tables (source, name, weights, mean, std, image_size, resize, "
                   "interpolation, class_map), probed one after another; a model measured before on the same "
                   "data and options is read back from OUT/measured. A models file is data: its sources may "
                   "not be module:factory (code) unless --trust-zoo-code is given.")
@click.option("--trust-zoo-code", is_flag=True,
              help="Let the --models file name module.path:factory sources, which import and run Python code; "
                   "only for a file you trust as you would a script.")
@click.option("--rank", is_flag=True, help="Rank the models by HFC reliance, with 95 % intervals (leaderboard.csv).")
@click.option("--html", default=None, type=click.Path(dir_okay=False),
              help="With --rank: write the leaderboard as one self-contained HTML page here (its folder must "
                   "exist).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Processes decoding a streamed image folder ahead of the model (pinned memory on CUDA).")
@click.option("--num-classes", default=None, type=click.IntRange(min=1),
              help="Outputs of the architectures built (default: the data set's classes).")
@click.option("--limit", default=0, type=click.IntRange(min=0), help="Probe a stratified subset of N test images.")
@click.option("--max-memory", default="1GB", show_default=True,
              help="Memory for images, their LFC/HFC and the split's work at once (e.g. 512MB, 4GB).")
@click.option("--per-class", is_flag=True, help="Also write accuracy per class (probe_per_class.csv).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", default="auto", show_default=True)
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Where to write the results and figures (default: beside the checkpoint, or ./probe).")
@click.option("--format", "formats", default="png", show_default=True, help="Plot formats, e.g. png,svg,pdf.")
@click.option("--example-radius", type=float, default=None,
              help="Radius of the example grid, examples[-MODEL].png (default: of the radii whose LFC is more than "
                   "the mean colour and whose HFC is non-empty, the one with the most HFC-only images).")
def probe(models, probe_names, overrides, radii, dataset, weights, mean, std, image_size, class_map, models_file,
          trust_zoo_code, rank, html, workers, num_classes, limit, max_memory, per_class, batch_size, device, out, formats,
          example_radius) -> None:
    """Probe trained models: Figure 1's counts per radius, or the probes named with --probe.

    MODEL: an ablate checkpoint, torchvision:NAME, timm:NAME, module.path:factory or a TorchScript file.
    Several models are compared on one data set.
    """
    from ablate.any_model.checkpoint_probe import probe_checkpoint
    from ablate.any_model.model_comparison import compare_models, load_data, measure_all
    from ablate.any_model.model_sources import check_models
    from ablate.any_model.model_specs import is_ablate_checkpoint, model_specs
    from ablate.cli.values import parse_example_radius, parse_radii, probe_overrides
    from ablate.report.plots import parse_formats

    options = ProbeOptions(parse_radii(radii), dataset=dataset, device=device, out=out, formats=formats,
                           example_radius=parse_example_radius(example_radius), limit=limit, max_memory=max_memory,
                           batch_size=batch_size, per_class=per_class, rank=rank, html=html, workers=workers)
    params = probe_overrides(overrides)
    shared, own = click.get_current_context().meta["per_model"]
    if html and not rank:
        raise AblateError("--html writes the leaderboard's page: give --rank with it")
    if html and not Path(html).parent.is_dir():
        raise AblateError(f"--html {html}: the folder {Path(html).parent} does not exist; create it or write the "
                          f"page elsewhere")
    parse_formats(formats)                  # refused before anything is measured, or a folder made
    if len(models) == 1 and is_ablate_checkpoint(models[0]) and not (models_file or shared or any(own) or limit
                                                                     or num_classes or per_class or rank):
        probe_checkpoint(Path(models[0]), probe_names, params, options, console)
        return
    if probe_names or params:
        raise AblateError("--probe and --set take one ablate checkpoint; several or other models get the LFC/HFC "
                          "comparison, with --radii")
    specs = model_specs(models, shared, own, models_file, trust_zoo_code)
    data, classes, options.dataset, fingerprint = load_data(specs, options)     # the first checkpoint's, if none
    check_models(specs, classes)                 # every model, before the first image is evaluated
    measured = measure_all(specs, data, classes, fingerprint, num_classes, options, console)
    compare_models(measured, classes, options, console)


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


main = cli
