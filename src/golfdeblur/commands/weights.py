"""`golfdeblur weights [NAME_OR_FILE ...]`: which weights ship with this install, or what a weights file is.

From each model card: the architecture and T, the checksum (checked against the file), the training history, and
for released weights the measured results the release gate read and whether the campaign's goal is met. With no
argument it lists every packaged name; the one `golfdeblur deblur` uses by default is marked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


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
    from golfdeblur.models.receptive_field import receptive_field
    from golfdeblur.models.weights_io import load_golf, packaged_weights, read_card, resolve_weights
    from golfdeblur.results import describe_weights

    names = args.weights or packaged_weights()
    if not names:
        print("no weights are packaged with this install (golfdeblur deblur then needs --weights FILE)")
        return 0
    for name in names:
        path = resolve_weights(name)
        model = load_golf(path)  # a missing card, a checksum that differs or a broken file: one line, exit 2
        card = read_card(path)
        check_history_fields(card, path)  # a malformed card fails before any of its lines are printed
        overlap, exact = card_tile_overlap(card, weights=path), receptive_field(model)
        default = " (the default of deblur)" if str(name) == DEFAULT_WEIGHTS else ""
        config = model.config
        print(f"{name}{default}" + (f": {path}" if str(path) != str(name) else ""))
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


def check_history_fields(card: dict, path: str | Path) -> None:
    """The card's training history and release (``campaign``, ``release``), as far as this command and
    ``describe_weights`` read them, each of the type they need: a malformed card is a WeightsError naming the file
    and the field, not a traceback. Absent (or null) sections are fine: weights need not come from the campaign.

    Example:
        >>> check_history_fields({"campaign": "oops"}, "w.safetensors")
        Traceback (most recent call last):
        ...
        golfdeblur.models.weights_io.WeightsError: weights w.safetensors: model card's campaign "oops" is not an object
    """
    from golfdeblur.models.weights_io import WeightsError

    names: dict[Any, str] = {dict: "an object", list: "a list", str: "a string", bool: "true or false",
                             int: "a whole number", (int, float): "a number"}  # fmt: skip

    def check(name: str, value: Any, kind: Any) -> None:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # JSON true is no count
            raise WeightsError(f"weights {path}: model card's {name} {json.dumps(value)[:60]} is not {names[kind]}")

    def field(name: str, kind: Any, required: bool = False, items: Any = None) -> Any:
        value: Any = card
        for key in name.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            if required:
                raise WeightsError(f"weights {path}: model card has no {name}")
            return None
        check(name, value, kind)
        for index, item in enumerate(value if items is not None else []):
            check(f"{name}[{index}]", item, items)
        return value

    if field("campaign", dict):
        field("campaign.chunks", list, items=dict)
        field("campaign.g_steps", int)
        field("campaign.d_steps", int)
        field("campaign.minutes", (int, float))
    if field("release", dict):
        field("release.gate", dict)
        field("release.gate.lines", list, items=str)
        if field("release.campaign_goal", dict):
            field("release.campaign_goal.rule", str, required=True)
            field("release.campaign_goal.met", bool, required=True)
            field("release.campaign_goal.not_met_on", list, required=True, items=str)
