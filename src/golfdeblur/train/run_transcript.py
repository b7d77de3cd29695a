"""``RUN_DIR/train.log``: what a training run says on stderr about itself, kept in its run folder.

A run's notes, its data line, its progress, how each stage ended and why it failed were on stderr alone: a terminal
that closed (SIGHUP points it at /dev/null, golfdeblur/hangup.py) or a stderr nobody redirected lost them, while the
run folder kept only numbers (log.csv, summary.json). The process that writes the run's files (rank 0) keeps those
lines in train.log too: appended, so a resume adds to it, each run's lines after a header with the UTC time and its
command; each line written with one ``os.write`` (unbuffered: a ``kill -9`` loses at most the line being said, and a
line said from a signal handler cannot meet a half-flushed buffer). Lines said before the run folder is written (the
recipe's notes, the data line) wait in memory: a run refused before then writes no train.log. A train.log that
cannot be written (a full disk; on a resume, another user's file in a shared folder, or a read-only one) is given up
with a note: a copy of stderr must not stop a run. Free of torch."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from golfdeblur.errors import os_reason, printable
from golfdeblur.notes import error_line, note, notes_also_to

TRANSCRIPT_NAME = "train.log"


class RunTranscript:
    """The lines of one run, for its train.log: kept in memory until ``start`` opens the file, then appended."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.waiting: list[str] = []  # said before the run folder was written
        self.path: Path | None = None  # RUN_DIR/train.log, once started
        self.descriptor: int | None = None
        self.given_up = False  # a write failed: the run goes on without its train.log

    def keep(self, line: str) -> None:
        """Append ``line`` (one line, without its newline) to train.log, or keep it until the file is started."""
        if self.given_up:
            return
        if self.descriptor is None:
            self.waiting.append(line)
            return
        data = f"{line}\n".encode("utf-8", "backslashreplace")  # a name's undecodable bytes as stderr writes them
        try:
            while data:
                data = data[os.write(self.descriptor, data) :]
        except OSError as exc:  # e.g. a full disk: a copy of stderr must not stop a run (its checkpoints say why)
            self.give_up(exc)

    def start(self, run_dir: Path) -> None:
        """Open ``run_dir``/train.log for appending (created if missing), write this run's header line, then the
        lines said so far. One that cannot be opened (a resume's train.log that another user owns, or that is
        read-only) is given up with a note, as one that cannot be written."""
        if self.descriptor is not None or self.given_up:
            return
        self.path = run_dir / TRANSCRIPT_NAME
        try:
            self.descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            self.give_up(exc)
            return
        waiting, self.waiting = self.waiting, []
        for line in (f"== {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {self.command} ==", *waiting):
            self.keep(line)

    def give_up(self, exc: OSError) -> None:
        """Stop keeping lines, saying why in a note (on stderr alone)."""
        self.given_up = True
        self.waiting = []
        self.close()
        note(f"{self.path}: cannot be written ({os_reason(exc)}); the run goes on without it")

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


_current: RunTranscript | None = None  # the run being recorded in this process


@contextlib.contextmanager
def transcript_kept(command: str) -> Iterator[None]:
    """Within the block, this process's run is recorded (notes included, ``notes_also_to``) for its train.log, which
    ``start_transcript`` opens once the run folder is written. ``command``: how the run was started, for the header
    line. An exception leaving the block ends train.log with the line the command line prints for it, if it prints
    one (``notes.error_line``: a refusal, a file error, out of memory). Inside another such block (``golfdeblur
    train`` calling ``train``) the outer one records the run."""
    global _current
    if _current is not None:
        yield
        return
    transcript = _current = RunTranscript(printable(command))
    try:
        with notes_also_to(transcript.keep):
            yield
    except BaseException as exc:
        line = error_line(exc)
        if line is not None and transcript.descriptor is not None:  # a refused run (no train.log yet) keeps none
            transcript.keep(line)
        raise
    finally:
        _current = None
        transcript.close()


def start_transcript(run_dir: Path) -> None:
    """Start the current run's train.log in ``run_dir`` (see ``RunTranscript.start``); nothing outside a run."""
    if _current is not None:
        _current.start(run_dir)


def keep_in_transcript(line: str) -> None:
    """Keep ``line`` in the current run's train.log only (progress, where a bar shows it on stderr)."""
    if _current is not None:
        _current.keep(line)


def say(line: str) -> None:
    """Print ``line`` on stderr, flushed, and keep it in the current run's train.log."""
    keep_in_transcript(line)
    if sys.stderr is not None:  # None: started with stderr closed (`2>&-`), where print() would write to stdout
        print(line, file=sys.stderr, flush=True)
