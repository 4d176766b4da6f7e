"""Seeds: repeating each run of a recipe with several seeds, and telling the repeats apart again.

``seeds`` is an expansion key like a grid, not a setting: ``seeds = 3`` (seeds 0, 1,
2) or ``seeds = [0, 4]`` at the top of a recipe, in a run, in a scale, or ``--seeds N``
on the command line (later ones win, in that order; see docs/recipes.md, "Seeds").
Each seed is its own run with the setting ``seed`` at that value. The run whose seed
is the one it would have without ``seeds`` keeps its name (so its folder and hash are
today's, and adding seeds to a finished study trains only the new ones); the others
gain ``-sN``. :func:`base_run` undoes the suffix, so that reports can group a run's
repeats.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.schema import SEED

KEY = "seeds"
MAX_SEEDS = 10_000


def seed_list(value: Any, where: str) -> list[int]:
    """``3`` -> ``[0, 1, 2]``; ``[0, 4]`` -> ``[0, 4]``; anything else is refused in one line."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            raise AblateError(f"{where}: seeds = {value}: give a number of seeds from 1 to {MAX_SEEDS}, "
                              f"or a list of seeds such as [0, 1, 2]")
        return list(range(value))
    if (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value) and len(set(value)) == len(value)):
        return list(value)
    raise AblateError(f"{where}: seeds = {value!r}: expected a number of seeds (3 means 0, 1, 2) or a list of "
                      f"distinct whole numbers >= 0, e.g. seeds = [0, 1, 2]")


def chosen_seeds(layers: list[tuple[Any, str]], seed_chosen_by: str = "", where: str = "") -> list[int] | None:
    """The last given of ``[(value or None, where)]`` (recipe, run, scale, command line) as a list of seeds;
    None when no layer gives any (one run, exactly as without seeds). ``seed_chosen_by`` names another way
    the run's seed is chosen (``a grid over``, ``--set``), which seeds may not be combined with."""
    given = [(value, at) for value, at in layers if value is not None]
    if given and seed_chosen_by:
        raise AblateError(f"{where}: seeds and {seed_chosen_by} seed both choose the seed; keep one of them")
    return seed_list(*given[-1]) if given else None


def seeded_name(name: str, seed: int, base_seed: int) -> str:
    """``vanilla-s2`` for seed 2; ``vanilla`` itself for the seed the run has without ``seeds``."""
    return name if seed == base_seed else f"{name}-s{seed}"


def base_run(run: str, seed: Any) -> str:
    """The run's name without the ``-sN`` that :func:`seeded_name` added for ``seed`` (NaN: unchanged)."""
    if seed is None or pd.isna(seed):
        return run
    suffix = f"-s{int(seed)}"
    return run[:-len(suffix)] if run.endswith(suffix) else run


def base_runs(results: pd.DataFrame) -> pd.Series:
    """:func:`base_run` of every row of a results table (rows without a seed keep their run)."""
    seeds = results[SEED] if SEED in results else pd.Series(float("nan"), index=results.index)
    return pd.Series([base_run(r, s) for r, s in zip(results["run"], seeds)], index=results.index, dtype=object)
