"""Probing any classifier: models from anywhere, preprocessing after the split, streaming, the comparison."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from click.testing import CliRunner
from torch import nn

import ablate
from ablate.any_model.probe_model import measure, probe_model
from ablate.any_model.zoo import Preprocess
from ablate.cli import cli
from ablate.core.schema import PROBE_COUNTS, PROBE_PER_CLASS, PROBE_RESULTS, RESULT_COLUMNS
from ablate.spectral.frequency import split

DATA = "synthetic:train=40,test=40"
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


class Recorder(nn.Module):
    """Keeps every batch it is given; answers class 0."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.classes = classes
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(len(x), self.classes)


class Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def tiny(num_classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --------------------------------------------------------------------------
# Preprocessing: split in pixel space, then normalise every variant
# --------------------------------------------------------------------------

def test_the_split_comes_before_the_normalisation():
    x = torch.rand(3, 3, 16, 16)
    y = torch.zeros(3, dtype=torch.int64)
    recorder = Recorder()
    measure(recorder, (x, y), [0, 4], Preprocess(mean=MEAN, std=STD), device="cpu", batch_size=1000)
    seen = torch.cat(recorder.seen[1:])          # the first call checks the outputs on one image
    originals, variants = seen[:3], seen[3:].view(4, 3, 3, 16, 16)      # low 0, low 4, high 0, high 4
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    normalised = (x - mean) / std
    low, high = split(x, [0, 4])
    late_low, late_high = split(normalised, [0, 4])       # the mistake: filtering after Normalize
    assert torch.allclose(originals, normalised, atol=1e-5)
    for k in range(2):
        assert torch.allclose(variants[k], (low[k] - mean) / std, atol=1e-4)
        assert torch.allclose(variants[2 + k], (high[k] - mean) / std, atol=1e-4)
    assert not torch.allclose(variants[3], late_high[1], atol=1e-2)         # r > 0: the HFC keeps no mean
    assert not torch.allclose(variants[0], late_low[0], atol=1e-2)          # r = 0: the LFC is all mean
    assert torch.allclose(variants[1], late_low[1], atol=1e-4)              # r > 0: a mean is pure DC


def test_image_size_resizes_and_crops_before_the_split_and_grey_becomes_rgb():
    preprocess = Preprocess(image_size=8, channels=3)
    pixels = preprocess.pixels(torch.full((2, 1, 12, 20), 255, dtype=torch.uint8))
    assert pixels.shape == (2, 3, 8, 8) and torch.allclose(pixels, torch.ones(1))


# --------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------

def test_probe_model_gives_the_results_columns_plus_model_and_streams_the_same():
    torch.manual_seed(0)
    model = tiny(4)
    x = torch.randint(0, 256, (30, 3, 12, 10), dtype=torch.uint8)
    y = torch.arange(30) % 4
    whole = ablate.probe_model(model, (x, y), radii=[2, 4], device="cpu")
    assert list(whole.columns) == RESULT_COLUMNS + ["model"]
    assert set(whole["component"]) == {"original", "low", "high"} and len(whole) == 2 * (1 + 2 * 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x.float() / 255, y), batch_size=7)
    streamed = probe_model(model, loader, radii=[2, 4], device="cpu", max_memory=40_000, batch_size=5)
    pd.testing.assert_series_equal(whole["value"], streamed["value"], atol=1e-5)


class Texture(nn.Module):
    """Answers class 1 for fine texture (what the HFC keeps), class 0 for smooth images (the LFC)."""

    def forward(self, x):
        fine = (x - nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).abs().mean(dim=(1, 2, 3))
        return torch.stack([torch.full_like(fine, 0.05), fine], 1)


