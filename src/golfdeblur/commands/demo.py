"""`golfdeblur demo`: deblur scikit-image's bundled photos after a seeded camera-shake blur; print and save results."""

from __future__ import annotations

import argparse
import sys

from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS
from golfdeblur.demo_config import MIN_CROP, DemoConfig
from golfdeblur.errors import GolfdeblurError
from golfdeblur.notes import error_text_line
from golfdeblur.user_path import path_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="blur bundled photos, deblur them, print PSNR/SSIM and write a side-by-side image",
        description="Blur scikit-image's bundled photos with seeded camera-shake kernels, deblur them with the Golf "
        "Optimizer, print PSNR/SSIM before and after, and write OUT/comparison.png (blurry | deblurred | sharp) and "
        "OUT/metrics.json. Needs trained weights (packaged, or --weights).",
    )
    parser.add_argument(
        "-o", "--out", type=path_argument, default="demo_output", help="output folder (default: demo_output)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"packaged weights name or .safetensors file (default: the packaged {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help=f"how many bundled photos, 1 to 8 (default: {DemoConfig.images})",
    )
    parser.add_argument(
        "--crop",
        type=int,
        default=None,
        help=f"centre crop side in pixels, {MIN_CROP} up to the shortest photo side (300 px with 2 or more photos; "
        f"default: {DemoConfig.crop})",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help=f"seed of the blur kernels and noise (default: {DemoConfig.seed})"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps (default auto)",
    )
    parser.add_argument(
        "--real", type=path_argument, default=None, metavar="DIR",
        help="instead of the bundled photos (the default): deblur the real blurry photos in DIR (recursively; no "
        "ground truth) into OUT/deblurred/NAME.png, NAME keeping the input's extension (a.jpg -> a.jpg.png), and "
        "write a before/after grid OUT/real_comparison.png with OUT/real_comparison.json (the weights that made it), "
        "e.g. --real ../shared/data/real_blurry --out local/real_blurry. OUT/deblurred must not overlap DIR; existing "
        "outputs are an error unless --overwrite",
    )  # fmt: skip
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --real: replace existing output files (never an input); without --real the demo always replaces "
        "its comparison.png and metrics.json",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not above: they import torch, which `golfdeblur --help` need not wait for.
    from golfdeblur.atomic import made_folders_removed_on_failure, prepare_folder
    from golfdeblur.demo import check_config, format_results, run_demo, run_real
    from golfdeblur.infer import prepare_model, weights_identity
    from golfdeblur.output_guard import refuse_folder_behind_link_to_nothing

    given = [f"--{name}" for name in ("images", "crop", "seed") if getattr(args, name) is not None]
    if args.real is not None and given:  # said, not silently ignored
        verb, pronoun = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise GolfdeblurError(
            f"demo --real {args.real}: {', '.join(given)} only {verb} to the bundled photos (real photos are deblurred "
            f"whole, as they are); leave {pronoun} out"
        )
    if args.real is not None and not args.real.is_dir():  # said before the weights load, and named for what it is
        if not args.real.exists():
            what = "no such folder"
        elif args.real.is_file():
            what = "is a file, not a folder"
        else:
            what = "not a folder (a pipe, socket or device)"
        raise GolfdeblurError(f"demo --real {args.real}: {what}; name the folder of blurry photos")
    if args.out.exists() and not args.out.is_dir():  # said before the work, not after it
        raise GolfdeblurError(f"--out {args.out}: exists and is not a folder")
    refuse_folder_behind_link_to_nothing(args.out)
    defaults = DemoConfig()
    config = DemoConfig(
        images=defaults.images if args.images is None else args.images,
        crop=defaults.crop if args.crop is None else args.crop,
        seed=defaults.seed if args.seed is None else args.seed,
    )
    if args.real is None:
        check_config(config)  # impossible --images / --crop: one line, before the weights load
    out = args.out
    with made_folders_removed_on_failure(out):  # a refused or failed run leaves no folder it made
        # A folder that cannot be made or takes no file: said now, not after the deblurring.
        prepare_folder(out / ("comparison.png" if args.real is None else "real_comparison.png"))
        # Then the weights: with none installed this fails at once with one line saying how to get them.
        model = prepare_model(weights=args.weights, device=args.device)
        name, sha256 = weights_identity(args.weights)
        identity = {"weights": name, "sha256": sha256, "iterations": model.config.iterations}  # T: the model's own
        if args.real is not None:
            names, failures = run_real(model, args.real, args.out, overwrite=args.overwrite, weights=identity)
            for line in failures:
                print(error_text_line(line), file=sys.stderr)
            print(f"weights: {name} (sha256 {sha256[:12]}...)")
            print(f"deblurred {len(names)} photo{'s' if len(names) != 1 else ''} from {args.real}")
            print(
                f"wrote {args.out}/real_comparison.png (blurry | deblurred), {args.out}/real_comparison.json (the "
                f"weights) and {args.out}/deblurred/"
            )
            if failures:
                print(f"golfdeblur: {len(failures)} of {len(names) + len(failures)} photos failed", file=sys.stderr)
            return 1 if failures else 0
        results = run_demo(model, args.out, config, identity)
    print(f"weights: {name} (sha256 {sha256[:12]}...)")
    print(format_results(results))
    print(f"\nwrote {args.out}/comparison.png (blurry | deblurred | sharp) and {args.out}/metrics.json")
    return 0
