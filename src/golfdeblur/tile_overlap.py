"""The tile overlap a set of weights needs, measured: far less than the receptive field for trained weights.

Tiles that overlap by the receptive-field diameter (369 px for G + 3 D) give exactly the untiled result whatever the
weights, but a trained network's output hardly depends on input that far away. ``golfdeblur release`` measures the
smallest overlap of ``OVERLAP_LADDER`` at which tiling changes no output by ``TOLERANCE_LEVELS`` of an 8-bit level
on the demo's blurred photos, adds one step of margin and writes the result into the model card
(``inference.tile_overlap``); ``deblur`` uses it as its default at the card's T. For golf-synthetic-v1 it is 128 px,
which makes a 12 MP photo 1.15 rather than 1.59 times its pixels of work, 131 s rather than 202 s on a 2-core CPU
(bench/tile_overlap.py).
"""

from __future__ import annotations

import torch

from golfdeblur.demo import DemoConfig, make_demo_pairs
from golfdeblur.infer import deblur_tensor
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.receptive_field import receptive_field

OVERLAP_LADDER = (32, 48, 64, 96, 128, 192, 256)
# A hundredth of an 8-bit level: far below rounding, so the 8-bit result is the same but for rare values that sit on
# a rounding boundary.
TOLERANCE_LEVELS = 0.01
TILE_OVERLAP_RULE = (
    f"the step of {OVERLAP_LADDER} px after the smallest at which tiles changed no output by {TOLERANCE_LEVELS} of "
    "an 8-bit level on the demo's 8 bundled photos (256 px, seeded camera shake), or the receptive field; the "
    "default of deblur at this T"
)
# The demo's eight bundled photos at the largest crop they all have, blurred with its seeded camera shake.
REFERENCE_PHOTOS = DemoConfig(images=8, crop=256)


def reference_photos() -> torch.Tensor:
    """The blurred photos the overlap is measured on.

    Shape:
        -> (8, 3, 256, 256) RGB in [0, 1].
    """
    return make_demo_pairs(REFERENCE_PHOTOS)[2]


def seam_tile(height: int, width: int, overlap: int) -> int:
    """A tile side that cuts an image of ``height`` x ``width`` into tiles overlapping by ``overlap`` with seams both
    ways: about half the shorter side plus half the overlap.

    Example:
        >>> seam_tile(256, 256, overlap=128)  # 2 x 2 tiles of 192 px
        193
    """
    return min(height, width) // 2 + overlap // 2 + 1


def tiling_error(
    model: GolfOptimizer,
    image: torch.Tensor,
    overlap: int,
    iterations: int | None = None,
    whole: torch.Tensor | None = None,
) -> float:
    """Largest difference, in 8-bit levels, between ``image`` deblurred whole (``whole``, if already computed) and in
    tiles overlapping by ``overlap``.

    The tiles are ``seam_tile``'s, so the image has seams both ways.

    Shape:
        image (1, 3, H, W) in [0, 1] with min(H, W) > overlap; model prepared (``infer.prepare_model``).
    """
    if whole is None:
        whole = deblur_tensor(image, model, iterations=iterations, tile=0)
    tile = seam_tile(image.shape[-2], image.shape[-1], overlap)
    tiled = deblur_tensor(image, model, iterations=iterations, tile=tile, tile_overlap=overlap)
    return float((tiled - whole).abs().max()) * 255


def measure_tile_overlap(model: GolfOptimizer, images: torch.Tensor, iterations: int | None = None) -> int:
    """The overlap ``deblur`` may use by default with these weights: the ``OVERLAP_LADDER`` step after the smallest
    one at which tiling leaves every image within ``TOLERANCE_LEVELS`` of its untiled result, or the receptive-field
    diameter (exact) if no step passes or the step after is not below both the receptive field and the images' size.

    Only steps below the images' shorter side can be tried, and a pass at the largest of them, whose tiles
    (``seam_tile``) nearly cover each image, says too little to take a step beyond the images: the result is then
    exact. For example, with 256 px images a pass at 192 px gives the receptive field, not 256 px.

    The step of margin is there because small photos understate the reach: for golf-synthetic-v1, 96 px passes on
    the 256 px reference photos (0.007 levels at most) but leaves 0.05 levels on 1280x720 photos, where 128 px
    leaves under 0.005 (bench/tile_overlap.py).

    Shape:
        images (N, 3, H, W) in [0, 1]; model prepared for inference (``infer.prepare_model``).

    Example:
        >>> from golfdeblur.infer import prepare_model
        >>> from golfdeblur.models import GolfConfig
        >>> identity = prepare_model(GolfOptimizer(GolfConfig(g_width=4, d_width=2)), device="cpu")  # zero-init
        >>> measure_tile_overlap(identity, torch.rand(1, 3, 100, 100))  # 32 px passes: one step more
        48
    """
    exact = receptive_field(model, iterations)
    steps = [step for step in OVERLAP_LADDER if step < min(exact, *images.shape[-2:])]
    pairs = [(image[None], deblur_tensor(image[None], model, iterations=iterations, tile=0)) for image in images]
    for index, overlap in enumerate(steps):
        if all(tiling_error(model, single, overlap, iterations, whole) < TOLERANCE_LEVELS for single, whole in pairs):
            return steps[index + 1] if index + 1 < len(steps) else exact
    return exact
