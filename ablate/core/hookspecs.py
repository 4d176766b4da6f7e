"""Every hook ablate calls, in the order a run meets them.

Read top to bottom, this module is the life cycle of a study: plugins register
models, datasets, report layouts, launchers and probes once; then, for each run
of a recipe, the run is configured and checked (also under ``--dry-run``), handed
to a launcher, its data loaded, its model built, trained batch by batch and epoch
by epoch, and finally evaluated.

Two kinds of hooks
------------------
* **Registration hooks** (``ablate_register_*``) are called once on *every* loaded
  plugin, on an instance made for that purpose with default parameter values (as
  is one when the class is checked at loading): a plugin's ``__init__`` must be
  free of side effects. They receive a ``register(...)`` callback instead of
  returning values, so ablate knows which plugin gave what and reports duplicates.
* **Run hooks** (all the others) are called only on the run's plugins: those its
  recipe names, then every plugin whose class sets ``autoload = True`` (expansion
  adds them to the run's plugin list, so they are part of its config.json and its
  hash), each plugin instance holding that run's validated parameters in ``self.args``.

What ablate only needs to *know* about a plugin is no hook but a class attribute or
class method of ``ablate.Plugin``, read without an instance: ``extra_step_cost``,
``batch_dependent_evaluation``, and how reports name what it made
(``variant_heading``, ``variant_label``, ``trained_on``, ``train_examples``).

Order: the recipe's order
-------------------------
Where several plugins of a run implement the same hook, they are called in the
order the run lists them (first listed, first called), whatever the order in
which they were installed or registered. Autoloaded plugins come after the listed
ones, sorted by name. Every hook is called through pluggy, so ``tryfirst``/``trylast``
and ``wrapper``/``hookwrapper`` marks are honoured as pluggy defines them and override
this order (the built-ins use none). Where ablate must know which plugin returned
what (``ablate_configure`` conflicts, the owner of a registered name), it traces each
result back to its implementation; a registration hook is called once per plugin,
so a plugin's wrapper wraps that plugin's own registrations.
Consequences that recipes rely on:
* hooks that change a shared object in place (the data, the model parts, the
  batch) see the changes of every plugin listed before them;
* for a hook marked *first result*, the first listed plugin that returns a value
  other than ``None`` wins and later ones are not called.

Parameters are passed by name, so an implementation may accept any subset of
the arguments listed for its hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:       # the annotations' types, for type checkers only: core imports no other layer when it runs
    import torch
    from torch import nn

    from ablate.core.structs import Batch, Data, ModelParts, TrainState
    from ablate.study.settings import Settings

hookspec = pluggy.HookspecMarker("ablate")
hookimpl = pluggy.HookimplMarker("ablate")

Row = dict[str, Any]
"""A metric row: ``split, component, radius, metric, value`` and any columns of the plugin's own."""


class Register(Protocol):
    """The ``register(name, function, help="")`` callback of the registration hooks; ``function`` is
    what the hook's kind registers (a model factory, a loader, a layout, a ``Launcher``, a ``Probe``)."""

    def __call__(self, name: str, function: Any, help: str = "") -> None: ...


# --------------------------------------------------------------------------
# Registration: once per process, on every loaded plugin
# --------------------------------------------------------------------------

@hookspec
def ablate_register_models(register: Register) -> None:
    """Add model architectures.

    Fires once, when ablate first needs the model registry.
    ``register(name, factory, help="")``: ``factory(num_classes: int, width: float,
    parts: ablate.ModelParts) -> torch.nn.Module`` builds an untrained model whose
    forward takes float images ``(N, C, H, W)`` and returns logits ``(N, num_classes)``.
    A name registered twice is a warning naming both plugins; the first is kept.
    Returns nothing.
    """


@hookspec
def ablate_register_datasets(register: Register) -> None:
    """Add datasets.

    Fires once, when ablate first needs the dataset registry.
    ``register(name, loader, help="")``: the setting ``dataset = "name"`` or
    ``"name:ARG"`` calls ``loader(arg: str | None, settings: ablate.Settings) ->
    ablate.Data`` (uint8 NCHW images and int64 labels, full size: ablate does the
    stratified subsetting, and brings the images to ``settings.image_size`` when it
    is set, unless the loader already did). The loader raises ``ablate.AblateError``
    with a one-line fix when the data is missing. Returns nothing.
    """


@hookspec
def ablate_register_reports(register: Register) -> None:
    """Add report layouts for the end of a recipe and for ``ablate report``.

    Fires once, when ablate first needs the report registry (the built-in plugin
    ``reports`` registers the engine's own: generic, figure5, table1...).
    ``register(name, function, help="")``: a recipe's ``report = "name"`` calls
    ``function`` with the arguments it names, any of: ``study``
    (``ablate.api.StudyResults``: the tidy results of all runs, recipe.json, run
    folders), ``console`` (``rich.console.Console``), ``formats`` (plot formats,
    e.g. ``["png"]``), ``labels`` (``ablate.api.Labels``: how the plugin
    classes name their variants and training images), ``registry`` (the plugin registry), ``results`` and
    ``out_dir`` (``study.results``, ``study.out_dir``). It prints tables and writes
    plots (one file per format); ``ablate.api`` has the shared building blocks.
    Returns nothing.
    """


