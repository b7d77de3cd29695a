"""`golfdeblur release`: ship campaign weights into the package once their measured results pass the gate, and say
whether they meet the campaign's goal (golfdeblur/release.py)."""

from __future__ import annotations

import argparse

from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS
from golfdeblur.release_rules import GATE_RULE, GATE_T, GOAL_RULE, RELEASE_NAME
from golfdeblur.user_path import path_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "release",
        help="ship weights as packaged weights once their results pass the gate",
        description=f"Read RESULTS_DIR/results/{{validation,levin09}}.csv (written by `golfdeblur results --weights "
        f"WEIGHTS --out RESULTS_DIR` on the whole sets; RESULTS_DIR/results/scored_weights.json must name the sha256 "
        f"of WEIGHTS) and, if on both {GATE_RULE} (PSNR, whole images), write the weights with a release model card "
        f"(metrics per iteration, conventions, campaign history, the command that continues it, and whether the "
        f"campaign's goal, {GOAL_RULE} on both, is met) as NAME in the package. The weights' own T must be "
        f"{GATE_T}, the T the gate judges. Weights whose Golf T={GATE_T} scores below the installed default weights' "
        f"({DEFAULT_WEIGHTS}) on either set are refused unless --allow-below-shipped, whatever --dest is.",
    )
    parser.add_argument(
        "weights", metavar="WEIGHTS", help="the .safetensors file (with its model card) or packaged name to release"
    )
    parser.add_argument(
        "--results",
        type=path_argument,
        required=True,
        metavar="RESULTS_DIR",
        help="golfdeblur results --weights WEIGHTS --out",
    )
    parser.add_argument(
        "--name",
        default=RELEASE_NAME,
        help="packaged name, new for new weights (a name always means one file), e.g. golf-synthetic-v2: lower-case "
        f"letters, digits, '.', '_' and '-', without .safetensors (default {RELEASE_NAME}, the first release: only "
        "its card can be rewritten, with --overwrite)",
    )
    parser.add_argument(
        "--dest",
        type=path_argument,
        default=None,
        help="folder to write to (default: the package's weights/ in a source checkout; an installed package needs it)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="rewrite the card of an existing release of that name (of the same weights only: a name means one file)",
    )
    parser.add_argument(
        "--allow-below-shipped",
        action="store_true",
        help=f"ship even where Golf T={GATE_T} scores below the default weights (the card records where)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from golfdeblur.models.weights_io import PACKAGED_DIR, read_card
    from golfdeblur.release import release

    path, gate = release(args.weights, args.results, args.name, args.dest, args.overwrite, args.allow_below_shipped)
    for line in gate.lines:
        print(line)
    for line in gate.goal_not_met:
        print(f"campaign goal not met yet ({GOAL_RULE}): {line}")
    card = read_card(path)
    for line in card["release"].get("below_shipped", []):
        print(f"shipped although below the default weights: {line}")
    if card["release"]["compared_with"] is None:
        print(f"not compared with the default weights: no {DEFAULT_WEIGHTS} is installed in {PACKAGED_DIR}")
    names = {"G": "G", "blurry": "blurry", f"D{GATE_T}": f"Golf T={GATE_T}"}
    for dataset, measured in card["release"]["metrics"].items():  # is a gap more than the set's noise?
        for gap in measured["paired_gaps"]:
            low, high = gap["by_image"]
            line = f"{dataset}: {names[gap['first']]} - {names[gap['second']]} {gap['mean']:+.3f} dB, 95 % interval "
            line += f"[{low:+.3f}, {high:+.3f}]"
            if gap["by_group"]:
                line += f", by kernel [{gap['by_group'][0]:+.3f}, {gap['by_group'][1]:+.3f}]"
            print(line)
    print(f"released {args.weights} as {path}")
    return 0
