"""The default launcher: every run in this process, one after the other, with a live progress display."""

from __future__ import annotations

import time

from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.execution.calibration import measured_epochs
from ablate.execution.launchers import LaunchContext, Launcher
from ablate.execution.run_folder import run_status
from ablate.execution.scheduling import step_weights
from ablate.study.expansion import Run
from ablate.study.run_sizes import steps_per_run


class SequentialLauncher(Launcher):
    """Trains the runs in order in this process; the recipe's ETA counts every run's steps."""

    def launch(self, runs: list[Run], context: LaunchContext) -> dict[str, str]:
        errors: dict[str, str] = {}
        progress = context.progress
        device = resolve_device(runs[0].settings.device).type if runs else "cpu"
        progress.start_recipe(runs, steps_per_run(runs, context.registry), step_weights(runs, context.registry),
                              measured_epochs(runs, context.registry, device))
        try:
            for index, run in enumerate(runs):
                task = context.task(run)
                progress.start_run(index, run)
                state = run_status(task.run_dir)[0]
                if state in ("finished", "running"):         # another process got to it since the plan
                    progress.end_run(run, "skipped (finished meanwhile)" if state == "finished" else
                                     "skipped: another live process is training it (see its running.json)", 0.0)
                    continue
                started = time.perf_counter()
                error = task(registry=context.registry, progress=progress)
                progress.end_run(run, f"failed: {error}" if error else "finished", time.perf_counter() - started)
                if error:
                    errors[run.name] = error
                    if context.fail_fast:
                        break
        finally:
            progress.close()
        return errors


    def check(self, runs: list[Run], options: dict) -> None:
        """Every run's device must be on this machine."""
        for run in runs:
            try:
                resolve_device(run.settings.device)
            except AblateError as exc:
                raise AblateError(f"run {run.name!r}: {exc}") from None
