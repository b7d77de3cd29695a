"""Would mirroring the image past its borders before deblurring help? The networks pad every convolution with zeros.

A blurry photo's border pixels hold light from beyond the frame, which no method sees. The networks were trained on
crops whose blur is "valid" (it came from real context beyond the crop) and pad each convolution with zeros, as they
do at a photo's border. Mirroring the input by ``p`` pixels first (and cutting the result back) gives them a
plausible continuation instead. This script measures, on a spread of images of the fixed validation set (every
``--stride``-th, blur and noise as in docs/RESULTS.md), G and Golf at T = 3 with the input mirrored by each of
``--pads`` pixels, as PSNR RGB 8-bit (mean over images) with the paired gap to no padding and its 95 % bootstrap
interval (``golfdeblur.intervals``):

    python bench/border_padding.py --weights golf-synthetic-v1 --pads 0 16 48
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch.nn.functional as F

from golfdeblur.data.validation import validation_set
from golfdeblur.evaluate import restore_iterates
from golfdeblur.infer import prepare_model
from golfdeblur.intervals import mean_and_gap
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.weights_io import load_golf, resolve_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="golf-synthetic-v1", help="packaged name or .safetensors")
    parser.add_argument("--root", default="../shared/data", help="data folder with eval/ (default ../shared/data)")
    parser.add_argument("--stride", type=int, default=4, help="score every N-th validation image (default 4)")
    parser.add_argument("--pads", type=int, nargs="+", default=[0, 16, 48], help="mirror widths in px (0 first)")
    args = parser.parse_args()
    if args.pads[0] != 0:
        parser.error("--pads must start with 0, the baseline the gaps are measured against")
    model = prepare_model(load_golf(resolve_weights(args.weights)), device="cpu")
    data = validation_set(root=args.root)
    indices = list(range(0, len(data), args.stride))
    scores: dict[tuple[int, str], list[float]] = defaultdict(list)
    seconds: dict[int, float] = defaultdict(float)
    for index in indices:
        blurry, sharp, _ = data[index]
        height, width = blurry.shape[-2:]
        for pad in args.pads:
            started = time.perf_counter()
            padded = F.pad(blurry[None], (pad, pad, pad, pad), mode="reflect") if pad else blurry[None]
            outputs = restore_iterates(model, padded, 3)
            seconds[pad] += time.perf_counter() - started
            for label, output in (("G", outputs[0]), ("T=3", outputs[3])):
                cut = output[..., pad : pad + height, pad : pad + width]
                scores[(pad, label)].append(float(GOPRO_PSNR(cut, sharp[None])[0]))
    print(f"weights {args.weights}; {len(indices)} validation images (every {args.stride}th); PSNR RGB 8-bit, dB")
    for pad in args.pads:
        baseline = {label: scores[(0, label)] if pad else None for label in ("G", "T=3")}
        cells = [f"{label} {mean_and_gap(scores[(pad, label)], baseline[label])}" for label in ("G", "T=3")]
        print(f"mirror {pad:>3} px   " + "   ".join(cells) + f"   {seconds[pad] / len(indices):.1f} s/image")


if __name__ == "__main__":
    main()
