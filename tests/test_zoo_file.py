"""examples/zoo-torchvision.toml lists every torchvision ImageNet classifier with its weights' own preprocessing."""

import sys
from pathlib import Path

import pytest
from torchvision import models

from ablate.any_model.model_specs import read_models_file
from ablate.any_model.zoo import Preprocess, user_preprocess

ZOO = Path(__file__).resolve().parents[1] / "examples" / "zoo-torchvision.toml"


@pytest.fixture(scope="module")
def specs():
    return {spec.name: spec for spec in read_models_file(ZOO, {})}


def test_every_classifier_is_listed_once(specs):
    assert sorted(specs) == sorted(models.list_models(module=models))
    assert all(spec.source == f"torchvision:{name}" for name, spec in specs.items())


def test_every_classifier_has_its_trained_weights(specs):
    """The preprocessing is that of the DEFAULT weights, so the weights must be those too: without
    ``weights``, a torchvision model is randomly initialised."""
    assert {spec.weights for spec in specs.values()} == {"DEFAULT"}


def test_preprocessing_is_the_weights_metadata(specs):
    """Each table against torchvision's own DEFAULT weights' transforms (what the weights were evaluated with)."""
    for name, spec in specs.items():
        transforms = models.get_model_weights(name).DEFAULT.transforms()
        assert (spec.resize, spec.image_size) == (transforms.resize_size[0], transforms.crop_size[0]), name
        assert spec.interpolation == transforms.interpolation.value, name
        assert spec.mean == pytest.approx(tuple(transforms.mean)) and spec.std == pytest.approx(tuple(transforms.std))


def test_the_table_reaches_the_model_input(specs):
    """What the file says is what the probe uses: resize, crop, interpolation, mean and std."""
    spec = next(s for s in specs.values() if s.interpolation == "bicubic")
    used = user_preprocess(spec, Preprocess(channels=3))
    assert (used.resize, used.image_size, used.interpolation) == (spec.resize, spec.image_size, "bicubic")
    assert (used.mean, used.std) == (spec.mean, spec.std)


