"""`golfdeblur deblur`: placeholder until the inference module lands (owned by the inference work)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deblur", help="deblur image files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("golfdeblur deblur is being built")
