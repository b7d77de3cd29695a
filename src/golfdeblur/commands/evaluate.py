"""`golfdeblur eval`: PSNR/SSIM of the blurry input, G(y) and every D iterate, plus the paper's Tables 3 and 4."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS, MAX_ITERATIONS
from golfdeblur.errors import GolfdeblurError
from golfdeblur.report_folder import claim_report_folder
from golfdeblur.user_path import path_argument

if TYPE_CHECKING:
    from torch.utils.data import Dataset

DATA_KINDS = ("synthetic", "levin09", "gopro", "paired")
# (warm-up, timed) runs of Table 4's measurement when not given. On a CPU one run of G + 3 D at 1280x720 takes about
# 15 s (README), so the GPU's 3 + 10 would add over three minutes to every evaluation there.
GPU_RUNS = (3, 10)
CPU_RUNS = (1, 3)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate weights on a dataset",
        description="Score the blurry input, G(y) and D^1..D^T per image and on average; write per_image.csv, "
        "summary.json, report.md, psnr_vs_iteration.png and crops.png into --out.",
    )
    parser.add_argument("--data", choices=DATA_KINDS, required=True, help="which kind of data --root holds")
    parser.add_argument(
        "--root",
        type=path_argument,
        help="GoPro root, Levin09 folder, or the data folder holding eval/cbsd68 and eval/kodak24 (default: "
        "$GOLFDEBLUR_DATA or ../shared/data for synthetic and levin09; gopro needs it)",
    )
    parser.add_argument("--blur-dir", type=path_argument, help="paired data: folder of blurry images (required there)")
    parser.add_argument(
        "--sharp-dir", type=path_argument, help="paired data: folder of sharp images, same file names (required there)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"a .safetensors file with its model card, or a packaged name (default: the packaged {DEFAULT_WEIGHTS})",
    )
    parser.add_argument("--iterations", type=int, default=None, help="T, the D iterates scored (default: the card's)")
    parser.add_argument("-o", "--out", type=path_argument, required=True, help="folder for the report")
    parser.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N images (default 0 = all)")
    parser.add_argument("--seed", type=int, default=2019, help="seed of the synthetic validation blur (default 2019)")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps (default auto)",
    )
    parser.add_argument(
        "--runtime-size", default="1280x720", help="WxH of the runtime measurement (Table 4; default 1280x720)"
    )
    parser.add_argument(
        "--runtime-repeats",
        type=int,
        default=None,
        help=f"timed runs for Table 4 (0 = skip Table 4; default {GPU_RUNS[1]} on a GPU, {CPU_RUNS[1]} on a CPU)",
    )
    parser.add_argument(
        "--runtime-warmup",
        type=int,
        default=None,
        help=f"untimed warm-up runs for Table 4 (default {GPU_RUNS[0]} on a GPU, {CPU_RUNS[0]} on a CPU)",
    )
    parser.set_defaults(run=run)


def load_pairs(args: argparse.Namespace) -> Dataset:
    """The evaluation pairs the arguments name: a Dataset of (blurry, sharp[, name])."""
    if args.data == "synthetic":
        from golfdeblur.data.validation import validation_set

        return validation_set(root=args.root, seed=args.seed)
    if args.data == "levin09":
        from golfdeblur.data.validation import levin09

        return levin09(args.root)  # default: the project's data folder (eval/levin09)
    if args.data == "gopro":
        if args.root is None:
            raise GolfdeblurError("--data gopro needs --root (the GoPro folder holding test/)")
        from golfdeblur.data.datasets import GoPro

        return GoPro(args.root, "test")
    if args.blur_dir is None or args.sharp_dir is None:
        raise GolfdeblurError("--data paired needs --blur-dir and --sharp-dir")
    from golfdeblur.data.datasets import PairedFolders

    return PairedFolders(args.blur_dir, args.sharp_dir)


def parse_size(text: str) -> tuple[int, int]:
    """ "1280x720" -> (height 720, width 1280)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise GolfdeblurError(f"--runtime-size {text}: expected WIDTHxHEIGHT, e.g. 1280x720") from exc
    if width < 1 or height < 1:
        raise GolfdeblurError(f"--runtime-size {text}: sides must be positive")
    return height, width


