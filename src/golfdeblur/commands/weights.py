"""`golfdeblur weights [NAME_OR_FILE ...]`: which weights ship with this install, or what a weights file is.

From each model card: the architecture and T, the checksum (checked against the file), the training history, and
for released weights the measured results the release gate read and whether the campaign's goal is met. With no
argument it lists every packaged name; the one `golfdeblur deblur` uses by default is marked.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list the packaged weights, or describe weights files, from their model cards",
        description="Describe packaged weights (default: every one) or .safetensors files from their model cards: "
        "architecture, T, sha256 (checked), training history, and for releases the measured PSNR and the campaign's "
        "goal.",
    )
    parser.add_argument(
        "weights", nargs="*", metavar="NAME_OR_FILE", help="packaged names or .safetensors files (default: packaged)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from golfdeblur.infer import DEFAULT_WEIGHTS, card_tile_overlap
    from golfdeblur.models import weights_io
    from golfdeblur.models.receptive_field import receptive_field
    from golfdeblur.models.weights_io import load_golf_and_card, packaged_weights, resolve_weights
    from golfdeblur.results import check_history_fields, describe_weights

    names = args.weights or packaged_weights()
    if not names:
        print("no weights are packaged with this install (deblur, eval and demo then need --weights FILE)")
        return 0
    default_path = weights_io.packaged_path(DEFAULT_WEIGHTS).resolve()
    for name in names:
        path = resolve_weights(name)
        model, card = load_golf_and_card(path)  # a missing card, a checksum that differs, a broken file: exit 2
        check_history_fields(card, path)  # a malformed card fails before any of its lines are printed
        overlap, exact = card_tile_overlap(card, weights=path), receptive_field(model)
        default = " (the default of deblur)" if path.resolve() == default_path else ""  # by name or by its path
        config = model.config
        # the file a packaged name is, or a path with its '~' expanded: nothing where it is NAME itself ('./w' is 'w')
        print(f"{name}{default}" + (f": {path}" if path != Path(name) else ""))
        print(f"  G width {config.g_width} + D width {config.d_width}, T = {config.iterations}")
        measured = f"{overlap} px, measured when released (exact: {exact} px)" if overlap else f"{exact} px (exact)"
        print(f"  tile overlap of deblur at T = {config.iterations}: {measured}")
        print(f"  {describe_weights(card, card['sha256'])}")
        release = card.get("release") or {}
        gate_lines = (release.get("gate") or {}).get("lines", [])
        if gate_lines:
            print("  measured when released (mean PSNR, RGB 8-bit, whole images):")
            for line in gate_lines:
                print(f"    {line}")
        goal = release.get("campaign_goal")
        if goal:
            short_of = ", ".join(line.split(":")[0] for line in goal["not_met_on"])
            print(f"  campaign goal ({goal['rule']}): " + ("met" if goal["met"] else f"not met on {short_of}"))
    return 0
