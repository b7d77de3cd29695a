"""Would a change at inference time, with no training, help the shipped weights? Two kinds are measured:

- **Test-time self-ensemble** (the "+" variants of restoration papers, EDSR+, RCAN+): the networks run on flips and
  quarter turns of the input, each output is turned back, and they are averaged, at that many times the cost. Our
  networks were trained with random horizontal and vertical flips, and camera shake has no preferred direction, so
  each is as good a guess as the plain one; their average cancels part of their errors. 2 passes (horizontal flip),
  4 (both flips), 8 (flips and turns).
- **Mirroring the input past its borders** by 16 or 48 px before deblurring, and cutting the result back. The networks
  pad every convolution with zeros, as at a photo's border, where the blurry pixels hold light from beyond the frame;
  mirroring gives them a plausible continuation instead.

On a spread of images of the fixed validation set (every ``--stride``-th, blur and noise as in docs/RESULTS.md): G and
Golf at T = 3, PSNR RGB 8-bit (mean over images), with the paired gap to the plain pass and its 95 % bootstrap
interval (``golfdeblur.intervals``), and seconds per image on this machine:

    python bench/inference_variants.py --weights golf-synthetic-v1
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
import torch.nn.functional as F

from golfdeblur.data.sources import default_data_root
from golfdeblur.data.validation import validation_set
from golfdeblur.evaluate import restore_iterates
from golfdeblur.infer import prepare_model
from golfdeblur.intervals import mean_and_gap
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models import GolfOptimizer
from golfdeblur.models.weights_io import load_golf, resolve_weights

Variant = Callable[[GolfOptimizer, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # blurry -> (G, Golf T = 3)


def golf(model: GolfOptimizer, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """G and Golf at T = 3 of a (1, 3, H, W) batch."""
    outputs = restore_iterates(model, blurry, 3)
    return outputs[0], outputs[3]


def self_ensemble(turns_and_flips: list[tuple[int, bool]]) -> Variant:
    """The mean over ``(quarter turns, horizontal flip first)`` of the outputs, each turned back."""

    def run(model: GolfOptimizer, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sums = [torch.zeros_like(blurry), torch.zeros_like(blurry)]
        for turns, flip in turns_and_flips:
            for total, output in zip(
                sums, golf(model, torch.rot90(blurry.flip(-1) if flip else blurry, turns, (-2, -1))), strict=True
            ):
                back = torch.rot90(output, -turns, (-2, -1))
                total += back.flip(-1) if flip else back
        return sums[0] / len(turns_and_flips), sums[1] / len(turns_and_flips)

    return run


def mirrored(pad: int) -> Variant:
    """The input mirrored by ``pad`` px on every side, the outputs cut back to its size."""

    def run(model: GolfOptimizer, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = blurry.shape[-2:]
        outputs = golf(model, F.pad(blurry, (pad, pad, pad, pad), mode="reflect"))
        return outputs[0][..., pad : pad + height, pad : pad + width], outputs[1][
            ..., pad : pad + height, pad : pad + width
        ]

    return run


VARIANTS: dict[str, Variant] = {
    "plain": golf,
    "x2 (h flip)": self_ensemble([(0, False), (0, True)]),
    "x4 (h, v flips)": self_ensemble([(0, False), (0, True), (2, False), (2, True)]),
    "x8 (flips, turns)": self_ensemble([(turns, flip) for turns in range(4) for flip in (False, True)]),
    "mirror 16 px": mirrored(16),
    "mirror 48 px": mirrored(48),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="golf-synthetic-v1", help="packaged name or .safetensors")
    parser.add_argument("--root", default=None, help="folder with eval/ (default: $GOLFDEBLUR_DATA or ../shared/data)")
    parser.add_argument("--stride", type=int, default=4, help="score every N-th validation image (default 4)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS)[1:], default=list(VARIANTS)[1:])
    args = parser.parse_args()
    args.root = args.root or default_data_root()
    if args.root is None:
        parser.error("no data folder: pass --root, or set GOLFDEBLUR_DATA")
    model = prepare_model(load_golf(resolve_weights(args.weights)), device="cpu")
    data = validation_set(root=args.root)
    indices = list(range(0, len(data), args.stride))
    names = ["plain", *args.variants]
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for index in indices:
        blurry, sharp, _ = data[index]
        for name in names:
            started = time.perf_counter()
            outputs = VARIANTS[name](model, blurry[None])
            seconds[name] += time.perf_counter() - started
            for label, output in zip(("G", "T=3"), outputs, strict=True):
                scores[(name, label)].append(float(GOPRO_PSNR(output, sharp[None])[0]))
    print(f"weights {args.weights}; {len(indices)} validation images (every {args.stride}th); PSNR RGB 8-bit, dB")
    for name in names:
        baseline = {label: None if name == "plain" else scores[("plain", label)] for label in ("G", "T=3")}
        cells = [f"{label} {mean_and_gap(scores[(name, label)], baseline[label])}" for label in ("G", "T=3")]
        print(f"{name:<20}" + "   ".join(cells) + f"   {seconds[name] / len(indices):.1f} s/image")


if __name__ == "__main__":
    main()
