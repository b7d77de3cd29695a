"""How sure are the gaps between iterates? Paired per-image differences with bootstrap intervals, from results CSVs.

`golfdeblur results` writes one row per image and iterate. The campaign's goal compares means (Golf T = 3 > G >
blurry on the validation set and Levin09), and some of the gaps it turns on are thousandths of a dB. This script
reads those tables and, for each dataset and PSNR column, prints the mean per-image difference of two iterates, a
95 % bootstrap interval for it (seeded), and on how many images it is positive. Levin09's 32 images are 4 photos
blurred by 8 kernels, so they are also resampled by kernel (all 4 images of a kernel together), which asks whether
the gap would hold on other kernels. No model runs; it takes a second:

    python bench/paired_gap.py --results docs
    python bench/paired_gap.py --results local/eval/chunk4 --pairs D3-G D1-G
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

PSNR_COLUMNS = ("PSNR-RGB-8bit", "PSNR-UpToShift-RGB-8bit")
LEVIN_NAME = re.compile(r"im_(\d+)_ker_(\d+)")


def read_table(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{column: {iterate: {image: value}}}`` for the PSNR columns the table has."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for column in PSNR_COLUMNS:
                if row.get(column):
                    table[column][row["iterate"]][row["image"]] = float(row[column])
    return table


def bootstrap_interval(differences: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the mean of ``differences`` (N,), resampling whole groups (labels, (N,))."""
    rng = np.random.default_rng(seed)
    labels = np.unique(groups)
    sums = np.array([differences[groups == label].sum() for label in labels])
    counts = np.array([(groups == label).sum() for label in labels])
    picks = rng.integers(0, len(labels), size=(resamples, len(labels)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("docs"), help="OUT of `golfdeblur results` (default docs)")
    parser.add_argument("--pairs", nargs="+", default=["D3-G", "G-blurry", "D3-blurry"], help="A-B iterate pairs")
    parser.add_argument("--resamples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"results: {args.results}; mean per-image difference in dB, 95 % bootstrap interval, images where > 0")
    print("| dataset | PSNR column | pair | images | mean | interval (by image) | interval (by kernel) | > 0 |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in ("validation", "levin09"):
        path = args.results / "results" / f"{dataset}.csv"
        if not path.is_file():
            print(f"(no {path})")
            continue
        for column, by_iterate in read_table(path).items():
            for pair in args.pairs:
                first, second = pair.split("-", 1)
                images = sorted(set(by_iterate[first]) & set(by_iterate[second]))
                differences = np.array([by_iterate[first][i] - by_iterate[second][i] for i in images])
                low, high = bootstrap_interval(differences, np.arange(len(images)), args.resamples, args.seed)
                by_kernel = "-"
                kernels = [LEVIN_NAME.fullmatch(image) for image in images]
                if all(kernels):
                    groups = np.array([int(match.group(2)) for match in kernels if match])
                    k_low, k_high = bootstrap_interval(differences, groups, args.resamples, args.seed)
                    by_kernel = f"[{k_low:+.3f}, {k_high:+.3f}]"
                positive = int((differences > 0).sum())
                print(
                    f"| {dataset} | {column} | {pair} | {len(images)} | {differences.mean():+.3f} | "
                    f"[{low:+.3f}, {high:+.3f}] | {by_kernel} | {positive}/{len(images)} |"
                )


if __name__ == "__main__":
    main()
