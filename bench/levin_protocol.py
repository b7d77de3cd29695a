"""Does ``psnr_up_to_shift`` score Levin09 as Levin et al.'s ``comp_upto_shift`` does?

Their MATLAB code cuts 15 px from each side of the sharp image, moves the result by every shift of the grid
-5:0.25:5 px in each direction with ``interp2`` (bilinear), and keeps the least sum of squared differences. This
script does exactly that, one shift at a time with scipy's ``map_coordinates`` (order 1, bilinear), on Levin09's 32
blurry inputs (both 8-bit, as read from their files), and prints it beside ``golfdeblur.metrics.LEVIN_PSNR`` (which
searches the same grid by FFT per sub-pixel phase), image by image, with the largest difference. 3.5 to 4.5 minutes on a
2-core CPU (``--limit N`` scores the first N images):

    python bench/levin_protocol.py --root ../shared/data
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import map_coordinates

from golfdeblur.data.sources import default_data_root
from golfdeblur.data.validation import levin09
from golfdeblur.metrics import LEVIN_PSNR


def comp_upto_shift(result: np.ndarray, sharp: np.ndarray, max_shift: int = 5, border: int = 15) -> float:
    """PSNR (peak 1) at the best shift of Levin et al.'s grid, by trying every shift. Shape: (C, H, W) in [0, 1]."""
    height, width = sharp.shape[-2:]
    rows, columns = np.mgrid[border : height - border, border : width - border].astype(np.float64)
    inside = sharp[:, border : height - border, border : width - border]
    shifts = np.arange(-4 * max_shift, 4 * max_shift + 1) / 4

    def error(dy: float, dx: float) -> float:
        moved = np.stack([map_coordinates(channel, [rows + dy, columns + dx], order=1) for channel in result])
        return float(np.mean((moved - inside) ** 2))

    best = min(error(dy, dx) for dy in shifts for dx in shifts)
    return 10 * float(np.log10(1 / best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", default=None, help="folder with eval/levin09 (default: $GOLFDEBLUR_DATA or ../shared/data)"
    )
    parser.add_argument("--limit", type=int, default=0, help="score the first N images only (0 = all 32)")
    args = parser.parse_args()
    args.root = args.root or default_data_root()
    if args.root is None:
        parser.error("no data folder: pass --root, or set GOLFDEBLUR_DATA")
    ours, theirs = [], []
    levin = levin09(args.root)
    for index in range(min(len(levin), args.limit) if args.limit > 0 else len(levin)):
        blurry, sharp, _, name = levin[index]
        ours.append(float(LEVIN_PSNR(blurry[None], sharp[None])[0]))
        # one channel: Levin09 is grey, fed as three equal channels, so every channel's error is the same
        theirs.append(comp_upto_shift(blurry[:1].double().numpy(), sharp[:1].double().numpy()))
        print(f"{name:<12} LEVIN_PSNR {ours[-1]:.4f}  grid search {theirs[-1]:.4f}", flush=True)
    gap = np.abs(np.array(ours) - np.array(theirs))
    print(f"mean of {len(ours)}: LEVIN_PSNR {np.mean(ours):.4f}  grid search {np.mean(theirs):.4f}  "
          f"largest difference {gap.max():.6f} dB")  # fmt: skip


if __name__ == "__main__":
    main()