def test_interpolation_is_used_when_resizing():
    import torch

    from ablate.data.resizing import resize_crop

    x = torch.rand(2, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    bilinear, bicubic = resize_crop(x, 10, 8), resize_crop(x, 10, 8, "bicubic")
    assert bilinear.shape == bicubic.shape == (2, 3, 8, 8)
    reference = torch.nn.functional.interpolate(x, size=(10, 15), mode="bicubic", antialias=True).clamp(0, 1)
    assert torch.allclose(bicubic, reference[..., 1:9, 3:11]) and not torch.allclose(bilinear, bicubic)


# --------------------------------------------------------------------------
# A zoo file is data people share: hostile entries are refused in one line, before any work
# --------------------------------------------------------------------------

SMALL = "synthetic:train=40,test=40"
NETS = ("import pathlib\n"
        "import torch\n"
        "import torch.nn as nn\n"
        "pathlib.Path('imported').write_text('zoo_nets was imported')      # a visible trace of running code\n"
        "def net(num_classes):\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, num_classes))\n"
        "def boom():\n"
        "    raise ValueError('kaboom')\n")


def zoo_folder(tmp_path, monkeypatch, *entries: str) -> Path:
    """``tmp_path`` as the current folder, with zoo_nets.py (importing it leaves ``imported``) and zoo.toml of one
    [[model]] table per entry."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "zoo_nets", raising=False)       # imported afresh, from here
    (tmp_path / "zoo_nets.py").write_text(NETS)
    (tmp_path / "zoo.toml").write_text("".join(f"[[model]]\n{entry}\n" for entry in entries))
    return tmp_path


def probe_zoo(*more):
    from click.testing import CliRunner

    from ablate.cli import cli

    return CliRunner().invoke(cli, ["probe", "--models", "zoo.toml", "--dataset", SMALL, "--radii", "2", "--limit",
                                    "10", "--device", "cpu", "--out", "out", *more])


def one_line(result, *texts: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "Traceback" not in result.output and all(text in lines[0] for text in texts), lines[0]
    return lines[0]


def test_a_models_file_runs_no_code_unless_trusted(tmp_path, monkeypatch):
    """module:factory in a zoo file is refused before anything is imported; --trust-zoo-code lets it run, and on
    the command line, where the user types it, it needs no flag."""
    zoo_folder(tmp_path, monkeypatch, 'source = "zoo_nets:net"')
    one_line(probe_zoo(), "model 1: source = 'zoo_nets:net' would import and run Python code", "--trust-zoo-code")
    assert not (tmp_path / "imported").exists() and not (tmp_path / "out").exists()
    (tmp_path / "zoo.toml").write_text('[[model]]\nsource = "os:abort"\n')
    one_line(probe_zoo(), "--trust-zoo-code")                # refused, not called: the tests go on running
    (tmp_path / "zoo.toml").write_text('[[model]]\nsource = "zoo_nets:net"\n')
    trusted = probe_zoo("--trust-zoo-code")
    assert trusted.exit_code == 0, trusted.output
    assert (tmp_path / "imported").exists()


def test_a_model_named_on_the_command_line_may_be_code(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ablate.cli import cli

    zoo_folder(tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["probe", "zoo_nets:net", "--dataset", SMALL, "--radii", "2", "--limit", "10",
                                      "--device", "cpu", "--out", "out"])
    assert result.exit_code == 0, result.output


GOOD = [f'source = "zoo_nets:net"\nname = "good {k}"' for k in range(4)]
# the fifth entry of a zoo, and what the one line says of it
BAD_ENTRIES = {
    "name that is a number": ('source = "zoo_nets:net"\nname = 3', "model 5: name = 3: expected text"),
    "image size beyond floats": ('source = "zoo_nets:net"\nimage_size = 1e400', "model 5: image_size = inf"),
    "huge resize": ('source = "zoo_nets:net"\nimage_size = 8\nresize = 99999999', "model 5: resize = 99999999"),
    "zero std": ('source = "zoo_nets:net"\nmean = [0, 0, 0]\nstd = [0, 0, 0]', "model 5: std = [0, 0, 0]"),
    "nan std": ('source = "zoo_nets:net"\nstd = [nan, nan, nan]', "model 5: std = [nan, nan, nan]"),
    "unknown interpolation": ('source = "zoo_nets:net"\ninterpolation = "foo"', "model 5: interpolation = 'foo'"),
    "missing model file": ('source = "gone.pt"', "model 5: source = 'gone.pt': no such file"),
    "missing weights": ('source = "torchvision:resnet18"\nweights = "gone.pt"', "--weights gone.pt: no such file"),
    "missing class map": ('source = "zoo_nets:net"\nclass_map = "gone.json"', "--class-map gone.json: no such file"),
    "factory needing arguments": ('source = "json:loads"', "'json:loads': the factory needs s"),
    "unknown torchvision model": ('source = "torchvision:resnet99"', "torchvision:resnet99: no such torchvision"),
    "fake TorchScript file": ('source = "fake.pt"', "fake.pt: a damaged TorchScript file"),
    "a table that is not one": ("", "model 5 needs 'source'"),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES))
def test_a_bad_fifth_model_stops_the_zoo_before_the_first_image(case, tmp_path, monkeypatch):
    import zipfile

    entry, message = BAD_ENTRIES[case]
    zoo_folder(tmp_path, monkeypatch, *GOOD, entry)
    with zipfile.ZipFile(tmp_path / "fake.pt", "w") as archive:
        archive.writestr("fake/code/__torch__.py", "not code")
    one_line(probe_zoo("--trust-zoo-code"), "--models zoo.toml: model 5" if "model 5" in message else "", message)
    assert not (tmp_path / "out").exists()                   # nothing measured, nothing written


def test_a_zoo_file_that_is_not_text_is_one_line(tmp_path, monkeypatch):
    zoo_folder(tmp_path, monkeypatch)
    (tmp_path / "zoo.toml").write_bytes(bytes(range(256)) * 4)
    one_line(probe_zoo(), "--models zoo.toml: not a TOML text file")


def test_what_a_model_raises_while_it_is_built_is_one_line(tmp_path, monkeypatch):
    """Only building the model finds these: a factory that raises, a TorchScript file damaged inside."""
    import io
    import zipfile

    import torch

    zoo_folder(tmp_path, monkeypatch, 'source = "zoo_nets:boom"')
    one_line(probe_zoo("--trust-zoo-code"), "model 'zoo_nets:boom': the factory failed (ValueError: kaboom)")
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buffer)
    with zipfile.ZipFile(buffer) as real, zipfile.ZipFile(tmp_path / "scripted.pt", "w") as damaged:
        for name in real.namelist():
            damaged.writestr(name, b"\x80junk" if name.endswith("data.pkl") else real.read(name))
    (tmp_path / "zoo.toml").write_text('[[model]]\nsource = "scripted.pt"\n')
    one_line(probe_zoo(), "scripted.pt: a damaged TorchScript file")


def huge_labels(arrays: dict) -> dict:
    """``labels`` whose header claims 2**45 int64 values (256 TiB): numpy would allocate that before reading."""
    import io

    import numpy as np

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (2 ** 45,)})
    return {**arrays, "labels": header.getvalue()}


def with_meta(arrays: dict, change) -> dict:
    import json

    import numpy as np

    return {**arrays, "meta": np.array(json.dumps(change(json.loads(str(arrays["meta"])))))}


# how a kept measurement is damaged: its bytes, or its arrays changed (and the reason said)
DAMAGED = {
    "truncated": lambda data, arrays: data[:len(data) // 2],
    "empty": lambda data, arrays: b"",
    "metadata that is a list": lambda data, arrays: with_meta(arrays, lambda meta: [meta]),
    "metadata with an extra key": lambda data, arrays: with_meta(arrays, lambda meta: {**meta, "extra": 1}),
    "other radii": lambda data, arrays: with_meta(arrays, lambda meta: {**meta, "radii": [7]}),
    "a short correct array": lambda data, arrays: {**arrays, "correct": arrays["correct"][:, :5]},
    "correct as floats": lambda data, arrays: {**arrays, "correct": arrays["correct"].astype("float32")},
    "labels beyond the classes": lambda data, arrays: {**arrays, "labels": arrays["labels"] + 50},
    "a header claiming 256 TiB": lambda data, arrays: huge_labels(arrays),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_kept_measurement_is_measured_again_and_said(case, tmp_path, monkeypatch):
    import zipfile

    import numpy as np
    import pandas as pd

    from ablate.any_model.measurements import read_measured
    from ablate.core.schema import MEASURED, PROBE_RESULTS

    zoo_folder(tmp_path, monkeypatch, 'source = "zoo_nets:net"')
    first = probe_zoo("--trust-zoo-code")
    assert first.exit_code == 0, first.output
    results = pd.read_csv(tmp_path / "out" / PROBE_RESULTS)
    [kept] = (tmp_path / "out" / MEASURED).iterdir()
    with np.load(kept) as archive:
        arrays = {key: archive[key] for key in archive.files}
    damaged = DAMAGED[case](kept.read_bytes(), arrays)
    if isinstance(damaged, bytes):
        kept.write_bytes(damaged)
    else:
        with zipfile.ZipFile(kept, "w") as archive:          # raw members: a header may claim anything
            for key, value in damaged.items():
                if isinstance(value, np.ndarray):
                    with archive.open(f"{key}.npy", "w") as member:
                        np.lib.format.write_array(member, value, allow_pickle=False)
                else:
                    archive.writestr(f"{key}.npy", value)
    again = probe_zoo("--trust-zoo-code")
    assert again.exit_code == 0, again.output
    said = [line for line in again.output.splitlines() if "ignored" in line]
    assert len(said) == 1 and f"ablate: ignored {kept.relative_to(tmp_path)} (" in said[0], again.output
    assert "measuring zoo_nets:net again" in said[0] and "read back" not in again.output
    assert pd.read_csv(tmp_path / "out" / PROBE_RESULTS).equals(results)
    assert read_measured(kept).name == "zoo_nets:net"        # replaced by a whole one
