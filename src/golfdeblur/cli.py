"""The `golfdeblur` command. Each subcommand lives in golfdeblur/commands/<name>.py and exposes
``add_parser(subparsers)``, which registers its arguments and sets ``run(args) -> exit code``."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import NoReturn

from golfdeblur import __version__
from golfdeblur.commands import data, deblur, demo, evaluate, export, paper, release, results, train, weights
from golfdeblur.errors import GolfdeblurError

SUBCOMMANDS = (deblur, train, evaluate, demo, paper, data, results, release, export, weights)
# How torch's allocators say they ran out (CUDA, and the CPU's DefaultCPUAllocator in its two wordings).
MEMORY_SIGNS = ("out of memory", "not enough memory", "can't allocate memory")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line naming the command and the reason, and where the usage is
    (argparse prints the whole usage block first, which can run to ten lines). Subcommands' parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="golfdeblur", description="Blind image deblurring with the Golf Optimizer.")
    parser.add_argument("--version", action="version", version=f"golfdeblur {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def quiet_readers() -> None:
    """A file is one line on stderr, its own or its error's: tifffile logs what it skips in a damaged TIFF (a line
    Python prints when no logging is set up) and Pillow warns of it, before the line naming the file. The command
    says what matters itself; a library user keeps both."""
    logger = logging.getLogger("tifffile")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):  # once per process
        logger.addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_readers()
    try:
        return int(args.run(args))
    except GolfdeblurError as exc:
        print(f"golfdeblur: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder no command checked for: no permission, a file where a folder goes, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"golfdeblur: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:  # torch reports running out of memory as a RuntimeError
        text = str(exc).strip()
        if not isinstance(exc, MemoryError) and not any(sign in text for sign in MEMORY_SIGNS):
            raise
        reason = text.splitlines()[0] if text else type(exc).__name__
        print(
            f"golfdeblur: error: out of memory ({reason}); try smaller settings (tile, batch, widths)", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print("golfdeblur: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
