"""Datasets: CIFAR through torchvision's real code path, npz checks, the synthetic data, subsetting."""

from __future__ import annotations

import hashlib
import os
import pickle
import socket

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

from ablate import AblateError, Data, Settings
from ablate.core.registry import RegistryEntry, get_registry
from ablate.data.loading import balanced_quotas, clear_cache, load_data, load_full, stratified_indices
from ablate.data.synthetic import band_waves, load_synthetic, parse_synthetic_options
from ablate.spectral.frequency import split


@pytest.fixture(autouse=True)
def empty_cache():
    clear_cache()
    yield
    clear_cache()


def settings(dataset: str, train_size: int = 0, test_size: int = 0, **more) -> Settings:
    return Settings(dataset=dataset, train_size=train_size, test_size=test_size, **more)


def register_dataset(monkeypatch, name: str, loader) -> None:
    """Put a loader in the registry for one test, as a plugin's registration would."""
    monkeypatch.setitem(get_registry().registry("datasets"), name, RegistryEntry(loader, "", "test-plugin"))


# --------------------------------------------------------------------------
# CIFAR
# --------------------------------------------------------------------------

CIFAR_LAYOUT = {
    # name: (torchvision class, folder, {file: images}, label key, meta file, meta key)
    "cifar10": (tv_cifar.CIFAR10, "cifar-10-batches-py",
                {**{f"data_batch_{i}": 4 for i in range(1, 6)}, "test_batch": 6}, "labels", "batches.meta",
                "label_names"),
    "cifar100": (tv_cifar.CIFAR100, "cifar-100-python", {"train": 12, "test": 5}, "fine_labels", "meta",
                 "fine_label_names"),
}


def write_fake_cifar(root, name, monkeypatch):
    """A small CIFAR in torchvision's on-disk layout; the class's checksums are set to the fake's.

    Returns {file: (rows uint8 (n, 3072), labels)} and the class names.
    """
    cls, folder, files, label_key, meta_file, meta_key = CIFAR_LAYOUT[name]
    rng = np.random.default_rng(1)
    (root / folder).mkdir(parents=True)
    classes = [f"thing{k}" for k in range(3)]
    written, md5 = {}, {}

    def dump(file, obj):
        path = root / folder / file
        path.write_bytes(pickle.dumps(obj, protocol=2))
        md5[file] = hashlib.md5(path.read_bytes()).hexdigest()

    for file, count in files.items():
        rows = rng.integers(0, 256, size=(count, 3 * 32 * 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, len(classes), size=count)]
        dump(file, {"data": rows, label_key: labels, "coarse_labels": labels, "batch_label": "fake"})
        written[file] = (rows, labels)
    dump(meta_file, {meta_key: classes, "coarse_label_names": classes})
    monkeypatch.setattr(cls, "train_list", [[f, md5[f]] for f in files if "test" not in f])
    monkeypatch.setattr(cls, "test_list", [[f, md5[f]] for f in files if "test" in f])
    monkeypatch.setattr(cls, "meta", {"filename": meta_file, "key": meta_key, "md5": md5[meta_file]})
    return written, classes


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_loads_torchvision_layout_as_nchw_uint8(name, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path))
    written, classes = write_fake_cifar(tmp_path, name, monkeypatch)
    data = load_data(settings(name))
    train_files = [f for f in written if "test" not in f]
    rows = np.concatenate([written[f][0] for f in train_files])
    labels = sum((written[f][1] for f in train_files), [])
    assert data.x_train.dtype == torch.uint8 and data.x_train.shape == (len(rows), 3, 32, 32)
    # CIFAR rows are the red plane, then green, then blue: exactly NCHW
    assert torch.equal(data.x_train, torch.from_numpy(rows.reshape(-1, 3, 32, 32)))
    assert data.y_train.dtype == torch.int64 and data.y_train.tolist() == labels
    test_rows, test_labels = next(v for f, v in written.items() if "test" in f)
    assert torch.equal(data.x_test, torch.from_numpy(test_rows.reshape(-1, 3, 32, 32)))
    assert data.y_test.tolist() == test_labels
    assert data.classes == classes
    assert no_network == []                                  # present data: no download attempted


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_missing_cifar_offline_is_one_line_naming_the_folder(name, folder, tmp_path, monkeypatch, no_network):
    root = tmp_path / "nowhere"
    monkeypatch.setenv("ABLATE_DATA", str(root))
    timeout_before = socket.getdefaulttimeout()
    with pytest.raises(AblateError) as error:
        load_data(settings(name))
    message = str(error.value)
    assert len(no_network) == 1 and no_network[0].startswith("https://")      # the download was tried
    assert "\n" not in message
    assert folder in message and str(root) in message
    assert "--dataset synthetic" in message and "URLError" in message
    assert socket.getdefaulttimeout() == timeout_before


