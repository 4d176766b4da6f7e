"""Wall time of a recipe with --jobs N against --jobs 1, in one process, on this machine.

    python benchmarks/jobs.py                      # figure5 at smoke scale, jobs 2 vs 1
    python benchmarks/jobs.py --recipe figure4 --jobs 2 --set epochs=4

Each measurement trains every run from scratch in a fresh output folder. The
sequential baseline uses torch's default threads (all cores); each of the N workers
gets cores // N threads, as `ablate recipe --jobs N` does. Rounds alternate the two
so that load from other processes hits both alike; the medians are compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from ablate.execution.runner import run_recipe


def timed(recipe: str, scale: str, overrides: list[str], jobs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run_recipe(recipe, scale, overrides, out, jobs=jobs)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="figure5")
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = ["device=cpu", *args.overrides]
    print(f"recipe {args.recipe} ({args.scale}), {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads sequential; load average {os.getloadavg()[0]:.1f}")
    timed(args.recipe, args.scale, overrides, 1)           # warm-up: imports, data generation
    sequential, parallel = [], []
    for round_ in range(args.rounds):
        sequential.append(timed(args.recipe, args.scale, overrides, 1))
        parallel.append(timed(args.recipe, args.scale, overrides, args.jobs))
        print(f"round {round_ + 1}: --jobs 1 {sequential[-1]:.1f} s, --jobs {args.jobs} {parallel[-1]:.1f} s")
    one, many = statistics.median(sequential), statistics.median(parallel)
    print(f"median: --jobs 1 {one:.1f} s, --jobs {args.jobs} {many:.1f} s, speed-up {one / many:.2f}x")


if __name__ == "__main__":
    main()