@hookspec
def ablate_register_launchers(register: Register) -> None:
    """Add launchers: ways to train a recipe's runs (a process pool, a cluster, Ray...).

    Fires once, when ablate first needs the launcher registry (a recipe is about
    to run, or ``--launcher`` is checked under ``--dry-run``).
    ``register(name, launcher, help="")``: ``--launcher name`` (or
    ``run_recipe(..., launcher="name")``) hands the runs to ``launcher``, an
    ``ablate.Launcher``: its ``options`` (a list of ``ablate.Param``) declare the keys
    it takes from the recipe's ``[launcher]`` table and ``--launcher-opt``, and
    ``launch(runs, context)`` receives resolved ``Run`` objects and an
    ``ablate.LaunchContext`` and returns ``{run name: failure}``. Returns nothing.
    """


@hookspec
def ablate_register_probes(register: Register) -> None:
    """Add probes: named variants of the images on which a trained model is evaluated.

    Fires once, when ablate first needs the probe registry.
    ``register(name, probe, help="")``: ``probe`` is an ``ablate.Probe(function,
    params=[ablate.Param(...), ...])``; ``function(images, **args)`` receives float
    images ``(n, C, H, W)`` on the pixel scale (1.0 = white) and the parameters'
    checked values (and ``index``, the images' positions in the split, if it
    declares that argument), and returns a list of ``ablate.Variant(labels,
    images)``, the same labels in the same order for every chunk of images.
    ``labels`` are the results columns the variant's rows fill: ``component``
    always, ``radius`` where it has one, any other as a column of its own. ablate
    scales the variants as the model sees them (by the run's ``normalize``, except a
    ``Variant(..., rescale=False)``, already the model's input), caches and evaluates
    them (a shared images tensor once). The ``Probe`` also says when it runs
    (``every``), on how many images (``limit``) and how reports show it. A run
    records the probes its setting ``probes`` lists, with the parameters of
    ``probe_params`` (``--set NAME.PARAM=VALUE``); the study's LFC/HFC split is the
    built-in probe ``split``. Returns nothing.
    """


# --------------------------------------------------------------------------
# Run set-up: when a recipe is expanded (also for --dry-run), before training
# --------------------------------------------------------------------------

@hookspec
def ablate_configure(settings: Settings, run_name: str) -> dict[str, Any] | None:
    """Change the settings of a run before it is hashed, shown or trained.

    Fires once per run when the recipe is expanded, after the recipe's settings,
    its scale, the run's settings, its grid values and ``--set`` are applied.
    ``settings`` is the run's ``ablate.Settings`` (read it, do not change it);
    ``run_name`` is its base name (before grid values are appended). Return a dict
    ``{setting: value}`` to change, or ``None``. Values are checked like recipe
    values, and the run is named and hashed after this hook, from the final values.
    Refused, naming the plugins: two plugins of one run changing the same setting,
    and a plugin changing a setting that ``--set`` gave.
    """


@hookspec
def ablate_check(settings: Settings, plugins: list[str]) -> None:
    """Refuse combinations that cannot work, before anything is trained.

    Fires once per run after ``ablate_configure`` (also under ``--dry-run``).
    ``settings`` is the run's final ``ablate.Settings``; ``plugins`` is the list of the
    run's plugin names in recipe order. Raise ``ablate.AblateError`` with a one-line
    message naming the problem and the fix. Returns nothing.
    """


@hookspec
def ablate_prepare_data(data: Data, settings: Settings) -> None:
    """Change the run's data once, before training (shuffle labels, filter images).

    Fires once per run after the dataset is loaded, subset and moved to the
    run's device, with the run's ``settings``. ``data`` is an ``ablate.Data``;
    change its fields in place. Its images are uint8 (0..255) or float (already
    scaled, 1.0 = white); ablate scales both kinds the same way at batch time.
    Returns nothing.
    """


@hookspec
def ablate_model_parts(parts: ModelParts, settings: Settings) -> None:
    """Choose the building blocks of the model before it is built.

    Fires once per run before the model factory is called, with the run's
    ``settings``. ``parts`` is an ``ablate.ModelParts``; set its fields in place
    (e.g. ``parts.norm`` to a BatchNorm factory). Returns nothing.
    """


