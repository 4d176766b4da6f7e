"""Every built-in recipe's smoke scale learns for seeds 0, 1 and 2 at 1 and 2 torch threads (issue 26).

A seeded CPU run is reproducible only on one machine at one thread count (sums reorder), and a
smoke run is short enough to sit on a knife's edge: one that learns here may stay at chance on
CI's machine. Six conditions per recipe show that the smoke settings learn with a margin, not by
luck. The runs train in this process without writing anything, each once per condition.
"""

from __future__ import annotations

import pytest

from ablate.study.recipe_file import builtin_recipes

from smoke_learning import assert_smoke_scale_learns, train_smoke_runs

CONDITIONS = [(seed, threads) for threads in (1, 2) for seed in (0, 1, 2)]


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_smoke_scale_learns_for_every_seed_and_thread_count(name):
    failures = []
    for seed, threads in CONDITIONS:
        results = train_smoke_runs(name, seed, threads)
        try:
            assert_smoke_scale_learns(name, results)
        except AssertionError as error:
            failures.append(f"seed {seed}, {threads} thread(s): {error}")
    assert not failures, f"{name} at smoke scale does not learn under " + "; ".join(failures)
