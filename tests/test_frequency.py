"""ablate.spectral.frequency.split against a plain transcription of the official per-image loop.

Tolerances: images are drawn in [0, 1] and compared in absolute terms (max |diff| < 1e-4);
uint8 images (0..255) are compared after dividing both sides by 255, i.e. on the same scale.
"""

import numpy as np
import pytest
import torch

from ablate import AblateError
from ablate.spectral.frequency import kept_bins, split

RADII = [0, 1, 4, 8, 12, 16, 23]
TOL = 1e-4


def official_mask(h, w, r, inclusive):
    """The official mask_radial loop, centred on the fftshift zero bin (h//2, w//2)."""
    mask = np.zeros((h, w))
    c0, c1 = h // 2, w // 2
    for i in range(h):
        for j in range(w):
            dist = np.sqrt((i - c0) ** 2 + (j - c1) ** 2)
            mask[i, j] = 1.0 if (dist <= r if inclusive else dist < r) else 0.0
    return mask


def official_split(images, r, inclusive=False):
    """Per image, per channel: fftshift(fft2), mask, real(ifft2(ifftshift)); float64 numpy."""
    n, c, h, w = images.shape
    mask = official_mask(h, w, r, inclusive)
    low, high = np.zeros(images.shape), np.zeros(images.shape)
    for i in range(n):
        for j in range(c):
            spectrum = np.fft.fftshift(np.fft.fft2(images[i, j]))
            low[i, j] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))
            high[i, j] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * (1 - mask))))
    return low, high