@hookspec
def ablate_modify_model(model: nn.Module, settings: Settings) -> None:
    """Change the built model (insert dropout, wrap layers).

    Fires once per run after the model is built and initialised, before it is
    moved to the device and before the optimizer is made, and again when a
    checkpoint is loaded into a fresh model, so the change must be deterministic.
    Change ``model`` in place (``settings`` are the run's); returns nothing.
    """


@hookspec(firstresult=True)
def ablate_optimizer(model: nn.Module, settings: Settings) -> torch.optim.Optimizer | None:
    """Make the optimizer. *First result*: the first non-None value is used.

    Fires once per run after ``ablate_modify_model`` (on resuming too, before the
    checkpoint's optimizer state is loaded), with the ``model`` on the run's device
    and the run's ``settings``. Return a ``torch.optim.Optimizer`` over
    ``model.parameters()``, to which the settings' learning-rate schedule applies,
    or ``None`` for ablate's own (Adam or SGD from the settings).
    """


# --------------------------------------------------------------------------
# Training: per batch, then per epoch
# --------------------------------------------------------------------------

@hookspec
def ablate_train_batch(batch: Batch, model: nn.Module, state: TrainState) -> None:
    """Change a training batch before the forward pass (mix-up, adversarial examples).

    Fires for every training batch, after scaling and augmentation, with the
    ``model`` in train mode. ``batch`` is an ``ablate.Batch``: ``batch.x`` float images on
    the device, ``batch.y`` int64 labels or float soft targets ``(N, classes)``;
    replace them in place. ``state`` is the ``ablate.TrainState``. Returns nothing.
    A plugin that puts the model in eval mode must put it back in train mode.
    """


@hookspec(firstresult=True)
def ablate_loss(logits: torch.Tensor, targets: torch.Tensor, state: TrainState) -> torch.Tensor | None:
    """Compute the training loss. *First result*: the first non-None value is used.

    Fires for every training batch after the forward pass. ``logits`` are the
    model's output ``(N, classes)`` (bf16 under bf16 autocast); ``targets`` is
    what ``batch.y`` held after ``ablate_train_batch``; ``state`` is the
    ``ablate.TrainState``. Return a scalar tensor, or ``None`` for cross-entropy
    (soft-target cross-entropy when targets are float).
    """


@hookspec
def ablate_after_step(model: nn.Module, loss: torch.Tensor, state: TrainState) -> None:
    """Observe or adjust the model after each optimizer step (a weight constraint, an average of weights).

    Fires after every training step, with the ``model`` in train mode, the step's
    ``loss`` (a detached 0-d tensor on the device: ``float(loss)`` waits for the GPU)
    and the ``state`` (``state.step`` already counts this step). Change the model's
    parameters in place, under ``torch.no_grad()``. Returns nothing.
    """


@hookspec
def ablate_epoch_end(model: nn.Module, state: TrainState) -> list[Row] | None:
    """Add metrics at the end of an epoch.

    Fires after each epoch's evaluation and probe (and once before training, as
    epoch 0), before the checkpoint is written, with the ``model`` in eval mode
    and the ``state`` (``state.epoch``). Return a list of metric rows (dicts with
    ``split, component, radius, metric, value`` and optional extra columns of the
    plugin's own), or ``None``. ablate adds ``run`` and ``epoch``.
    """


@hookspec
def ablate_metrics(rows: list[Row], state: TrainState) -> None:
    """Watch metric rows as they are recorded (a live logger such as TensorBoard).

    Fires after the evaluation before training (epoch 0), after each epoch's
    training and evaluation, and once after the final evaluation, each time before
    the checkpoint that keeps the rows is written. ``rows`` are complete results rows
    (``run`` and ``epoch`` set, plugins' columns included); ``state`` is the
    ``ablate.TrainState`` (``state.run_dir`` is None for a run trained without a
    folder). Rows recorded before a resume are not shown again. Returns nothing;
    do not change the rows.
    """


# --------------------------------------------------------------------------
# After training
# --------------------------------------------------------------------------

@hookspec
def ablate_final_models(model: nn.Module, settings: Settings) -> dict[str, nn.Module] | None:
    """Offer variants of the trained model for the final evaluation (kernel smoothing).

    Fires once after the last epoch, with the trained ``model`` in eval mode and the
    run's ``settings``. Return a dict ``{variant_name: model}`` of new models (do
    not change ``model`` itself), or ``None``.
    """


@hookspec
def ablate_evaluate(models: dict[str, nn.Module], data: Data, state: TrainState) -> list[Row] | None:
    """Evaluate the trained model and its variants (adversarial attacks).

    Fires once after the last epoch. ``models`` maps variant names to models in
    eval mode, ``"final"`` being the trained model; ``data`` is the run's
    ``ablate.Data``; ``state`` the ``ablate.TrainState``. Return a list of metric rows as for ``ablate_epoch_end``
    (put the variant name in a ``variant`` column), or ``None``.
    """
