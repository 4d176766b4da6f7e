"""ablate probe's per-model measurements on disk: read back exactly, named by what they depend on, written whole."""

import numpy as np
import torch
from torch import nn

from ablate.any_model.measurements import load_measured, measurement_key, model_identity, save_measured
from ablate.any_model.model_sources import ModelSpec
from ablate.any_model.probe_model import measure


def tiny_measured():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    x = torch.randint(0, 256, (30, 3, 8, 8), dtype=torch.uint8)
    return measure(model, (x, torch.arange(30) % 3), [0, 2, 4.5], name="tiny", device="cpu")


def test_round_trip_is_exact(tmp_path):
    measured = tiny_measured()
    save_measured(tmp_path / "m.npz", measured)
    back = load_measured(tmp_path / "m.npz")
    assert back.correct.keys() == measured.correct.keys()
    assert all(torch.equal(back.correct[k], measured.correct[k].cpu()) for k in measured.correct)
    assert torch.equal(back.labels, measured.labels)
    assert back.frame.equals(measured.frame)
    assert back.counts.equals(measured.counts)
    assert back.examples == measured.examples
    assert back.pictures.keys() == measured.pictures.keys()
    assert all(torch.equal(back.pictures[k], measured.pictures[k]) for k in measured.pictures)
    assert (back.name, back.radii, back.inclusive, back.image_shape) == \
        (measured.name, measured.radii, measured.inclusive, measured.image_shape)


def test_unreadable_or_foreign_files_are_not_results(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert load_measured(tmp_path / "junk.npz") is None
    assert load_measured(tmp_path / "absent.npz") is None
    np.savez(tmp_path / "pickled.npz", meta=np.array([object()], dtype=object))
    assert load_measured(tmp_path / "pickled.npz") is None          # never unpickled


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    try:
        save_measured(tmp_path / "m.npz", tiny_measured())
    except OSError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_the_key_follows_contents_not_paths_or_labels(tmp_path):
    def key(weights, name=None, data="data", radii=(4,)):
        return measurement_key(model_identity(ModelSpec("torchvision:resnet18", weights=str(weights), name=name)),
                               data, {"radii": list(radii)})

    weights, moved = tmp_path / "w.pt", tmp_path / "elsewhere.pt"
    weights.write_bytes(b"one")
    moved.write_bytes(b"one")
    first = key(weights)
    assert key(moved, name="another label") == first         # same bytes elsewhere, another display name
    assert key(weights, data="other data") != first
    assert key(weights, radii=(4, 8)) != first
    weights.write_bytes(b"two")
    assert key(weights) != first
