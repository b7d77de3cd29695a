"""How sure are the gaps between iterates? Paired per-image differences with bootstrap intervals, from results CSVs.

`golfdeblur results --weights W` prints these for G - blurry, Golf T - G and Golf T - blurry below each table of
RESULTS.md (``golfdeblur.intervals``). This script computes them for any pairs of iterates from the per-image CSVs an
earlier `golfdeblur results` run left (e.g. a chunk's evaluation made before the report had them), with no model: it
takes a second. Levin09 is also resampled by kernel (its 4 images per kernel drawn together).

    python bench/paired_gap.py --results docs
    python bench/paired_gap.py --results local/eval/chunk4 --pairs D3-G D1-G

With ``--baseline`` it compares two weights files scored on the same images: in a pair A-B, A is read from
``--results`` and B from the baseline's CSVs (e.g. is a new G better than the shipped one, image by image?):

    python bench/paired_gap.py --results local/eval/chunk5avg --baseline docs --pairs G-G D3-D3
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from golfdeblur.intervals import paired_gap
from golfdeblur.results import GAP_CONVENTIONS, GAP_GROUPS

BASELINE = "baseline: "


def read_rows(results: Path, dataset: str) -> list[dict] | None:
    """The per-image rows of ``results/results/DATASET.csv``; None (after saying so) when there is none."""
    path = results / "results" / f"{dataset}.csv"
    if not path.is_file():
        print(f"(no {path})")
        return None
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("docs"), help="OUT of `golfdeblur results` (default docs)")
    parser.add_argument("--pairs", nargs="+", default=["D3-G", "G-blurry", "D3-blurry"], help="A-B iterate pairs")
    parser.add_argument("--baseline", type=Path, help="OUT of another `results` run: B of each pair is read from it")
    args = parser.parse_args()
    for pair in args.pairs:
        if not re.fullmatch(r"[A-Za-z0-9]+-[A-Za-z0-9]+", pair):
            parser.error(f"--pairs {pair}: name two iterates joined by a dash, e.g. D3-G")

    against = f"; A from it, B from {args.baseline}" if args.baseline else ""
    print(f"results: {args.results}{against}; mean per-image difference in dB, 95 % bootstrap interval, images > 0")
    print("| dataset | PSNR column | pair | images | mean | interval (by image) | interval (by kernel) | > 0 |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in ("validation", "levin09"):
        rows = read_rows(args.results, dataset)
        baseline_rows = read_rows(args.baseline, dataset) if args.baseline else []
        if rows is None or baseline_rows is None:
            continue
        # columns both runs scored: a baseline made before a column existed lacks it
        tables = (rows, baseline_rows) if args.baseline else (rows,)
        labels = [c.label for c in GAP_CONVENTIONS if all(table and table[0].get(c.label) for table in tables)]
        # the baseline's iterates get a prefix, so that "G-G" pairs this run's G with the baseline's
        rows += [{**row, "iterate": BASELINE + row["iterate"]} for row in baseline_rows]
        for label in labels:
            for pair in args.pairs:
                first, second = pair.split("-", 1)
                second = BASELINE + second if args.baseline else second
                try:
                    gap = paired_gap(rows, first, second, label, GAP_GROUPS.get(dataset))
                except ValueError:  # no image with a finite gap (results identical to their sharp images), or none
                    print(f"| {dataset} | {label} | {pair} | 0 | - | - | - | - |")
                    continue
                by_kernel = f"[{gap.by_group[0]:+.3f}, {gap.by_group[1]:+.3f}]" if gap.by_group else "-"
                print(
                    f"| {dataset} | {label} | {pair} | {gap.images} | {gap.mean:+.3f} | "
                    f"[{gap.by_image[0]:+.3f}, {gap.by_image[1]:+.3f}] | {by_kernel} | {gap.positive}/{gap.images} |"
                )


if __name__ == "__main__":
    main()
