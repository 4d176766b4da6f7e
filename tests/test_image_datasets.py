"""MNIST, FashionMNIST, SVHN, STL-10 and image folders: fakes in torchvision's layout, offline."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from click.testing import CliRunner
from PIL import Image

from ablate.cli import cli
from ablate.core.errors import AblateError
from ablate.core.schema import PROBE_COUNTS
from ablate.data.loading import load_full


def idx(path, array: np.ndarray) -> None:
    """An IDX file (MNIST's format): magic, sizes, bytes."""
    code = 0x08 << 8 | array.ndim
    path.write_bytes(struct.pack(">I", code) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def write_fake_mnist(root, folder: str, n: int = 12):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix in ("train", "t10k"):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        idx(raw / f"{prefix}-images-idx3-ubyte", x)
        idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        arrays[prefix] = (x, y)
    return arrays


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashionmnist", "FashionMNIST")])
def test_mnist_like_loads_as_grey_nchw(name, folder, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path))
    arrays = write_fake_mnist(tmp_path, folder)
    data = load_full(name)
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_train.dtype == torch.uint8
    assert torch.equal(data.x_test[:, 0], torch.from_numpy(arrays["t10k"][0]))
    assert data.y_test.tolist() == arrays["t10k"][1].tolist() and len(data.classes) == 10
    assert no_network == []


@pytest.mark.parametrize("name", ["mnist", "fashionmnist", "svhn", "stl10"])
def test_missing_data_offline_is_one_line_with_the_fix(name, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(AblateError) as error:
        load_full(name)
    message = str(error.value)
    assert "\n" not in message and "download failed" in message and "ABLATE_DATA" in message
    assert no_network


def test_svhn_reads_the_mat_files_with_label_10_as_0(tmp_path, monkeypatch, no_network):
    from scipy.io import savemat

    monkeypatch.setenv("ABLATE_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    for split in ("train", "test"):
        savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [3], [9]], dtype=np.uint8)})
    data = load_full("svhn")
    assert data.x_test.shape == (5, 3, 32, 32) and data.y_test.tolist() == [0, 1, 2, 3, 9]
    assert torch.equal(data.x_test[4], torch.from_numpy(x[..., 4]).permute(2, 0, 1))


def test_stl10_reads_its_binaries(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path))
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 96, 96), dtype=np.uint8)
    for split in ("train", "test"):
        images.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")           # stored column-major
        np.array([1, 2, 10, 3], dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    data = load_full("stl10")
    assert torch.equal(data.x_test, torch.from_numpy(images)) and data.y_test.tolist() == [0, 1, 9, 2]


def write_image_folder(root, size=(64, 48), per_class: int = 4, mode: str = "RGB"):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{k}.png")
    return root


def test_an_image_folder_loads_in_memory(tmp_path):
    write_image_folder(tmp_path / "pets", mode="L")
    data = load_full(f"imagefolder:{tmp_path / 'pets'}")
    assert data.classes == ["cat", "dog"] and data.x_test.shape == (8, 1, 48, 64)
    assert data.y_test.tolist() == [0] * 4 + [1] * 4


def test_an_image_folder_of_several_sizes_needs_image_size_and_loads_at_it(tmp_path):
    from ablate.data.loading import load_data
    from ablate.study.settings import Settings

    root = tmp_path / "mixed"
    for name, (size, mode, value) in {"big": ((64, 48), "RGB", (200, 10, 90)), "grey": ((20, 30), "L", 77),
                                      "small": ((24, 24), "RGB", (5, 250, 128))}.items():
        (root / name).mkdir(parents=True)
        for k in range(2):
            Image.new(mode, size, value).save(root / name / f"{k}.png")
    with pytest.raises(AblateError, match=r"images of several sizes .*set image_size = N in the recipe"):
        load_full(f"imagefolder:{root}")
    settings = Settings(dataset=f"imagefolder:{root}", image_size=16)
    data = load_data(settings)
    assert data.x_train.shape == (6, 3, 16, 16) and data.x_train.dtype == torch.uint8
    assert data.classes == ["big", "grey", "small"] and data.y_test.tolist() == [0, 0, 1, 1, 2, 2]
    for k, colour in ((0, (200, 10, 90)), (2, (77, 77, 77)), (4, (5, 250, 128))):    # plain colours stay exact
        assert torch.equal(data.x_test[k], torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1).expand(3, 16, 16))
    assert "image_size" in settings.identity() and "image_size" not in Settings().identity()


