"""The training loop into which every plugin hooks.

Sections: set-up (data, model, optimizer, probes), the batches of an epoch, one
epoch, evaluation, the hooks with ablate's own fallbacks, the run (resume, epochs,
checkpoint, final evaluation). The data stays on the device; the model runs in
true float32 unless the run opts into TF32 or bf16 autocast (``precision``), on
CUDA channels_last and optionally compiled (:mod:`ablate.core.device`). A finished run's model
is rebuilt from its checkpoint by :mod:`ablate.train.trained`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
import torch

from ablate.core.device import autocast, autocast_dtype, channels_last, configure, model_on, resolve_device
from ablate.core.errors import AblateError, TrainingDiverged
from ablate.core.files import write_csv
from ablate.core.progress import Progress, SilentProgress
from ablate.core.registry import PluginRegistry, get_registry
from ablate.core.schema import CHECKPOINT, METRICS, results_frame
from ablate.core.structs import Batch, Data, ModelParts, TrainState
from ablate.data.loading import load_data
from ablate.spectral.probe_report import write_probe_report
from ablate.spectral.prober import Prober, planned_probers
from ablate.spectral.probes import PlannedProbe, plan_probes
from ablate.spectral.scaling import model_input
from ablate.study.expansion import Run
from ablate.study.run_sizes import epoch_steps
from ablate.train.augment import augment
from ablate.train.checkpoint import load_checkpoint, save_checkpoint
from ablate.train.epoch_metrics import EpochSums, epoch_headline
from ablate.train.models import build_model
from ablate.train.optim import make_optimizer, make_schedule, soft_cross_entropy
from ablate.train.rng import epoch_order, rng_state, seed_everything, set_rng_state

__all__ = ["Trainer", "train"]


def no_variants(images: torch.Tensor) -> list:
    """The probe of the originals alone: no variants."""
    return []


class Trainer:
    """Trains one run; ``Trainer(run, run_dir).fit()`` returns its metrics as a tidy DataFrame.

    With a ``run_dir``, a checkpoint is written after every epoch and a later
    ``fit()`` on the same directory resumes from it.
    """

    def __init__(self, run: Run, run_dir: Path | None = None, registry: PluginRegistry | None = None,
                 progress: Progress | None = None) -> None:
        self.run = run
        self.settings = run.settings
        self.run_dir = Path(run_dir) if run_dir else None
        self.registry = registry or get_registry()
        self.progress = progress or SilentProgress()
        self.device = resolve_device(self.settings.device)
        self.hook = self.registry.run_manager(run.plugins).hook
        # made by build() (data, state, model) and setup() (the rest), before any training
        self.data: Data | None = None
        self.state: TrainState | None = None
        self.model: torch.nn.Module | None = None
        self.forward: torch.nn.Module | None = None        # the model, compiled when asked
        self.optimizer: torch.optim.Optimizer | None = None
        self.schedule = None
        self.originals: dict[str, Prober] = {}            # the test (and train) set as it is
        self.probers: list[tuple[PlannedProbe, Prober]] = []   # each probe on the test (and train) set
        # the record: metric rows so far, whether the final evaluation is done, epochs resumed from
        self.rows: list[dict[str, Any]] = []
        self.finished = False
        self.resumes: list[int] = []

    # -- set-up ------------------------------------------------------------

    def build(self) -> None:
        """Seed, load and prepare the data, build the model: what training and :func:`load_trained` share."""
        s = self.settings
        seed_everything(s.seed)
        self.data = dataclasses.replace(load_data(s, self.device, self.registry))
        self.hook.ablate_prepare_data(data=self.data, settings=s)
        self.state = TrainState(settings=s, run_name=self.run.name, run_dir=self.run_dir, device=self.device,
                                num_classes=self.data.num_classes, autocast_dtype=autocast_dtype(s, self.device))
        parts = ModelParts()
        self.hook.ablate_model_parts(parts=parts, settings=s)
        model = build_model(s, self.data.num_classes, parts, in_channels=self.data.image_shape[0],
                            registry=self.registry)
        self.hook.ablate_modify_model(model=model, settings=s)
        self.model = model_on(model, self.device)

    def setup(self) -> None:
        """Everything a run needs before its first epoch: :meth:`build`, then the optimizer, schedule and probes."""
        s = self.settings
        configure(s, self.device)
        self.build()
        self.optimizer = self.make_optimizer()
        self.schedule = make_schedule(self.optimizer, s)
        self.forward = torch.compile(self.model, mode=s.compile_mode) if s.compile else self.model
        # bf16 copies of the probe's images only where the model would round them to bf16 anyway
        compact = self.state.autocast_dtype == torch.bfloat16
        probe_args = dict(normalize=s.normalize, batch_size=s.eval_batch_size,
                          cache_dtype=torch.bfloat16 if compact else torch.float32)
        splits = {"test": (self.data.x_test, self.data.y_test)}
        if s.probe_train:
            splits["train"] = (self.data.x_train, self.data.y_train)
        self.originals = {name: Prober(x, y, no_variants, split_name=name, **probe_args)
                          for name, (x, y) in splits.items()}
        planned = plan_probes(self.registry.registry("probes"), s, f"run {self.run.name}")
        self.probers = planned_probers(planned, splits, **probe_args)

    # -- the batches of an epoch -------------------------------------------

    def batches(self, epoch: int) -> Iterator[Batch]:
        """The epoch's training batches, made one at a time as the loop asks for them.

        Shuffled by (seed, epoch), scaled as the model sees them, augmented, and laid
        out for the device; ``batch.y`` holds int labels.
        """
        s, data = self.settings, self.data
        for index in epoch_order(len(data.y_train), s.seed, epoch).to(self.device).split(s.batch_size):
            x = augment(model_input(data.x_train[index], s.normalize), s.augment)
            yield Batch(x=channels_last(x, self.device), y=data.y_train[index])

    def steps_per_epoch(self) -> int:
        return epoch_steps(len(self.data.y_train), self.settings.batch_size)

    # -- one epoch ---------------------------------------------------------

    def train_epoch(self, epoch: int) -> list[dict[str, Any]]:
        state, steps = self.state, self.steps_per_epoch()
        state.epoch, state.steps_per_epoch = epoch, steps
        self.model.train()
        sums = EpochSums(self.device)
        for i, batch in enumerate(self.batches(epoch), 1):
            size = len(batch.y)
            self.hook.ablate_train_batch(batch=batch, model=self.model, state=state)
            with autocast(self.device, state.autocast_dtype):
                logits = self.forward(batch.x)
            loss = self.loss(logits, batch.y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            state.step += 1
            loss = loss.detach()
            sums.add(loss, size, logits.detach(), batch.y)
            self.hook.ablate_after_step(model=self.model, loss=loss, state=state)
            if self.device.type == "cpu" and not math.isfinite(loss.item()):
                break
            self.progress.batch(i, steps, loss)
        if sums.diverged():
            raise TrainingDiverged(
                f"run {self.run.name}: the loss became NaN or infinite in epoch {epoch}; the checkpoint of "
                f"epoch {epoch - 1} is kept. Lower the learning rate (--set lr=...) and run again")
        self.schedule.step()
        n = len(self.data.y_train)
        return [self.row(epoch, "train", "original", None, "loss", sums.mean_loss(n)),
                self.row(epoch, "train", "original", None, "accuracy", sums.accuracy(n))]

    # -- evaluation --------------------------------------------------------

    def evaluate(self, epoch: int) -> list[dict[str, Any]]:
        """Test accuracy and loss, the probes that run every epoch when one is due, then the plugins' metrics."""
        s = self.settings
        due = bool(s.probe_every and (epoch % s.probe_every == 0 or epoch == s.epochs))
        results = [self.originals["test"](self.model, self.state.autocast_dtype).rows]
        if due:
            results += self.probe_rows("epochs", "test")
        if due and "train" in self.originals:
            results.append(self.originals["train"](self.model, self.state.autocast_dtype).rows)
            results += self.probe_rows("epochs", "train")
        self.model.eval()
        results += self.hook.ablate_epoch_end(model=self.model, state=self.state)
        return self.completed(results, epoch)

    def probe_rows(self, every: str, split: str) -> list[list[dict[str, Any]]]:
        """The rows of every probe of the ``split`` set that runs ``every`` (``epochs`` or ``final``)."""
        return [prober(self.model, self.state.autocast_dtype).rows for planned, prober in self.probers
                if planned.every == every and prober.split_name == split]

    def final_evaluation(self) -> list[dict[str, Any]]:
        self.model.eval()
        models = {"final": self.model}
        for variants in self.hook.ablate_final_models(model=self.model, settings=self.settings):
            models.update({name: m.to(self.device).eval() for name, m in (variants or {}).items()})
        results = self.probe_rows("final", "test") + self.probe_rows("final", "train")
        results += self.hook.ablate_evaluate(models=models, data=self.data, state=self.state)
        rows = self.completed(results, self.settings.epochs)
        if self.settings.probe_report and self.run_dir is not None:
            write_probe_report(self.model, self.data, self.settings, self.run_dir, self.state.autocast_dtype)
        return rows

    def row(self, epoch, split, component, radius, metric, value) -> dict[str, Any]:
        return {"run": self.run.name, "epoch": epoch, "split": split, "component": component,
                "radius": radius, "metric": metric, "value": value}

    # -- hooks with ablate's own fallbacks ---------------------------------

    def make_optimizer(self) -> torch.optim.Optimizer:
        """A plugin's optimizer (``ablate_optimizer``), else ablate's own from the settings."""
        return (self.hook.ablate_optimizer(model=self.model, settings=self.settings)
                or make_optimizer(self.model, self.settings))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """A plugin's loss (``ablate_loss``), else cross-entropy (soft-target when targets are float)."""
        loss = self.hook.ablate_loss(logits=logits, targets=targets, state=self.state)
        return soft_cross_entropy(logits, targets) if loss is None else loss

    def completed(self, results: Iterable[list[dict] | None], epoch: int) -> list[dict[str, Any]]:
        """Metric rows from the probe or from plugins (a list each, or None), with ``run`` and ``epoch`` set."""
        return [{**r, "run": self.run.name, "epoch": epoch} for rows in results for r in (rows or [])]

    # -- the run -----------------------------------------------------------

    def fit(self) -> pd.DataFrame:
        self.setup()
        s = self.settings
        start = self.resume()
        if not self.rows:           # a fresh run (a checkpoint of epoch 0 already holds its rows)
            self.record(self.evaluate(0))
            self.save(0, finished=False)
        self.progress.start_epochs(start, s.epochs, self.steps_per_epoch())
        for epoch in range(start + 1, s.epochs + 1):
            started = time.perf_counter()
            rows = self.record(self.train_epoch(epoch) + self.evaluate(epoch))
            self.save(epoch, finished=False)
            self.progress.epoch_end(epoch, s.epochs, epoch_headline(rows), time.perf_counter() - started)
        if not self.finished:
            self.record(self.final_evaluation())
            self.save(s.epochs, finished=True)
        return self.metrics()

    def record(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep new metric rows and show them to plugins that watch (``ablate_metrics``)."""
        self.rows += rows
        self.hook.ablate_metrics(rows=rows, state=self.state)
        return rows

    def resume(self) -> int:
        """Load the run's checkpoint if there is one; return the last finished epoch."""
        if self.run_dir is None:
            return 0
        state = load_checkpoint(self.run_dir / CHECKPOINT)
        if state is None:
            return 0
        if state.get("identity") != self.run.identity():
            raise AblateError(f"{self.run_dir / CHECKPOINT}: checkpoint of a different configuration; "
                              f"move it away to start this run afresh")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.state.step = state["step"]
        self.rows = state["rows"]
        self.finished = state["finished"]
        self.resumes = state.get("resumes", []) + [state["epoch"]]
        set_rng_state(state["rng"])
        return state["epoch"]

    def save(self, epoch: int, finished: bool) -> None:
        self.finished = finished
        if self.run_dir is None:
            return
        save_checkpoint(self.run_dir / CHECKPOINT, {
            "identity": self.run.identity(), "epoch": epoch, "finished": finished, "step": self.state.step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "rng": rng_state(), "rows": self.rows,
            "settings": self.settings.as_dict(), "plugins": self.run.plugins, "run_name": self.run.name,
            "resumes": self.resumes,
        })
        write_csv(self.run_dir / METRICS, self.metrics())

    def metrics(self) -> pd.DataFrame:
        return results_frame(self.rows)


def train(run: Run, run_dir: Path | None = None, **kwargs) -> pd.DataFrame:
    """Train one run (resuming from ``run_dir`` when it holds a checkpoint); return its metrics."""
    return Trainer(run, run_dir, **kwargs).fit()
