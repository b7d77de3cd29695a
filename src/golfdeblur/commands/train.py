"""`golfdeblur train`: train stage G, stage D or both from a YAML recipe (see docs/TRAINING.md)."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
from pathlib import Path

from golfdeblur.errors import GolfdeblurError
from golfdeblur.user_path import user_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the Golf Optimizer from a recipe",
        description="Train G (stage g), then D with G frozen (stage d), from a YAML recipe. Checkpoints, weights, "
        "log.csv, train.log (what the run says on stderr) and TensorBoard files go into --out. Several processes: "
        "launch with torchrun.",
    )
    parser.add_argument(
        "--recipe",
        default="default",
        help="recipe in configs/ (tiny, default, campaign, paper) or a YAML path (default: default)",
    )
    parser.add_argument(
        "--stage", choices=("g", "d", "both"), default="both", help="which stage(s) to train (default: both)"
    )
    parser.add_argument("-o", "--out", required=True, help="run folder (created if missing)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a recipe value, type-checked (repeatable), e.g. --set optim.lr=1e-4",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    parser.add_argument(
        "--init-from",
        metavar="WEIGHTS",
        help="start from these weights (.safetensors with its card; default: the recipe's initialisation)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="stop after M minutes, saving checkpoint and weights (default: no limit)",
    )
    parser.add_argument(
        "--g-minutes",
        type=float,
        metavar="M",
        help="stage G's own budget: after M minutes (from the start, as --max-minutes) stage G stops, saving its "
        "weights, and stage D follows in the same process (with --stage both; default: only --max-minutes)",
    )
    parser.add_argument(
        "--vgg-weights",
        metavar="PATH",
        help="torchvision's vgg11_bn-*.pth for the perceptual loss (default: the recipe's loss.vgg_weights)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from golfdeblur.atomic import made_folders_removed_on_failure

    for flag, value in (("--max-minutes", args.max_minutes), ("--g-minutes", args.g_minutes)):
        if value is not None and not value > 0:
            raise GolfdeblurError(f"{flag} must be positive, got {value}")
    if args.g_minutes is not None and args.stage == "d":
        raise GolfdeblurError("--g-minutes limits stage g: use it with --stage g or both")
    if args.init_from is not None and not args.init_from.strip():  # "" would train from scratch
        raise GolfdeblurError("--init-from: is empty; name the weights to start from, or leave the option out")
    out = check_out(str(args.out))  # before the recipe and the data set-up, which can take a while
    with made_folders_removed_on_failure(out):  # a refused run leaves no folder it made
        return train_into(out, args)


def train_into(out: Path, args: argparse.Namespace) -> int:
    """Train as ``args`` say into ``out``; returns the exit code. Rank 0 keeps what the run says on stderr in its
    train.log (``train.run_transcript``), from the recipe's notes, said before the loop starts, to its error line."""
    from golfdeblur.train.distributed import writes_files
    from golfdeblur.train.run_transcript import transcript_kept

    with transcript_kept(command_line(args)) if writes_files() else contextlib.nullcontext():
        return train_with(out, args)


def train_with(out: Path, args: argparse.Namespace) -> int:
    """Check that ``out`` takes files, then train as ``args`` say; returns the exit code."""
    from golfdeblur.atomic import prepare_folder
    from golfdeblur.train.config import check_paths_exist, load_recipe
    from golfdeblur.train.distributed import writes_files
    from golfdeblur.train.loop import train
    from golfdeblur.train.options import RunOptions

    prepare_folder(out / "config.yaml")  # a folder that takes no file (read-only): said now, not after the data set-up
    recipe = load_recipe(args.recipe, args.overrides)
    check_paths_exist(recipe, vgg_weights_given=args.vgg_weights is not None)
    stages = ("g", "d") if args.stage == "both" else (args.stage,)
    options = RunOptions(
        run_dir=out,
        stages=stages,
        resume=args.resume,
        init_from=args.init_from,
        max_minutes=args.max_minutes,
        g_minutes=args.g_minutes,
        vgg_weights=args.vgg_weights,
        recipe_name=str(args.recipe),
    )
    outcome = train(recipe, options)
    if not writes_files():
        return 0  # under torchrun, rank 0 reports
    if outcome.status == "interrupted":
        number = outcome.stages[-1].signal_number
        print(f"stopped by signal {number}; run the same command with --resume")
        return 128 + (number or signal.SIGINT)
    if outcome.status in ("time budget", "stage budget"):
        minutes = args.max_minutes if outcome.status == "time budget" else args.g_minutes
        print(f"time budget of {minutes} min used; weights saved in {out}; continue with --resume")
        return 0
    print(f"done: weights {outcome.weights}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command that started this run, for train.log's header: as typed (``golfdeblur train ...``, also through
    ``python -m golfdeblur`` or torchrun), or, where the arguments came from Python (``cli.main(argv)``), as parsed."""
    if sys.argv[1:2] == ["train"]:
        words = sys.argv[1:]
    else:
        words = ["train", "--recipe", str(args.recipe), "--stage", args.stage, "--out", str(args.out)]
        words += [word for override in args.overrides for word in ("--set", override)]
        words += ["--resume"] if args.resume else []
        given = {"--init-from": args.init_from, "--max-minutes": args.max_minutes, "--g-minutes": args.g_minutes}
        given["--vgg-weights"] = args.vgg_weights
        words += [word for flag, value in given.items() if value is not None for word in (flag, str(value))]
    return shlex.join(["golfdeblur", *words])


def check_out(text: str) -> Path:
    """The run folder --out names, ~ expanded (as deblur -o and export do: a quoted ~ or zsh's --out=~/runs reach
    us unexpanded), refused (GolfdeblurError) when it cannot be one: an empty name (which would train into the current
    folder), an existing file, a link to nothing, or a path under either."""
    from golfdeblur.output_guard import refuse_folder_behind_link_to_nothing

    if not text.strip():
        raise GolfdeblurError("--out: is empty; name the run folder")
    out = user_path(text)
    if out.exists() and not out.is_dir():
        raise GolfdeblurError(f"--out {out}: is a file, not a folder")
    refuse_folder_behind_link_to_nothing(out)
    above = next((parent for parent in out.parents if parent.exists()), None)
    if above is not None and not above.is_dir():
        raise GolfdeblurError(f"--out {out}: {above} is a file, not a folder")
    return out
