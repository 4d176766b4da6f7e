"""Under normalize = "max" the test originals reach the model as x / 255 and every LFC/HFC as x / max(x)
(issue 23, item 2), checked against the official code path written out here in numpy:

- HaohanWang/HFC ``utility/frequencyHelper.py``: ``mask_radial`` (1 where the distance to (H/2, W/2) is < r,
  0 elsewhere since 2020-04-08) and ``generateDataWithDifferentFrequencies_3Channel`` (per channel,
  ``real(ifft2(ifftshift(fftshift(fft2(x)) * mask)))``, and ``1 - mask`` for the HFC);
- ``scripts/resnet.py``, ``train``: the training images (lines 457-458), the training LFC/HFC (465-467) and
  the test LFC/HFC (481-483) become ``img / np.max(img) * 255``; every batch is divided by 255 (lines 514,
  542, 560, 581); the test originals (``raw_cifar.eval_data``, lines 540-542) are never rescaled. The
  training images are uint8 there, so their rescaled values are cut to whole numbers, and so are ablate's
  (issue 31); the attacks' images are ``/ 255.0`` too (``utility/dataLoader.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ablate
from ablate.any_model.probe_model import measure
from ablate.any_model.zoo import Preprocess
from ablate.study.expansion import Run
from ablate.testing import make_plugin, train_state
from ablate.train.trainer import Trainer
from ablate_plugins.attacks import Attacks

RADII = [3, 6]
CLASSES = 4
WEIGHTS = np.array([[6.0, 0, 0, -2], [0, 6.0, 0, -2], [0, 0, 6.0, -2], [1.0, 1.0, 1.0, 4.0]])


# -- the official code path, in numpy (images N, H, W, C as the official arrays) ----------------------

def official_mask(size: int, r: float) -> np.ndarray:
    mask = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            mask[i, j] = 1.0 if np.sqrt((i - size / 2) ** 2 + (j - size / 2) ** 2) < r else 0.0
    return mask


def official_split(images: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    mask = official_mask(images.shape[1], r)
    low, high = np.zeros(images.shape), np.zeros(images.shape)
    for i in range(len(images)):
        for c in range(images.shape[3]):
            spectrum = np.fft.fftshift(np.fft.fft2(images[i, :, :, c]))
            low[i, :, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))
            high[i, :, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * (1 - mask))))
    return low, high


def official_rescale(data: np.ndarray) -> np.ndarray:
    """``td[i] = td[i] / np.max(td[i]) * 255`` in place, in the array's own dtype (uint8 cuts to whole numbers)."""
    data = data.copy()
    for i in range(data.shape[0]):
        data[i] = data[i] / np.max(data[i]) * 255
    return data


def to_torch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def fed(batch: np.ndarray) -> np.ndarray:
    """``batch_x = batch_x / 255.0``, as the network sees it (N, C, H, W)."""
    return (batch / 255.0).transpose(0, 3, 1, 2)


# -- a model that keeps its inputs and whose loss tells which scale it saw -------------------------------

def features(x):
    """Per image: the channel means and the mean magnitude (numpy or torch, N, C, H, W)."""
    if isinstance(x, np.ndarray):
        return np.concatenate([x.mean(axis=(2, 3)), np.abs(x).mean(axis=(1, 2, 3))[:, None]], axis=1)
    return torch.cat([x.mean(dim=(2, 3)), x.abs().mean(dim=(1, 2, 3))[:, None]], dim=1)


class Recorder(nn.Module):
    """Keeps every batch it is given; logits are a fixed linear map of :func:`features`."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []
        self.weights = nn.Parameter(torch.tensor(WEIGHTS, dtype=torch.float32), requires_grad=False)

    def forward(self, x):
        self.seen.append(x.detach().double().numpy().copy())
        return features(x) @ self.weights.T


def reference_loss(images: np.ndarray, labels: np.ndarray) -> float:
    logits = features(images) @ WEIGHTS.T
    top = logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return float((log_sum - logits[np.arange(len(labels)), labels]).mean())


def dataset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, H, W, C) whose peaks lie well below 255, so that x / 255 and x / max(x) differ."""
    smooth = np.kron(rng.random((n, 4, 4, 3)), np.ones((1, 4, 4, 1)))
    images = (0.6 * smooth + 0.4 * rng.random((n, 16, 16, 3))) * rng.uniform(90, 200, (n, 1, 1, 1))
    return images.round().astype(np.uint8), np.arange(n) % CLASSES


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = dataset(rng, 12), dataset(rng, 8)
    path = tmp_path_factory.mktemp("data") / "peaks.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path, (x_train, y_train, x_test, y_test)


