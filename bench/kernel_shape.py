"""How do synthetic camera shakes compare in shape with the 8 measured kernels of Levin et al. 2009?

Three shape figures per kernel: the peak over the mean of the taps above 5 % of the peak (a resting hand leaves a bright
dot, so measured shakes score higher), the number of taps above 2 % of the peak (the path and its near halo), and the
number of non-zero taps (measured kernels have a faint tail). Synthetic shakes are drawn with ``random_kernel`` (kind
``shake``, a fixed size) for each ``KernelRealism`` setting given; the summary is median (p10, p90), or (min, max)
for Levin09's 8.

This compares two summary figures of the kernels, not the model: Levin09 stays a test set. Runs in seconds:

    python bench/kernel_shape.py --realism 0,0 --realism 0.8,0 --realism 0,0.3 --realism 0.8,0.3
"""

from __future__ import annotations

import argparse
import statistics

import torch

from golfdeblur.data.kernels import KernelRealism, load_levin_kernels, random_kernel, seeded_generator
from golfdeblur.data.sources import default_data_root


def shape(kernel: torch.Tensor) -> tuple[float, int, int]:
    """(peak / mean of taps >= 5 % of peak, taps >= 2 % of peak, non-zero taps) of a (1, k, k) kernel."""
    peak = kernel.max()
    return (
        float(peak / kernel[kernel >= 0.05 * peak].mean()),
        int((kernel >= 0.02 * peak).sum()),
        int((kernel > 0).sum()),
    )


def summary(values: list[float]) -> str:
    """median (p10, p90); with fewer than 20 values (Levin09's 8 kernels) median (min, max), labelled so."""
    ordered = sorted(values)
    if len(ordered) < 20:
        return f"{statistics.median(ordered):.1f} (min {ordered[0]:.1f}, max {ordered[-1]:.1f})"
    tenth = len(ordered) // 10 - 1
    return f"{statistics.median(ordered):.1f} (p10 {ordered[tenth]:.1f}, p90 {ordered[-1 - tenth]:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--levin",
        default=None,
        help="folder with Levin09's kernels.npz (default: eval/levin09 of $GOLFDEBLUR_DATA or ../shared/data)",
    )
    parser.add_argument("--size", type=int, default=19, help="synthetic kernel size in px (default 19)")
    parser.add_argument("--count", type=int, default=300, help="synthetic kernels per setting (default 300)")
    parser.add_argument(
        "--realism",
        action="append",
        default=None,
        metavar="OPTICS,DWELL",
        help="KernelRealism's optics_sigma_max,dwell_max (repeatable; default 0,0 and 0.8,0.3)",
    )
    args = parser.parse_args()
    if args.levin is None:
        root = default_data_root()
        if root is None:
            parser.error("no data folder: pass --levin, or set GOLFDEBLUR_DATA")
        args.levin = root / "eval" / "levin09"
    print("kernel: peak / mean of taps >= 5 % of peak | taps >= 2 % of peak | non-zero taps")
    levin = {name: shape(kernel) for name, kernel in load_levin_kernels(args.levin).items()}
    for name, (ratio, near, nonzero) in levin.items():
        print(f"  levin09 {name}: {ratio:.1f} | {near} | {nonzero}")
    print(
        "  levin09, median over its 8: "
        + " | ".join(summary([float(values[i]) for values in levin.values()]) for i in range(3))
    )
    for setting in args.realism or ["0,0", "0.8,0.3"]:
        optics, dwell = (float(part) for part in setting.split(","))
        realism = KernelRealism(optics_sigma_max=optics, dwell_max=dwell)
        shapes = [
            shape(random_kernel(args.size, seeded_generator("kernel-shape", index), {"shake": 1.0}, realism)[0])
            for index in range(args.count)
        ]
        print(
            f"  synthetic shake {args.size} px, optics {optics}, dwell {dwell}, median of {args.count}: "
            + " | ".join(summary([float(values[i]) for values in shapes]) for i in range(3))
        )


if __name__ == "__main__":
    main()
