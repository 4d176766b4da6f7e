"""`ablate status`: which runs of a recipe's output folder are pending, running, finished or failed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.files import read_json
from ablate.core.schema import JOBS, METRICS, PLAN, file_in, folder_under
from ablate.execution.run_folder import run_status


def recipe_status(out_dir: Path) -> pd.DataFrame:
    """One row per run of a recipe's output folder: its status, epochs done, and why it failed."""
    plan_path = file_in(out_dir, PLAN)
    if not plan_path.exists():
        raise AblateError(f"{out_dir}: no {PLAN} here; point at OUT/RECIPE, a folder `ablate recipe` wrote")
    plan_data = read_json(plan_path)
    if not isinstance(plan_data.get("runs"), list):
        raise AblateError(f"{plan_path}: damaged or not written by ablate; run the recipe again with the same "
                          f"--out to rewrite it (finished runs are kept)")
    jobs = read_json(file_in(out_dir, JOBS))
    rows = []
    for entry in plan_data["runs"]:
        try:
            run_dir = folder_under(out_dir, entry["dir"])
            name, planned = entry["name"], entry["settings"]["epochs"]
        except (KeyError, TypeError):
            raise AblateError(f"{plan_path}: a run entry is damaged ({str(entry)[:60]}); run the recipe again "
                              f"with the same --out to rewrite it") from None
        state, error = run_status(run_dir)
        rows.append({"run": name, "status": state, "epochs": f"{epochs_done(run_dir)}/{planned}",
                     "job": jobs.get(name, ""), "error": error or ""})
    return pd.DataFrame(rows)


def epochs_done(run_dir: Path) -> int:
    """The last epoch in a run's metrics.csv (0 when it has none, or it is damaged)."""
    try:
        return int(pd.read_csv(file_in(run_dir, METRICS))["epoch"].max())
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return 0
