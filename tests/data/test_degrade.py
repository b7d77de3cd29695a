"""Blur against scipy.signal.convolve2d, FFT == conv, borders, noise, linear light, 8-bit rounding, and the Levin
reproduction (needs ../shared/data; skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from PIL import Image

from golfdeblur.data.degrade import (
    blur,
    border_margin,
    centre_crop,
    cut_border,
    degrade,
    random_grey,
    symmetric_pad,
)
from golfdeblur.data.kernels import load_levin_kernels, pad_kernel, random_kernels
from golfdeblur.errors import GolfdeblurError


def shared_data() -> Path | None:
    env = os.environ.get("GOLFDEBLUR_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return root if root.is_dir() else None


def images_and_kernels(seed=0, batch=3, size=(37, 45), kmax=15):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=g, dtype=torch.float64), random_kernels(batch, g, 5, kmax)


@pytest.mark.parametrize("method", ["fft", "conv"])
def test_blur_matches_scipy(method):
    x, k = images_and_kernels()
    valid = blur(x, k, method=method, padding="valid")
    same = blur(x, k, method=method)
    assert valid.shape == (3, 3, 37 - k.shape[-1] + 1, 45 - k.shape[-1] + 1) and same.shape == x.shape
    for i in range(3):
        kernel = k[i, 0].double().numpy()
        for c in range(3):
            ref_valid = scipy.signal.convolve2d(x[i, c].numpy(), kernel, mode="valid")
            ref_same = scipy.signal.convolve2d(x[i, c].numpy(), kernel, mode="same", boundary="symm")
            np.testing.assert_allclose(valid[i, c].numpy(), ref_valid, atol=2e-6)
            np.testing.assert_allclose(same[i, c].numpy(), ref_same, atol=2e-6)


def test_blur_is_a_true_convolution_and_preserves_constants():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1
    k = torch.zeros(1, 1, 3, 3)
    k[0, 0, 0, 2] = 1  # convolution flips the kernel: y[i, j] = x[i + 1, j - 1], the image moves up and right
    for method in ("fft", "conv"):
        y = blur(x, k, method=method)
        assert y[0, 0, 3, 5] == pytest.approx(1.0, abs=1e-6)
    flat = torch.full((2, 3, 20, 20), 0.3)
    _, kernels = images_and_kernels(batch=2)
    torch.testing.assert_close(blur(flat, kernels), flat)  # no dark frame at the border


def test_blur_one_kernel_for_all_and_half_precision():
    x, k = images_and_kernels()
    torch.testing.assert_close(blur(x, k[:1]), blur(x, k[:1].expand(3, 1, -1, -1)))
    assert blur(x.half(), k).dtype == torch.float16


def test_blur_bad_input():
    x, k = images_and_kernels()
    with pytest.raises(GolfdeblurError, match="odd"):
        blur(x, torch.ones(3, 1, 4, 4) / 16)
    with pytest.raises(GolfdeblurError, match=r"\(B, 1, k, k\)"):
        blur(x, torch.ones(3, 5, 5))
    with pytest.raises(GolfdeblurError, match="2 kernels for 3 images"):
        blur(x, k[:2])
    with pytest.raises(GolfdeblurError, match="smaller"):
        blur(x[..., :5, :5], k, padding="valid")
    with pytest.raises(GolfdeblurError, match="method"):
        blur(x, k, method="magic")


def test_symmetric_pad_and_margins():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    padded = symmetric_pad(x, 4)  # larger than the image: the mirror repeats
    reference = np.pad(x[0, 0].numpy(), 4, mode="symmetric")
    np.testing.assert_array_equal(padded[0, 0].numpy(), reference)
    assert border_margin(51) == 25
    assert cut_border(torch.zeros(1, 3, 60, 70), 5).shape == (1, 3, 50, 60)


def test_centre_crop_rounds_the_offset_down():
    image = torch.arange(10 * 12.0).reshape(1, 10, 12)
    assert torch.equal(centre_crop(image, 7), image[:, 1:8, 2:9])  # offsets (10 - 7) // 2 and (12 - 7) // 2
    assert torch.equal(centre_crop(image, 11), image[:, :, 0:11])  # smaller than the crop: the whole side


def test_degrade_noise_quantisation_and_seeding():
    x, k = images_and_kernels(size=(64, 64))
    x = x.float()
    clean = degrade(x, k, None, noise_sigma_max=0, quantize=False)
    torch.testing.assert_close(clean, blur(x, k).clamp(0, 1))
    y1 = degrade(x, k, torch.Generator().manual_seed(5), noise_sigma_max=0.05)
    y2 = degrade(x, k, torch.Generator().manual_seed(5), noise_sigma_max=0.05)
    assert torch.equal(y1, y2) and y1.dtype == torch.float32
    assert y1.min() >= 0 and y1.max() <= 1
    torch.testing.assert_close(y1 * 255, torch.round(y1 * 255), atol=1e-4, rtol=0)
    residual_std = (y1 - clean).std(dim=(1, 2, 3))
    assert (residual_std < 0.05 * 1.1).all() and residual_std.max() > 0.003
    assert not torch.equal(y1, degrade(x, k, torch.Generator().manual_seed(6), noise_sigma_max=0.05))
    with pytest.raises(GolfdeblurError, match="generator"):
        degrade(x, k, None)


def test_degrade_noise_sigma_is_drawn_per_sample_uniformly_up_to_the_maximum():
    """Each sample's noise sigma is uniform in [0, noise_sigma_max], not the maximum for every sample."""
    flat, delta = torch.full((64, 3, 24, 24), 0.5), torch.ones(1, 1, 1, 1)
    noisy = degrade(flat, delta, torch.Generator().manual_seed(3), noise_sigma_max=0.1, quantize=False)
    sigma = (noisy - 0.5).std(dim=(1, 2, 3))  # 0.5 is 5 max sigmas from 0 and 1: no clipping to speak of
    assert 0.08 < sigma.max() < 0.1 * 1.05
    assert sigma.min() < 0.02  # well below the maximum
    assert 0.035 < sigma.mean() < 0.065  # about max / 2


