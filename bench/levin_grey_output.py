"""Does Levin09's score change if the grey output `deblur` returns is scored, rather than the model's RGB output?

Levin09 is greyscale; `golfdeblur results` feeds it as three equal channels and scores the model's RGB output
against the grey sharp image repeated to RGB. `golfdeblur deblur` (and `golfdeblur.deblur`) return a greyscale
image's deblurred result as the mean of the output's channels, which removes any colour the networks add, so it can
only score higher. This script scores both, for blurry, G and Golf T = 1..5, with the mean colour the networks add
(mean absolute difference from the channel mean, in 8-bit levels). PSNR RGB 8-bit, whole images:

    python bench/levin_grey_output.py --weights golf-synthetic-v1      # about half a minute on a 2-core CPU
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from golfdeblur.data.sources import default_data_root
from golfdeblur.data.validation import levin09
from golfdeblur.evaluate import iterate_labels, restore_iterates
from golfdeblur.infer import DEFAULT_WEIGHTS, prepare_model
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models import GolfOptimizer

ITERATIONS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument(
        "--root", default=None, help="folder holding Levin09 (default: $GOLFDEBLUR_DATA or ../shared/data)"
    )
    args = parser.parse_args()
    args.root = args.root or default_data_root()
    if args.root is None:
        parser.error("no data folder: pass --root, or set GOLFDEBLUR_DATA")
    model = prepare_model(GolfOptimizer.from_pretrained(args.weights), device="cpu")
    rgb, grey, colour = [], [], []
    for blurry, sharp, *_ in levin09(args.root):
        blurry, sharp = blurry[None].float(), sharp[None].float()
        outputs = [blurry, *restore_iterates(model, blurry.contiguous(memory_format=torch.channels_last), ITERATIONS)]
        means = [output.mean(1, keepdim=True).expand_as(output) for output in outputs]
        rgb.append([float(GOPRO_PSNR(output, sharp)[0]) for output in outputs])
        grey.append([float(GOPRO_PSNR(mean, sharp)[0]) for mean in means])
        colour.append([float((output - mean).abs().mean()) * 255 for output, mean in zip(outputs, means, strict=True)])
    rgb_scores, grey_scores, colours = np.array(rgb), np.array(grey), np.array(colour)
    print(f"weights {args.weights}, Levin09 ({len(rgb)} images), PSNR RGB 8-bit in dB, whole images")
    print("| iterate | RGB output (RESULTS.md) | channel mean (what deblur returns) | colour added (levels) |")
    print("|---|---|---|---|")
    for index, label in enumerate(iterate_labels(ITERATIONS)):
        print(f"| {label} | {rgb_scores[:, index].mean():.3f} | {grey_scores[:, index].mean():.3f} "
              f"| {colours[:, index].mean():.3f} |")  # fmt: skip
    g, t3 = 1, 4  # columns: blurry, G, D1, D2, D3, ...
    print(f"Golf T = 3 - G: RGB output {np.mean(rgb_scores[:, t3] - rgb_scores[:, g]):+.4f} dB, "
          f"channel mean {np.mean(grey_scores[:, t3] - grey_scores[:, g]):+.4f} dB")  # fmt: skip


if __name__ == "__main__":
    main()
