"""One run in its folder: reading how it stands, and training it.

A run's status is read from the files of its folder (see :mod:`ablate.core.schema`), so
every launcher keeps it the same way: the sequential one, worker processes and
cluster jobs alike. :class:`RunTask` is the unit of work a launcher hands out: a
resolved run and where it goes, picklable, so that a worker process or a cluster
job trains it without expanding the recipe again.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import subprocess
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import torch

import ablate
from ablate.core.device import resolve_device
from ablate.core.errors import AblateError
from ablate.core.evaluation import CONDITIONS, EVALUATION_VERSION, recorded_conditions, recorded_version
from ablate.core.files import DiskFull, read_json, remove_stale_temp_files, write_json
from ablate.core.progress import Progress, SilentProgress
from ablate.core.registry import PluginRegistry, get_registry
from ablate.core.schema import CHECKPOINT, CONFIG, DONE, FAILED, RUNNING, file_in
from ablate.execution.run_conditions import run_conditions
from ablate.study.expansion import Run
from ablate.train.trainer import Trainer

# --------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------

HEARTBEAT_S = 30             # how often a training process touches its running.json
STALE_AFTER_S = 600          # a running.json from another host untouched this long is a dead process's


def run_status(run_dir: Path) -> tuple[str, str | None]:
    """(status, detail) of a run from its folder: finished, failed (detail: the error), running (detail: who),
    partial or pending. A running.json whose process is gone (stale) does not count. AblateError when one of
    these files leads outside the run's folder (:func:`ablate.core.schema.file_in`): a shared folder's link
    must not tell, nor show, what lies elsewhere."""
    done, running, failed, checkpoint = (file_in(run_dir, name) for name in (DONE, RUNNING, FAILED, CHECKPOINT))
    if done.exists():
        return "finished", None
    owner = training_process(running)
    if owner:
        return "running", owner
    if failed.exists():
        return "failed", read_json(failed).get("error")
    if checkpoint.exists():
        return "partial", None
    return "pending", None


def needs_training(run_dir: Path) -> bool:
    """True unless the run finished or a live process is training it."""
    return run_status(run_dir)[0] not in ("finished", "running")


def training_process(path: Path) -> str | None:
    """Who trains the run, if ``path`` (its running.json) is a live process's; None when absent or stale.

    On this host the pid must be alive and have the recorded start time (a reused pid is
    another program); from another host, the heartbeat (the file's mtime) must be recent.
    """
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return None
    owner = read_json(path)
    pid, host = owner.get("pid", -1), owner.get("host")
    if not host:                                    # damaged: ablate writes it whole (atomically), or not at all
        return None
    if host == socket.gethostname():
        alive = pid_alive(pid) and owner.get("pid_start") in (None, process_start(pid))
    else:
        alive = age < STALE_AFTER_S
    if not alive:
        return None
    return (f"pid {pid} on {host}, started {owner.get('started', '?')}, heartbeat {int(age)} s ago; "
            f"if that process is gone, delete {path}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Heartbeat(threading.Thread):
    """Touches running.json every HEARTBEAT_S while a run trains, so other hosts can tell it is alive."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stop = path, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return


# --------------------------------------------------------------------------
# Training one run
# --------------------------------------------------------------------------

def provenance(run: Run) -> dict[str, Any]:
    """What a result needs to be trusted later: versions, revision, device."""
    return {"ablate_version": ablate.__version__, "git_revision": git_revision(),
            "torch_version": torch.__version__, "device": str(resolve_device(run.settings.device)),
            "host": platform.node(), "python": platform.python_version(), "seed": run.settings.seed}


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(ablate.__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def describe_failure(exc: BaseException, registry: PluginRegistry) -> str:
    """One line for a failed run, naming the plugin whose code raised, when one did."""
    if isinstance(exc, AblateError):
        return str(exc)
    modules = {info.cls.__module__: name for name, info in registry.plugins.items()}
    culprit = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module in modules:
            culprit = modules[module]
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return f"plugin {culprit!r} raised {text}" if culprit else text


def resumed_conditions(run: Run, run_dir: Path, registry: PluginRegistry) -> dict[str, Any]:
    """The conditions to record for ``run``; resuming a folder an older evaluation measured, also
    ``curves_evaluation``: the version that measured the epochs it already has."""
    conditions = run_conditions(run, registry)
    before = recorded_conditions(run_dir)
    if before is None or not (run_dir / CHECKPOINT).exists():
        return conditions
    curves = before.get("curves_evaluation", recorded_version(before))
    if curves < EVALUATION_VERSION:
        conditions["curves_evaluation"] = curves
    return conditions


def execute_run(run: Run, run_dir: Path, recipe_name: str, scale: str | None,
                registry: PluginRegistry, progress: Progress) -> str | None:
    """Train one run (resuming it if it has a checkpoint) and mark how it ended.

    Returns None when it finished, else the one-line reason it failed.
    Ctrl-C and kills propagate, leaving the last epoch's checkpoint to resume from.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(run_dir)           # no other process writes here: we are about to train it
    (run_dir / FAILED).unlink(missing_ok=True)
    write_json(run_dir / RUNNING, {"host": socket.gethostname(), "pid": os.getpid(),
                                   "pid_start": process_start(os.getpid()),
                                   "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    started = time.perf_counter()
    heartbeat = Heartbeat(run_dir / RUNNING)
    heartbeat.start()
    try:
        write_json(run_dir / CONFIG, {"run": run.name, "recipe": recipe_name, "scale": scale or "paper",
                                      "settings": run.settings.as_dict(), "plugins": run.plugins,
                                      "hash": run.short_hash, **provenance(run),
                                      CONDITIONS: resumed_conditions(run, run_dir, registry)})
        Trainer(run, run_dir, registry, progress).fit()
    except DiskFull:
        raise                                  # every later run would fail the same way: stop the recipe
    except Exception as exc:
        error = describe_failure(exc, registry)
        write_json(run_dir / FAILED, {"error": error, "traceback": traceback.format_exc()})
        return error
    finally:
        heartbeat.stop.set()
        (run_dir / RUNNING).unlink(missing_ok=True)
    write_json(run_dir / DONE, {"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "seconds": round(time.perf_counter() - started, 3)})
    return None


@dataclasses.dataclass
class RunTask:
    """A resolved run and where it goes: what a worker process or a cluster job trains.

    Picklable, so it travels to another process as it is; calling it trains the run
    there with that process's plugins and returns None or the one-line failure.
    """

    run: Run
    out_dir: Path
    recipe_name: str
    scale: str | None

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.run.dir_name

    def __call__(self, device: str | None = None, registry: PluginRegistry | None = None,
                 progress: Progress | None = None) -> str | None:
        """Train the run; ``device`` (a worker's own GPU) replaces the run's device setting.

        The device is no part of the run's identity, so the run keeps its folder.
        """
        return execute_run(on_device(self.run, device), self.run_dir, self.recipe_name, self.scale,
                           registry or get_registry(), progress or SilentProgress())


def on_device(run: Run, device: str | None) -> Run:
    """A copy of ``run`` that trains on ``device`` (the run itself when ``device`` is None)."""
    if not device:
        return run
    settings = dataclasses.replace(run.settings)
    settings.set("device", device, "device")
    return dataclasses.replace(run, settings=settings)