def test_degrade_rounds_to_the_nearest_8_bit_level():
    """The 8-bit step rounds to the nearest level: 127.8 / 255 -> 128 / 255 and 127.2 / 255 -> 127 / 255."""
    delta = torch.ones(1, 1, 1, 1)
    for offset, level in ((0.3, 128), (-0.3, 127)):
        y = degrade(torch.full((1, 3, 8, 8), 0.5 + offset / 255), delta, None, noise_sigma_max=0)
        assert ((y * 255 - level).abs() < 1e-4).all(), (offset, y.unique() * 255)


@pytest.mark.parametrize("quantize", [True, False])
def test_degrade_output_stays_in_0_1_with_noise(quantize):
    delta = torch.ones(1, 1, 1, 1)
    for value in (0.0, 1.0):
        y = degrade(torch.full((4, 3, 16, 16), value), delta, torch.Generator().manual_seed(0), 0.2, quantize=quantize)
        assert 0 <= y.min() and y.max() <= 1
        assert (y != value).any()  # the noise pushed some pixels out of range before the clip


def test_degrade_clamps_its_input_to_0_1_first():
    """A slightly negative input (an overshooting resampler) is black, not NaN, in linear light too."""
    delta = torch.ones(1, 1, 1, 1)
    for linear_light in (False, True):
        y = degrade(torch.full((1, 3, 8, 8), -0.01), delta, None, 0, linear_light=linear_light)
        assert torch.equal(y, torch.zeros(1, 3, 8, 8)), linear_light
        y = degrade(torch.full((1, 3, 8, 8), 1.01), delta, None, 0, linear_light=linear_light, quantize=False)
        torch.testing.assert_close(y, torch.ones(1, 3, 8, 8))