def run(args: argparse.Namespace) -> int:
    import torch

    from golfdeblur.device import resolve_device
    from golfdeblur.evaluate import (
        EVAL_CONVENTIONS,
        EXTRA_CONVENTIONS,
        REPORT_FILES,
        evaluate_pairs,
        summarise,
        write_report,
    )
    from golfdeblur.infer import weights_identity
    from golfdeblur.models.fuse import fuse_for_inference
    from golfdeblur.models.weights_io import load_golf
    from golfdeblur.notes import note
    from golfdeblur.paper.tables import measure_runtime, model_size_rows

    # Settings first: a bad one must not cost a whole evaluation.
    if args.iterations is not None and not 0 <= args.iterations <= MAX_ITERATIONS:
        raise GolfdeblurError(f"--iterations must be 0 to {MAX_ITERATIONS}, got {args.iterations}")
    if args.limit < 0:
        raise GolfdeblurError(f"--limit must be >= 0 (0 = all images), got {args.limit}")
    for flag, runs in (("--runtime-warmup", args.runtime_warmup), ("--runtime-repeats", args.runtime_repeats)):
        if runs is not None and runs < 0:
            raise GolfdeblurError(f"{flag} {runs}: must be >= 0")
    height, width = parse_size(args.runtime_size)
    weights, weights_sha256 = weights_identity(args.weights)  # None: the packaged default, named in the report
    args.out = claim_report_folder(args.out, REPORT_FILES, args.overwrite)  # '~' expanded
    device = resolve_device(args.device)
    model = load_golf(weights, map_location="cpu")
    iterations = model.config.iterations if args.iterations is None else args.iterations
    pairs = load_pairs(args)
    conventions = EVAL_CONVENTIONS + EXTRA_CONVENTIONS.get(args.data, ())
    result = evaluate_pairs(model, pairs, iterations, device, conventions, limit=args.limit, progress=args.data)
    if not result.rows:
        raise GolfdeblurError(f"--data {args.data}: no image pairs found")
    default_warmup, default_repeats = CPU_RUNS if device.type == "cpu" else GPU_RUNS
    repeats = default_repeats if args.runtime_repeats is None else args.runtime_repeats
    warmup = default_warmup if args.runtime_warmup is None else args.runtime_warmup
    table4 = None
    if repeats > 0:  # minutes on a CPU, after the scoring's bar: said, or it looks stuck
        note(f"timing Table 4: G + {iterations} D on {width}x{height}, {warmup} warm-up and {repeats} timed runs")
        table4 = measure_runtime(
            fuse_for_inference(model), height, width, device, warmup=warmup, repeats=repeats, iterations=iterations
        )
    # a --limit run scores part of the set, whose means are not the set's: recorded, and said in report.md
    partial: dict[str, int] = {"limit": args.limit} if args.limit else {}
    if partial and hasattr(pairs, "__len__"):  # every dataset here knows its size without reading an image
        partial["images_in_set"] = len(pairs)
    info = {
        "data": args.data,
        "root": str(args.root or args.blur_dir or ""),
        # the dead-leaves stand-in (no data folder here): said in the report, not only in a warning
        **(
            {"data_note": "CBSD68/Kodak24 not found: dead-leaves fallback, not comparable"}
            if getattr(pairs, "is_fallback", False)
            else {}
        ),  # fmt: skip
        **({"seed": args.seed} if args.data == "synthetic" else {}),  # the seed picks the blur: another set
        "weights": weights,
        "weights_sha256": weights_sha256,
        "iterations": iterations,
        "images": len(result.rows) // (iterations + 2),
        **partial,
        "device": str(device),
        "torch": torch.__version__,
    }
    write_report(args.out, result, info, model_size_rows(model.config), table4, overwrite=args.overwrite)
    labels = [c.label for c in result.conventions]
    print(f"{'iterate':>8} " + " ".join(f"{label:>18}" for label in labels))
    summary = summarise(result.rows)
    for entry in summary:
        print(f"{entry['iterate']:>8} " + " ".join(f"{entry[label]:>18.4f}" for label in labels))
    for entry in summary:  # a mean that left out perfect images reads low: say so under the table too
        for label, count in entry["exact_matches"].items():
            plural = "es" if count > 1 else ""
            print(f"{entry['iterate']} {label}: {count} exact match{plural} (+inf) left out of the mean")
    if table4:
        size = f"{table4.width}x{table4.height}"
        print(f"runtime {size} T={iterations} on {table4.device}: mean {table4.mean_ms:.1f} ms")
    print(f"report: {args.out / 'report.md'}")
    return 0
