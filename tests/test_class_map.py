"""--class-map: a data set's classes onto a model's outputs, read as data, with one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from click.testing import CliRunner
from PIL import Image

from ablate.any_model.class_map import read_class_map
from ablate.cli import cli
from ablate.core.errors import AblateError
from ablate.core.schema import PROBE_PER_CLASS, PROBE_RESULTS

CLASSES = ["bright", "dark"]
BRIGHT_OUTPUT, DARK_OUTPUT, OUTPUTS = 3, 1, 5

# A model of 5 outputs that answers output 3 for bright images and 1 for dark ones: right on the folder
# below only once "bright" -> 3 and "dark" -> 1 (without a map, "bright" is label 0 and always wrong).
BRIGHTNESS_NET = f"""
import torch
from torch import nn

class Brightness(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x):
        bright = (x.mean(dim=(1, 2, 3)) > 0.5).float()
        out = torch.zeros(len(x), self.num_classes)
        out[:, {BRIGHT_OUTPUT}] = bright
        out[:, {DARK_OUTPUT}] = 1 - bright
        return out
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder of bright and dark 16x12 PNGs, and the brightness model importable as brightnets:Brightness."""
    rng = np.random.default_rng(0)
    for name, low in (("bright", 180), ("dark", 0)):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(low, low + 70, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels, "RGB").save(tmp_path / "pics" / name / f"{k}.png")
    (tmp_path / "brightnets.py").write_text(BRIGHTNESS_NET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def original_accuracy(path) -> float:
    results = pd.read_csv(path / PROBE_RESULTS)
    return float(results[(results["component"] == "original") & (results["metric"] == "accuracy")]["value"].iloc[0])


def test_json_and_text_maps_give_the_same_lookup(tmp_path):
    (tmp_path / "map.json").write_text('{"dark": 1, "bright": 3}')
    (tmp_path / "map.csv").write_text("# folder,output\nclass,index\nbright, 3\n\ndark,1\n")
    for name in ("map.json", "map.csv"):
        assert read_class_map(tmp_path / name, CLASSES).tolist() == [3, 1]


@pytest.mark.parametrize("file, text, message", [
    ("m.json", '{"bright": 3, "dark": 1, "grey": 2}', "'grey' is not a class of the data set"),
    ("m.json", '{"bright": 3}', "1 of the data set's 2 classes have no output index ('dark')"),
    ("m.json", '{"bright": 3, "dark": 1, "bright": 4}', "class 'bright' is mapped twice"),
    ("m.json", '{"bright": "3", "dark": 1}', "maps to '3'; an output index must be an integer >= 0"),
    ("m.json", '{"bright": -1, "dark": 1}', "maps to -1"),
    ("m.json", '{"bright": true, "dark": 1}', "maps to True"),
    ("m.json", '[["bright", 3]]', "expected one JSON object"),
    ("m.json", '{"bright": 3,', "not valid JSON"),
    ("m.csv", "bright,3\ndark", "line 2 'dark': expected class,index"),
    ("m.csv", "bright,3\ndark,one", "class 'dark' maps to 'one'"),
    ("m.csv", "bright,3\nclass,index\ndark,1", "class 'class' maps to 'index'"),      # a header only first
])
def test_a_bad_map_is_one_line_naming_what_is_wrong(tmp_path, file, text, message):
    (tmp_path / file).write_text(text)
    with pytest.raises(AblateError) as error:
        read_class_map(tmp_path / file, CLASSES)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_map_is_never_executed(tmp_path):
    (tmp_path / "map.json").write_text('{"__import__(\'os\').system(\'touch pwned\')": 1}')
    with pytest.raises(AblateError, match="is not a class of the data set"):
        read_class_map(tmp_path / "map.json", CLASSES)
    assert not (tmp_path / "pwned").exists()


def test_a_class_map_sends_folder_classes_to_the_models_outputs(folder):
    (folder / "map.csv").write_text(f"bright,{BRIGHT_OUTPUT}\ndark,{DARK_OUTPUT}\n")
    unmapped = invoke("probe", "brightnets:Brightness", "--dataset", "imagefolder:pics", "--num-classes", OUTPUTS,
                      "--radii", "2", "--out", "plain")
    assert unmapped.exit_code == 0, unmapped.output
    assert original_accuracy(folder / "plain") == pytest.approx(0.5)        # only "dark" (label 1) happens to fit
    mapped = invoke("probe", "brightnets:Brightness", "--class-map", "map.csv", "--dataset", "imagefolder:pics",
                    "--num-classes", OUTPUTS, "--radii", "2", "--per-class", "--out", "mapped")
    assert mapped.exit_code == 0, mapped.output
    assert original_accuracy(folder / "mapped") == 1.0
    per_class = pd.read_csv(folder / "mapped" / PROBE_PER_CLASS)
    assert sorted(per_class["class"].unique()) == CLASSES                   # named by the data, not the outputs
    original = per_class[per_class["component"] == "original"]
    assert (original["accuracy"] == 1.0).all() and (original["images"] == 3).all()


def test_a_map_beyond_the_models_outputs_is_one_line(folder):
    (folder / "map.json").write_text('{"bright": 7, "dark": 1}')
    result = invoke("probe", "brightnets:Brightness", "--class-map", "map.json", "--dataset", "imagefolder:pics",
                    "--num-classes", OUTPUTS, "--radii", "2", "--out", "out")
    assert result.exit_code == 2
    assert "the class map names output 7 but the model has 5 outputs" in result.output


def test_imagenet_weights_on_other_classes_need_a_map(tmp_path, monkeypatch):
    """torchvision's own weights (a random ResNet-18 standing in, in torch's cache) keep their 1000 outputs."""
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.chdir(tmp_path)
    args = ["probe", "torchvision:resnet18", "--weights", "DEFAULT", "--image-size", "32", "--dataset",
            "synthetic:train=20,test=20", "--radii", "4", "--limit", "10"]
    refused = invoke(*args)
    assert refused.exit_code == 2
    assert "its 1000 outputs are not the data set's 10 classes; map each class to an output with --class-map" \
        in refused.output
    classes = [f"class{k}" for k in range(10)]
    (tmp_path / "map.csv").write_text("".join(f"{name},{400 + k}\n" for k, name in enumerate(classes)))
    (tmp_path / "far.csv").write_text("".join(f"{name},{1000 + k}\n" for k, name in enumerate(classes)))
    far = invoke(*args[:4], "--class-map", "far.csv", *args[4:])
    assert far.exit_code == 2 and "output 1009 is beyond torchvision:resnet18's 1000 outputs" in far.output
    mapped = invoke(*args[:4], "--class-map", "map.csv", *args[4:])
    assert mapped.exit_code == 0, mapped.output
    assert (tmp_path / "probe" / PROBE_RESULTS).exists()