def test_corrupted_cifar_is_downloaded_again_and_reported(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path))
    write_fake_cifar(tmp_path, "cifar10", monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(AblateError, match="cifar-10-batches-py"):
        load_data(settings("cifar10"))
    assert len(no_network) == 1


def test_cifar_rejects_an_argument():
    with pytest.raises(AblateError, match="takes no argument"):
        load_data(settings("cifar10:/some/path"))


# --------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------

def npz_arrays(**changes):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8),
              "y_train": np.arange(12) % 3,
              "x_test": rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
              "y_test": np.arange(6) % 3,
              "classes": np.array(["cat", "dog", "emu"])}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def write_npz(tmp_path, **changes):
    path = tmp_path / "mine.npz"
    np.savez(path, **npz_arrays(**changes))
    return path


def test_npz_loads_nhwc_as_nchw(tmp_path):
    path = write_npz(tmp_path)
    expected = npz_arrays()
    data = load_data(settings(f"npz:{path}"))
    assert torch.equal(data.x_train, torch.from_numpy(expected["x_train"]).permute(0, 3, 1, 2))
    assert data.x_train.is_contiguous() and data.x_test.shape == (6, 3, 8, 8)
    assert data.y_train.dtype == torch.int64 and data.y_test.tolist() == expected["y_test"].tolist()
    assert data.classes == ["cat", "dog", "emu"]


def test_a_changed_npz_under_the_same_name_is_read_again_in_one_process(tmp_path):
    from ablate.data.loading import data_fingerprint
    path = write_npz(tmp_path)
    first = load_data(settings(f"npz:{path}"))
    fingerprint = data_fingerprint(f"npz:{path}")
    changed = npz_arrays(y_train=np.array([1, 0] * 6, dtype=np.uint8))
    np.savez(path, **changed)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))     # a later write, even on a coarse clock
    again = load_data(settings(f"npz:{path}"))
    assert torch.equal(again.y_train, torch.from_numpy(changed["y_train"]).long())
    assert not torch.equal(again.y_train, first.y_train)
    assert data_fingerprint(f"npz:{path}") != fingerprint


def test_npz_without_classes_names_them_by_index(tmp_path):
    path = write_npz(tmp_path, classes=None, y_train=np.array([0, 4] * 6, dtype=np.uint8))
    assert load_data(settings(f"npz:{path}")).classes == ["0", "1", "2", "3", "4"]


BAD_NPZ = {
    "missing key": (dict(y_test=None), ["'y_test'", "missing", "x_train, y_train, x_test, y_test"]),
    "float pixels": (dict(x_train=np.zeros((12, 8, 8, 3), np.float32)), ["'x_train'", "float32", "uint8"]),
    "3-D images": (dict(x_test=np.zeros((6, 8, 8), np.uint8)), ["'x_test'", "(6, 8, 8)", "(N, H, W, C)"]),
    "channels first": (dict(x_train=np.zeros((12, 3, 8, 8), np.uint8)), ["'x_train'", "(12, 3, 8, 8)", "transpose"]),
    "float labels": (dict(y_train=np.zeros(12, np.float64)), ["'y_train'", "float64", "integer"]),
    "one-hot labels": (dict(y_train=np.eye(3, dtype=np.int64)[np.arange(12) % 3]), ["'y_train'", "(12, 3)", "1-D"]),
    "too few labels": (dict(y_test=np.arange(5) % 3), ["'y_test'", "5 labels", "6 images"]),
    "label beyond classes": (dict(y_train=np.arange(12) % 4), ["labels go up to 3", "3 classes", "0..2"]),
    "negative label": (dict(y_test=np.array([0, 1, -1, 0, 1, 2])), ["'y_test'", "-1", "0..K-1"]),
    "different image sizes": (dict(x_test=np.zeros((6, 9, 9, 3), np.uint8)), ["(8, 8, 3)", "(9, 9, 3)"]),
    "numeric classes": (dict(classes=np.arange(3)), ["'classes'", "int64", "strings"]),
    "no images": (dict(x_train=np.zeros((0, 8, 8, 3), np.uint8), y_train=np.zeros(0, np.int64)),
                  ["'x_train'", "no images"]),
    # without `classes`, K = largest label + 1 only when sane and dense (a million-class model otherwise)
    "a label of a million": (dict(classes=None, y_train=np.array([0, 1, 2] * 3 + [0, 1, 10**6])),
                             ["label 1000000", "1000001 classes", "only 4 distinct labels", "'classes'"]),
    "a label of 2**62": (dict(classes=None, y_test=np.array([0, 1, 2, 0, 1, 2**62], dtype=np.int64)),
                         ["label 4611686018427387904", "at most 100000"]),
    "sparse labels": (dict(classes=None, y_train=np.arange(12) % 3 * 10, y_test=np.arange(6) % 3 * 10),
                      ["label 20", "21 classes", "only 3 distinct labels"]),
}


