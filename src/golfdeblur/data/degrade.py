"""Degradation y = k * x + n: per-sample blur (FFT or grouped convolution), linear light, noise, 8-bit rounding.

Blur is a true convolution (the kernel is flipped relative to ``torch.nn.functional.conv2d``), the convention of
``scipy.signal.convolve2d`` and of the Levin et al. 2009 benchmark. Everything is batched and runs on the images'
device (CPU or GPU); each sample has its own kernel.

Borders. ``padding="valid"`` returns only the pixels whose whole kernel footprint lies inside the image
((H - k + 1, W - k + 1)). ``padding="symmetric"`` (the default) mirrors the image by ``k // 2`` px first so the output
keeps its size without dark frames; only the outer ``k // 2`` px then depend on the mirrored content. The datasets use
it the artefact-free way: they crop ``border_margin(max kernel size)`` px more than they need on every side, degrade,
and cut that margin from both the blurry and the sharp image (``cut_border``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len

from golfdeblur.errors import GolfdeblurError

#: Display gamma used for "linear light" (the GoPro protocol's inverse gamma 2.2 approximation of the camera response).
GAMMA = 2.2


def border_margin(kernel_size: int) -> int:
    """Pixels on each side that a blur of this (odd) kernel size takes from outside a crop: ``kernel_size // 2``.

    Example:
        >>> border_margin(51), border_margin(15), border_margin(1)
        (25, 7, 0)
    """
    return int(kernel_size) // 2


def cut_border(images: torch.Tensor, margin: int) -> torch.Tensor:
    """Remove ``margin`` px from every side. Shape: (..., H, W) -> (..., H - 2 margin, W - 2 margin).

    Example:
        >>> cut_border(torch.zeros(2, 3, 32, 40), border_margin(11)).shape
        torch.Size([2, 3, 22, 30])
        >>> cut_border(torch.zeros(3, 8, 8), 0).shape
        torch.Size([3, 8, 8])
    """
    if margin == 0:
        return images
    return images[..., margin:-margin, margin:-margin]


def centre_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Centred size x size crop of (..., H, W) (the whole side where the image is smaller); ``size`` >= 1.

    Example:
        >>> centre_crop(torch.zeros(3, 20, 8), 10).shape
        torch.Size([3, 10, 8])
    """
    if size < 1:  # 0 or a negative size would give an empty image, or a crop off centre
        raise GolfdeblurError(f"centre crop size must be at least 1 px, got {size}")
    height, width = image.shape[-2:]
    top, left = max((height - size) // 2, 0), max((width - size) // 2, 0)
    return image[..., top : top + size, left : left + size]


def symmetric_pad(images: torch.Tensor, pad: int | tuple[int, int]) -> torch.Tensor:
    """Mirror-pad by ``pad`` px on every side, or by (rows, columns) px above and below, left and right, repeating the
    edge pixel (NumPy's "symmetric" mode). Works for any pad, even one larger than the image (the mirror then repeats
    periodically).

    Shape:
        (..., H, W) -> (..., H + 2 rows, W + 2 columns).
    """
    rows, columns = (pad, pad) if isinstance(pad, int) else pad
    if rows == 0 and columns == 0:
        return images
    height, width = images.shape[-2:]

    def mirror(n: int, pad: int) -> torch.Tensor:
        index = torch.arange(-pad, n + pad, device=images.device) % (2 * n)
        return torch.where(index >= n, 2 * n - 1 - index, index)

    return images.index_select(-2, mirror(height, rows)).index_select(-1, mirror(width, columns))


def pad_to_fit(image: torch.Tensor, size: int) -> torch.Tensor:
    """``image`` mirror-padded (``symmetric_pad``) so that both sides are at least ``size``; each side only as much
    as it needs (a side already long enough is not padded, so no mirrored rows or columns are made where none are
    needed).

    Shape:
        (..., H, W) -> (..., max(H, size) or size + 1, max(W, size) or size + 1): an odd shortfall pads one more.
    """
    height, width = image.shape[-2:]
    return symmetric_pad(image, ((max(size - height, 0) + 1) // 2, (max(size - width, 0) + 1) // 2))


def _check(images: torch.Tensor, kernels: torch.Tensor) -> None:
    for name, value in (("images", images), ("kernels", kernels)):
        if not isinstance(value, torch.Tensor):
            raise GolfdeblurError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if images.ndim != 4:
        raise GolfdeblurError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if kernels.ndim != 4 or kernels.shape[1] != 1 or kernels.shape[-1] != kernels.shape[-2]:
        raise GolfdeblurError(f"kernels must be (B, 1, k, k), got shape {tuple(kernels.shape)}")
    if kernels.shape[-1] % 2 == 0:
        raise GolfdeblurError(f"kernel size must be odd, got {kernels.shape[-1]}")
    if kernels.shape[0] not in (1, images.shape[0]):
        raise GolfdeblurError(f"{kernels.shape[0]} kernels for {images.shape[0]} images")


def blur(images: torch.Tensor, kernels: torch.Tensor, method: str = "fft", padding: str = "symmetric") -> torch.Tensor:
    """Convolve every image with its own kernel (a true convolution, as ``scipy.signal.convolve2d``).

    Args:
        images: float images; any range (no clamping here).
        kernels: one kernel per image, or a single kernel for all; odd size k.
        method: "fft" (fast for large kernels) or "conv" (grouped ``conv2d``); they agree to float32 rounding.
        padding: "symmetric" (same size, mirrored borders) or "valid" (only pixels with full support).

    Shape:
        images (B, C, H, W), kernels (B or 1, 1, k, k) -> (B, C, H, W) for "symmetric",
        (B, C, H - k + 1, W - k + 1) for "valid". Computed in float32, returned in the images' dtype.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> k = torch.full((2, 1, 5, 5), 1 / 25)
        >>> blur(x, k).shape, blur(x, k, padding="valid").shape
        (torch.Size([2, 3, 32, 32]), torch.Size([2, 3, 28, 28]))
    """
    _check(images, kernels)
    if method not in ("fft", "conv"):
        raise GolfdeblurError(f"blur method must be 'fft' or 'conv', got {method!r}")
    if padding not in ("symmetric", "valid"):
        raise GolfdeblurError(f"blur padding must be 'symmetric' or 'valid', got {padding!r}")
    dtype = images.dtype
    x = images.float()
    kernels = kernels.to(device=x.device, dtype=torch.float32)
    k = kernels.shape[-1]
    if padding == "symmetric":
        x = symmetric_pad(x, k // 2)
    batch, channels, height, width = x.shape
    if height < k or width < k:
        raise GolfdeblurError(f"image of {height}x{width} px is smaller than the {k}x{k} kernel for a valid blur")
    if method == "conv":
        weight = kernels.flip(-1, -2).expand(batch, 1, k, k).repeat_interleave(channels, dim=0)
        out = F.conv2d(x.reshape(1, batch * channels, height, width), weight, groups=batch * channels)
        out = out.reshape(batch, channels, height - k + 1, width - k + 1)
    else:
        # Circular convolution of a size >= (H, W) with small prime factors (fast FFTs): outputs [k-1 : H, k-1 : W]
        # never wrap around, i.e. they are exactly the valid part.
        size = (next_fast_len(height, real=True), next_fast_len(width, real=True))
        spectrum = torch.fft.rfft2(x, s=size) * torch.fft.rfft2(kernels, s=size)
        out = torch.fft.irfft2(spectrum, s=size)[..., k - 1 : height, k - 1 : width]
    return out.to(dtype)


def random_grey(images: torch.Tensor, generator: torch.Generator, fraction: float) -> torch.Tensor:
    """Each image, with probability ``fraction``, replaced by its channel mean in all three channels (a grey photo,
    as Levin09's are fed); one draw per image from ``generator`` (CPU), none when ``fraction`` is 0.

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), same range.

    Example:
        >>> x = random_grey(torch.rand(4, 3, 8, 8), torch.Generator().manual_seed(0), 1.0)
        >>> bool((x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all())
        True
    """
    if not 0.0 <= fraction <= 1.0:
        raise GolfdeblurError(f"grey fraction must be in [0, 1], got {fraction}")
    if fraction == 0:
        return images
    grey = (torch.rand(images.shape[0], generator=generator) < fraction).to(images.device)
    mean = images.mean(1, keepdim=True).expand_as(images)
    return torch.where(grey[:, None, None, None], mean, images)


def degrade(
    sharp: torch.Tensor,
    kernels: torch.Tensor,
    generator: torch.Generator | None = None,
    noise_sigma_max: float = 0.02,
    linear_light: bool = False,
    quantize: bool = True,
    method: str = "fft",
    padding: str = "symmetric",
    clean_fraction: float = 0.0,
) -> torch.Tensor:
    """Make blurry observations: blur (optionally in linear light), add Gaussian noise, clip to [0, 1], round to 8 bits.

    Args:
        sharp: sharp RGB images in [0, 1].
        kernels: one kernel per image (or one for all), non-negative, summing to 1.
        generator: draws each sample's noise sigma (uniform in [0, noise_sigma_max]) and the noise itself; required
            when ``noise_sigma_max > 0``. It may live on another device than the images: draws happen on the
            generator's device and move to the images', so a CPU generator gives the same result on CPU and GPU.
        noise_sigma_max: upper bound of the noise standard deviation, on the [0, 1] scale (0 disables noise). A grey
            image (three equal channels) gets the same noise in each channel, so that it stays grey, as a grey
            photo's file is.
        linear_light: blur in linear light (x ** 2.2, blur, ** (1 / 2.2)), as light adds up on a sensor.
        quantize: round to multiples of 1/255, as an 8-bit camera file.
        method, padding: as in ``blur``.
        clean_fraction: probability that a sample gets no noise (only the 8-bit rounding), as a clean exposure; drawn
            from ``generator`` after the noise, and only when > 0, so 0 leaves every draw as before.

    Shape:
        sharp (B, 3, H, W), kernels (B or 1, 1, k, k) -> (B, 3, H, W) (or the "valid" size), values in [0, 1].

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = degrade(torch.rand(2, 3, 32, 32), torch.full((2, 1, 3, 3), 1 / 9), g)
        >>> y.shape, bool(y.min() >= 0 and y.max() <= 1)
        (torch.Size([2, 3, 32, 32]), True)
    """
    if not (noise_sigma_max >= 0 and math.isfinite(noise_sigma_max)):  # nan would pass a `< 0` test as no noise
        raise GolfdeblurError(f"noise_sigma_max must be a finite number >= 0, got {noise_sigma_max}")
    if not 0.0 <= clean_fraction <= 1.0:
        raise GolfdeblurError(f"clean_fraction must be in [0, 1], got {clean_fraction}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise GolfdeblurError(f"degrade: generator must be a torch.Generator or None, got {type(generator).__name__}")
    if not isinstance(sharp, torch.Tensor):
        what = type(sharp).__name__
        raise GolfdeblurError(f"degrade: sharp images must be a torch.Tensor of floats in [0, 1], got {what}")
    if not sharp.is_floating_point():  # a uint8 image clamped to [0, 1] would come back white
        raise GolfdeblurError(f"degrade: sharp images must be floats in [0, 1], got {sharp.dtype}")
    x = sharp.float().clamp(0, 1)
    if linear_light:
        x = x.pow(GAMMA)
    y = blur(x, kernels, method=method, padding=padding)
    if linear_light:
        y = y.clamp_min(0).pow(1 / GAMMA)
    if noise_sigma_max > 0:
        if generator is None:
            raise GolfdeblurError("degrade needs a generator to draw noise (or noise_sigma_max=0)")
        device = generator.device
        sigma = torch.rand(y.shape[0], 1, 1, 1, generator=generator, device=device) * noise_sigma_max
        noise = torch.randn(y.shape, generator=generator, device=device) * sigma
        # A grey image (three equal channels, as a grey file is read) stays grey: one noise plane in all channels.
        # The draws are the same either way, so colour samples are unchanged.
        if x.shape[1] == 3:
            grey = ((x[:, 0] == x[:, 1]) & (x[:, 1] == x[:, 2])).flatten(1).all(1).to(device)
            noise = torch.where(grey[:, None, None, None], noise[:, :1].expand_as(noise), noise)
        if clean_fraction > 0:
            noise = noise * (torch.rand(y.shape[0], 1, 1, 1, generator=generator, device=device) >= clean_fraction)
        y = y + noise.to(y.device)
    y = y.clamp(0, 1)
    if quantize:
        y = torch.round(y * 255) / 255
    return y.to(sharp.dtype)