def test_the_example_grid_keeps_the_first_hfc_only_images_across_chunks(tmp_path):
    torch.manual_seed(0)
    textured = torch.tensor([1, 4, 5, 8, 9])
    x = torch.rand(10, 1, 1, 1).expand(10, 3, 16, 16).clone()          # smooth: right on the LFC and the HFC
    x[textured] = torch.rand(5, 3, 16, 16)                              # textured: right on the HFC only
    y = torch.zeros(10, dtype=torch.int64)
    y[textured] = 1
    found = measure(Texture(), (x, y), [0, 2, 4, 8], device="cpu", max_memory=50_000, examples=3)
    assert found.counts["hfc_only"].tolist() == [5, 5, 5, 0]
    assert found.examples == {0: [1, 4, 5], 2: [1, 4, 5], 4: [1, 4, 5], 8: []}
    assert all(torch.equal(found.pictures[k], x[k]) for k in (1, 4, 5)) and set(found.pictures) == {1, 4, 5}
    assert found.save_examples(tmp_path / "grid.png", ["smooth", "fine"]) == 2    # r = 0 leaves the LFC empty
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert found.save_examples(tmp_path / "none.png", radius=8) == 8 and (tmp_path / "none.png").exists()


def test_limit_takes_a_stratified_subset():
    x, y = torch.rand(40, 3, 8, 8), torch.arange(40) % 4
    found = measure(Recorder(4), (x, y), [2], device="cpu", limit=8)
    assert torch.bincount(found.labels).tolist() == [2, 2, 2, 2]
    assert found.counts["neither"].tolist() == [6] and found.counts["both"].tolist() == [2]


def test_a_normalised_dataloader_is_refused():
    loader = [(torch.randn(4, 3, 8, 8) * 3, torch.zeros(4, dtype=torch.int64))]
    with pytest.raises(ablate.AblateError, match="drop Normalize"):
        probe_model(Recorder(), loader, radii=[2], device="cpu")


def test_labels_beyond_the_outputs_are_one_line():
    with pytest.raises(ablate.AblateError, match="2 outputs but the labels go up to 5"):
        probe_model(Recorder(2), (torch.rand(6, 3, 8, 8), torch.arange(6)), radii=[2], device="cpu")


# --------------------------------------------------------------------------
# Models from anywhere, on the command line
# --------------------------------------------------------------------------

def per_model(*args):
    """``ablate probe ARGS``'s per-model options as the command groups them, and its MODELs as click reads them."""
    ctx = cli.commands["probe"].make_context("probe", list(args))
    return ctx.meta["per_model"], list(ctx.params["models"])


def test_per_model_options_apply_to_the_model_they_follow():
    (shared, own), models = per_model("--mean", "0.5", "a", "--weights", "w1", "--radii", "4", "b", "--weights=w2",
                                      "--image-size", "64", "--per-class", "--mean", "1", "--mean", "2")
    assert models == ["a", "b"]
    assert shared == {"mean": "0.5"}
    assert own == [{"weights": "w1"}, {"weights": "w2", "image_size": "64", "mean": "2"}]


def test_after_a_lone_double_dash_every_token_is_a_model():
    (shared, own), models = per_model("a", "--std", "1,1,1", "--", "-b.pt", "--weights", "c")
    assert models == ["a", "-b.pt", "--weights", "c"]
    assert (shared, own) == ({}, [{"std": "1,1,1"}, {}, {}, {}])
    (shared, own), models = per_model("--weights", "--", "a", "--mean", "0.5")      # "--" as a value
    assert models == ["a"]
    assert (shared, own) == ({"weights": "--"}, [{"mean": "0.5"}])


