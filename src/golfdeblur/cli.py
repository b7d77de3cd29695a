"""The `golfdeblur` command. Each subcommand lives in golfdeblur/commands/<name>.py and exposes
``add_parser(subparsers)``, which registers its arguments and sets ``run(args) -> exit code``."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import re
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import NoReturn, TextIO

from golfdeblur import __version__
from golfdeblur.commands import data, deblur, demo, evaluate, export, paper, release, results, train, weights
from golfdeblur.errors import GolfdeblurError, printable
from golfdeblur.hangup import leave_hung_up_terminal, terminal_outputs
from golfdeblur.notes import error_line, tell_listeners

SUBCOMMANDS = (deblur, train, evaluate, demo, paper, data, results, release, export, weights)
# What timeout(1), docker stop, schedulers and a closed terminal send (Windows has no SIGHUP).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived while a command ran. A BaseException, as KeyboardInterrupt, so that no
    ``except Exception`` takes it for the command's own error, while every ``finally`` and ``except BaseException``
    (``atomic_path``'s removal of its temporary, ``made_folders_removed_on_failure``) still runs on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# argparse's refusal of a value outside an argument's choices (a subcommand, a `paper` analysis, --precision): the
# choices are quoted up to Python 3.12.7 and 3.13.0, and not in later releases.
INVALID_CHOICE = re.compile(r"invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)$")


def nearest(word: str, known: Sequence[str]) -> str | None:
    """The one of ``known`` that ``word`` is a misspelling of, if any: a letter or two mistyped (cutoff 0.75), not
    another word (``steps`` is no ``stage``)."""
    near = difflib.get_close_matches(word, known, n=1, cutoff=0.75)
    return near[0] if near else None


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == "'" else text


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line naming the command and the reason, and where the usage is
    (argparse prints the whole usage block first, which can run to ten lines); a misspelt choice (``golfdeblur
    debulr``, ``--precision fp3``) gets the nearest one. Subcommands' parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        invalid = INVALID_CHOICE.search(message)
        if invalid:
            choices = [_unquoted(choice) for choice in invalid["choices"].split(", ")]
            near = nearest(_unquoted(invalid["value"]), choices)
            message += f"; did you mean {near}?" if near else ""
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


class CommandParser(OneLineErrorParser):
    """A subcommand's parser (and a `paper` analysis'): an argument it does not know is refused by it, so that the
    line points to its own help, ``golfdeblur eval --help``, which lists its options, not the top level's, which lists
    none; a misspelt option gets the nearest one of its own. (argparse leaves a subcommand's unknown arguments to the
    top-level parser, which refuses them in its own name.)"""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            message = f"unrecognized arguments: {' '.join(extras)}"
            flags = [text.split("=")[0][2:] for text in extras if text.startswith("--")]
            # Compared without the leading "--", which every option shares and which made any word look near one
            # (--cpu read as --out).
            known = [option[2:] for option in self._option_string_actions if option.startswith("--")]
            near = nearest(flags[0], known) if flags else None
            self.error(f"{message}; did you mean --{near}?" if near else message)
        return parsed, extras


EXIT_CODES = """exit codes:
  0      success
  1      some inputs failed (the others were written), or a system error
         (a file no command checked for, out of memory)
  2      a usage error or a refusal (a bad setting, an existing output,
         missing data or weights; in deblur, an input whose output exists
         is a failed input: 1)
  130    interrupted (Ctrl-C)
  128+N  stopped by signal N: 143 SIGTERM, 129 SIGHUP, 141 SIGPIPE (the
         reader of the output stopped early, as `| head -1` does)"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="golfdeblur",
        description="Blind image deblurring with the Golf Optimizer.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's lines as written
    )
    parser.add_argument("--version", action="version", version=f"golfdeblur {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
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


PACKAGE_FOLDER = os.path.dirname(os.path.abspath(__file__))


@contextlib.contextmanager
def package_warnings_as_lines() -> Iterator[None]:
    """Within the block, a UserWarning the package itself raises (e.g. validation images not found: the dead-leaves
    fallback) is one line on stderr, ``golfdeblur: warning: MESSAGE``, as the commands' other notes, not Python's
    two lines naming a source file and quoting its code; the line is handed to the notes' listeners too (a training
    run's train.log, ``notes.notes_also_to``). Other warnings are shown as Python shows them."""
    shown = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, UserWarning) and os.path.abspath(filename).startswith(PACKAGE_FOLDER + os.sep):
            warning = f"golfdeblur: warning: {printable(str(message))}"
            tell_listeners(warning)
            print(warning, file=sys.stderr if file is None else file)  # a closed stderr is os.devnull here (main)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``Stopped`` in the main thread rather than end the process at
    once, which would leave an output's hidden temporary and the folders made for it behind. Only a signal whose
    disposition is the default one is taken: one ignored (``nohup``) or handled by whoever called us stays so. A
    handler installed inside the block (training's, which stops after a checkpoint) takes over until it puts ours
    back; the previous ones are restored on leaving. Only the command line does this, never ``import golfdeblur``.
    On SIGHUP the standard output and error that were terminals go to /dev/null first (``golfdeblur.hangup``): the
    closed terminal would fail every write on the way out."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    owner = os.getpid()
    terminals = terminal_outputs()  # asked now: a terminal that has hung up may no longer say it is one

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child (a data loader's worker) ends as it would have without us
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        leave_hung_up_terminal(signum, terminals)  # a closed terminal: 'stopped by SIGHUP' goes to /dev/null, not EIO
        raise Stopped(signum)

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    try:
        with closed_stderr_to_devnull(), file_names_pass_to_stdout():
            return _run(argv)
    except KeyboardInterrupt:  # before _run's own handling: while the parser is built or the arguments are read
        return interrupted()


@contextlib.contextmanager
def closed_stderr_to_devnull() -> Iterator[None]:
    """Within the block, a standard error that was closed when the process started (``2>&-``: Python's
    ``sys.stderr`` is None) is os.devnull: progress bars wrote to None and failed (deblur exited 1 without a word),
    and ``print(file=sys.stderr)`` wrote the lines meant for it to the standard output, among the paths deblur
    prints for scripts. Given back as it was on leaving."""
    if sys.stderr is not None:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        sys.stderr = devnull
        try:
            yield
        finally:
            sys.stderr = None


def interrupted() -> int:
    """Say that Ctrl-C stopped the command; its exit code, 130 (128 + SIGINT), what a shell reports for it."""
    if sys.stderr is not None:  # None: started with stderr closed (print would write to stdout)
        print("golfdeblur: interrupted", file=sys.stderr)
    return 130


@contextlib.contextmanager
def file_names_pass_to_stdout() -> Iterator[None]:
    """Within the block, a file name that is not valid UTF-8 (Python holds its bytes as surrogates, as in
    ``photo\\udcff.png``) goes to the standard output as the bytes it is made of, so that a script reading the paths
    `deblur` prints can open them, where a strict stdout (Python's under a UTF-8 locale) raised UnicodeEncodeError.
    The standard error already writes such a byte as ``\\udcff`` (Python's ``backslashreplace``). The stream's own
    error handling is given back on leaving."""
    stream = sys.stdout
    errors = getattr(stream, "errors", None)
    changed = errors not in (None, "surrogateescape") and hasattr(stream, "reconfigure")
    if changed:
        stream.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    try:
        yield
    finally:
        if changed:
            with contextlib.suppress(OSError, ValueError):  # a reader gone, or a stream closed meanwhile
                stream.reconfigure(errors=errors)  # type: ignore[union-attr]


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    quiet_readers()
    try:
        with stop_signals_raise(), package_warnings_as_lines():
            code = int(args.run(args))
            if sys.stdout is not None:  # None: started with its stdout closed (print() then writes nothing)
                sys.stdout.flush()  # a reader gone fails here, not in Python's flush at exit ('Exception ignored')
            return code
    except GolfdeblurError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `golfdeblur weights | head -1`: the reader stopped; silent, as Unix tools are
        # Python's recipe (docs.python.org/3/library/signal.html#note-on-sigpipe): what is still buffered goes to
        # /dev/null, or the flush at exit fails again. Exit 141, 128 + SIGPIPE, what a shell reports for a tool that
        # SIGPIPE ended: the pipeline's `set -o pipefail` still sees the output was cut short.
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no stdout, or one with no descriptor
            descriptor = sys.stdout.fileno()
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                # only a pipe or a socket breaks: a caller's own stdout (a file, pytest's capture) is left as it is
                os.dup2(os.open(os.devnull, os.O_WRONLY), descriptor)
        return 128 + 13  # SIGPIPE's number on every POSIX system (signal.SIGPIPE is missing on Windows)
    except FileExistsError as exc:  # an output another run wrote after the command's check: a refusal, as one found
        print(error_line(exc), file=sys.stderr)  # at the check is ("appeared meanwhile"; nothing was replaced)
        return 2
    except OSError as exc:  # a file or folder no command checked for: no permission, a file where a folder goes, ...
        print(error_line(exc), file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:  # torch reports running out of memory as a RuntimeError
        line = error_line(exc)
        if line is None:  # not out of memory: a bug, whose traceback says where
            raise
        print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted()
    except Stopped as stopped:  # what was being written was removed on the way out
        print(f"golfdeblur: stopped by {signal.Signals(stopped.signum).name}", file=sys.stderr)
        return 128 + stopped.signum


if __name__ == "__main__":
    sys.exit(main())
