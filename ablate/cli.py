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

from ablate.errors import AblateError

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
    from ablate.plugins import get_registry

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
def recipes() -> None:
    """List the built-in recipes."""
    from ablate.recipe import builtin_recipes, load_recipe

    table = Table(title="built-in recipes (run one with `ablate recipe NAME`)")
    table.add_column("name", style="bold")
    table.add_column("scales")
    table.add_column("runs", justify="right")
    table.add_column("description")
    for name, path in sorted(builtin_recipes().items()):
        recipe = load_recipe(path)
        scales = ", ".join(dict.fromkeys(["paper", *recipe.scales]))
        table.add_row(name, scales, str(len(recipe.runs)), recipe.description)
    console.print(table)


@cli.command()
@click.argument("name_or_path")
@click.option("--scale", default=None, help="paper (default), quick or smoke: how big a study to run.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting (epochs=3) or a plugin parameter (dropout.p=0.3); repeatable.")
@click.option("--dataset", default=None, help="cifar10, cifar100, synthetic or npz:PATH.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where results go: OUT/RECIPE/.")
@click.option("--dry-run", is_flag=True, help="Show the expanded runs and train nothing.")
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
def recipe(name_or_path, scale, overrides, dataset, device, out, dry_run, fail_fast, only, quiet, formats,
           jobs, devices, launcher, launcher_opts) -> None:
    """Run a recipe (a built-in name or a TOML file)."""
    from ablate.progress import ConsoleProgress
    from ablate.recipe import parse_assignment
    from ablate.runner import plan_table, prepare, run_study
    from ablate.device import resolve_device

    overrides = list(overrides)
    if dataset:
        overrides.append(f"dataset={json.dumps(dataset)}")
    if device:
        overrides.append(f"device={json.dumps(device)}")
    study = prepare(name_or_path, scale, overrides, only=list(only) or None, launcher=launcher,
                    launcher_options=dict(parse_assignment(o) for o in launcher_opts), jobs=jobs,
                    devices=devices.split(",") if devices else None)
    name, runs = study.recipe.name, study.runs
    if dry_run:
        print_frame(plan_table(runs, Path(out) / name), f"{name} ({scale or 'paper'} scale): {len(runs)} runs, "
                                                        f"nothing trained")
        return
    device_used = str(resolve_device(runs[0].settings.device))
    epochs = sum(r.settings.epochs for r in runs)
    err_console.print(f"ablate: {name} ({scale or 'paper'} scale): {len(runs)} runs, {epochs} epochs "
                      f"in all, on {device_used}; results in {Path(out) / name}", highlight=False)
    if device_used == "cpu" and (scale or "paper") == "paper":
        err_console.print("ablate: the paper scale is sized for a GPU; on this CPU it will take very long. "
                          "Try --scale quick.", style="yellow", highlight=False)
    signal.signal(signal.SIGTERM, stop_on_sigterm)       # `kill` (and Slurm's end) stops like Ctrl-C
    run_study(study, out, fail_fast=fail_fast, console=console,
              progress=ConsoleProgress(err_console, quiet=quiet, device=device_used),
              formats=[f.strip() for f in formats.split(",") if f.strip()])


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def status(directory) -> None:
    """Which runs of a recipe are pending, running, finished or failed (OUT/RECIPE)."""
    from ablate.runner import recipe_status

    frame = recipe_status(Path(directory))
    print_frame(frame, f"{directory}: " + ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items()))


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "formats", default="png", show_default=True, help="Plot formats, e.g. png,svg,pdf.")
def report(directory, formats) -> None:
    """Print a recipe's report again from stored results (OUT/RECIPE)."""
    from ablate.report import print_report

    print_report(Path(directory), console, [f.strip() for f in formats.split(",") if f.strip()])


@cli.command()
@click.argument("dir_a", type=click.Path(exists=True, file_okay=False))
@click.argument("dir_b", type=click.Path(exists=True, file_okay=False))
def compare(dir_a, dir_b) -> None:
    """Show two result sets side by side, with their differences."""
    from ablate.report import compare as compare_results

    compare_results(Path(dir_a), Path(dir_b), console)


@cli.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("--probe", "probe_names", multiple=True, metavar="NAME",
              help="Evaluate this registered probe (bandpass, fourier_heatmap, split...); repeatable. "
                   "Without it: the LFC-only / HFC-only / both / neither report (Figure 1).")
@click.option("--set", "overrides", multiple=True, metavar="PROBE.PARAM=VALUE",
              help="A probe parameter, e.g. fourier_heatmap.limit=100 or bandpass.edges=[0,8,\"max\"]; repeatable.")
@click.option("--radii", default="0:16", show_default=True, help="START:END (inclusive) or a list: 4,8,12.")
@click.option("--dataset", default=None, help="Dataset to probe (default: the one the model was trained on).")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Where to write the results and figures (default: beside the checkpoint).")
@click.option("--format", "formats", default="png", show_default=True, help="Plot formats, e.g. png,svg,pdf.")
def probe(checkpoint, probe_names, overrides, radii, dataset, device, out, formats) -> None:
    """Probe a trained model: Figure 1's counts per radius, or the probes named with --probe."""
    from ablate.probe import report_table, write_probe_report
    from ablate.trainer import load_trained

    report_radii = parse_radii(radii)
    params = probe_overrides(overrides)
    model, settings, data = load_trained(Path(checkpoint), device=device, dataset=dataset)
    out_dir = Path(out) if out else Path(checkpoint).parent
    if probe_names:
        from ablate.report.probes import probe_checkpoint

        probe_checkpoint(model, data, settings, list(probe_names), params, out_dir, Path(checkpoint).parent.name,
                         console, [f.strip() for f in formats.split(",") if f.strip()])
        return
    if params:
        raise AblateError("--set: probe parameters need --probe NAME; without it the Figure 1 report takes --radii")
    settings.report_radii = report_radii
    frame = write_probe_report(model, data, settings, out_dir, None)
    console.print(report_table(frame, title=f"probe report: {checkpoint} on the {settings.dataset} test set"))
    console.print(f"wrote {out_dir / 'probe_report.csv'} and {out_dir / 'examples.png'}")


def probe_overrides(overrides) -> dict[str, dict]:
    """``["fourier_heatmap.limit=100"]`` -> ``{"fourier_heatmap": {"limit": 100}}``."""
    from ablate.recipe import parse_assignment

    params: dict[str, dict] = {}
    for text in overrides:
        key, value = parse_assignment(text)
        probe, dot, param = key.partition(".")
        if not dot or not param:
            raise AblateError(f"--set {text!r}: expected PROBE.PARAM=VALUE, e.g. --set fourier_heatmap.limit=100")
        params.setdefault(probe, {})[param] = value
    return params


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def parse_radii(text: str) -> list[float]:
    try:
        if ":" in text:
            start, end = (float(v) for v in text.split(":"))
            values = [start + i for i in range(int(end - start) + 1)]
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AblateError(f"--radii {text!r}: expected START:END or a comma-separated list, e.g. 0:16 or 4,8,12") from None
    if not values or min(values) < 0:
        raise AblateError(f"--radii {text!r}: radii must be numbers >= 0")
    return values


def print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


main = cli
