"""Image-quality metrics with explicit conventions: PSNR, Gaussian SSIM (scikit-image) and 3-D SSIM (MATLAB).

Deblurring papers disagree on how PSNR and SSIM are computed, and the differences (0.01-0.02 SSIM, 1.4-2.5 dB PSNR
between RGB and Y) are as large as the gains they report. Every function here therefore takes its convention as
arguments, and :class:`MetricConvention` carries the label that every report prints next to a number. Sources and a
measured example of how far the conventions drift apart: docs/METRICS.md.

All functions are plain torch, run on any device and are differentiable with respect to ``pred`` (so ``1 - ssim`` or
``-psnr`` can serve as losses), except where ``round_to_8bit=True``: rounding has a zero gradient, so that option is for
evaluation only. The reference image (``target``) must lie in [0, ``data_range``] as deblur's input must in [0, 1]
(:func:`check_target_values`); the prediction is scored whatever its values (nan for NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from golfdeblur.errors import GolfdeblurError
from golfdeblur.input_values import shown_value, within_input_range

Channel = Literal["rgb", "y"]

# SSIM constants of Wang et al. 2004, shared by scikit-image and MATLAB.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
# scikit-image: truncate=3.5 -> radius int(3.5 * 1.5 + 0.5) = 5; MATLAB ssim: radius ceil(3 * 1.5) = 5. Both 11 taps.
SSIM_RADIUS = 5

# ITU-R BT.601 luma for [0, 1] RGB, studio swing (Y in [16, 235] / 255), as MATLAB rgb2ycbcr and BasicSR compute it.
_Y_OFFSET = 16.0 / 255.0
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


class MetricInputError(GolfdeblurError, ValueError):
    """Inputs a metric cannot compare: wrong rank, mismatched shapes, integer dtype, too small, unknown channel, a
    reference image outside [0, data_range] (:func:`check_target_values`)."""


def _prepare(pred: torch.Tensor, target: torch.Tensor, channel: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Check the pair, add a batch axis to (C, H, W) inputs and return float tensors (at least fp32) plus `batched`."""
    for name, tensor in (("pred", pred), ("target", target)):
        if not isinstance(tensor, torch.Tensor):
            raise MetricInputError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
        if tensor.ndim not in (3, 4):
            raise MetricInputError(f"{name}: expected shape (B, C, H, W) or (C, H, W), got {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise MetricInputError(f"{name}: expected a float tensor in [0, data_range], got dtype {tensor.dtype}")
    if pred.shape != target.shape:
        raise MetricInputError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if channel not in ("rgb", "y"):
        raise MetricInputError(f"channel: expected 'rgb' or 'y', got {channel!r}")
    batched = pred.ndim == 4
    if not batched:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if channel == "y" and pred.shape[1] != 3:
        raise MetricInputError(f"channel='y' needs 3 RGB channels, got {pred.shape[1]}")
    # Half precision loses the small differences that PSNR and SSIM measure; compute in at least fp32.
    work_dtype = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    return pred.to(work_dtype), target.to(work_dtype), batched


def quantize_8bit(image: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Round an image to the 256 levels a uint8 file holds, as saving and re-reading a PNG would.

    Values are clamped to [0, data_range], then rounded half to even on the 0..255 scale (numpy's and torch's
    rounding; a uint8 cast of ``x * 255 + 0.5`` differs only on exact halves).

    Shape:
        image: any shape, float. Returns the same shape and dtype, values in {0, 1/255, ..., 1} * data_range.

    Example:
        >>> quantize_8bit(torch.tensor([0.5, 0.1234, -0.2, 1.7]))  # 0.5 * 255 = 127.5 rounds to 128
        tensor([0.5020, 0.1216, 0.0000, 1.0000])
    """
    scaled = image.clamp(0.0, data_range) * (255.0 / data_range)
    return torch.round(scaled) * (data_range / 255.0)


def rgb_to_y(image: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Luma Y of ITU-R BT.601 with studio swing, as MATLAB's rgb2ycbcr.

    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255.
    R, G, B are in [0, 1] (the formula scales with ``data_range``); Y lies in [16, 235] / 255. Y is not rounded,
    as in BasicSR's ``bgr2ycbcr(y_only=True)``; MATLAB rounds Y when its input is uint8 (a difference below 0.01 dB).

    Shape:
        image: (B, 3, H, W). Returns (B, 1, H, W).

    Example:
        >>> y = rgb_to_y(torch.ones(1, 3, 2, 2))  # white
        >>> y.shape, round(y[0, 0, 0, 0].item() * 255, 3)
        (torch.Size([1, 1, 2, 2]), 235.0)
    """
    if image.ndim != 4 or image.shape[1] != 3:
        raise MetricInputError(f"rgb_to_y: expected shape (B, 3, H, W), got {tuple(image.shape)}")
    red, green, blue = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return _Y_OFFSET * data_range + _Y_WEIGHTS[0] * red + _Y_WEIGHTS[1] * green + _Y_WEIGHTS[2] * blue


def value_ends(values: torch.Tensor) -> tuple[float, float]:
    """The smallest and largest of ``values`` (any shape, not empty), NaN for both where any is NaN, in one pass and
    one host sync, in the tensor's own dtype (a float64 1e39 stays finite).

    aminmax carries a NaN to both ends and an infinity to its end (torch's documented behaviour), so the ends alone
    say whether every value is finite. Not so on MPS before macOS 15, whose min and max drop a NaN (pytorch#130295,
    #130445): there a second pass looks for one.

    Example:
        >>> value_ends(torch.tensor([0.5, -1.0, 2.0])), value_ends(torch.tensor([0.0, float("nan")]))
        ((-1.0, 2.0), (nan, nan))
    """
    values = values.detach()
    ends = torch.stack(torch.aminmax(values))
    if values.device.type == "mps":
        ends = torch.where(torch.isnan(values).any(), math.nan, ends)
    low, high = ends.tolist()
    return low, high


def check_target_values(target: torch.Tensor, data_range: float = 1.0) -> None:
    """Raise ``MetricInputError`` (one line) unless the reference image ``target`` is finite and within [0,
    ``data_range``] up to the overshoot deblur allows its input (``input_values.INPUT_VALUE_RANGE`` times
    ``data_range``, the same rule): a 0-255 target scored with ``data_range=1`` would otherwise give a plausible but
    wrong number (8-bit rounding clamps it to white: about 25 dB for a pair of random 0-255 float images). Only the
    reference is checked: a prediction out of range, or NaN (a diverging model), still gives a number, or nan.

    Example:
        >>> try:  # doctest: +NORMALIZE_WHITESPACE
        ...     check_target_values(torch.tensor([0.0, 255.0]))
        ... except MetricInputError as error:
        ...     print(error)
        target values span [0, 255]: expected [0, data_range] = [0, 1] (0-255 images? pass data_range=255, or scale
        both to [0, 1])
        >>> check_target_values(torch.tensor([0.0, 255.0]), data_range=255)  # taken
    """
    if target.numel() == 0:
        return
    low, high = value_ends(target)  # it runs on every metric call: one pass, one sync
    if within_input_range(low / data_range, high / data_range):
        return
    if not (math.isfinite(low) and math.isfinite(high)):
        raise MetricInputError(
            f"target values include NaN or infinity: expected a reference image in [0, data_range] = [0, "
            f"{data_range:g}]"
        )
    scale = f"scale both to [0, {data_range:g}]"
    # A peak of 128-255 is most likely an 8-bit image taken as a float one; anything else is just scaled wrong.
    hint = f"0-255 images? pass data_range=255, or {scale}" if data_range != 255 and 127 < high <= 255 else scale
    span = f"[{shown_value(low, data_range)}, {shown_value(high, data_range)}]"
    raise MetricInputError(f"target values span {span}: expected [0, data_range] = [0, {data_range:g}] ({hint})")


def _convert(
    pred: torch.Tensor, target: torch.Tensor, data_range: float, round_to_8bit: bool, channel: str
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if not (data_range > 0 and math.isfinite(data_range)):  # an infinite peak gives PSNR inf and SSIM nan
        raise MetricInputError(f"data_range: expected a positive finite number, got {data_range}")
    pred, target, batched = _prepare(pred, target, channel)
    check_target_values(target, data_range)  # in the work dtype (at least fp32): a bf16 target's aminmax is exact too
    if round_to_8bit:
        pred, target = quantize_8bit(pred, data_range), quantize_8bit(target, data_range)
    if channel == "y":
        pred, target = rgb_to_y(pred, data_range), rgb_to_y(target, data_range)
    return pred, target, batched


def psnr(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    round_to_8bit: bool = False,
    channel: Channel = "rgb",
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, 10 log10(data_range^2 / MSE), MSE over all channels and pixels.

    Args:
        pred, target: images in [0, data_range].
        data_range: the peak value (1.0 for [0, 1] images). It stays the peak for channel='y' too.
        round_to_8bit: clamp and round both images to 8 bits first, the GoPro papers' convention (MATLAB psnr on
            uint8 files). Not differentiable (zero gradient).
        channel: 'rgb' (all channels) or 'y' (BT.601 luma of :func:`rgb_to_y`).

    Returns:
        PSNR in dB. Identical images give +inf, as scikit-image and MATLAB do (no cap): average dB values only over
        finite entries, or report the count of exact matches.

    Shape:
        pred, target: (B, C, H, W) or (C, H, W), float. Returns (B,), or a 0-d tensor for (C, H, W) input.

    Example:
        >>> x = torch.full((1, 3, 8, 8), 0.5)
        >>> round(psnr(x + 0.1, x).item(), 4)
        20.0
    """
    pred, target, batched = _convert(pred, target, data_range, round_to_8bit, channel)
    mse = (pred - target).square().flatten(1).mean(dim=1)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values if batched else values[0]


def _shifted_interior(images: torch.Tensor, dy: float, dx: float, border: int) -> torch.Tensor:
    """``images``' interior (``border`` px cut on each side) read ``dy``, ``dx`` px further down and right, bilinear
    between whole pixels. Shape: (B, C, H, W) -> (B, C, H - 2 border, W - 2 border); |dy|, |dx| < border."""
    height, width = images.shape[-2:]
    y0, x0 = math.floor(dy), math.floor(dx)
    fy, fx = dy - y0, dx - x0

    def crop(y: int, x: int) -> torch.Tensor:
        return images[..., border + y : height - border + y, border + x : width - border + x]

    def row(y: int) -> torch.Tensor:
        return (1 - fx) * crop(y, x0) + fx * crop(y, x0 + 1) if fx else crop(y, x0)

    return (1 - fy) * row(y0) + fy * row(y0 + 1) if fy else row(y0)


def _shift_grid_errors(
    pred: torch.Tensor, reference: torch.Tensor, max_shift: int, border: int, steps: int
) -> torch.Tensor:
    """Sum of squared differences between ``reference`` (an interior, ``border`` px in) and ``pred`` read (dy, dx)
    px further down and right, bilinear, for every dy, dx in -max_shift, -max_shift + 1/steps, ..., max_shift.

    Each (dy, dx) splits into whole pixels and a fraction, one of steps x steps phases. Per phase the bilinear image
    is made once, and the differences at all whole-pixel offsets come at once: the cross term by FFT correlation,
    the energy by a summed-area table, in float64 (where the expansion loses nothing that matters: the caller
    rescores the best shift directly), on ``pred``'s device (the CPU for MPS, which has no float64).

    Shape:
        pred (C, H, W), reference (C, H - 2 border, W - 2 border) -> (n, n) float64, n = 2 max_shift steps + 1,
        rows dy and columns dx in increasing order, on the device the search ran on.
    """
    # float64 where the device has it (MPS does not): the expansion below subtracts large sums
    device = pred.device if pred.device.type != "mps" else torch.device("cpu")
    pred64, ref64 = pred.detach().to(device, torch.float64), reference.detach().to(device, torch.float64)
    height, width = ref64.shape[-2:]
    size = (pred64.shape[-2] - 1, pred64.shape[-1] - 1)  # the bilinear image: one row and column fewer
    ref_spectrum = torch.fft.rfft2(ref64, s=size).conj()
    ref_energy = ref64.square().sum()  # the same for every shift
    count = 2 * max_shift * steps + 1
    grid = torch.empty(count, count, dtype=torch.float64, device=device)
    whole = torch.arange(-max_shift, max_shift + 1, device=device)
    for phase_y in range(steps):
        for phase_x in range(steps):
            fy, fx = phase_y / steps, phase_x / steps
            top, bottom = pred64[..., :-1, :], pred64[..., 1:, :]
            rows = (1 - fy) * top + fy * bottom
            moved = (1 - fx) * rows[..., :, :-1] + fx * rows[..., :, 1:]  # (C, H - 1, W - 1)
            cross = torch.fft.irfft2(torch.fft.rfft2(moved) * ref_spectrum, s=size).sum(0)  # correlation
            squares = F.pad(moved.square().sum(0).cumsum(0).cumsum(1), (1, 0, 1, 0))  # summed-area table
            # whole-pixel offsets whose dy = offset + fy stays within the grid (a fraction only below max_shift)
            ys = whole[: len(whole) - (1 if phase_y else 0)]
            xs = whole[: len(whole) - (1 if phase_x else 0)]
            y0, x0 = (border + ys)[:, None], (border + xs)[None, :]
            energy = (
                squares[y0 + height, x0 + width] - squares[y0, x0 + width] - squares[y0 + height, x0] + squares[y0, x0]
            )
            errors = energy - 2 * cross[y0, x0] + ref_energy
            grid[(ys[:, None] + max_shift) * steps + phase_y, (xs[None, :] + max_shift) * steps + phase_x] = errors
    return grid


def _best_alignments(
    pred: torch.Tensor, target: torch.Tensor, max_shift: int, border: int, steps: int
) -> list[tuple[tuple[float, float], torch.Tensor]]:
    """Per image, the best (dy, dx) on the grid and the mean squared error there, computed directly (see
    :func:`best_shift`)."""
    reference = _shifted_interior(target, 0, 0, border)
    found = []
    for image in range(pred.shape[0]):
        grid = _shift_grid_errors(pred[image], reference[image], max_shift, border, steps)
        row, column = divmod(int(grid.argmin()), grid.shape[1])
        dy, dx = row / steps - max_shift, column / steps - max_shift
        moved = _shifted_interior(pred[image : image + 1], dy, dx, border)
        found.append(((dy, dx), (moved - reference[image : image + 1]).square().flatten(1).mean(dim=1)))
    return found


def _check_shift_search(shape: tuple[int, ...], max_shift: int, border: int, steps: int) -> None:
    if not (max_shift >= 0 and steps >= 1 and border > max_shift) or min(shape[-2:]) <= 2 * border:
        raise MetricInputError(
            f"psnr_up_to_shift: needs images over {2 * border} px, max_shift >= 0, steps_per_pixel >= 1 and a border "
            f"over max_shift = {max_shift}, got {tuple(shape[-2:])}, border {border} and {steps} steps per pixel"
        )


def best_shift(
    pred: torch.Tensor, target: torch.Tensor, max_shift: int = 5, border: int = 15, steps_per_pixel: int = 4
) -> list[tuple[float, float]]:
    """Per image, the (dy, dx) in px on Levin et al.'s grid (steps of 1 / ``steps_per_pixel`` within
    +-``max_shift``) that brings ``pred`` closest (least squared error) to ``target``'s interior: ``pred`` read dy px
    further down and dx px further right (the alignment :func:`psnr_up_to_shift` scores).

    Shape:
        pred, target: (B, C, H, W), float, as compared (already rounded or converted, if wanted); a (C, H, W) pair
        counts as a batch of one. Returns B pairs.

    Example:
        >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> best_shift(torch.roll(x, (2, -3), (2, 3)), x)  # moved 2 px down, 3 left: read it 2 lower, 3 to the left
        [(2.0, -3.0)]
    """
    pred, target, _ = _prepare(pred, target, "rgb")  # the inputs first: their shape is what the search checks
    _check_shift_search(pred.shape, max_shift, border, steps_per_pixel)
    return [shift for shift, _ in _best_alignments(pred, target, max_shift, border, steps_per_pixel)]


def psnr_up_to_shift(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    round_to_8bit: bool = False,
    channel: Channel = "rgb",
    max_shift: int = 5,
    border: int = 15,
    steps_per_pixel: int = 4,
) -> torch.Tensor:
    """PSNR of ``pred`` at its best alignment with ``target``: Levin et al. 2009's protocol for their benchmark.

    A measured camera-shake kernel whose mass sits off its centre shifts the blurry image as well as blurring it, and
    no blind method can tell that shift from the picture; Levin et al.'s evaluation (``comp_upto_shift``, used by the
    papers that report on Levin09) therefore compares a result with the sharp image up to a shift. As their code:
    ``target``'s interior (``border`` = 15 px cut on each side) against ``pred`` moved by every shift on a grid of
    0.25 px (``1 / steps_per_pixel``) within +-``max_shift`` = 5 px in each direction, bilinear (their ``interp2``,
    which smooths a little between whole pixels); the least squared error gives the PSNR. Rounding to 8 bits, when
    asked, comes before the move. ``steps_per_pixel=1`` searches whole pixels only.

    Shape:
        pred, target: (B, C, H, W) or (C, H, W) in [0, data_range], H and W > 2 * border, border > max_shift.
        Returns (B,), or 0-d for (C, H, W) input.

    Example:
        >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> moved = torch.roll(x, (2, -3), (2, 3))  # the same picture two pixels lower, three to the left
        >>> round(psnr(moved, x).item()) < 10, psnr_up_to_shift(moved, x)
        (True, tensor([inf]))
    """
    pred, target, batched = _convert(pred, target, data_range, round_to_8bit, channel)
    _check_shift_search(pred.shape, max_shift, border, steps_per_pixel)
    errors = [error for _, error in _best_alignments(pred, target, max_shift, border, steps_per_pixel)]
    # an empty batch scores as an empty (0,) tensor, as psnr and the SSIMs do
    mse = torch.cat(errors) if errors else pred.new_empty(0)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values if batched else values[0]


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 11 normalised taps of a Gaussian with sigma 1.5 (scipy.ndimage and MATLAB build the same kernel)."""
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def _filter_2d(images: torch.Tensor, taps: torch.Tensor, replicate: bool) -> torch.Tensor:
    """Separable Gaussian over H and W of every channel: 'valid' output, or 'same' with replicate padding."""
    channels = images.shape[1]
    if replicate:
        images = F.pad(images, (SSIM_RADIUS,) * 4, mode="replicate")
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    return F.conv2d(F.conv2d(images, vertical, groups=channels), horizontal, groups=channels)


def _ssim_map(
    pred: torch.Tensor, target: torch.Tensor, data_range: float, smooth: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Wang et al.'s SSIM map with population (weighted) variances, `smooth` being the local weighted mean."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_pred, mu_target = smooth(pred), smooth(target)
    var_pred = smooth(pred * pred) - mu_pred * mu_pred
    var_target = smooth(target * target) - mu_target * mu_target
    covariance = smooth(pred * target) - mu_pred * mu_target
    numerator = (2 * mu_pred * mu_target + c1) * (2 * covariance + c2)
    denominator = (mu_pred * mu_pred + mu_target * mu_target + c1) * (var_pred + var_target + c2)
    return numerator / denominator


def ssim_gaussian(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    round_to_8bit: bool = False,
    channel: Channel = "rgb",
) -> torch.Tensor:
    """Per-channel 2-D Gaussian SSIM, the scikit-image convention (Wang et al. 2004).

    Equals ``skimage.metrics.structural_similarity(p, t, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range, channel_axis=-1)``: an 11x11 Gaussian window (sigma 1.5,
    truncated at radius 5), K1 = 0.01, K2 = 0.03, population covariances, and the SSIM map averaged over the
    interior only (scikit-image crops the 5-pixel border where its 'reflect' padding would matter), then over
    channels. The map is computed directly on the interior ('valid' convolution), so no padding enters.

    Args:
        pred, target: images in [0, data_range]; H and W at least 11.
        data_range: the dynamic range L in C1 = (K1 L)^2, C2 = (K2 L)^2.
        round_to_8bit: round both images to 8 bits first (evaluation only; zero gradient).
        channel: 'rgb' (mean over channels) or 'y' (BT.601 luma).

    Shape:
        pred, target: (B, C, H, W) or (C, H, W), float. Returns (B,), or a 0-d tensor for (C, H, W) input.

    Example:
        >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim_gaussian(x, x)
        tensor([1., 1.])
    """
    pred, target, batched = _convert(pred, target, data_range, round_to_8bit, channel)
    height, width = pred.shape[-2:]
    if min(height, width) < 2 * SSIM_RADIUS + 1:
        raise MetricInputError(
            f"ssim_gaussian: images must be at least 11x11 pixels, got {width}x{height} (width x height)"
        )
    taps = _gaussian_taps(pred.dtype, pred.device)
    ssim_map = _ssim_map(pred, target, data_range, lambda x: _filter_2d(x, taps, replicate=False))
    values = ssim_map.flatten(2).mean(dim=2).mean(dim=1)
    return values if batched else values[0]


def _channel_mixing(channels: int, taps: torch.Tensor) -> torch.Tensor:
    """The Gaussian along the channel axis with 'replicate' padding, as a (channels x channels) matrix.

    With only 3 channels, MATLAB's 11-tap filter along the third dimension sees each edge channel replicated 5 times;
    folding the taps onto the channels they land on gives the same result as padding and convolving.
    """
    mixing = torch.zeros(channels, channels, dtype=taps.dtype, device=taps.device)
    for out_channel in range(channels):
        for tap_index in range(taps.numel()):
            source = min(max(out_channel + tap_index - SSIM_RADIUS, 0), channels - 1)
            mixing[out_channel, source] += taps[tap_index]
    return mixing


def ssim_matlab3d(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    round_to_8bit: bool = False,
    channel: Channel = "rgb",
) -> torch.Tensor:
    """SSIM as MATLAB's ``ssim(A, ref)`` computes it on an H x W x 3 array: the RGB image is one 3-D volume.

    This is what the MPRNet / Restormer / NAFNet GoPro evaluation script (evaluate_GOPRO_HIDE.m, ``ssim(input, gt)``
    on uint8 images) reports. MATLAB filters with ``imgaussfilt3(X, 1.5, 'FilterSize', 11, 'Padding', 'replicate')``
    (filter radius ceil(3 * 1.5) = 5 in every dimension, the channel dimension included), uses K1 = 0.01, K2 = 0.03
    with C1 = (K1 L)^2, C2 = (K2 L)^2 where L is the dynamic range (255 for uint8, i.e. ``data_range`` here), and
    averages the full SSIM map (no border cropped). With channel='y' the input is 2-D and MATLAB uses ``imgaussfilt``
    (11x11, replicate), which this function then reproduces.

    For exact agreement with MATLAB on uint8 files set ``round_to_8bit=True`` (evaluation only; zero gradient).

    Shape:
        pred, target: (B, C, H, W) or (C, H, W), float; any H, W >= 1. Returns (B,), or 0-d for (C, H, W) input.

    Example:
        >>> x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim_matlab3d(x, x)
        tensor([1.])
    """
    pred, target, batched = _convert(pred, target, data_range, round_to_8bit, channel)
    taps = _gaussian_taps(pred.dtype, pred.device)
    mixing = _channel_mixing(pred.shape[1], taps)

    def smooth(volume: torch.Tensor) -> torch.Tensor:
        mixed = torch.einsum("oc,bchw->bohw", mixing, volume)
        return _filter_2d(mixed, taps, replicate=True)

    values = _ssim_map(pred, target, data_range, smooth).flatten(1).mean(dim=1)
    return values if batched else values[0]


MetricFunction = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class MetricConvention:
    """One metric with all the choices that change its value, and the label every report prints beside it.

    Call it like the metric: ``GOPRO_PSNR(pred, target)`` returns per-image values (B,).

    Example:
        >>> convention = MetricConvention(ssim_gaussian, channel="y", round_to_8bit=True)
        >>> convention.label
        'SSIM-Gauss2D-Y-8bit'
        >>> image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> convention(image, image)  # per image
        tensor([1., 1.])
    """

    metric: MetricFunction
    channel: Channel = "rgb"
    round_to_8bit: bool = False
    data_range: float = 1.0

    def __post_init__(self) -> None:
        if not callable(self.metric):  # e.g. the name "psnr": an AttributeError at the first label otherwise
            raise MetricInputError(f"MetricConvention: metric {self.metric!r} is not a function (e.g. metrics.psnr)")

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.metric(
            pred, target, data_range=self.data_range, round_to_8bit=self.round_to_8bit, channel=self.channel
        )

    @property
    def label(self) -> str:
        """Short column name, e.g. 'PSNR-RGB-8bit' or 'SSIM-MATLAB3D-RGB'."""
        base = {
            psnr: "PSNR",
            psnr_up_to_shift: "PSNR-UpToShift",
            ssim_gaussian: "SSIM-Gauss2D",
            ssim_matlab3d: "SSIM-MATLAB3D",
        }.get(self.metric, self.metric.__name__)
        return f"{base}-{self.channel.upper()}" + ("-8bit" if self.round_to_8bit else "")

    def describe(self) -> str:
        """Human-readable convention, e.g. 'PSNR: RGB, 8-bit rounded, data range 1'."""
        kind = {
            psnr: "PSNR",
            psnr_up_to_shift: "PSNR at the result's best shift on a 0.25 px grid within +-5 px (bilinear), 15 px "
            "border cut (Levin et al. 2009's comp_upto_shift)",
            ssim_gaussian: "SSIM (per-channel 2-D Gaussian 11x11 sigma 1.5, scikit-image)",
            ssim_matlab3d: "SSIM (3-D Gaussian 11x11x11 sigma 1.5 over H x W x C, MATLAB ssim)"
            if self.channel == "rgb"
            else "SSIM (2-D Gaussian 11x11 sigma 1.5, MATLAB ssim on one channel: imgaussfilt)",
        }.get(self.metric, self.metric.__name__)
        channel = "RGB" if self.channel == "rgb" else "Y (BT.601, MATLAB rgb2ycbcr)"
        rounding = "8-bit rounded" if self.round_to_8bit else "float (no rounding)"
        return f"{kind}: {channel}, {rounding}, data range {self.data_range:g}"


# The conventions reports use. GoPro papers: PSNR on 8-bit RGB; SSIM from MATLAB (MPRNet and followers).
GOPRO_PSNR = MetricConvention(psnr, channel="rgb", round_to_8bit=True)
GOPRO_SSIM = MetricConvention(ssim_matlab3d, channel="rgb", round_to_8bit=True)
SKIMAGE_SSIM = MetricConvention(ssim_gaussian, channel="rgb", round_to_8bit=True)
PSNR_Y = MetricConvention(psnr, channel="y", round_to_8bit=True)
SSIM_Y = MetricConvention(ssim_gaussian, channel="y", round_to_8bit=True)
# Levin et al. 2009's benchmark protocol: their measured kernels shift the image as well as blurring it.
LEVIN_PSNR = MetricConvention(psnr_up_to_shift, channel="rgb", round_to_8bit=True)
STANDARD_CONVENTIONS: tuple[MetricConvention, ...] = (GOPRO_PSNR, GOPRO_SSIM, SKIMAGE_SSIM, PSNR_Y, SSIM_Y)


def describe_conventions(conventions: tuple[MetricConvention, ...] = STANDARD_CONVENTIONS) -> str:
    """One line per convention, 'LABEL = description', for the header of every report.

    Example:
        >>> print(describe_conventions((GOPRO_PSNR,)))
        PSNR-RGB-8bit = PSNR: RGB, 8-bit rounded, data range 1
    """
    return "\n".join(f"{convention.label} = {convention.describe()}" for convention in conventions)


CONVENTIONS = (
    "Metric conventions (golfdeblur.metrics; details and sources in docs/METRICS.md):\n"
    + describe_conventions()
    + "\nPSNR of identical images is +inf (not capped)."
    + "\nY = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in [0, 1] (ITU-R BT.601, MATLAB rgb2ycbcr)."
)