def test_torchvision_state_dicts_factories_and_torchscript_are_compared(tmp_path, monkeypatch):
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "r18.pt")
    (tmp_path / "mynets.py").write_text("import torch.nn as nn\n"
                                        "def tiny(num_classes):\n"
                                        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1),"
                                        " nn.Flatten(), nn.Linear(4, num_classes))\n")
    torch.manual_seed(1)
    torch.save(tiny().state_dict(), tmp_path / "tiny.pt")
    torch.jit.save(torch.jit.script(tiny()), tmp_path / "scripted.pt")
    monkeypatch.chdir(tmp_path)
    result = invoke("probe", "torchvision:resnet18", "--weights", "r18.pt", "--mean", "0.5,0.5,0.5", "--std",
                    "0.2,0.2,0.2", "mynets:tiny", "--weights", "tiny.pt", "scripted.pt", "--dataset", DATA,
                    "--radii", "4,8", "--out", "out")
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "out" / PROBE_RESULTS)
    assert list(results["model"].unique()) == ["torchvision:resnet18+r18", "mynets:tiny+tiny", "scripted.pt"]
    counts = pd.read_csv(tmp_path / "out" / PROBE_COUNTS)
    assert len(counts) == 3 * 2
    assert (counts[["lfc_only", "hfc_only", "both", "neither"]].sum(axis=1) == 40).all()
    assert (tmp_path / "out" / "probe_accuracy.png").exists()
    for name in ("torchvision_resnet18_r18", "mynets_tiny_tiny", "scripted.pt"):
        assert (tmp_path / "out" / f"examples-{name}.png").exists()


def test_a_state_dict_that_does_not_fit_names_the_first_mismatched_key(tmp_path):
    torch.save(torchvision.models.resnet18(num_classes=5).state_dict(), tmp_path / "five.pt")
    result = invoke("probe", "torchvision:resnet18", "--weights", tmp_path / "five.pt", "--dataset", DATA)
    assert result.exit_code == 2
    assert "'fc.weight' is (5, 512) there and (10, 512) in the model" in result.output


def test_a_malicious_pickle_as_weights_is_refused_and_runs_nothing(tmp_path):
    torch.save({"fc.weight": torch.zeros(1), "payload": Payload(tmp_path / "pwned")}, tmp_path / "evil.pt")
    result = invoke("probe", "torchvision:resnet18", "--weights", tmp_path / "evil.pt", "--dataset", DATA)
    assert result.exit_code == 2 and "refused" in result.output
    assert not (tmp_path / "pwned").exists()


def test_torchvision_default_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = invoke("probe", "torchvision:resnet18", "--weights", "DEFAULT", "--dataset", DATA)
    assert result.exit_code == 2
    assert "resnet18-f37072fd.pth is not there and ablate downloads nothing" in result.output


def test_timm_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "timm", None)
    result = invoke("probe", "timm:resnet18", "--dataset", DATA)
    assert result.exit_code == 2 and "pip install 'ablate[timm]'" in result.output


def test_a_timm_architecture_is_built_offline_and_takes_a_state_dict(tmp_path, monkeypatch):
    timm = pytest.importorskip("timm")
    from ablate.any_model.model_sources import ModelSpec
    from ablate.any_model.zoo import load_model

    tried = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: tried.append(address) or 1 / 0)
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), tmp_path / "t18.pt")
    own = load_model(ModelSpec("timm:resnet18"), 10)
    config = timm.create_model("resnet18", pretrained=False).pretrained_cfg
    assert own.preprocess.mean == tuple(config["mean"]) and own.preprocess.image_size == config["input_size"][-1]
    result = invoke("probe", "--image-size", "32", "timm:resnet18", "timm:resnet18", "--weights", tmp_path / "t18.pt",
                    "--dataset", DATA, "--radii", "4", "--limit", "10", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "out" / PROBE_RESULTS)
    assert list(results["model"].unique()) == ["timm:resnet18", "timm:resnet18+t18"]
    five = tmp_path / "five.pt"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=5).state_dict(), five)
    misfit = invoke("probe", "timm:resnet18", "--weights", five, "--dataset", DATA)
    assert misfit.exit_code == 2 and "'fc.weight' is (5, 512) there and (10, 512) in the model" in misfit.output
    unknown = invoke("probe", "timm:no_such_net", "--dataset", DATA)
    assert unknown.exit_code == 2 and "timm:no_such_net" in unknown.output
    assert tried == []


