"""``--run NAME``: the runs of a recipe it picks, by their own name, by their name without the seed, or by
the name of the ``[[runs]]`` entry that made them (all of a grid's runs)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from ablate.core.errors import AblateError
from ablate.study.seeds import base_run


class Selectable(Protocol):
    """What selecting needs of a run (an :class:`ablate.study.expansion.Run`, which selects after expanding)."""

    name: str
    settings: Any          # its .seed
    entry: str             # the [[runs]] entry's name ("" where unknown)


R = TypeVar("R", bound="Selectable")


def picked(run: Selectable, only: list[str]) -> bool:
    """Whether ``--run`` names this run."""
    return bool(run_names(run) & set(only))


def run_names(run: Selectable) -> set[str]:
    """The names ``--run`` picks a run by: its own, its name without the seed (all its seeds' runs), and its
    ``[[runs]]`` entry's (all the runs of a grid and their seeds)."""
    return {run.name, base_run(run.name, run.settings.seed)} | ({run.entry} if run.entry else set())


def selected(runs: list[R], only: list[str] | None, recipe_name: str) -> list[R]:
    """The runs ``--run`` names (all without it); a name no run has is refused, listing the runs."""
    if not only:
        return runs
    unknown = sorted(set(only) - set().union(*map(run_names, runs)))
    if unknown:
        raise AblateError(f"--run {unknown[0]!r}: no such run in {recipe_name}; runs: "
                          f"{', '.join(r.name for r in runs)}")
    return [run for run in runs if picked(run, only)]
