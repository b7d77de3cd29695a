"""`golfdeblur results`: regenerate docs/RESULTS.md on the validation set and Levin09 (see golfdeblur/results.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from golfdeblur.deblur_defaults import MAX_ITERATIONS
from golfdeblur.errors import GolfdeblurError, shell_word
from golfdeblur.report_folder import building_report, claim_report_folder
from golfdeblur.user_path import path_argument

DEFAULT_ITERATIONS = 5  # the highest Golf T scored when --iterations is not given


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "results",
        help="write RESULTS.md: blurry, non-blind references and Golf per iteration on validation and Levin09",
        description="Score the blurry input, Richardson-Lucy and Wiener given the true kernel, and (with --weights) "
        "G alone and Golf at T = 1..--iterations, on the fixed synthetic validation set (CBSD68 + Kodak24) and on "
        "Levin09; write OUT/RESULTS.md and OUT/results/<dataset>.csv (with --weights also "
        "OUT/results/scored_weights.json, the sha256 of the weights scored, which `golfdeblur release` checks). Always "
        "scores on the CPU (there is no --device).",
    )
    parser.add_argument(
        "--root",
        type=path_argument,
        default=None,
        help="folder holding eval/ (default: $GOLFDEBLUR_DATA or ../shared/data)",
    )
    parser.add_argument(
        "-o", "--out", type=path_argument, default=Path("docs"), help="where RESULTS.md goes (default docs)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="Golf Optimizer weights to score (.safetensors or packaged; default: none, only the blurry input and "
        "the non-blind references)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help=f"highest Golf T scored, with --weights (default {DEFAULT_ITERATIONS}; without --weights nothing "
        "iterates, and it is refused)",
    )
    parser.add_argument("--limit", type=int, default=0, help="first N images of each dataset (default 0 = all)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the RESULTS.md and results/ folder (all it holds) already in --out (e.g. docs)",
    )
    parser.set_defaults(run=run)


def validate_settings(args: argparse.Namespace) -> None:
    """Refuse bad numbers, and an --iterations that would change nothing, before minutes of scoring, in one line
    (GolfdeblurError: exit 2)."""
    if args.iterations is not None and not 0 <= args.iterations <= MAX_ITERATIONS:
        raise GolfdeblurError(f"--iterations {args.iterations}: must be 0 to {MAX_ITERATIONS}")
    if args.iterations is not None and args.weights is None:  # only Golf iterates: said, not silently ignored
        raise GolfdeblurError(
            f"--iterations {args.iterations}: has no effect without --weights (it is the highest Golf T scored; the "
            "blurry input and the references do not iterate); leave it out or give --weights"
        )
    if args.limit < 0:
        raise GolfdeblurError(f"--limit {args.limit}: must be 0 (all images) or a positive count")


def data_folder(root: Path | None) -> Path:
    """The data folder scored: ``root`` (--root), else the project's (``default_data_root``). Refused in one line
    (GolfdeblurError) when --root names no folder, or when none is given and there is no data folder: the report is
    of the real CBSD68 / Kodak24 and Levin09, never of validation_set's dead-leaves stand-in."""
    from golfdeblur.data.sources import default_data_root

    if root is not None:
        if not root.is_dir():
            what = "not a folder" if root.exists() else "no such folder"
            raise GolfdeblurError(f"--root {root}: {what}; give the data folder holding eval/")
        return root
    found = default_data_root()  # $GOLFDEBLUR_DATA naming no folder is refused there
    if found is None:
        raise GolfdeblurError(
            "results: no data folder found (results scores the real CBSD68 / Kodak24 and Levin09); give --root, the "
            "data folder holding eval/, or set GOLFDEBLUR_DATA"
        )
    return found


def run(args: argparse.Namespace) -> int:
    from golfdeblur.data.validation import levin09, validation_set
    from golfdeblur.models.weights_io import load_golf_and_card, resolve_weights
    from golfdeblur.results import REPORT_NAMES, check_history_fields, describe_weights, write_results

    validate_settings(args)
    root = data_folder(args.root)
    args.out = claim_report_folder(args.out, REPORT_NAMES, args.overwrite)  # '~' expanded
    weights_path = resolve_weights(args.weights) if args.weights else None
    # Given a folder, validation_set refuses one without CBSD68 / Kodak24 rather than warn and fall back to dead
    # leaves, whose scores would read as theirs.
    validation = validation_set(root)
    model, card = load_golf_and_card(weights_path) if weights_path else (None, {})  # the card read once, checked
    if weights_path:
        check_history_fields(card, weights_path)  # a malformed card: one line, before scoring
    sha256 = card["sha256"].lower() if weights_path else ""  # load_golf_and_card checked the file has this hash
    # Written into a hidden folder in --out and moved in whole, RESULTS.md last: a run failing part-way (a full disk)
    # leaves the earlier report as it was, not some of its tables replaced.
    with building_report(
        args.out, sorted(REPORT_NAMES, key=lambda name: name == "RESULTS.md"), overwrite=args.overwrite
    ) as building:
        written = write_results(
            {"validation": validation, "levin09": levin09(root)},
            building,
            model=model,
            weights_label=str(args.weights or ""),
            iterations=DEFAULT_ITERATIONS if args.iterations is None else args.iterations,
            limit=args.limit,
            weights_sha256=sha256,
            weights_note=describe_weights(card, sha256) if weights_path else "",
            command=" ".join(["golfdeblur", *map(shell_word, sys.argv[1:])]) if sys.argv[1:] else "golfdeblur results",
        )
    print(f"wrote {args.out / written.name}")
    return 0