def test_degrade_clean_fraction():
    sharp, kernel = (
        torch.rand(6, 3, 20, 20, generator=torch.Generator().manual_seed(1)),
        torch.full((1, 1, 3, 3), 1 / 9),
    )

    def make(**options):
        return degrade(sharp, kernel, torch.Generator().manual_seed(2), 0.05, **options)

    assert torch.equal(make(clean_fraction=0.0), make())  # off: the same draws as before
    torch.testing.assert_close(make(clean_fraction=1.0), degrade(sharp, kernel, None, 0.0))
    half = make(clean_fraction=0.5)
    clean = [torch.equal(half[i], degrade(sharp[i : i + 1], kernel, None, 0.0)[0]) for i in range(6)]
    assert 0 < sum(clean) < 6 and torch.equal(make(clean_fraction=0.5), half)
    with pytest.raises(GolfdeblurError, match="clean_fraction"):
        make(clean_fraction=1.5)


def test_random_grey():
    images = torch.rand(8, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert random_grey(images, torch.Generator().manual_seed(1), 0.0) is images
    all_grey = random_grey(images, torch.Generator().manual_seed(1), 1.0)
    torch.testing.assert_close(all_grey, images.mean(1, keepdim=True).expand_as(images))
    some = random_grey(images, torch.Generator().manual_seed(1), 0.5)
    grey = [bool((some[i] == some[i, :1]).all()) for i in range(8)]
    assert 0 < sum(grey) < 8
    assert all(torch.equal(some[i], images[i]) for i in range(8) if not grey[i])
    with pytest.raises(GolfdeblurError, match="grey fraction"):
        random_grey(images, torch.Generator(), -0.1)


def test_degrade_linear_light_brightens_edges():
    x = torch.zeros(1, 3, 32, 32)
    x[..., 16:] = 1.0
    k = torch.zeros(1, 1, 9, 9)
    k[0, 0, 4, :] = 1 / 9  # horizontal box
    display = degrade(x, k, None, noise_sigma_max=0, quantize=False)
    linear = degrade(x, k, None, noise_sigma_max=0, quantize=False, linear_light=True)
    # at the middle of the edge, half the light: 0.5 in display space, 0.5 ** (1 / 2.2) = 0.73 in linear light
    assert display[0, 0, 10, 16].item() == pytest.approx(5 / 9, abs=1e-5)
    assert linear[0, 0, 10, 16].item() == pytest.approx((5 / 9) ** (1 / 2.2), abs=1e-5)
    torch.testing.assert_close(linear[..., :4], display[..., :4])  # flat areas do not change


def test_levin_reproduction():
    """The 32 Levin et al. 2009 blurred images equal our blur of their sharp images within 8-bit rounding."""
    root = shared_data()
    if root is None or not (root / "eval" / "levin09").is_dir():
        pytest.skip("../shared/data/eval/levin09 is absent (set GOLFDEBLUR_DATA to run this test)")
    levin = root / "eval" / "levin09"
    kernels = load_levin_kernels(levin)
    stack = torch.stack([pad_kernel(kernels[f"k{j}"], 27) for j in range(1, 9)])  # centre-padding changes nothing
    worst = 0.0
    for i in range(1, 5):
        sharp = np.asarray(Image.open(levin / "sharp" / f"im_{i}.png").convert("L"), dtype=np.float32) / 255
        ours = degrade(torch.from_numpy(sharp)[None, None].expand(8, 3, -1, -1), stack, None, noise_sigma_max=0)
        for j in range(1, 9):
            blurred = np.asarray(Image.open(levin / "blurred" / f"im_{i}_ker_{j}.png").convert("L"), np.float32) / 255
            diff = (ours[j - 1, 0].numpy() - blurred)[20:-20, 20:-20]
            assert np.abs(diff).max() <= 1 / 255 + 1e-6, (i, j)
            worst = max(worst, float(np.sqrt((diff**2).mean())))
    assert worst < 0.0011


def test_a_grey_image_stays_grey_with_noise_and_colour_samples_draw_as_before():
    """Grey training samples stand for grey files (Levin09): the same noise in every channel. The draws are
    unchanged, so a colour sample's noise is what it was; integer images are refused, not returned white."""
    from golfdeblur.data.degrade import pad_to_fit

    colour = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    batch = torch.cat([colour[:1], colour[1:].mean(1, keepdim=True).expand(1, 3, 16, 16)])
    kernels = random_kernels(2, torch.Generator().manual_seed(1), 3, 7)
    y = degrade(batch, kernels, torch.Generator().manual_seed(2), noise_sigma_max=0.05)
    assert torch.equal(y[1, 0], y[1, 1]) and torch.equal(y[1, 1], y[1, 2])
    assert not torch.equal(y[0, 0], y[0, 1])
    alone = degrade(colour, kernels, torch.Generator().manual_seed(2), noise_sigma_max=0.05)
    assert torch.equal(y[0], alone[0])
    one_channel = degrade(batch[:, :1], kernels, torch.Generator().manual_seed(2), noise_sigma_max=0.05)
    assert one_channel.shape == (2, 1, 16, 16)  # no grey test to make on fewer than three channels
    with pytest.raises(GolfdeblurError, match="must be floats in \\[0, 1\\], got torch.uint8"):
        degrade(torch.full((1, 3, 8, 8), 128, dtype=torch.uint8), kernels[:1], None, noise_sigma_max=0)
    # padding to fit: only the short side is mirrored
    tall = torch.arange(300 * 50, dtype=torch.float32).reshape(1, 300, 50)
    fitted = pad_to_fit(tall, 64)
    assert fitted.shape == (1, 300, 64) and torch.equal(fitted[:, :, 7:57], tall)
    assert symmetric_pad(tall, (0, 7)).shape == (1, 300, 64) and pad_to_fit(tall, 10) is tall


def test_centre_crop_refuses_a_size_below_one_px():
    """0 gave an empty image, -5 a (3, 0, 0) one without an error."""
    image = torch.zeros(3, 10, 12)
    for size in (0, -5):
        with pytest.raises(GolfdeblurError, match=f"centre crop size must be at least 1 px, got {size}"):
            centre_crop(image, size)


def test_degrade_and_blur_refuse_what_is_no_tensor_or_generator_in_one_line():
    """A NumPy image raised AttributeError ('is_floating_point'), a generator of 0 one about 'device', and NumPy
    kernels one about 'to'."""
    x, k = images_and_kernels(size=(16, 16))
    g = torch.Generator().manual_seed(0)
    with pytest.raises(
        GolfdeblurError, match="sharp images must be a torch.Tensor of floats in \\[0, 1\\], got ndarray"
    ):
        degrade(x.float().numpy(), k, g)
    with pytest.raises(GolfdeblurError, match="generator must be a torch.Generator or None, got int"):
        degrade(x.float(), k, 0)
    with pytest.raises(GolfdeblurError, match="kernels must be a torch.Tensor, got ndarray"):
        degrade(x.float(), k.numpy(), g)
    with pytest.raises(GolfdeblurError, match="images must be a torch.Tensor, got list"):
        blur([[0.0]], k)


@pytest.mark.parametrize("sigma", [float("nan"), float("inf")])
def test_degrade_refuses_a_noise_level_that_is_not_finite(sigma):
    """nan passed the `< 0` check and silently meant no noise at all."""
    x, k = images_and_kernels(size=(16, 16))
    with pytest.raises(GolfdeblurError, match=f"noise_sigma_max must be a finite number >= 0, got {sigma}"):
        degrade(x.float(), k, torch.Generator().manual_seed(0), noise_sigma_max=sigma)