def test_image_size_brings_any_data_set_to_its_size(tmp_path):
    from ablate.study.settings import Settings

    own = load_full("synthetic:train=8,test=8,size=32")
    resized = load_full("synthetic:train=8,test=8,size=32", Settings(image_size=16))
    assert own.x_test.shape[-2:] == (32, 32) and resized.x_test.shape == (8, 3, 16, 16)
    expected = torch.nn.functional.interpolate(own.x_test.float(), size=(16, 16), mode="bilinear", antialias=True)
    assert (resized.x_test.float() - expected).abs().max() <= 1            # rounding to uint8
    assert torch.equal(resized.y_test, own.y_test)


def test_a_torchvision_resnet_probes_an_image_folder_of_64x48_pngs(tmp_path):
    write_image_folder(tmp_path / "pets")
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), tmp_path / "r18.pt")
    result = CliRunner().invoke(cli, ["probe", "torchvision:resnet18", "--weights", str(tmp_path / "r18.pt"),
                                      "--image-size", "32", "--dataset", f"imagefolder:{tmp_path / 'pets'}",
                                      "--radii", "2,8", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(tmp_path / "out" / PROBE_COUNTS)
    assert (counts[["lfc_only", "hfc_only", "both", "neither"]].sum(axis=1) == 8).all()


def test_limit_takes_a_stratified_subset_of_a_streamed_image_folder(tmp_path):
    from ablate.core.schema import PROBE_PER_CLASS

    write_image_folder(tmp_path / "pets", per_class=5)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), tmp_path / "r18.pt")
    result = CliRunner().invoke(cli, ["probe", "torchvision:resnet18", "--weights", str(tmp_path / "r18.pt"),
                                      "--image-size", "32", "--dataset", f"imagefolder:{tmp_path / 'pets'}",
                                      "--radii", "4", "--limit", "4", "--per-class", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    per_class = pd.read_csv(tmp_path / "out" / PROBE_PER_CLASS)
    assert per_class.groupby("class")["images"].first().to_dict() == {"cat": 2, "dog": 2}   # not the first 4 cats


def test_a_streamed_folder_gives_the_same_images_with_decoding_workers(tmp_path):
    from ablate.data.image_datasets import imagefolder_stream

    write_image_folder(tmp_path / "pets", per_class=3)
    plain, classes = imagefolder_stream(str(tmp_path / "pets"))
    parallel, _ = imagefolder_stream(str(tmp_path / "pets"), workers=2)
    pairs = list(zip(plain, parallel, strict=True))
    assert classes == ["cat", "dog"] and len(pairs) == 6
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)


def test_a_streamed_folder_is_named_by_its_files(tmp_path):
    import os

    from ablate.data.image_datasets import imagefolder_stream, stream_fingerprint

    folder = write_image_folder(tmp_path / "pets", per_class=3)
    first = stream_fingerprint(imagefolder_stream(str(folder))[0])
    assert stream_fingerprint(imagefolder_stream(str(folder))[0]) == first
    assert stream_fingerprint(imagefolder_stream(str(folder), limit=4)[0]) != first     # other images
    picture = folder / "dog" / "1.png"
    stat = picture.stat()
    Image.fromarray(np.zeros((48, 64, 3), dtype=np.uint8)).save(picture)               # rewritten in place
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert stream_fingerprint(imagefolder_stream(str(folder))[0]) != first
