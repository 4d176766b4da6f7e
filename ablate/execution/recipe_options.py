"""What running a recipe is asked besides the recipe: one object shared by ``ablate recipe`` and
:func:`ablate.execution.runner.run_recipe`, so that the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ablate.execution.launchers import DEFAULT


@dataclass
class RecipeOptions:
    """How to run a recipe: which runs, where to, how to train them and what to show afterwards.

    The command line's ``--seeds``, ``--dataset`` and ``--device`` arrive here as ``overrides``
    (they change what is trained); its display flags (``--dry-run``, ``--wide``, ``--quiet``) are
    the command's own.
    """

    scale: str | None = None                    # paper (None), quick or smoke
    overrides: list[str] | tuple[str, ...] = ()  # KEY=VALUE settings and plugin parameters
    out: str | Path = "runs"                    # results go to OUT/RECIPE/
    only: list[str] | None = None               # the runs of these names (all without it)
    fail_fast: bool = False                     # stop at the first failed run
    formats: tuple[str, ...] | list[str] = ("png",)     # plot formats of the report
    report: bool = True                         # print the report when a console is given
    jobs: int = 1                               # > 1 with the default launcher: the process pool
    devices: list[str] | None = None            # one per worker of the pool
    launcher: str = DEFAULT                     # any registered launcher ("slurm": cluster jobs)
    launcher_options: dict | None = None        # over the recipe's [launcher] table

    @property
    def partial(self) -> bool:
        """Whether the runs were chosen: recipe.json and results.csv then keep the others'."""
        return bool(self.only)
