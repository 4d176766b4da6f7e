"""``ablate probe CHECKPOINT``: one ablate checkpoint, Figure 1's report beside it or the probes named.

:func:`load_for_probe` is also how a comparison of several models loads the ablate
checkpoints among them: the model with its settings, and the data it fits.
"""

from __future__ import annotations

from pathlib import Path

from ablate.any_model.probe_options import ProbeOptions
from ablate.core.errors import AblateError
from ablate.core.schema import EXAMPLES, PROBE_REPORT
from ablate.data.loading import load_full
from ablate.report.probe_sections import evaluate_named_probes
from ablate.spectral.frequency import check_radii
from ablate.spectral.probe_report import report_table, write_probe_report
from ablate.train.checkpoint import load_checkpoint
from ablate.train.trained import load_trained


def trained_settings(checkpoint: Path) -> dict:
    """The settings an ablate checkpoint was trained with (read safely, no model built), or one line saying
    it is not one."""
    state = load_checkpoint(checkpoint) or {}
    trained = state.get("settings")
    if not isinstance(trained, dict) or not isinstance(state.get("plugins"), list):
        raise AblateError(f"{checkpoint}: not an ablate checkpoint (no settings or plugins); point at a run's "
                          f"checkpoint.pt, or give a state dict with its architecture: torchvision:NAME "
                          f"--weights {checkpoint}")
    return trained


def load_for_probe(checkpoint: Path, device: str, dataset: str | None):
    """The trained model, its settings and the data to probe, or one line saying why they do not fit together."""
    trained = trained_settings(checkpoint)
    if dataset:
        data = load_full(dataset)
        for setting, split, images in (("train_size", "training", data.y_train), ("test_size", "test", data.y_test)):
            if trained.get(setting, 0) > len(images):
                raise AblateError(f"--dataset {dataset}: has {len(images)} {split} images, but the model's run "
                                  f"used {setting}={trained[setting]}, which probe keeps; give a dataset with at "
                                  f"least {trained[setting]} {split} images")
    try:
        return load_trained(checkpoint, device=device, dataset=dataset)
    except RuntimeError as exc:
        if "size mismatch" not in str(exc):
            raise
        mismatch = str(exc).split("size mismatch for ", 1)[1].split(".", 1)[0]
        raise AblateError(f"--dataset {dataset}: the model was trained on {trained.get('dataset')!r} and does not "
                          f"fit this data (its layer {mismatch!r} has another shape: another channel or class "
                          f"count); probe it on data with the images and classes it was trained on") from None


def probe_checkpoint(checkpoint: Path, probe_names: list[str], params: dict[str, dict], options: ProbeOptions,
                     console) -> None:
    """One ablate checkpoint: Figure 1's report (and examples) beside it, or the registered probes named."""
    model, settings, data = load_for_probe(checkpoint, options.device, options.dataset)
    out_dir = Path(options.out) if options.out else checkpoint.parent
    if probe_names:
        evaluate_named_probes(model, data, settings, list(probe_names), params, out_dir, checkpoint.parent.name,
                              console, [f.strip() for f in options.formats.split(",") if f.strip()])
        return
    if params:
        raise AblateError("--set: probe parameters need --probe NAME; without it the Figure 1 report takes --radii")
    check_radii(options.radii, *data.x_test.shape[-2:], "--radii")
    if options.example_radius is not None:
        check_radii([options.example_radius], *data.x_test.shape[-2:], "--example-radius")
    settings.report_radii = options.radii
    frame = write_probe_report(model, data, settings, out_dir, None, example_at=options.example_radius)
    console.print(report_table(frame, title=f"probe report: {checkpoint} on the {settings.dataset} test set"))
    drawn = frame.attrs["example_radius"]
    console.print(f"wrote {out_dir / PROBE_REPORT} and {out_dir / EXAMPLES} "
                  + ("(no radius splits the images into two non-empty components)" if drawn is None
                     else f"(examples at r = {drawn:g})"), highlight=False)
