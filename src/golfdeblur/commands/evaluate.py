"""`golfdeblur eval`: PSNR/SSIM of the blurry input, G(y) and every D iterate, plus the paper's Tables 3 and 4."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from golfdeblur.data.gopro_variants import GOPRO_VARIANTS
from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS, MAX_ITERATIONS, VALIDATION_SEED
from golfdeblur.errors import GolfdeblurError
from golfdeblur.output_guard import real_path
from golfdeblur.report_folder import claim_report_folder
from golfdeblur.user_path import path_argument

if TYPE_CHECKING:
    from torch.utils.data import Dataset

DATA_KINDS = ("synthetic", "levin09", "gopro", "paired")
DEFAULT_SEED = VALIDATION_SEED  # of the synthetic validation blur: the set results and training score
#: The data options each --data reads; any other one given is refused (it would be ignored), as training refuses a
#: recipe key its data source ignores.
DATA_OPTIONS = {
    "synthetic": ("root", "seed"),
    "levin09": ("root",),
    "gopro": ("root", "gopro_variant"),
    "paired": ("blur_dir", "sharp_dir"),
}
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
    parser.add_argument(
        "--data",
        choices=DATA_KINDS,
        required=True,
        help="what to score: synthetic (the fixed validation set under --root), levin09 (under --root), gopro (the "
        "test split of --root) or paired (--blur-dir against --sharp-dir)",
    )
    parser.add_argument(
        "--root",
        type=path_argument,
        help="synthetic, levin09, gopro: the data folder holding eval/cbsd68 and eval/kodak24, the Levin09 folder (or "
        "the data folder holding eval/levin09), or the GoPro folder holding test/ (default: $GOLFDEBLUR_DATA or "
        "../shared/data for synthetic and levin09; required for gopro)",
    )
    parser.add_argument("--blur-dir", type=path_argument, help="paired data: folder of blurry images (required there)")
    parser.add_argument(
        "--sharp-dir", type=path_argument, help="paired data: folder of sharp images, same file names (required there)"
    )
    parser.add_argument(
        "--gopro-variant",
        choices=GOPRO_VARIANTS,
        default=None,
        help="gopro: the blurry images scored, blur (frames averaged as stored: the GOPRO_Large benchmark's) or "
        "blur_gamma (averaged in linear light; GOPRO_Large layout only) (default blur)",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"a .safetensors file with its model card, or a packaged name (default: the packaged {DEFAULT_WEIGHTS})",
    )
    parser.add_argument("--iterations", type=int, default=None, help="T, the D iterates scored (default: the card's)")
    parser.add_argument(
        "-o",
        "--out",
        type=path_argument,
        required=True,
        help="folder for the report (not a folder the data are read from, nor one inside it)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N images (default 0 = all)")
    parser.add_argument(
        "--seed", type=int, default=None, help=f"synthetic: seed of the validation blur (default {DEFAULT_SEED})"
    )
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


def option_name(dest: str) -> str:
    """ "blur_dir" -> "--blur-dir"."""
    return "--" + dest.replace("_", "-")


def check_data_options(args: argparse.Namespace) -> None:
    """Refuse, in one line and before any work, a data option that ``--data`` would ignore (``DATA_OPTIONS``), and a
    missing one it needs: scores of other data than the command names must not look as if they were of it."""
    uses = DATA_OPTIONS[args.data]
    for dest in ("root", "blur_dir", "sharp_dir", "gopro_variant", "seed"):
        value = getattr(args, dest)
        if value is not None and dest not in uses:
            reads = " and ".join(option_name(name) for name in uses)
            raise GolfdeblurError(
                f"{option_name(dest)} {value}: has no effect with --data {args.data}, which reads {reads}; leave it out"
            )
    if args.data == "gopro" and args.root is None:
        raise GolfdeblurError("--data gopro needs --root (the GoPro folder holding test/)")
    if args.data == "paired" and (args.blur_dir is None or args.sharp_dir is None):
        raise GolfdeblurError("--data paired needs --blur-dir and --sharp-dir")


def data_root(args: argparse.Namespace) -> Path | None:
    """The folder synthetic and levin09 read: --root, else the project's data folder (None where there is none)."""
    from golfdeblur.data.sources import default_data_root

    return args.root if args.root is not None else default_data_root()


