"""Launchers: where and how a recipe's resolved runs are trained.

A launcher receives runs that are already expanded and validated
(:class:`ablate.study.expansion.Run`) and a :class:`LaunchContext` (output folder, progress,
``fail_fast``, its checked options), trains them (or has them trained) and returns
``{run name: one-line failure}`` for the runs that failed. The built-in ones are
registered by the built-in plugin ``launchers`` (``plugins/launchers.py``):

* ``local``: one after the other in this process (:mod:`ablate.execution.launchers.sequential`);
* ``processes``: a pool of worker processes, one device each (``--jobs N``,
  :mod:`ablate.execution.launchers.processes`);
* ``slurm``: one cluster job per run through submitit (:mod:`ablate.execution.launchers.cluster`).

Any plugin adds another through ``ablate_register_launchers``. Whoever trains a
run does it through :class:`ablate.execution.run_folder.RunTask` (``context.task(run)``), so a run's
folder, checkpoint and end marker are the same whoever trains it.

Options come from the recipe's ``[launcher]`` table, then the caller's
(``--launcher-opt``, ``--jobs``, ``--devices``). Each launcher declares the options it
takes as :class:`ablate.Param`; a key is checked by the launcher that declares it,
so a recipe may carry options for several launchers, and a key no launcher
declares is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ablate.core.errors import AblateError
from ablate.core.params import Param
from ablate.core.progress import Progress, SilentProgress
from ablate.core.registry import PluginRegistry
from ablate.execution.run_folder import RunTask
from ablate.study.expansion import Run

DEFAULT = "local"          # the launcher used unless one is named
PARALLEL = "processes"     # the one `--jobs N` (N > 1) picks instead of the default


@dataclass
class LaunchContext:
    """What a launcher needs besides the runs: where they go and how to report."""

    out_dir: Path                           # <out>/<recipe>/: each run goes to out_dir / run.dir_name
    recipe_name: str
    scale: str | None
    registry: PluginRegistry
    options: dict[str, Any] = field(default_factory=dict)   # this launcher's options, checked, defaults filled
    progress: Progress = field(default_factory=SilentProgress)
    fail_fast: bool = False                 # stop launching at the first failure and return

    def task(self, run: Run) -> RunTask:
        """The picklable unit of work that trains ``run`` in this process or another one."""
        return RunTask(run, self.out_dir, self.recipe_name, self.scale)

    def say(self, line: str) -> None:
        """Print one plain line (run names are not markup) where the user sees progress, if anywhere."""
        console = getattr(self.progress, "console", None)
        if console is not None:
            console.print(line, highlight=False, markup=False)


class Launcher:
    """The launcher protocol: trains resolved runs somewhere. Register one with ``ablate_register_launchers``.

    Subclass it (``ablate.Launcher``) and implement :meth:`launch`; one instance is
    registered and used for every launch, so keep per-launch state in locals.
    """

    options: Sequence[Param] = ()           # the options it takes, checked before anything runs

    def launch(self, runs: list[Run], context: LaunchContext) -> dict[str, str]:
        """Train ``runs`` (each needs training); return ``{run name: failure}`` of those that failed.

        Train each run through ``context.task(run)``. Ctrl-C must stop every run it
        started (each keeps its last epoch's checkpoint); with ``context.fail_fast``,
        stop at the first failure and return.
        """
        raise NotImplementedError

    def check(self, runs: list[Run], options: dict[str, Any]) -> None:
        """Refuse, with an :class:`AblateError`, what this launcher cannot do with these runs and options
        (a device that is not there), before anything is written; ``--dry-run`` calls it too."""

    def detached(self, options: dict[str, Any]) -> bool:
        """True when :meth:`launch` returns before the runs end (jobs left queued on a cluster).

        The recipe's report is then left for ``ablate report``.
        """
        return False


def find_launcher(name: str, registry: PluginRegistry) -> Launcher:
    """The launcher registered under ``name``, or a one-line error listing the known ones."""
    launchers = registry.registry("launchers")
    if name not in launchers:
        raise AblateError(f"--launcher {name!r}: unknown launcher; known launchers: "
                          f"{', '.join(sorted(launchers))} (see `ablate plugins`)")
    return launchers[name].function


def merge_options(name: str, registry: PluginRegistry,
                  *sources: tuple[dict[str, Any], str]) -> dict[str, Any]:
    """The options launcher ``name`` gets from ``(table, where)`` sources, later ones winning.

    Every key is checked by the launcher that declares it (the chosen one first);
    keys that only another launcher takes are checked, then left out.
    """
    chosen = find_launcher(name, registry)
    declared: dict[str, Param] = {}
    for other in [chosen] + [entry.function for entry in registry.registry("launchers").values()]:
        for param in other.options:
            declared.setdefault(param.name, param)
    own = {param.name for param in chosen.options}
    values: dict[str, Any] = {}
    for table, where in sources:
        for key, value in table.items():
            if key not in declared:
                raise AblateError(f"{where}: unknown launcher option {key!r}; known: {', '.join(declared)}")
            checked = declared[key].check(value, f"{where}.{key}")
            if key in own:
                values[key] = checked
    return {param.name: values.get(param.name, param.default) for param in chosen.options}
