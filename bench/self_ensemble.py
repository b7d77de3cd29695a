"""Does test-time self-ensemble help the shipped weights? Average the outputs over flips and 90-degree turns.

Restoration papers often report a "+" variant (EDSR+, RCAN+): the network runs on the 8 flips and turns of the input,
each output is turned back, and the 8 are averaged, at 8 times the cost. Our networks were trained with random
horizontal and vertical flips, and camera shake has no preferred direction, so each of the 8 is as good a guess as
the plain one; their average cancels part of their errors. This script measures, on a spread of images of the fixed
validation set (every ``--stride``-th, blur and noise as in docs/RESULTS.md), G and Golf at T = 3 for the plain pass,
2 passes (horizontal flip), 4 (both flips) and 8 (flips and turns). PSNR RGB 8-bit, mean over images, and the
paired gap to the plain pass with its 95 % bootstrap interval (``golfdeblur.intervals``):

    python bench/self_ensemble.py --weights golf-synthetic-v1
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch

from golfdeblur.data.validation import validation_set
from golfdeblur.evaluate import restore_iterates
from golfdeblur.infer import prepare_model
from golfdeblur.intervals import mean_and_gap
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.weights_io import load_golf, resolve_weights

Transform = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def dihedral(turns: int, flip: bool) -> Transform:
    """(forward, inverse) for ``turns`` quarter turns after an optional horizontal flip, on (B, C, H, W)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))

    def inverse(y: torch.Tensor) -> torch.Tensor:
        back = torch.rot90(y, -turns, dims=(-2, -1))
        return back.flip(-1) if flip else back

    return forward, inverse


ENSEMBLES = {
    "plain": [dihedral(0, False)],
    "x2 (h flip)": [dihedral(0, False), dihedral(0, True)],
    "x4 (h, v flips)": [dihedral(0, False), dihedral(0, True), dihedral(2, False), dihedral(2, True)],
    "x8 (flips, turns)": [dihedral(turns, flip) for turns in range(4) for flip in (False, True)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="golf-synthetic-v1", help="packaged name or .safetensors")
    parser.add_argument("--root", default="../shared/data", help="data folder with eval/ (default ../shared/data)")
    parser.add_argument("--stride", type=int, default=4, help="score every N-th validation image (default 4)")
    args = parser.parse_args()
    model = prepare_model(load_golf(resolve_weights(args.weights)), device="cpu")
    data = validation_set(root=args.root)
    indices = list(range(0, len(data), args.stride))
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for index in indices:
        blurry, sharp, _ = data[index]
        for name, transforms in ENSEMBLES.items():
            started = time.perf_counter()
            sums = [torch.zeros_like(blurry[None]) for _ in range(2)]
            for forward, inverse in transforms:
                outputs = restore_iterates(model, forward(blurry[None]), 3)
                for total, output in zip(sums, (outputs[0], outputs[3]), strict=True):
                    total += inverse(output)
            seconds[name] += time.perf_counter() - started
            for label, total in zip(("G", "T=3"), sums, strict=True):
                scores[(name, label)].append(float(GOPRO_PSNR(total / len(transforms), sharp[None])[0]))
    print(f"weights {args.weights}; {len(indices)} validation images (every {args.stride}th); PSNR RGB 8-bit, dB")
    for name in ENSEMBLES:
        baseline = {label: None if name == "plain" else scores[("plain", label)] for label in ("G", "T=3")}
        cells = [f"{label} {mean_and_gap(scores[(name, label)], baseline[label])}" for label in ("G", "T=3")]
        print(f"{name:<20}" + "   ".join(cells) + f"   {seconds[name] / len(indices):.1f} s/image")


if __name__ == "__main__":
    main()