@pytest.mark.parametrize("case", BAD_NPZ)
def test_npz_rejects_bad_arrays_naming_file_key_found_and_expected(case, tmp_path):
    changes, fragments = BAD_NPZ[case]
    path = write_npz(tmp_path, **changes)
    with pytest.raises(AblateError) as error:
        load_data(settings(f"npz:{path}"))
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_npz_rejects_missing_file_no_path_and_non_npz(tmp_path):
    with pytest.raises(AblateError, match="does not exist"):
        load_data(settings(f"npz:{tmp_path / 'absent.npz'}"))
    with pytest.raises(AblateError, match="needs the path"):
        load_data(settings("npz"))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive")
    with pytest.raises(AblateError, match="cannot be read"):
        load_data(settings(f"npz:{garbage}"))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(AblateError, match="single array"):
        load_data(settings(f"npz:{single}"))


def test_npz_with_object_arrays_is_refused_without_unpickling(tmp_path):
    path = write_npz(tmp_path, classes=np.array(["cat", 1, None], dtype=object))
    with pytest.raises(AblateError, match="'classes'.*pickle"):
        load_data(settings(f"npz:{path}"))


# --------------------------------------------------------------------------
# synthetic
# --------------------------------------------------------------------------

def test_synthetic_defaults_are_cifar_shaped_and_balanced():
    data = load_data(settings("synthetic"))
    assert data.x_train.shape == (2000, 3, 32, 32) and data.x_test.shape == (500, 3, 32, 32)
    assert data.x_train.dtype == torch.uint8 and data.num_classes == 10
    assert torch.bincount(data.y_train).tolist() == [200] * 10
    assert 110 < data.x_train.float().mean() < 146        # around mid-grey


def test_synthetic_same_seed_same_tensors_other_seed_other_tensors():
    first, again = load_synthetic("train=50,test=20,seed=3"), load_synthetic("train=50,test=20,seed=3")
    other = load_synthetic("train=50,test=20,seed=4")
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, field), getattr(again, field))
    assert not torch.equal(first.x_train, other.x_train)
    assert not torch.equal(first.x_test, other.x_test)


def test_synthetic_options_change_shape_and_classes():
    data = load_synthetic("train=30,test=12,size=16,channels=1,classes=3")
    assert data.x_train.shape == (30, 1, 16, 16) and data.x_test.shape == (12, 1, 16, 16)
    assert data.classes == ["class0", "class1", "class2"]


@pytest.mark.parametrize("arg, fragment", [
    ("lo=1", "unknown option 'lo'; known options: low, high, noise"),
    ("low=abc", "option 'low' needs a float"),
    ("train", "option 'train' needs a int"),
    ("classes=1", "option 'classes' is 1; it must be >= 2"),
    ("noise=-1", "option 'noise' is -1.0"),
    ("low_radius=5,high_radius=4", "high_radius (4.0) must exceed low_radius (5.0)"),
    ("waves=20", "holds only 14 waves"),
])
def test_synthetic_rejects_bad_options(arg, fragment):
    with pytest.raises(AblateError) as error:
        load_data(settings(f"synthetic:{arg}"))
    assert fragment in str(error.value)


def spectrum_energy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Power per fftshift-ed frequency, summed over images and channels, and the distance of each bin."""
    x = x.double() - x.double().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)).abs().pow(2).sum(dim=(0, 1))
    f = torch.arange(x.shape[-1]) - x.shape[-1] // 2
    return power, torch.hypot(f[:, None].double(), f[None, :].double())


def test_synthetic_bands_hold_their_energy_where_documented():
    low_only = load_synthetic("high=0,noise=0,train=100,test=10").x_train
    high_only = load_synthetic("low=0,noise=0,train=100,test=10").x_train
    power, dist = spectrum_energy(low_only)
    assert power[dist <= 3].sum() / power.sum() > 0.99
    power, dist = spectrum_energy(high_only)
    assert power[dist > 12].sum() / power.sum() > 0.99
    assert len(band_waves(32, 0, 3)) == 14          # 28 bins with 0 < dist <= 3, a wave and its mirror each


def test_each_knob_changes_only_its_own_band():
    default = load_synthetic("train=100,test=10").x_train.double()
    without_high = load_synthetic("train=100,test=10,high=0").x_train.double()
    power, dist = spectrum_energy(default - without_high)       # same low waves and noise: the high waves
    assert power[dist > 12].sum() / power.sum() > 0.95            # (clipping leaks a little)


def nearest_mean_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of a nearest-class-mean classifier: a quick check that a band carries class evidence."""
    train, test = x_train.flatten(1).double(), x_test.flatten(1).double()
    means = torch.stack([train[y_train == k].mean(0) for k in range(int(y_train.max()) + 1)])
    return (torch.cdist(test, means).argmin(1) == y_test).double().mean().item()