def test_a_max_run_probes_test_originals_at_x_over_255_and_components_at_their_max(npz):
    path, (x_train, y_train, x_test, y_test) = npz
    settings = ablate.Settings(dataset=f"npz:{path}", normalize="max", radii=RADII, probe_train=True,
                               eval_batch_size=100, width=0.0625, epochs=1, device="cpu")
    trainer = Trainer(Run("scaling", settings, []))
    trainer.setup()
    trainer.model = recorder = Recorder()
    rows = trainer.evaluate(0)

    expected = {("test", "original", None): (fed(x_test), y_test, 1e-6),
                ("train", "original", None): (fed(official_rescale(x_train)), y_train, 1e-6)}
    for split, x, y in (("test", x_test, y_test), ("train", x_train, y_train)):
        for r in RADII:
            low, high = official_split(x.astype(np.float64), r)
            expected[(split, "low", r)] = (fed(official_rescale(low)), y, 1e-5)
            expected[(split, "high", r)] = (fed(official_rescale(high)), y, 1e-5)
    # what the test could not tell apart otherwise: the old scale of the test originals is far off
    old = fed(official_rescale(x_test.astype(np.float64)))
    assert abs(reference_loss(old, y_test) - reference_loss(fed(x_test), y_test)) > 0.1

    assert len(recorder.seen) == len(expected)           # one batch per split and variant
    for (split, component, radius), (images, labels, tolerance) in expected.items():
        matching = [seen for seen in recorder.seen if seen.shape == images.shape
                    and np.allclose(seen, images, rtol=0, atol=tolerance)]
        assert len(matching) == 1, f"{split} {component} {radius}: fed otherwise"
        loss = [row["value"] for row in rows if (row["split"], row["component"], row["radius"], row["metric"])
                == (split, component, radius, "loss")]
        assert loss == [pytest.approx(reference_loss(images, labels), abs=0.02 if tolerance > 1e-3 else 1e-4)]


def test_a_max_run_trains_on_the_official_uint8_originals(npz):
    """``trainData[i] = trainData[i] / np.max(trainData[i]) * 255`` into the uint8 array (lines 457-458), then
    ``batch_x / 255.0`` (514): each training original is floor(255 x / max(x)) / 255, not the exact quotient."""
    path, (x_train, _, _, _) = npz
    settings = ablate.Settings(dataset=f"npz:{path}", normalize="max", batch_size=5, width=0.0625, epochs=1,
                               device="cpu")
    trainer = Trainer(Run("scaling", settings, []))
    trainer.setup()
    first = next(iter(trainer.batches(1))).x.double().numpy()
    expected = fed(official_rescale(x_train))
    exact = (x_train / x_train.max(axis=(1, 2, 3), keepdims=True)).transpose(0, 3, 1, 2)
    assert np.abs(expected - exact).max() > 0.5 / 255                  # the test can tell the two apart
    for image in first:
        assert any(np.allclose(image, e, rtol=0, atol=1e-6) for e in expected), "not a floored original"


def test_attacks_are_fed_the_test_originals_at_x_over_255(npz):
    _, (x_train, y_train, x_test, y_test) = npz
    data = ablate.Data(to_torch(x_train), torch.from_numpy(y_train), to_torch(x_test), torch.from_numpy(y_test),
                       [str(c) for c in range(CLASSES)])
    settings = ablate.Settings(normalize="max")
    plugin = make_plugin(Attacks, attacks=["fgsm"], eps=[0.01])
    recorder = Recorder()
    plugin.ablate_evaluate(models={"final": recorder}, data=data, state=train_state(settings, num_classes=CLASSES))
    np.testing.assert_allclose(recorder.seen[0], fed(x_test), rtol=0, atol=1e-6)     # the clean pass


def test_ablate_probe_of_a_max_checkpoint_feeds_originals_at_x_over_255(npz):
    """``ablate probe`` gives an ablate checkpoint ``Preprocess(scale=normalize)``: the same rule as training."""
    _, (_, _, x_test, y_test) = npz
    recorder = Recorder()
    measure(recorder, (to_torch(x_test), torch.from_numpy(y_test)), [4], Preprocess(scale="max"), device="cpu", batch_size=100)
    originals, low, high = recorder.seen[1:]              # the first call checks the outputs on one image
    official_low, official_high = official_split(x_test.astype(np.float64), 4)
    np.testing.assert_allclose(originals, fed(x_test), rtol=0, atol=1e-6)
    np.testing.assert_allclose(low, fed(official_rescale(official_low)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(high, fed(official_rescale(official_high)), rtol=0, atol=1e-5)
