"""The paper's claims checked against a study's own numbers: holds, does not hold, or undecided.

Each check of a claim (:mod:`ablate.study.claim_schema`) compares the final number
of a run with ``versus`` as ``difference = run - versus``; the claim says where the
difference lies: above ``+margin`` (``greater``), below ``-margin`` (``less``), or
between them (``about``). The decision rule:

- one seed: the point difference is on the claimed side of the margin (holds) or not
  (does not hold); the row says "one seed", since noise cannot be told from effect;
- several seeds: the difference is paired seed by seed (Welch's where seeds do not
  pair; :func:`ablate.report.stats.effect`), and tested against the margin it must
  clear (``about``: both margins); the p-values of all the study's seeded checks are
  one family, Holm-adjusted as the report's effect tables are. A check is decided
  where its adjusted p is below 5 %: holds if the mean lies on the claimed side, does
  not hold if not. Its raw p is below 5 % exactly when the 95 % interval shown
  excludes the margin, so a decided check never has an interval straddling it;
- undecided, with the reason, where the number is not recorded, the run is not in
  the study or not finished, seeds diverged or are identical, or the test is not
  significant after the correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.core.errors import AblateError
from ablate.core.schema import CHECKPOINT, PLAN, SEED
from ablate.report.results import StudyResults
from ablate.report.stats import CONFIDENCE, KEYS, ROUND_OFF, Interval, adjusted, effect, t_interval
from ablate.study.claim_schema import CHANCE, DEFAULTS, GAP, NUMERIC, SELECTORS, checks, parse_claims
from ablate.train.checkpoint import load_checkpoint

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"


def study_claims(study: StudyResults) -> list[dict]:
    """The claims recipe.json recorded, checked again (the file may be handed to us); AblateError if malformed."""
    return parse_claims(study.recipe.get("claims"), f"{study.out_dir / PLAN}")


def final_values(study: StudyResults) -> pd.DataFrame:
    """Every number at the last epoch that measured it, per run, seed and results key; with the run's base run
    (its name without ``-sN``) and whether that seed finished."""
    rows = study.results.copy()
    rows[SEED] = rows[SEED].fillna(0.0) if SEED in rows else 0.0
    rows = rows.sort_values("epoch", kind="stable") if "epoch" in rows else rows
    final = rows.groupby(["run", SEED, *KEYS], dropna=False, sort=False)["value"].last().reset_index()
    base = study.base_runs()
    final["base"] = final["run"].map(lambda run: base.get(run, run))
    final["finished"] = final["run"].map(lambda run: study.status(run) == "finished")
    return final


def selected(final: pd.DataFrame, base: str, selection: dict) -> pd.Series:
    """The finished seeds' values of ``base``'s number named by ``selection`` (results.csv's keys: a key not given
    must be blank, as in the rows that do not have it), indexed by seed."""
    if selection.get("metric") == GAP:
        train = selected(final, base, {**selection, "metric": "accuracy", "split": "train"})
        test = selected(final, base, {**selection, "metric": "accuracy", "split": "test"})
        return (train - test).dropna()
    chosen = (final["base"] == base) & final["finished"]
    for key in KEYS:
        value = selection.get(key, DEFAULTS.get(key))
        column = final[key]
        if value is None:
            chosen &= column.isna()
        elif key in NUMERIC:
            chosen &= np.isclose(pd.to_numeric(column, errors="coerce"), float(value))
        else:
            chosen &= column.astype(str) == str(value)
    rows = final[chosen]
    return rows.groupby(SEED)["value"].last()


def chance(study: StudyResults, base: str) -> float:
    """1 / the number of classes of ``base``'s model: the rows of its last 2-D weight (the classifier) in its first
    readable checkpoint; NaN where none is readable."""
    for run, group in study.base_runs().items():
        folder = study.run_dir(run) if group == base else None
        try:
            state = (load_checkpoint(folder / CHECKPOINT) or {}).get("model") if folder else None
        except AblateError:
            continue
        weights = [v for k, v in (state or {}).items() if k.endswith("weight") and getattr(v, "ndim", 0) == 2]
        if weights and weights[-1].shape[0] > 1:
            return 1.0 / weights[-1].shape[0]
    return np.nan


def measured(run: pd.Series, versus: pd.Series | float, boundary: float) -> Interval:
    """``run - versus - boundary`` over the seeds: paired where they pair (an Interval whose p tests zero)."""
    if isinstance(versus, pd.Series):
        return effect(versus + boundary, run)
    return t_interval(run - versus - boundary)


def verdict_of(difference: float, direction: str, margin: float) -> str:
    """Which side of the margin a difference is on: the claim's (holds) or not; on the margin (within round-off:
    0.12 - 0.10 is not quite 0.02) is not the claim's side."""
    claimed = {"greater": difference > margin + ROUND_OFF, "less": difference < -margin - ROUND_OFF,
               "about": abs(difference) < margin - ROUND_OFF}[direction]
    return HOLDS if claimed else FAILS


def boundary_p(run: pd.Series, versus: pd.Series | float, direction: str, margin: float, mean: float) -> float:
    """The p-value of the margin the claim's verdict turns on: the one it must clear (``about``, inside: the
    larger of the two), or, with the mean outside an ``about`` band, the one it crossed."""
    if direction == "greater":
        return measured(run, versus, margin).p
    if direction == "less":
        return measured(run, versus, -margin).p
    low, high = measured(run, versus, -margin).p, measured(run, versus, margin).p
    if -margin < mean < margin:
        return max(low, high)
    return high if mean >= margin else low


