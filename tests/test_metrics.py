"""Metrics against scikit-image, an independent scipy reconstruction of MATLAB's ssim, and closed forms."""

import math
import re

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from golfdeblur.errors import GolfdeblurError
from golfdeblur.metrics import (
    CONVENTIONS,
    GOPRO_PSNR,
    GOPRO_SSIM,
    LEVIN_PSNR,
    STANDARD_CONVENTIONS,
    MetricConvention,
    MetricInputError,
    best_shift,
    check_target_values,
    describe_conventions,
    psnr,
    psnr_up_to_shift,
    quantize_8bit,
    rgb_to_y,
    ssim_gaussian,
    ssim_matlab3d,
)

C1 = (0.01 * 1.0) ** 2
C2 = (0.03 * 1.0) ** 2


def to_tensor(image_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image_hwc.transpose(2, 0, 1)))


def numpy_y(image_hwc: np.ndarray) -> np.ndarray:
    return (16.0 + 65.481 * image_hwc[..., 0] + 128.553 * image_hwc[..., 1] + 24.966 * image_hwc[..., 2]) / 255.0


def skimage_ssim(pred_hwc: np.ndarray, target_hwc: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(
        pred_hwc,
        target_hwc,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=-1 if pred_hwc.ndim == 3 else None,
    )


def matlab_ssim_reference(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """MATLAB ssim on an array of any rank, rebuilt with scipy: Gaussian sigma 1.5, 11 taps per axis, replicate."""

    def smooth(volume):
        # scipy's 'nearest' is MATLAB's 'replicate'; truncate 3.5 gives radius int(3.5 * 1.5 + 0.5) = 5 = ceil(3 * 1.5).
        return ndimage.gaussian_filter(volume, sigma=1.5, truncate=3.5, mode="nearest")

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_p, mu_t = smooth(pred), smooth(target)
    var_p = smooth(pred * pred) - mu_p**2
    var_t = smooth(target * target) - mu_t**2
    cov = smooth(pred * target) - mu_p * mu_t
    ssim_map = (2 * mu_p * mu_t + c1) * (2 * cov + c2) / ((mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))
    return float(ssim_map.mean())


def natural_pair(name: str, height: int, width: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    target = image[:height, :width, :3].astype(np.float64) / 255.0
    rng = np.random.default_rng(seed)
    blurred = ndimage.gaussian_filter(target, sigma=(1.2, 1.2, 0))
    pred = np.clip(blurred + rng.normal(0.0, noise, target.shape), 0.0, 1.0)
    return pred, target


PAIRS = [
    ("astronaut", 64, 64, 0.02, 0),
    ("chelsea", 37, 53, 0.05, 1),  # odd sizes
    ("coffee", 11, 29, 0.01, 2),  # the smallest size scikit-image accepts
]


@pytest.mark.parametrize(("name", "height", "width", "noise", "seed"), PAIRS)
def test_ssim_gaussian_matches_skimage_on_natural_images(name, height, width, noise, seed):
    pred, target = natural_pair(name, height, width, noise, seed)
    expected = skimage_ssim(pred, target)
    got = ssim_gaussian(to_tensor(pred), to_tensor(target))
    assert got.shape == ()
    assert abs(got.item() - expected) < 1e-6  # float64; the brief asks 1e-4
    got32 = ssim_gaussian(to_tensor(pred).float(), to_tensor(target).float())
    assert abs(got32.item() - expected) < 1e-4


def test_ssim_gaussian_matches_skimage_on_random_batch_and_y_and_data_range():
    generator = torch.Generator().manual_seed(3)
    target = torch.rand(3, 3, 23, 17, generator=generator, dtype=torch.float64)
    pred = (target + 0.1 * torch.randn(target.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    got = ssim_gaussian(pred, target)
    got_y = ssim_gaussian(pred, target, channel="y")
    got_range = ssim_gaussian(pred * 255, target * 255, data_range=255.0)
    assert got.shape == (3,)
    for index in range(3):
        pred_hwc, target_hwc = pred[index].permute(1, 2, 0).numpy(), target[index].permute(1, 2, 0).numpy()
        assert abs(got[index].item() - skimage_ssim(pred_hwc, target_hwc)) < 1e-6
        assert abs(got_y[index].item() - skimage_ssim(numpy_y(pred_hwc), numpy_y(target_hwc))) < 1e-6
        assert abs(got_range[index].item() - skimage_ssim(pred_hwc * 255, target_hwc * 255, 255.0)) < 1e-6


@pytest.mark.parametrize(("name", "height", "width", "noise", "seed"), [*PAIRS, ("camera", 5, 7, 0.05, 4)])
def test_ssim_matlab3d_matches_scipy_rebuild_of_matlab(name, height, width, noise, seed):
    pred, target = natural_pair(name, height, width, noise, seed)
    got = ssim_matlab3d(to_tensor(pred), to_tensor(target))
    assert abs(got.item() - matlab_ssim_reference(pred, target)) < 1e-10
    got_y = ssim_matlab3d(to_tensor(pred), to_tensor(target), channel="y")
    assert abs(got_y.item() - matlab_ssim_reference(numpy_y(pred), numpy_y(target))) < 1e-10


def test_ssim_matlab3d_of_identical_images_is_exactly_one():
    generator = torch.Generator().manual_seed(5)
    for dtype in (torch.float32, torch.float64):
        image = torch.rand(2, 3, 19, 26, generator=generator).to(dtype)
        assert torch.equal(ssim_matlab3d(image, image.clone()), torch.ones(2, dtype=dtype))
        assert torch.equal(ssim_matlab3d(image, image.clone(), channel="y"), torch.ones(2, dtype=dtype))


def test_ssim_matlab3d_of_constant_shift_on_constant_image_is_closed_form():
    a, b = 0.3, 0.45
    target = torch.full((1, 3, 16, 16), a, dtype=torch.float64)
    pred = torch.full((1, 3, 16, 16), b, dtype=torch.float64)
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert abs(ssim_matlab3d(pred, target).item() - expected) < 1e-12
    assert abs(ssim_gaussian(pred, target).item() - expected) < 1e-12


def test_ssim_matlab3d_of_constant_shift_on_textured_image_is_luminance_term_only():
    # pred = target + c: the variances and the covariance are equal, so SSIM reduces to the luminance term of the
    # local means, which differ by exactly c. The image stays inside [0.2, 0.7] so no value needs clipping.
    rng = np.random.default_rng(6)
    target = 0.2 + 0.5 * ndimage.gaussian_filter(rng.random((21, 18, 3)), sigma=1.0)
    shift = 0.1
    mu = ndimage.gaussian_filter(target, sigma=1.5, truncate=3.5, mode="nearest")
    expected = float(((2 * mu * (mu + shift) + C1) / (mu**2 + (mu + shift) ** 2 + C1)).mean())
    got = ssim_matlab3d(to_tensor(target + shift), to_tensor(target))
    assert abs(got.item() - expected) < 1e-10
    assert got.item() < 1.0


def test_psnr_against_hand_value_and_skimage():
    target = torch.full((3, 8, 8), 0.5, dtype=torch.float64)
    pred = target.clone()
    pred[0, 0, 0] += 0.3  # MSE = 0.09 / 192
    assert abs(psnr(pred, target).item() - 10 * math.log10(192 / 0.09)) < 1e-9

    generator = torch.Generator().manual_seed(7)
    batch_target = torch.rand(2, 3, 13, 9, generator=generator, dtype=torch.float64)
    batch_pred = batch_target + 0.05 * torch.randn(batch_target.shape, generator=generator, dtype=torch.float64)
    got = psnr(batch_pred, batch_target)
    assert got.shape == (2,)
    for index in range(2):
        expected = peak_signal_noise_ratio(batch_target[index].numpy(), batch_pred[index].numpy(), data_range=1.0)
        assert abs(got[index].item() - expected) < 1e-9
    expected_y = peak_signal_noise_ratio(
        numpy_y(batch_target[0].permute(1, 2, 0).numpy()), numpy_y(batch_pred[0].permute(1, 2, 0).numpy()), data_range=1
    )
    assert abs(psnr(batch_pred, batch_target, channel="y")[0].item() - expected_y) < 1e-9


def test_psnr_of_identical_images_is_inf():
    image = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    assert torch.isinf(psnr(image, image)).all()


def test_psnr_of_0_255_images_with_data_range_255_equals_psnr_of_0_1_images_and_skimage():
    """data_range is the peak: psnr(255 p, 255 t, data_range=255) == psnr(p, t) == skimage's value."""
    generator = torch.Generator().manual_seed(10)
    target = torch.rand(2, 3, 13, 9, generator=generator, dtype=torch.float64)
    pred = (target + 0.05 * torch.randn(target.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    got = psnr(pred * 255, target * 255, data_range=255.0)
    assert (got - psnr(pred, target)).abs().max() < 1e-9
    for index in range(2):
        expected = peak_signal_noise_ratio((target[index] * 255).numpy(), (pred[index] * 255).numpy(), data_range=255)
        assert abs(got[index].item() - expected) < 1e-9


def test_psnr_8bit_rounding_matches_uint8_files():
    generator = torch.Generator().manual_seed(9)
    target = torch.rand(1, 3, 12, 10, generator=generator, dtype=torch.float64)
    pred = target + 0.03 * torch.randn(
        target.shape, generator=generator, dtype=torch.float64
    )  # some values leave [0, 1]
    as_uint8 = [(x[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy() for x in (target, pred)]
    expected = peak_signal_noise_ratio(as_uint8[0], as_uint8[1], data_range=255)
    assert abs(psnr(pred, target, round_to_8bit=True).item() - expected) < 1e-9
    assert abs(psnr(pred, target).item() - expected) > 0.01  # the float value differs

    # A difference below half a level vanishes; exactly one level everywhere gives 20 log10(255).
    quantised = quantize_8bit(0.25 + 0.5 * target)  # away from 0 and 1, so shifting by one level never clips
    assert torch.isinf(psnr(quantised + 0.4 / 255, quantised, round_to_8bit=True)).all()
    one_level = psnr(quantised - 1 / 255, quantised, round_to_8bit=True)
    assert abs(one_level.item() - 20 * math.log10(255)) < 1e-9


def test_psnr_y_of_8bit_rounded_images_is_the_y_of_the_uint8_files():
    """Rounding comes before the RGB -> Y conversion: PSNR_Y of a result is that of the Y of its saved uint8 file, as
    MATLAB and BasicSR compute it from the files (rounding Y instead moves the value by about 0.04 dB)."""
    generator = torch.Generator().manual_seed(14)
    target = torch.rand(1, 3, 32, 32, generator=generator, dtype=torch.float64)
    pred = (target + 0.03 * torch.randn(target.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    as_uint8 = [(x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for x in (target, pred)]
    expected = peak_signal_noise_ratio(numpy_y(as_uint8[0] / 255.0), numpy_y(as_uint8[1] / 255.0), data_range=1.0)
    assert abs(psnr(pred, target, round_to_8bit=True, channel="y").item() - expected) < 1e-9


def test_quantize_8bit_rounds_exact_halves_to_even():
    # as documented (numpy's and torch's rounding), not half up as a uint8 cast of x * 255 + 0.5 would
    assert quantize_8bit(torch.tensor([2.5, 3.5, 127.5]), data_range=255.0).tolist() == [2.0, 4.0, 128.0]


def test_ssim_y_of_0_255_images_with_data_range_255_equals_that_of_0_1_images():
    # Y's offset of 16/255 scales with data_range; SSIM's luminance term sees an unscaled offset (PSNR would not)
    generator = torch.Generator().manual_seed(15)
    target = torch.rand(2, 3, 32, 32, generator=generator, dtype=torch.float64)
    pred = (target + 0.05 * torch.randn(target.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    for metric in (ssim_gaussian, ssim_matlab3d):
        unit = metric(pred, target, channel="y")
        assert (metric(pred * 255, target * 255, data_range=255.0, channel="y") - unit).abs().max() < 1e-9


@pytest.mark.parametrize("metric", [psnr, ssim_gaussian, ssim_matlab3d, psnr_up_to_shift])
def test_an_unbatched_image_gives_a_0_d_score(metric):
    # as documented: (C, H, W) in, one number out; a (1,) tensor would add a dimension to what callers stack
    generator = torch.Generator().manual_seed(16)
    target = torch.rand(3, 40, 40, generator=generator)
    pred = (target + 0.05 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    assert metric(pred, target).shape == torch.Size([])
    assert metric(pred[None], target[None]).shape == (1,)


def test_rgb_to_y_endpoints():
    black_white = torch.tensor([0.0, 1.0], dtype=torch.float64).view(2, 1, 1, 1).expand(2, 3, 1, 1)
    y = rgb_to_y(black_white)
    assert y.shape == (2, 1, 1, 1)
    assert torch.allclose(y.flatten(), torch.tensor([16 / 255, 235 / 255], dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("metric", [psnr, ssim_gaussian, ssim_matlab3d])
def test_metrics_are_differentiable(metric):
    generator = torch.Generator().manual_seed(10)
    target = torch.rand(1, 3, 11, 12, generator=generator, dtype=torch.float64)
    pred = (target + 0.1 * torch.rand(target.shape, generator=generator, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: metric(p, target), (pred,), eps=1e-6, atol=1e-5, fast_mode=True)
    assert torch.autograd.gradcheck(
        lambda p: metric(p, target, channel="y"), (pred,), eps=1e-6, atol=1e-5, fast_mode=True
    )
    # As a loss, one gradient step toward the target improves the metric.
    value = metric(pred, target).sum()
    (gradient,) = torch.autograd.grad(value, pred)
    with torch.no_grad():
        assert metric(pred + 1e-3 * gradient / gradient.abs().max(), target).item() > value.item()


def test_half_precision_inputs_are_computed_in_float32():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    noisy = (image + 0.05).clamp(0, 1)
    got = ssim_matlab3d(noisy.half(), image.half())
    assert got.dtype == torch.float32
    assert abs(got.item() - ssim_matlab3d(noisy.half().float(), image.half().float()).item()) < 1e-6


@pytest.mark.parametrize(
    ("pred", "target", "kwargs", "message"),
    [
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 15), {}, "differ in shape"),
        (torch.zeros(16, 16), torch.zeros(16, 16), {}, "expected shape"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(1, 3, 16, 16), {}, "float tensor"),
        (torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), {"channel": "y"}, "3 RGB channels"),
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), {"channel": "ycbcr"}, "'rgb' or 'y'"),
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), {"data_range": 0.0}, "data_range"),
    ],
)
def test_bad_inputs_raise_value_error(pred, target, kwargs, message):
    for metric in (psnr, ssim_gaussian, ssim_matlab3d):
        with pytest.raises(ValueError, match=message):
            metric(pred, target, **kwargs)


def test_gaussian_ssim_needs_11_pixels_but_matlab_does_not():
    small = torch.rand(1, 3, 10, 30, generator=torch.Generator().manual_seed(12))
    with pytest.raises(MetricInputError, match=r"11x11 pixels, got 30x10 \(width x height\)"):  # not 10x30
        ssim_gaussian(small, small)
    assert ssim_matlab3d(small, small).item() == 1.0
    assert issubclass(MetricInputError, GolfdeblurError)


def test_conventions_name_themselves_and_compute_their_metric():
    assert GOPRO_PSNR.describe() == "PSNR: RGB, 8-bit rounded, data range 1"
    assert "MATLAB" in GOPRO_SSIM.describe() and "8-bit rounded" in GOPRO_SSIM.describe()
    float_y = MetricConvention(ssim_gaussian, channel="y", round_to_8bit=False, data_range=255.0)
    assert float_y.describe().endswith("Y (BT.601, MATLAB rgb2ycbcr), float (no rounding), data range 255")
    text = describe_conventions()
    assert len(text.splitlines()) == len(STANDARD_CONVENTIONS)
    assert len({convention.label for convention in STANDARD_CONVENTIONS}) == len(STANDARD_CONVENTIONS)
    assert text in CONVENTIONS and "+inf" in CONVENTIONS

    generator = torch.Generator().manual_seed(13)
    target = torch.rand(2, 3, 14, 14, generator=generator)
    pred = (target + 0.02 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    assert torch.equal(GOPRO_PSNR(pred, target), psnr(pred, target, round_to_8bit=True))
    assert torch.equal(GOPRO_SSIM(pred, target), ssim_matlab3d(pred, target, round_to_8bit=True))


def _smooth_texture(seed: int, size: int = 64) -> torch.Tensor:
    noise = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.avg_pool2d(noise, 5, 1, 2, count_include_pad=False)


def test_psnr_up_to_shift_undoes_whole_pixel_moves_per_image():
    target = _smooth_texture(20)
    moved = torch.stack([torch.roll(target[0], (3, -2), (1, 2)), torch.roll(target[1], (-5, 5), (1, 2))])
    assert psnr(moved, target).max() < 25
    assert psnr_up_to_shift(moved, target).isinf().all()  # each image its own shift
    assert best_shift(moved, target) == [(3, -2), (-5, 5)]  # where each result is read from, in px
    too_far = torch.roll(target, (6, 0), (2, 3))  # beyond max_shift = 5
    assert psnr_up_to_shift(too_far, target).isfinite().all()


def test_psnr_up_to_shift_finds_sub_pixel_moves_and_is_never_below_the_aligned_interior():
    def waves(dy: float, dx: float) -> torch.Tensor:  # a smooth picture read dy, dx px further down and right
        y, x = torch.meshgrid(torch.arange(64.0) + dy, torch.arange(64.0) + dx, indexing="ij")
        return (0.5 + 0.4 * torch.sin(2 * math.pi * x / 16) * torch.cos(2 * math.pi * y / 20)).expand(1, 3, 64, 64)

    target, moved = waves(0, 0), waves(-0.25, 0.5)  # on the 0.25 px grid
    interior = (slice(None), slice(None), slice(15, -15), slice(15, -15))
    whole_pixel_best = max(
        float(psnr(torch.roll(moved, (dy, dx), (2, 3))[interior], target[interior]))
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    assert float(psnr_up_to_shift(moved, target, steps_per_pixel=1)) == pytest.approx(whole_pixel_best, abs=1e-4)
    assert float(psnr_up_to_shift(moved, target)) > whole_pixel_best + 10
    noisy = (target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(22))).clamp(0, 1)
    assert float(psnr_up_to_shift(noisy, target)) >= float(psnr(noisy[interior], target[interior])) - 1e-4


def test_psnr_up_to_shift_needs_room_for_its_border_and_names_itself():
    with pytest.raises(MetricInputError, match="over 30 px"):
        psnr_up_to_shift(torch.zeros(1, 3, 30, 80), torch.zeros(1, 3, 30, 80))
    with pytest.raises(MetricInputError, match="border"):
        psnr_up_to_shift(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64), border=5)
    assert LEVIN_PSNR.label == "PSNR-UpToShift-RGB-8bit" and "comp_upto_shift" in LEVIN_PSNR.describe()
    target = _smooth_texture(23)
    assert torch.equal(LEVIN_PSNR(target, target), psnr_up_to_shift(target, target, round_to_8bit=True))


def test_psnr_up_to_shift_is_levin_s_grid_search_done_directly():
    """The fast search (FFT per sub-pixel phase) finds what trying every shift of comp_upto_shift's grid finds:
    -5:0.25:5 px in each direction, bilinear (scipy's map_coordinates, order 1, as MATLAB's interp2), 15 px cut."""
    from scipy.ndimage import map_coordinates

    generator = torch.Generator().manual_seed(31)
    sharp = torch.rand(1, 2, 44, 50, generator=generator)
    result = (torch.roll(sharp, (2, -1), (2, 3)) + 0.05 * torch.randn(sharp.shape, generator=generator)).clamp(0, 1)
    pred, target = result[0].double().numpy(), sharp[0].double().numpy()
    rows, columns = np.mgrid[15:29, 15:35].astype(np.float64)
    best, where = math.inf, None
    for dy in np.arange(-20, 21) / 4:
        for dx in np.arange(-20, 21) / 4:
            moved = np.stack([map_coordinates(c, [rows + dy, columns + dx], order=1) for c in pred])
            error = float(np.mean((moved - target[:, 15:29, 15:35]) ** 2))
            if error < best:
                best, where = error, (float(dy), float(dx))
    assert best_shift(result, sharp) == [where]
    assert float(psnr_up_to_shift(result, sharp)) == pytest.approx(10 * math.log10(1 / best), abs=1e-4)


def test_psnr_up_to_shift_of_0_255_images_with_data_range_255_equals_that_of_0_1_images():
    """data_range is the peak for the shift search too: 255 p, 255 t at data_range=255 score as p, t at 1."""
    target = _smooth_texture(32)
    pred = (
        torch.roll(target, (1, -2), (2, 3))
        + 0.03 * torch.randn(target.shape, generator=torch.Generator().manual_seed(33))
    ).clamp(0, 1)
    unit = psnr_up_to_shift(pred, target)
    assert unit.isfinite().all() and (unit > 15).all()
    assert (psnr_up_to_shift(pred * 255, target * 255, data_range=255.0) - unit).abs().max() < 1e-4


def test_an_empty_batch_scores_as_an_empty_tensor_in_every_metric():
    """psnr and both SSIMs gave (0,) for a batch of none; psnr_up_to_shift raised torch.cat's ValueError."""
    empty = torch.zeros(0, 3, 40, 40)
    for metric in (psnr, ssim_gaussian, ssim_matlab3d, psnr_up_to_shift):
        assert metric(empty, empty).shape == (0,)
    assert best_shift(empty, empty) == []


@pytest.mark.parametrize("search", [psnr_up_to_shift, best_shift])
def test_the_shift_search_checks_its_inputs_as_the_other_metrics_do(search):
    """A list raised AttributeError ('list' object has no attribute 'shape') from the search's size check; best_shift
    had no checks at all: (C, H, W) raised IndexError, and a 1-channel target broadcast against 3 channels."""
    image = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(30))
    with pytest.raises(MetricInputError, match="pred: expected a torch.Tensor, got list"):
        search([[0.0]], image)
    with pytest.raises(MetricInputError, match="differ in shape"):
        search(image[None], image[None, :1])
    with pytest.raises(MetricInputError, match="float tensor"):
        search((image * 255).to(torch.uint8), image)
    # a (C, H, W) pair is a batch of one, as everywhere in the module
    assert best_shift(image, image) == [(0.0, 0.0)] and psnr_up_to_shift(image, image).shape == ()


@pytest.mark.parametrize("data_range", [math.inf, math.nan])
def test_a_non_finite_data_range_is_refused(data_range):
    """An infinite peak was accepted: PSNR +inf and SSIM nan for any pair."""
    image = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(31))
    for metric in (psnr, ssim_gaussian, ssim_matlab3d, psnr_up_to_shift):
        with pytest.raises(MetricInputError, match="data_range: expected a positive finite number"):
            metric(image, image * 0.5, data_range=data_range)


def test_the_description_of_matlab_ssim_on_one_channel_is_its_2d_filter():
    # it said "3-D Gaussian 11x11x11 over H x W x C" for channel y, where MATLAB filters the one channel in 2-D
    assert "2-D Gaussian 11x11" in MetricConvention(ssim_matlab3d, channel="y").describe()
    assert "3-D Gaussian 11x11x11" in MetricConvention(ssim_matlab3d, channel="rgb").describe()


def test_a_convention_of_a_metric_name_is_refused_in_one_line():
    # MetricConvention("psnr") was accepted, then failed with "'str' object has no attribute '__name__'"
    with pytest.raises(MetricInputError, match=r"^MetricConvention: metric 'psnr' is not a function"):
        MetricConvention("psnr")  # type: ignore[arg-type]


@pytest.mark.parametrize("metric", [psnr, ssim_gaussian, ssim_matlab3d, psnr_up_to_shift])
def test_a_reference_outside_0_data_range_is_refused_naming_what_to_do(metric):
    """GOPRO_PSNR(255 p, 255 t) gave 24.5 dB: 8-bit rounding clamped both images to white. The target is held to the
    rule deblur holds its input to (input_values.INPUT_VALUE_RANGE, here times data_range)."""
    generator = torch.Generator().manual_seed(32)
    pred, target = torch.rand(2, 3, 40, 40, generator=generator), torch.rand(2, 3, 40, 40, generator=generator)
    target[0, 0, 0, :2] = torch.tensor([0.0, 1.0])  # the span printed below
    with pytest.raises(MetricInputError) as info:
        MetricConvention(metric, round_to_8bit=True)(pred * 255, target * 255)
    assert str(info.value) == (
        "target values span [0, 255]: expected [0, data_range] = [0, 1] (0-255 images? pass data_range=255, or scale "
        "both to [0, 1])"
    )
    with pytest.raises(MetricInputError, match=r"^target values span \[-1, 1\]: .* \(scale both to \[0, 1\]\)$"):
        metric(pred, target * 2 - 1)  # a [-1, 1] image
    with pytest.raises(MetricInputError, match=r"^target values span \[0, 510\]: expected .* = \[0, 255\] \(scale"):
        metric(pred * 255, target * 510, data_range=255.0)
    with pytest.raises(MetricInputError, match=r"^target values include NaN or infinity"):
        metric(pred, torch.where(target > 0.9, torch.nan, target))
    with pytest.raises(MetricInputError, match=r"^target values span \[0, 1e\+39\]"):
        metric(pred.double(), target.double() * 1e39)  # checked in its own float64, not as float32's infinity
    assert torch.isfinite(metric(pred * 255, target * 255, data_range=255.0)).all()
    overshoot = target * 1.4 - 0.2  # a resize's overshoot, within the rule: scored
    assert torch.isfinite(metric(pred, overshoot)).all() and torch.isfinite(metric(pred, overshoot.half())).all()


EIGHT_BIT_HINT = "0-255 images? pass data_range=255, or scale both to [0, {}]"


@pytest.mark.parametrize(
    ("span", "data_range", "hint"),
    [
        ((0.0, 255.0), 1.0, EIGHT_BIT_HINT.format(1)),  # the top of a 0-255 image
        ((0.0, 127.5), 1.0, EIGHT_BIT_HINT.format(1)),  # a dark 0-255 image: a peak past 127
        ((0.0, 200.0), 100.0, EIGHT_BIT_HINT.format(100)),  # any data_range but 255
        ((0.0, 127.0), 1.0, "scale both to [0, 1]"),  # a peak of 127 or less is no sign of an 8-bit image
        ((0.0, 256.0), 1.0, "scale both to [0, 1]"),  # past 255: no 8-bit image either
        ((0.0, 510.0), 1.0, "scale both to [0, 1]"),
        ((-255.0, 200.0), 255.0, "scale both to [0, 255]"),  # already data_range=255: nothing to pass
        ((-1.0, 1.0), 1.0, "scale both to [0, 1]"),
    ],
)
def test_a_reference_out_of_range_hints_at_data_range_255_only_for_a_peak_an_8_bit_image_has(span, data_range, hint):
    """The 0-255 hint is for a float target peaking in (127, 255] scored with a data_range other than 255: anywhere
    else "pass data_range=255" would be wrong (already 255) or no help (a [-1, 1] image, a peak past 255)."""
    low, high = span
    with pytest.raises(MetricInputError) as refusal:
        check_target_values(torch.tensor([low, high]), data_range)
    assert str(refusal.value) == (
        f"target values span [{low:g}, {high:g}]: expected [0, data_range] = [0, {data_range:g}] ({hint})"
    )


@pytest.mark.parametrize(
    ("span", "data_range", "shown"),
    [
        ((0.0, 1.5000002), 1.0, "[0, 1.5000002]"),  # :g's 1.5 would name a top that is taken
        ((-0.50000001, 1.0), 1.0, "[-0.50000001, 1]"),
        ((0.0, 382.50001), 255.0, "[0, 382.50001]"),  # 1.5 times data_range is the edge then
    ],
)
def test_a_reference_just_past_the_edge_is_shown_past_it(span, data_range, shown):
    """The span was printed with :g, so a float64 target topping 1.5000002 was said to span [0, 1.5], a span that
    is taken; its ends now get the digits deblur's own check gives them (input_values.shown_value)."""
    with pytest.raises(MetricInputError, match=rf"^target values span {re.escape(shown)}: expected "):
        check_target_values(torch.tensor(span, dtype=torch.float64), data_range)
    check_target_values(torch.tensor([0.0, 1.5], dtype=torch.float64) * data_range, data_range)  # the edge: taken


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_reference_with_a_value_that_is_not_finite_anywhere_is_refused(dtype, value):
    """The check reads only aminmax's two ends: a NaN (carried to both) or an infinity at any place, on any side of
    the values' range and in a vectorised stretch or a tail, must still be found."""
    target = torch.rand(1, 3, 9, 67, generator=torch.Generator().manual_seed(5)).to(dtype)
    for place in (0, 1, 7, 8, 33, target.numel() - 2, target.numel() - 1):
        spoilt = target.clone()
        spoilt.view(-1)[place] = value
        with pytest.raises(MetricInputError, match=r"^target values include NaN or infinity"):
            check_target_values(spoilt)
        with pytest.raises(MetricInputError, match=r"^target values include NaN or infinity"):
            check_target_values(spoilt.permute(0, 2, 3, 1), data_range=255.0)  # not contiguous


@pytest.mark.parametrize("metric", [psnr, ssim_gaussian, ssim_matlab3d, psnr_up_to_shift])
def test_a_prediction_out_of_range_or_nan_still_scores(metric):
    """A diverging model's output is scored, not refused: in-run validation reads nan as 'never the best'."""
    generator = torch.Generator().manual_seed(33)
    pred, target = torch.rand(1, 3, 40, 40, generator=generator), torch.rand(1, 3, 40, 40, generator=generator)
    assert torch.isfinite(metric(pred * 255, target)).all()  # a prediction far out of range: a (poor) number
    assert torch.isfinite(MetricConvention(metric, round_to_8bit=True)(pred * 255 - 100, target)).all()
    assert torch.isnan(metric(torch.full_like(pred, torch.nan), target)).all()
