"""Where a training run's start-up goes: the time before its first step, part by part, for a recipe.

A GPU chunk's time budget counts from the command's start, so every second of set-up is a second less of training.
This prints, on the machine it runs on, the time each part of the set-up takes (the same calls ``golfdeblur train``
makes, in its order): the dead-leaves images (with the time per image), the pack or folder of sharp images, the real
pairs, the on-device batch source (kernel bank), and the validation pairs. Runs on a CPU in under a minute:

    python bench/train_startup.py --recipe campaign
    python bench/train_startup.py --recipe default --set data.dead_leaves_count=16
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from golfdeblur.data.kernels import random_kernels, seeded_generator
from golfdeblur.data.sources import dead_leaves
from golfdeblur.train.config import load_recipe
from golfdeblur.train.data_setup import make_validation_data, real_pairs, sharp_images


def timed(label: str, work):
    start = time.perf_counter()
    result = work()
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="campaign", help="recipe name or YAML path (default campaign)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe, args.overrides)
    data = recipe.data
    print(f"recipe {args.recipe}: {data.dead_leaves_count} dead leaves of {data.dead_leaves_size} px, root {data.root}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    seconds = []
    for index in range(data.dead_leaves_count):  # as DeadLeaves draws them (its cache is per process)
        start = time.perf_counter()
        dead_leaves(data.dead_leaves_size, seeded_generator("dead-leaves", recipe.train.seed, index))
        seconds.append(time.perf_counter() - start)
    print(
        f"{'dead leaves, each (min / mean / max)':<44} {min(seconds):.2f} / {statistics.mean(seconds):.2f} / "
        f"{max(seconds):.2f} s, {sum(seconds):.2f} s in all"
    )
    images = timed("sharp images (the dead leaves drawn again)", lambda: sharp_images(recipe))
    pairs = timed("real pairs", lambda: real_pairs(recipe))
    if data.on_device:  # DeviceBatches draws this bank once
        bank = (data.kernel_bank_size, seeded_generator("bench"), data.kernel_min_size, data.kernel_max_size | 1)
        timed(f"kernel bank ({data.kernel_bank_size} kernels)", lambda: random_kernels(*bank, pad_to=None))
    validation = timed("validation pairs", lambda: make_validation_data(recipe, None))
    print(f"{len(images)} sharp images, {len(pairs)} real pairs, {len(validation.items)} validation pairs")


if __name__ == "__main__":
    main()