def check_row(study: StudyResults, final: pd.DataFrame, claim: dict, selection: dict) -> dict:
    """One check: the numbers, the difference with its interval, its p against the margin and, unless seeded (the
    caller decides those together), the verdict."""
    versus = claim["versus"]
    row = {"claim": claim["text"], "source": claim["source"], "run": claim["run"], "what": what(selection),
           "metric": selection.get("metric", DEFAULTS["metric"]), "direction": claim["direction"],
           "margin": claim["margin"], "seeded": False, "p": np.nan}
    run_values = selected(final, claim["run"], selection)
    if isinstance(versus, dict):
        other = {**selection, **{k: v for k, v in versus.items() if k != "run"}}
        changed = ", ".join(f"{key} {value:g}" if key in NUMERIC else f"{key} {value}"
                            for key, value in other.items() if selection.get(key) != value)
        row["versus"] = versus.get("run", claim["run"]) + (f" ({changed})" if changed else "")
        versus_values = selected(final, versus.get("run", claim["run"]), other)
    else:
        row["versus"] = CHANCE if versus == CHANCE else f"{versus:g}"
        versus_values = chance(study, claim["run"]) if versus == CHANCE else float(versus)
    missing = missing_reason(final, claim, versus, run_values, versus_values)
    if missing:
        return row | {"verdict": UNDECIDED, "reason": missing}
    fixed = not isinstance(versus_values, pd.Series)
    row["value"] = float(run_values.mean())
    row["versus_value"] = versus_values if fixed else float(versus_values.mean())
    interval = measured(run_values, versus_values, 0.0)
    row |= {"difference": interval.mean, "half_width": interval.half_width, "n": interval.n + interval.diverged}
    if interval.diverged:
        return row | {"verdict": UNDECIDED, "reason": f"{interval.diverged} of {row['n']} seeds diverged"}
    if len(run_values) == 1 and (fixed or len(versus_values) == 1):
        return row | {"verdict": verdict_of(interval.mean, claim["direction"], claim["margin"]), "reason": "one seed"}
    if interval.identical or not np.isfinite(interval.half_width):
        reason = "identical seeds (no spread)" if interval.identical else "seeds do not pair (one on a side)"
        return row | {"verdict": UNDECIDED, "reason": reason}
    row["p"] = boundary_p(run_values, versus_values, claim["direction"], claim["margin"], interval.mean)
    return row | {"seeded": True}


def missing_reason(final: pd.DataFrame, claim: dict, versus, run_values: pd.Series, versus_values) -> str:
    """Why a check cannot be made ("" when it can): a run not in the study or not finished, a number not recorded."""
    runs = [claim["run"]] + ([versus.get("run", claim["run"])] if isinstance(versus, dict) else [])
    for run in runs:
        if not (final["base"] == run).any():
            return f"run {run} is not in this study"
        if not final.loc[final["base"] == run, "finished"].any():
            return f"run {run} has not finished"
    if run_values.empty:
        return f"metric not recorded by {claim['run']}"
    if isinstance(versus_values, pd.Series) and versus_values.empty:
        return f"metric not recorded by {runs[-1]}"
    if not isinstance(versus_values, pd.Series) and not np.isfinite(versus_values):
        return f"chance not known: no readable checkpoint of {claim['run']}"
    return ""


def what(selection: dict) -> str:
    """A selection in a reader's words: ``test HFC r4 accuracy``, ``gap``, ``test pgd eps 0.03 accuracy smooth1.0``,
    ``test clean accuracy final``."""
    if selection.get("metric") == GAP:
        return "gap (train - test accuracy)" + "".join(f" {selection[k]}" for k in ("attack", "variant") if k in selection)
    parts = {key: selection.get(key, DEFAULTS.get(key)) for key in SELECTORS}
    words = [parts["split"], {"low": "LFC", "high": "HFC", "original": None}.get(parts["component"], parts["component"])]
    clean = parts["attack"] == "none"                     # the attacks plugin's row of the unattacked images
    words += [f"r{parts['radius']:g}" if parts["radius"] is not None else None,
              "clean" if clean else parts["attack"],
              f"eps {parts['eps']:g}" if parts["eps"] is not None and not clean else None, parts["metric"],
              parts["variant"]]
    return " ".join(str(word) for word in words if word)


def claims_frame(study: StudyResults, claims: list[dict], confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per check of every claim: the numbers, the difference, ``p`` and ``p_holm`` (seeded checks, one
    family), ``verdict`` and ``reason``."""
    final = final_values(study)
    rows = [check_row(study, final, claim, selection) for claim in claims for selection in checks(claim)]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(
        ["claim", "source", "run", "versus", "what", "metric", "direction", "margin", "value", "versus_value", "difference",
         "half_width", "n", "seeded", "p", "verdict", "reason"] + [k for row in rows for k in row])))
    frame["p_holm"] = adjusted(frame["p"].where(frame["seeded"]).to_numpy(dtype=float)) if len(frame) else []
    frame[["verdict", "reason"]] = frame[["verdict", "reason"]].astype(object)      # all-NaN when all are seeded
    tested = frame.index[frame["seeded"].astype(bool)]
    for i in tested:
        row = frame.loc[i]
        if row["p_holm"] < 1 - confidence:
            verdict, reason = verdict_of(row["difference"], row["direction"], row["margin"]), f"{int(row['n'])} seeds"
        elif row["p"] < 1 - confidence:
            verdict, reason = UNDECIDED, f"not after Holm's correction over {len(tested)} seeded checks"
        else:
            verdict, reason = UNDECIDED, f"the {confidence:.0%} interval reaches the margin"
        frame.loc[i, ["verdict", "reason"]] = [verdict, reason]
    return frame