def random_images(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("r", RADII)
def test_matches_official_loop(r, inclusive):
    images = random_images((3, 3, 32, 32), seed=r)
    low, high = split(torch.from_numpy(images), r, inclusive=inclusive)
    ref_low, ref_high = official_split(images.astype(np.float64), r, inclusive)
    assert low.dtype == high.dtype == torch.float32
    assert low.shape == high.shape == images.shape
    assert np.abs(low.numpy() - ref_low).max() < TOL
    assert np.abs(high.numpy() - ref_high).max() < TOL


@pytest.mark.parametrize("shape", [(24, 40), (31, 17)])
@pytest.mark.parametrize("inclusive", [False, True])
def test_non_square_and_odd_sizes(shape, inclusive):
    images = random_images((2, 3) + shape, seed=1)
    radii = [0, 3, 6.5, 12, 30]
    lows, highs = split(torch.from_numpy(images), radii, inclusive=inclusive)
    for k, r in enumerate(radii):
        ref_low, ref_high = official_split(images.astype(np.float64), r, inclusive)
        assert np.abs(lows[k].numpy() - ref_low).max() < TOL
        assert np.abs(highs[k].numpy() - ref_high).max() < TOL


def test_conventions_differ_only_on_the_circle():
    images = torch.from_numpy(random_images((2, 3, 32, 32), seed=2))
    strict, _ = split(images, 5)
    inclusive, _ = split(images, 5, inclusive=True)
    assert (strict - inclusive).abs().max() > 1e-3           # the ring at distance exactly 5 differs
    assert kept_bins(32, 32, 5, inclusive=True) - kept_bins(32, 32, 5) == 12   # (±5,0), (±3,±4), (±4,±3), (0,±5)


def test_low_plus_high_is_x_and_the_extremes():
    images = torch.from_numpy(random_images((4, 3, 32, 32), seed=3))
    lows, highs = split(images, RADII)
    assert torch.allclose(lows + highs, images.expand_as(lows), atol=1e-5)
    assert lows[0].abs().max() == 0                             # r = 0 keeps nothing
    assert torch.allclose(highs[0], images, atol=1e-6)
    assert highs[RADII.index(23)].abs().max() < TOL              # r = 23 keeps the whole 32x32 spectrum
    assert (lows[RADII.index(4)] - images).abs().max() > 0.1     # and r = 4 does not


def test_kept_bins():
    assert [kept_bins(32, 32, r) for r in (4, 8, 12, 16)] == [45, 193, 437, 793]
    assert kept_bins(32, 32, 23) == 1024
    assert kept_bins(32, 32, 0) == 0
    assert kept_bins(32, 32, 0, inclusive=True) == 1
    assert kept_bins(24, 40, 4) == int(official_mask(24, 40, 4, False).sum())


def test_uint8_is_split_as_raw_pixels():
    pixels = np.random.default_rng(4).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    low, high = split(torch.from_numpy(pixels), 8)
    ref_low, ref_high = official_split(pixels.astype(np.float64), 8)
    assert low.dtype == torch.float32
    assert np.abs(low.numpy() - ref_low).max() / 255 < TOL
    assert np.abs(high.numpy() - ref_high).max() / 255 < TOL
    assert low.mean() > 50                                        # 0..255 scale, not [0, 1]


def test_several_radii_equal_one_call_per_radius():
    images = torch.from_numpy(random_images((5, 3, 32, 32), seed=5))
    radii = [4, 8, 12, 16]
    lows, highs = split(images, radii)
    assert lows.shape == (4, 5, 3, 32, 32)
    for k, r in enumerate(radii):
        low, high = split(images, r)
        assert torch.allclose(lows[k], low, atol=1e-6)
        assert torch.allclose(highs[k], high, atol=1e-6)
    single_lows, _ = split(images, [8])
    assert single_lows.shape == (1, 5, 3, 32, 32)


def test_leading_dimensions_and_single_image():
    images = torch.from_numpy(random_images((2, 3, 3, 16, 16), seed=6))
    low, _ = split(images, 4)
    assert low.shape == images.shape
    one, _ = split(images[1, 2], 4)
    assert torch.allclose(one, low[1, 2], atol=1e-6)


def test_normalize_max_divides_each_image_by_its_positive_peak():
    images = torch.from_numpy(random_images((3, 3, 32, 32), seed=7))
    low, high = split(images, 8)
    low_max, high_max = split(images, 8, normalize="max")
    for plain, scaled in ((low, low_max), (high, high_max)):
        peak = plain.amax(dim=(1, 2, 3), keepdim=True)
        assert torch.allclose(scaled, plain / peak, atol=1e-6)
        assert torch.allclose(scaled.amax(dim=(1, 2, 3)), torch.ones(3))
    assert high_max.min() < 0                                     # the HFC stays signed


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_results_are_float32_on_the_input_device(device):
    images = torch.from_numpy(random_images((2, 3, 32, 32), seed=8)).double()
    low, high = split(images.to(device), [4, 12])
    assert low.device.type == high.device.type == device and low.dtype == torch.float32
    ref_low, _ = official_split(images.numpy(), 12)
    assert np.abs(low[1].cpu().numpy() - ref_low).max() < TOL


def test_gradients_flow_through_the_split():
    images = torch.from_numpy(random_images((2, 3, 16, 16), seed=9)).requires_grad_()
    with torch.inference_mode():
        split(images, [2, 4])                                      # caches the masks in inference mode
    weights = torch.from_numpy(random_images((2, 3, 16, 16), seed=10))
    low, high = split(images, [2, 4])
    reference_low, _ = split(images.detach(), [2, 4])
    assert torch.allclose(low.detach(), reference_low, atol=1e-6)
    (low[0] * weights).sum().backward()
    # the split is a symmetric projection, so the gradient of <LFC(x), w> is LFC(w)
    assert torch.allclose(images.grad, split(weights, 2)[0], atol=1e-5)


@pytest.mark.parametrize("bad", [-1, float("nan"), True, "4", [], [4, -2]])
def test_rejects_bad_radii(bad):
    with pytest.raises(AblateError, match="radi"):
        split(torch.zeros(1, 3, 8, 8), bad)


def test_rejects_bad_images_and_normalize():
    with pytest.raises(AblateError, match=r"\(\.\.\., C, H, W\)"):
        split(torch.zeros(8, 8), 4)
    with pytest.raises(AblateError, match="uint8"):
        split(torch.zeros(1, 3, 8, 8, dtype=torch.int64), 4)
    with pytest.raises(AblateError, match="normalize"):
        split(torch.zeros(1, 3, 8, 8), 4, normalize="std")
