"""How strong is the training blur? PSNR of blurry crops against their sharp crops, per kernel size and for a recipe.

Real photos set the target: GoPro's blurry inputs average about 25.6 dB against their sharp frames (the figure issue 6
gives; not measured here, GoPro cannot be downloaded), so a training distribution should centre its kernels on
moderate blur. Part 1 blurs crops with kernels of one size at a time (no noise) to show how PSNR falls with size;
part 2 draws the batches a recipe's on-device data path makes (noise and
8-bit rounding included) and prints the distribution. Runs on a CPU in about a minute:

    python bench/blur_strength.py --sharp ../shared/data/sharp/bsds500 --recipe default
    python bench/blur_strength.py --sharp local/campaign/data.npz --recipe campaign --set data.kernel_max_size=25
"""

from __future__ import annotations

import argparse
import statistics

import torch

from golfdeblur.data.degrade import degrade
from golfdeblur.data.kernels import random_kernels
from golfdeblur.data.packed import load_packed
from golfdeblur.data.sources import ImageFolder, skimage_images
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.train.batches import DeviceBatches, images_to_device
from golfdeblur.train.config import load_recipe

GOPRO_MEAN_PSNR = 25.6  # issue 6 (the weights issue): GoPro's blurry inputs against their sharp frames


def sharp_images(source: str | None) -> list[torch.Tensor]:
    """(3, H, W) uint8 images from a pack, a folder, or scikit-image's bundled photographs (None)."""
    if source is not None and source.endswith(".npz"):
        return [image for _, image in load_packed(source, pairs=False).sharp]
    images = skimage_images() if source is None else ImageFolder(source)
    return images_to_device([images[i] for i in range(len(images))], "cpu")


def percentiles(values: list[float]) -> str:
    values = [min(v, 60.0) for v in values]  # an identity kernel (possible at 3 px) gives inf: count it as 60 dB
    ordered = sorted(values)
    at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.1, 0.5, 0.9)]
    return f"{statistics.mean(values):.2f} | {at[0]:.2f} | {at[1]:.2f} | {at[2]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sharp", default=None, help="folder or .npz pack (default: scikit-image's photographs)")
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--sizes", default="3,7,11,15,19,23,27,31", help="kernel sizes of part 1 (empty: skip it)")
    parser.add_argument("--crops", type=int, default=64, help="crops per kernel size in part 1")
    parser.add_argument("--batches", type=int, default=64, help="recipe batches in part 2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    images = sharp_images(args.sharp)
    recipe = load_recipe(args.recipe, args.overrides)
    crop = recipe.data.crop_size
    print(f"sharp images: {args.sharp or 'scikit-image photographs'} ({len(images)}); crop {crop} px")
    print("PSNR: RGB, 8-bit rounded, blurry crop against sharp crop (GOPRO_PSNR); a crop left unchanged (an identity")
    print("kernel, possible at 3 px) has infinite PSNR and is counted as 60 dB\n")

    print("## Part 1: one kernel size at a time (default kernel kinds, no noise)\n")
    print("| kernel size | mean | p10 | median | p90 (dB) |\n|---|---|---|---|---|")
    generator = torch.Generator().manual_seed(args.seed)
    for size in (int(s) for s in args.sizes.split(",") if s):
        batches = DeviceBatches(images, crop, args.crops, args.seed, kernel_min_size=size, kernel_max_size=size,
                                kernel_bank_size=1, noise_sigma_max=0.0)  # fmt: skip
        sharp = batches.batch(0)[1]
        kernels = random_kernels(args.crops, generator, size, size)
        margin = size // 2
        padded = torch.nn.functional.pad(sharp, (margin,) * 4, mode="reflect") if margin else sharp
        blurry = degrade(padded, kernels, generator, noise_sigma_max=0.0, padding="valid")
        values = GOPRO_PSNR(blurry, sharp).tolist()
        print(f"| {size} | {percentiles(values)} |")

    data = recipe.data
    print(
        f"\n## Part 2: the recipe '{args.recipe}' on-device stream "
        f"({args.batches} batches of {recipe.train.batch_size})\n"
    )
    print(
        f"kernels {data.kernel_min_size}-{data.kernel_max_size} px (size uniform over odd sizes), bank "
        f"{data.kernel_bank_size}, noise sigma up to {data.noise_sigma_max}\n"
    )
    stream = DeviceBatches(
        images, crop, recipe.train.batch_size, recipe.train.seed, kernel_min_size=data.kernel_min_size,
        kernel_max_size=data.kernel_max_size, kernel_bank_size=data.kernel_bank_size,
        noise_sigma_max=data.noise_sigma_max, linear_light=data.linear_light,
    )  # fmt: skip
    values = []
    for step in range(args.batches):
        blurry, sharp = stream.batch(step)
        values += GOPRO_PSNR(blurry, sharp).tolist()
    print("| mean | p10 | median | p90 (dB) | share below 20 dB | GoPro mean |\n|---|---|---|---|---|---|")
    below = sum(v < 20 for v in values) / len(values)
    print(f"| {percentiles(values)} | {below:.0%} | {GOPRO_MEAN_PSNR} |")


if __name__ == "__main__":
    main()
