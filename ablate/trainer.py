"""The training loop into which every plugin hooks.

Sections: set-up (device, data, model, optimizer), one epoch, evaluation, the
run (resume, epochs, checkpoint, final evaluation). The CPU path is plain and
exact; on CUDA the data stays on the device, the model runs channels_last under
bf16 autocast (float32 weights), optionally compiled.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ablate.checkpoint import load_checkpoint, save_checkpoint, write_csv
from ablate.config import Settings
from ablate.datasets import load_data
from ablate.errors import AblateError, TrainingDiverged
from ablate.models import build_model
from ablate.plugins import PluginRegistry, get_registry
from ablate.probe import Prober
from ablate.progress import Progress, SilentProgress
from ablate.recipe import Run
from ablate.scaling import model_input
from ablate.schema import CHECKPOINT, METRICS, results_frame
from ablate.structs import Batch, ModelParts, TrainState



# --------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AblateError(f"device {name!r} asked for, but PyTorch sees no CUDA device; use --device cpu")
    if name.startswith("cuda:") and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise AblateError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device(name)


def autocast_dtype(settings: Settings, device: torch.device) -> torch.dtype | None:
    if settings.precision == "bf16" or (settings.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def make_optimizer(model: torch.nn.Module, settings: Settings) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                               weight_decay=settings.weight_decay, nesterov=False)
    fused = all(p.is_cuda for p in model.parameters())      # one kernel per step instead of many
    return torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, fused=fused)


def make_schedule(optimizer: torch.optim.Optimizer, settings: Settings):
    """A per-epoch learning-rate schedule (stepped once at the end of every epoch)."""
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    if settings.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.step_every, gamma=settings.step_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def crop_flip(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random pad-4 crop and horizontal flip of a whole batch on its device (one offset per image)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])            # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])            # (n, w)
    flip = torch.rand(n, device=x.device) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[index, channel, rows[:, None, :, None], cols[:, None, None, :]]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if targets.is_floating_point():
        return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
    return F.cross_entropy(logits.float(), targets)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------

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
        self.rows: list[dict[str, Any]] = []

    # -- set-up ------------------------------------------------------------

    def setup(self) -> None:
        s = self.settings
        seed_everything(s.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data = dataclasses.replace(load_data(s, self.device, self.registry))
        self.hook.ablate_prepare_data(data=self.data, settings=s)
        self.state = TrainState(settings=s, run_name=self.run.name, run_dir=self.run_dir, device=self.device,
                                num_classes=self.data.num_classes, autocast_dtype=autocast_dtype(s, self.device))
        self.model = self.build_model()
        self.optimizer = self.hook.ablate_optimizer(model=self.model, settings=s) or make_optimizer(self.model, s)
        self.schedule = make_schedule(self.optimizer, s)
        self.forward = torch.compile(self.model) if s.compile else self.model
        probe_args = dict(inclusive=s.inclusive, normalize=s.normalize, batch_size=s.eval_batch_size)
        self.test_probe = Prober(self.data.x_test, self.data.y_test, s.radii, split_name="test", **probe_args)
        self.train_probe = (Prober(self.data.x_train, self.data.y_train, s.radii, split_name="train", **probe_args)
                            if s.probe_train else None)

    def build_model(self) -> torch.nn.Module:
        parts = ModelParts()
        self.hook.ablate_model_parts(parts=parts, settings=self.settings)
        model = build_model(self.settings, self.data.num_classes, parts, in_channels=self.data.image_shape[0],
                            registry=self.registry)
        self.hook.ablate_modify_model(model=model, settings=self.settings)
        model = model.to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        return model

    # -- one epoch ---------------------------------------------------------

    def train_epoch(self, epoch: int) -> list[dict[str, Any]]:
        s, state, data = self.settings, self.state, self.data
        n = len(data.y_train)
        generator = torch.Generator().manual_seed(s.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=generator).to(self.device)
        steps = math.ceil(n / s.batch_size)
        state.epoch, state.steps_per_epoch = epoch, steps
        self.model.train()
        # on the device, read once at the end; the sum turns NaN/inf as soon as one loss does
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for i in range(steps):
            index = order[i * s.batch_size:(i + 1) * s.batch_size]
            x = model_input(data.x_train[index], s.normalize)
            if s.augment == "crop_flip":
                x = crop_flip(x)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            batch = Batch(x=x, y=data.y_train[index])
            self.hook.ablate_train_batch(batch=batch, model=self.model, state=state)
            with torch.autocast(self.device.type, dtype=state.autocast_dtype, enabled=state.autocast_dtype is not None):
                logits = self.forward(batch.x)
            loss = self.hook.ablate_loss(logits=logits, targets=batch.y, state=state)
            if loss is None:
                loss = soft_cross_entropy(logits, batch.y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            state.step += 1
            detached = loss.detach()
            loss_sum.add_(detached, alpha=len(index))
            labels = batch.y.argmax(1) if batch.y.is_floating_point() else batch.y
            correct += (logits.detach().argmax(1) == labels).sum()
            self.hook.ablate_after_step(model=self.model, loss=detached, state=state)
            if self.device.type == "cpu" and not math.isfinite(detached.item()):
                break
            self.progress.batch(i + 1, steps, detached)
        if not bool(torch.isfinite(loss_sum)):
            raise TrainingDiverged(
                f"run {self.run.name}: the loss became NaN or infinite in epoch {epoch}; the checkpoint of "
                f"epoch {epoch - 1} is kept. Lower the learning rate (--set lr=...) and run again")
        self.schedule.step()
        return [self.row(epoch, "train", "original", None, "loss", (loss_sum / n).item()),
                self.row(epoch, "train", "original", None, "accuracy", correct.item() / n)]

    # -- evaluation --------------------------------------------------------

    def evaluate(self, epoch: int) -> list[dict[str, Any]]:
        """Test accuracy and loss, with the probe at the configured radii when it is due."""
        s = self.settings
        due = s.probe_every and (epoch % s.probe_every == 0 or epoch == s.epochs)
        rows = self.test_probe(self.model, self.state.autocast_dtype, with_filtered=bool(due)).rows
        if due and self.train_probe is not None:
            rows += self.train_probe(self.model, self.state.autocast_dtype).rows
        rows = [{**r, "run": self.run.name, "epoch": epoch} for r in rows]
        self.model.eval()
        for extra in self.hook.ablate_epoch_end(model=self.model, state=self.state):
            rows += [{**r, "run": self.run.name, "epoch": epoch} for r in (extra or [])]
        return rows

    def final_evaluation(self) -> list[dict[str, Any]]:
        self.model.eval()
        models = {"final": self.model}
        for variants in self.hook.ablate_final_models(model=self.model, settings=self.settings):
            models.update({name: m.to(self.device).eval() for name, m in (variants or {}).items()})
        rows = []
        for extra in self.hook.ablate_evaluate(models=models, data=self.data, state=self.state):
            rows += [{**r, "run": self.run.name, "epoch": self.settings.epochs} for r in (extra or [])]
        if self.settings.probe_report and self.run_dir is not None:
            from ablate.probe import write_probe_report
            write_probe_report(self.model, self.data, self.settings, self.run_dir, self.state.autocast_dtype)
        return rows

    def row(self, epoch, split, component, radius, metric, value) -> dict[str, Any]:
        return {"run": self.run.name, "epoch": epoch, "split": split, "component": component,
                "radius": radius, "metric": metric, "value": value}

    # -- the run -----------------------------------------------------------

    def fit(self) -> pd.DataFrame:
        self.setup()
        s = self.settings
        start = self.resume()
        if start == 0:
            self.rows = self.evaluate(0)
            self.save(0, finished=False)
        self.progress.start_epochs(start, s.epochs, math.ceil(len(self.data.y_train) / s.batch_size))
        for epoch in range(start + 1, s.epochs + 1):
            started = time.perf_counter()
            rows = self.train_epoch(epoch)
            rows += self.evaluate(epoch)
            self.rows += rows
            self.save(epoch, finished=False)
            self.progress.epoch_end(epoch, s.epochs, summarize(rows), time.perf_counter() - started)
        if not self.finished:
            self.rows += self.final_evaluation()
            self.save(s.epochs, finished=True)
        return self.metrics()

    def resume(self) -> int:
        """Load the run's checkpoint if there is one; return the last finished epoch."""
        self.finished = False
        self.resumes: list[int] = []        # epochs this run was resumed from, for the record
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


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The headline numbers of an epoch, for progress lines: train/test accuracy and loss."""
    out = {}
    for r in rows:
        if r["component"] == "original" and not r.get("attack"):
            out[f"{r['split']}_{'acc' if r['metric'] == 'accuracy' else 'loss'}"] = r["value"]
    return out


def load_trained(path: Path, device: str = "auto", dataset: str | None = None):
    """Rebuild a trained model from its checkpoint; return (model in eval mode, settings, data)."""
    state = load_checkpoint(path)
    if state is None or "model" not in state:
        raise AblateError(f"{path}: not an ablate checkpoint (expected a run's checkpoint.pt)")
    settings = Settings()
    settings.update({k: v for k, v in state["settings"].items() if k in Settings.names()}, str(path))
    settings.device = device
    if dataset:
        settings.set("dataset", dataset, "--dataset")
    run = Run(state.get("run_name", Path(path).parent.name), settings, [tuple(p) for p in state["plugins"]])
    trainer = Trainer(run)
    trainer.data = dataclasses.replace(load_data(settings, trainer.device, trainer.registry))
    trainer.hook.ablate_prepare_data(data=trainer.data, settings=settings)
    model = trainer.build_model()
    model.load_state_dict(state["model"])
    return model.eval(), settings, trainer.data


def train(run: Run, run_dir: Path | None = None, **kwargs) -> pd.DataFrame:
    """Train one run (resuming from ``run_dir`` when it holds a checkpoint); return its metrics."""
    return Trainer(run, run_dir, **kwargs).fit()