def write_linear_factory(folder: Path) -> None:
    """``nets:net``, a module:factory model in ``folder`` (the current folder): one linear layer."""
    (folder / "nets.py").write_text("import torch.nn as nn\n"
                                    "def net(num_classes):\n"
                                    "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n")


def test_a_models_file_gives_each_model_its_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_linear_factory(tmp_path)
    (tmp_path / "models.toml").write_text('[[model]]\nsource = "nets:net"\nname = "small"\nimage_size = 8\n'
                                          '[[model]]\nsource = "nets:net"\nname = "big"\nmean = [0.5, 0.5, 0.5]\n'
                                          'std = [0.5, 0.5, 0.5]\n')
    result = invoke("probe", "--models", "models.toml", "--trust-zoo-code", "--dataset", DATA, "--radii", "2",
                    "--limit", "20")
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "probe" / PROBE_RESULTS)
    assert list(results["model"].unique()) == ["small", "big"]


def test_example_grids_are_named_per_model_and_stay_under_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_linear_factory(tmp_path)
    (tmp_path / "models.toml").write_text('[[model]]\nsource = "nets:net"\nname = "../../escaped"\n'
                                          '[[model]]\nsource = "nets:net"\nname = "a/b:c"\n'
                                          '[[model]]\nsource = "nets:net"\nname = "a_b_c"\n')
    before = {p.name for p in tmp_path.parent.iterdir()}
    result = invoke("probe", "--models", "models.toml", "--trust-zoo-code", "--dataset", DATA, "--radii", "2,4",
                    "--limit", "10", "--example-radius", "3", "--out", "out")
    assert result.exit_code == 0, result.output
    grids = sorted(p.name for p in (tmp_path / "out").glob("examples-*.png"))
    assert grids == ["examples-a_b_c-2.png", "examples-a_b_c.png", "examples-escaped.png"]
    assert {p.name for p in tmp_path.parent.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.toml", "nets.py", "out"]
    assert "(r = 3)" in " ".join(result.output.split())
    results = pd.read_csv(tmp_path / "out" / PROBE_RESULTS)
    assert sorted(results["radius"].dropna().unique()) == [2, 3, 4]       # the example radius is probed too


def test_grey_non_square_images_reach_a_torchvision_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 48, 64, 1), dtype=np.uint8)
    y = np.arange(20) % 2
    np.savez(tmp_path / "grey.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    result = invoke("probe", "torchvision:resnet18", "--dataset", f"npz:{tmp_path / 'grey.npz'}", "--radii", "4,16",
                    "--out", tmp_path / "out", "--max-memory", "2MB", "--per-class")
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(tmp_path / "out" / PROBE_COUNTS)
    assert (counts[["lfc_only", "hfc_only", "both", "neither"]].sum(axis=1) == 20).all()
    per_class = pd.read_csv(tmp_path / "out" / PROBE_PER_CLASS)
    assert len(per_class) == 2 * (1 + 2 * 2) and (per_class["images"] == 10).all()
    results = pd.read_csv(tmp_path / "out" / PROBE_RESULTS).set_index(["component", "radius", "metric"])
    high = per_class[(per_class["component"] == "high") & (per_class["radius"] == 16)]["accuracy"].mean()
    assert high == pytest.approx(results.loc[("high", 16.0, "accuracy"), "value"])


def test_a_missing_model_file_is_one_line():
    result = invoke("probe", "nowhere.pt", "--dataset", DATA)
    assert result.exit_code == 2 and "'nowhere.pt': no such file" in result.output


def test_a_malicious_pickle_as_a_compared_checkpoint_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": {}, "settings": {}, "plugins": [], "payload": Payload(tmp_path / "pwned")}, "evil.pt")
    torch.jit.save(torch.jit.script(tiny()), tmp_path / "scripted.pt")
    result = invoke("probe", "evil.pt", "scripted.pt", "--dataset", DATA)
    assert result.exit_code == 2 and "refused" in result.output
    assert not (tmp_path / "pwned").exists()