def folders_read(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(how a message names it, folder) for every folder the data of ``args`` are read from, defaults resolved;
    none for the synthetic set's dead-leaves stand-in (no data folder)."""
    if args.data == "paired":
        return [(f"--blur-dir {args.blur_dir}", args.blur_dir), (f"--sharp-dir {args.sharp_dir}", args.sharp_dir)]
    if args.data == "gopro":
        return [(f"{args.root / 'test'} (GoPro's test split)", args.root / "test")]
    from golfdeblur.data.validation import VALIDATION_FOLDERS, levin09_folder

    root = data_root(args)
    if root is None:
        return []
    if args.data == "levin09":  # its kernels.npz is the folder's only other file read
        folder = levin09_folder(root)
        return [(f"{folder / part} (Levin09's {part} images)", folder / part) for part in ("blurred", "sharp")]
    return [(f"{root / folder} (validation images)", root / folder) for folder in VALIDATION_FOLDERS]


def refuse_out_among_inputs(args: argparse.Namespace) -> None:
    """Refuse an --out that is, or lies inside, a folder the data are read from: its report would replace an input
    named like a report file (crops.png) with --overwrite, and a rerun would read the report's files as data (as
    deblur never writes over an input, golfdeblur.output_guard)."""
    out = real_path(args.out)
    for named, folder in folders_read(args):
        read = real_path(folder)
        if out.is_relative_to(read):
            where = "is" if out == read else "lies inside"
            raise GolfdeblurError(
                f"--out {args.out}: {where} {named}, which --data {args.data} reads; choose another --out"
            )


def same_folder_note(args: argparse.Namespace) -> str | None:
    """What to say when --blur-dir and --sharp-dir are one folder: every image is scored against itself. A note, not
    a refusal: the iterates then show what the model does to images that need no deblurring, a fair question."""
    if args.data != "paired" or real_path(args.blur_dir) != real_path(args.sharp_dir):
        return None
    return (
        f"--blur-dir and --sharp-dir are the same folder ({args.blur_dir}): every image is scored against itself, so "
        "the blurry column is all exact matches and the iterates show what the model does to sharp images"
    )


def shown_path(path: Path) -> str:
    """``path`` as given, followed by its absolute form (links followed) where that differs: a report names the
    folder it read wherever it is read from."""
    absolute = real_path(path)
    return str(path) if str(path) == str(absolute) else f"{path} ({absolute})"


def data_info(args: argparse.Namespace) -> dict[str, str]:
    """What the report records of the data read: both folders for paired, else the root (given, or the default
    and where it came from) and, for gopro, the variant scored."""
    if args.data == "paired":
        return {"blur_dir": shown_path(args.blur_dir), "sharp_dir": shown_path(args.sharp_dir)}
    if args.root is not None:
        root = shown_path(args.root)
    else:
        default = data_root(args)
        source = "$GOLFDEBLUR_DATA" if os.environ.get("GOLFDEBLUR_DATA") else "the default ../shared/data"
        root = "none (no data folder found)" if default is None else f"{real_path(default)} (from {source})"
    return {"root": root, **({"gopro_variant": args.gopro_variant or "blur"} if args.data == "gopro" else {})}


def load_pairs(args: argparse.Namespace) -> Dataset:
    """The evaluation pairs the arguments name: a Dataset of (blurry, sharp[, name])."""
    if args.data == "synthetic":
        from golfdeblur.data.validation import validation_set

        return validation_set(root=args.root, seed=DEFAULT_SEED if args.seed is None else args.seed)
    if args.data == "levin09":
        from golfdeblur.data.validation import levin09

        return levin09(args.root)  # default: the project's data folder (eval/levin09)
    if args.data == "gopro":
        from golfdeblur.data.datasets import GoPro, GoProVariantError

        try:
            return GoPro(args.root, "test", variant=args.gopro_variant or "blur")
        except GoProVariantError as exc:  # a flattened layout holds one set of blurry images, read as "blur"
            raise GolfdeblurError(f"--gopro-variant {args.gopro_variant}: {exc}; pass --gopro-variant blur") from exc
    from golfdeblur.data.datasets import PairedFolders

    return PairedFolders(args.blur_dir, args.sharp_dir)


def refuse_pairs_below_ssim_window(pairs: Dataset, limit: int) -> None:
    """Refuse, before any scoring, a pair of files (of the first ``limit``; 0: all) smaller than SSIM's window: the
    pairs before it would be scored, then lost. Sets whose sizes are known before they are read only (paired and
    gopro: ``PairedImages.sizes``, from the files' headers); evaluate_pairs names any other such pair as it comes."""
    from golfdeblur.data.datasets import PairedImages
    from golfdeblur.evaluate import SSIM_MIN_SIDE

    if not isinstance(pairs, PairedImages):
        return
    scored = slice(limit or None)
    for (blurry, _sharp), (height, width) in zip(pairs.pairs[scored], pairs.sizes[scored], strict=True):
        if min(height, width) < SSIM_MIN_SIDE:
            raise GolfdeblurError(
                f"{blurry}: {width}x{height} pixels, smaller than SSIM's {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} window (the "
                "smallest image eval scores); leave the pair out"
            )


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
    check_data_options(args)
    refuse_out_among_inputs(args)
    same_folder = same_folder_note(args)
    if same_folder:
        note(same_folder)
    weights, weights_sha256 = weights_identity(args.weights)  # None: the packaged default, named in the report
    args.out = claim_report_folder(args.out, REPORT_FILES, args.overwrite)  # '~' expanded
    device = resolve_device(args.device)
    model = load_golf(weights, map_location="cpu")
    iterations = model.config.iterations if args.iterations is None else args.iterations
    pairs = load_pairs(args)
    refuse_pairs_below_ssim_window(pairs, args.limit)
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
    # the dead-leaves stand-in (no data folder here), or one folder scored against itself: said in the report, not
    # only in a warning or note
    data_note = (
        "CBSD68/Kodak24 not found: dead-leaves fallback, not comparable"
        if getattr(pairs, "is_fallback", False)
        else "--blur-dir and --sharp-dir are one folder: each image scored against itself"
        if same_folder
        else None
    )
    info = {
        "data": args.data,
        **data_info(args),  # the folders read, as given and where they are
        **({"data_note": data_note} if data_note else {}),
        # the seed picks the blur: another set
        **({"seed": DEFAULT_SEED if args.seed is None else args.seed} if args.data == "synthetic" else {}),
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
            if entry[label] == math.inf:  # nothing left to average: the mean is theirs
                every = "the image is an exact match" if count == 1 else f"all {count} images are exact matches"
                print(f"{entry['iterate']} {label}: {every} (+inf), so the mean is inf")
                continue
            plural = "es" if count > 1 else ""
            print(f"{entry['iterate']} {label}: {count} exact match{plural} (+inf) left out of the mean")
    if table4:
        size = f"{table4.width}x{table4.height}"
        print(f"runtime {size} T={iterations} on {table4.device}: mean {table4.mean_ms:.1f} ms")
    print(f"report: {args.out / 'report.md'}")
    return 0
