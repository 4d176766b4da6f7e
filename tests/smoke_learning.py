"""What "the smoke scale learns" means for each built-in recipe, and how to train one under a seed and a
thread count (issues 15 and 26). Shared by test_builtin_recipes.py (one run of each recipe, as a user
gets it) and test_smoke_learning.py (every run under seeds 0-2 at 1 and 2 threads).

The margins below were measured on the 2-core CI machine: the note of issue 26 has each run's
figures over the 3 seeds x 2 thread counts, and each margin sits well inside them.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch

from ablate.execution.runner import plan
from ablate.train.trainer import train

CHANCE = 0.1                      # the synthetic data's 10 balanced classes


def final(results: pd.DataFrame, **where) -> pd.Series:
    """The last epoch's accuracy per run for the rows matching ``where`` (radius rows keyed by run, radius)."""
    rows = results.query("metric == 'accuracy' and attack != attack")       # not the attack rows
    for column, value in where.items():
        rows = rows[rows[column] == value]
    rows = rows[rows["epoch"] == rows.groupby("run")["epoch"].transform("max")]
    return rows.set_index(["run", "radius"] if rows["radius"].notna().any() else "run")["value"]


def training_accuracy(results: pd.DataFrame, run: str) -> pd.Series:
    """Per epoch, the run's accuracy on its training set (as trained on: shuffled labels stay shuffled)."""
    rows = results.query("metric == 'accuracy' and split == 'train' and component == 'original' "
                         "and attack != attack and run == @run")
    return rows.groupby("epoch")["value"].max()


def assert_smoke_scale_learns(name: str, results: pd.DataFrame) -> None:
    """The smoke scale trains models that learn: not a table of 10.0 % cells."""
    test = final(results, split="test", component="original")
    for run, accuracy in test.items():
        if run == "shuffled-labels":                   # memorises: the test set stays at chance
            assert accuracy < CHANCE + 0.15, (name, run, accuracy)
        elif name == "table1":                         # trained on an LFC or HFC only
            assert accuracy >= 2 * CHANCE, (name, run, accuracy)      # measured: 0.30 and above
        else:
            assert accuracy >= 3 * CHANCE, (name, run, accuracy)      # measured: 0.47 and above
    if name == "figure5":
        assert test["vanilla"] >= 0.6                  # measured: 0.8 and above
        low, high = final(results, split="test", component="low"), final(results, split="test", component="high")
        for run in ("vanilla", "dropout", "batchnorm"):
            # the LFC within r = 4 holds the planted low-frequency evidence: the model reads it there
            # (measured: 0.51 and above; BatchNorm's batch statistics read the LFC least)
            assert low[run, 4.0] >= 0.35, (run, low[run].to_dict())
            # the curves separate: at some radius LFC and HFC accuracies differ clearly (measured: 0.48 and above)
            assert max(abs(low[run] - high[run])) >= 0.3, (run, low[run].to_dict(), high[run].to_dict())
    if name == "figure3":
        memorised = training_accuracy(results, "shuffled-labels")
        # it memorises its 20 randomly labelled images: measured 0.55 and above at the last epoch
        assert memorised.iloc[-1] >= CHANCE + 0.25, memorised.to_dict()


def train_smoke_runs(name: str, seed: int, threads: int) -> pd.DataFrame:
    """Every run of recipe ``name`` at its smoke scale, trained in this process with ``seed`` on ``threads``
    torch threads, each under its own name; their metric rows. Nothing is written to disk."""
    _, runs = plan(name, "smoke")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        frames = []
        for run in runs:
            run = copy.deepcopy(run)
            run.settings.set("seed", seed, "test")
            frames.append(train(run))
        return pd.concat(frames, ignore_index=True)
    finally:
        torch.set_num_threads(before)
