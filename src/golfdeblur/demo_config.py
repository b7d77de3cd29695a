"""The demo's settings, kept free of torch so that the command line can build its help (which names them)
without importing it. The demo itself is golfdeblur/demo.py."""

from __future__ import annotations

from dataclasses import dataclass

#: Smallest centre crop the demo accepts: the side of the 11 x 11 SSIM window.
MIN_CROP = 11


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings: which bundled photos, how large a centre crop, how strong the blur, which seed.

    ``images`` counts scikit-image's bundled colour photos from the first (1 to 8); ``crop`` is the side of the square
    centre crop in pixels, from ``MIN_CROP`` to the shortest side among those photos (300 px once chelsea, the second,
    is included). The default 256 px fits every bundled photo. ``golfdeblur.demo.check_config`` enforces both.
    """

    images: int = 4
    crop: int = 256
    kernel_sizes: tuple[int, ...] = (15, 19, 23, 27)
    noise_sigma_max: float = 0.005
    seed: int = 2019