def test_synthetic_classes_are_learnable_from_the_lfc_alone_and_from_the_hfc_alone():
    data = load_synthetic("train=400,test=200")
    lfc = [split(x, 4)[0] for x in (data.x_train, data.x_test)]                  # the probe's split
    hfc = [split(x, 12)[1] for x in (data.x_train, data.x_test)]
    assert nearest_mean_accuracy(lfc[0], data.y_train, lfc[1], data.y_test) > 0.6       # chance: 0.1
    assert nearest_mean_accuracy(hfc[0], data.y_train, hfc[1], data.y_test) > 0.6
    no_high = load_synthetic("train=400,test=200,high=0")
    hfc = [split(x, 12)[1] for x in (no_high.x_train, no_high.x_test)]
    assert nearest_mean_accuracy(hfc[0], no_high.y_train, hfc[1], no_high.y_test) < 0.25  # nothing left to learn


# --------------------------------------------------------------------------
# load_data: registry, cache, subsets
# --------------------------------------------------------------------------

def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(AblateError) as error:
        load_data(settings("imagenet"))
    message = str(error.value)
    assert "'imagenet'" in message
    for name in ("cifar10", "cifar100", "npz", "synthetic"):
        assert name in message


def test_dataset_is_loaded_once_per_process_and_runs_get_their_own_tensors(monkeypatch):
    calls = []

    def loader(arg, settings):
        calls.append(arg)
        return load_synthetic("train=40,test=20")

    register_dataset(monkeypatch, "counted", loader)
    first = load_data(settings("counted:a"))
    first.x_train[:] = 0                                     # a run changing its data in place
    second = load_data(settings("counted:a", train_size=20))
    load_data(settings("counted:b"))
    assert calls == ["a", "b"]
    assert second.x_train.float().mean() > 50                # the cached images were not touched


def test_a_loader_returning_bad_data_names_its_plugin(monkeypatch):
    good = load_synthetic("train=20,test=10")
    register_dataset(monkeypatch, "floaty", lambda arg, s: Data(good.x_train, good.y_train.float(), good.x_test,
                                                                 good.y_test, good.classes))
    with pytest.raises(AblateError, match="'test-plugin'.*y_train is torch.float32"):
        load_data(settings("floaty"))


def test_stratified_subset_is_balanced_deterministic_and_independent_of_the_run_seed():
    a = load_data(settings("synthetic:train=300,test=100", train_size=60, test_size=30, seed=1))
    clear_cache()
    b = load_data(settings("synthetic:train=300,test=100", train_size=60, test_size=30, seed=7))
    assert torch.bincount(a.y_train).tolist() == [6] * 10
    assert torch.bincount(a.y_test).tolist() == [3] * 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    full = load_data(settings("synthetic:train=300,test=100"))
    assert len(full.y_train) == 300


def test_subsets_are_nested_and_not_simply_the_first_items():
    labels = torch.arange(1000) % 10
    small = stratified_indices(labels, 50, 10, "train_size", "x")
    large = stratified_indices(labels, 200, 10, "train_size", "x")
    assert set(small.tolist()) <= set(large.tolist())
    assert small.tolist() != list(range(50))


def test_uneven_classes_share_what_is_left():
    assert balanced_quotas([5, 100, 100], 30) == [5, 13, 12]
    assert balanced_quotas([10, 10, 10], 7) == [3, 2, 2]
    labels = torch.tensor([0] * 5 + [1] * 100 + [2] * 100)
    chosen = stratified_indices(labels, 30, 3, "train_size", "x")
    assert torch.bincount(labels[chosen]).tolist() == [5, 13, 12]


def test_asking_for_more_images_than_there_are_is_an_error():
    with pytest.raises(AblateError, match="train_size: found 500.*only 300.*train_size <= 300"):
        load_data(settings("synthetic:train=300,test=100", train_size=500))


def test_load_data_moves_to_the_device():
    data = load_data(settings("synthetic:train=20,test=10"), device=torch.device("meta"))
    assert data.x_train.device.type == "meta" and data.y_test.device.type == "meta"


def test_load_full_is_the_registry_entry_point():
    assert torch.equal(load_full("synthetic:train=20,test=10").x_train, load_synthetic("train=20,test=10").x_train)
    assert parse_synthetic_options("size=64")["high_radius"] == 24.0
