"""Non-blind references given the true kernel: scikit-image's Richardson-Lucy and Wiener deconvolution.

They know the kernel, which the blind Golf Optimizer never sees, so they are a reference point rather than
competitors. Both run per channel on the CPU (numpy), and return RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from skimage import restoration


@dataclass(frozen=True)
class BaselineConfig:
    """Richardson-Lucy iterations and the Wiener balance (noise-to-signal weight). Our choices: the paper has no
    such baselines. Chosen on one astronaut crop with an 11 px shake kernel and 8-bit rounding (never on an
    evaluation set): Richardson-Lucy peaked near 10 iterations (27.7 dB; 30 gave 24.5, 100 gave 19.3 as quantisation
    noise is amplified); Wiener rose with the balance up to 0.1 (25.9 dB; 0.01 gave 21.5)."""

    rl_iterations: int = 10
    wiener_balance: float = 0.1


def _per_channel(
    image: torch.Tensor, kernel: torch.Tensor, restore: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> torch.Tensor:
    rgb = image.detach().cpu().double().numpy()
    psf = kernel.detach().cpu().double().numpy().reshape(kernel.shape[-2:])
    # Mirror the borders first: both methods assume a periodic or infinite image, and ring at a hard edge.
    pad = kernel.shape[-1]
    padded = np.pad(np.clip(rgb, 0.0, 1.0), ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    out = np.stack([restore(channel, psf) for channel in padded])[:, pad:-pad, pad:-pad]
    return torch.from_numpy(np.clip(out, 0.0, 1.0)).float()


def richardson_lucy(
    image: torch.Tensor, kernel: torch.Tensor, config: BaselineConfig = BaselineConfig()
) -> torch.Tensor:
    """Richardson-Lucy deconvolution with the true kernel (skimage.restoration.richardson_lucy).

    Shape:
        image (3, H, W) in [0, 1], kernel (1, k, k) or (k, k) summing to 1 -> (3, H, W) float32 in [0, 1].

    Example:
        >>> from skimage import data
        >>> from golfdeblur.data import blur, linear_motion_kernel
        >>> from golfdeblur.metrics import psnr
        >>> sharp = torch.from_numpy(data.astronaut()[64:192, 160:288].copy()).permute(2, 0, 1) / 255.0
        >>> kernel = linear_motion_kernel(9, 0.0)  # (1, 11, 11), horizontal, 9 px long
        >>> blurry = blur(sharp[None], kernel[None])[0]
        >>> restored = richardson_lucy(blurry, kernel)
        >>> restored.shape, bool(psnr(restored, sharp) > psnr(blurry, sharp) + 1)
        (torch.Size([3, 128, 128]), True)
    """
    return _per_channel(image, kernel, lambda x, k: restoration.richardson_lucy(x, k, num_iter=config.rl_iterations))


def wiener(image: torch.Tensor, kernel: torch.Tensor, config: BaselineConfig = BaselineConfig()) -> torch.Tensor:
    """Wiener deconvolution with the true kernel (skimage.restoration.wiener, circular boundary).

    Shape:
        image (3, H, W) in [0, 1], kernel (1, k, k) or (k, k) summing to 1 -> (3, H, W) float32 in [0, 1].

    Example:
        >>> from skimage import data
        >>> from golfdeblur.data import blur, linear_motion_kernel
        >>> from golfdeblur.metrics import psnr
        >>> sharp = torch.from_numpy(data.astronaut()[64:192, 160:288].copy()).permute(2, 0, 1) / 255.0
        >>> kernel = linear_motion_kernel(9, 0.0)
        >>> blurry = blur(sharp[None], kernel[None])[0]
        >>> bool(psnr(wiener(blurry, kernel), sharp) > psnr(blurry, sharp))
        True
    """
    return _per_channel(image, kernel, lambda x, k: restoration.wiener(x, k, balance=config.wiener_balance))
