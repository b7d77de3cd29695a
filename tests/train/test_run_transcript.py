"""train.log's mechanics without a run: lines said before the folder is written wait for it, a run refused before
then keeps none, and a train.log that cannot be written is given up with a note (a run trains on). A run's own
train.log is tested with the loop (tests/train/test_loop.py, "train.log")."""

import errno
import os
import sys
from pathlib import Path

import pytest

from golfdeblur.errors import GolfdeblurError
from golfdeblur.notes import error_line, note
from golfdeblur.train import run_transcript
from golfdeblur.train.run_transcript import say, start_transcript, transcript_kept


def test_lines_wait_for_the_run_folder_and_a_run_refused_before_it_keeps_none(tmp_path: Path, capsys):
    with pytest.raises(GolfdeblurError), transcript_kept("golfdeblur train --out refused"):
        say("training data: 4 images")
        raise GolfdeblurError("refused")
    assert list(tmp_path.iterdir()) == []  # nothing to write into, and nothing kept for the next run
    assert capsys.readouterr().err == "training data: 4 images\n"  # stderr as ever
    with pytest.raises(GolfdeblurError), transcript_kept("golfdeblur train --out run"):
        say("training data: 4 images")
        note("said before the folder")
        start_transcript(tmp_path)
        say("stage g: finished at step 2/2")
        raise GolfdeblurError("bad\ndata")
    said = (tmp_path / "train.log").read_text().splitlines()
    assert said[0].startswith("== ") and said[0].endswith(" golfdeblur train --out run ==")
    assert said[1:] == [
        "training data: 4 images",
        "golfdeblur: note: said before the folder",
        "stage g: finished at step 2/2",
        "golfdeblur: error: bad\\ndata",
    ]
    assert capsys.readouterr().err.splitlines() == said[1:4]  # the error line is the command line's to print
    say("not a run's")  # outside the block: stderr alone
    assert (tmp_path / "train.log").read_text().splitlines() == said


def test_a_train_log_that_cannot_be_written_is_given_up_with_a_note(tmp_path: Path, capsys, monkeypatch):
    # a full disk: the copy of stderr must not end the run (a signal handler's line would raise mid-step)
    def disk_full(descriptor: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with transcript_kept("golfdeblur train"):
        start_transcript(tmp_path)
        monkeypatch.setattr(run_transcript.os, "write", disk_full)
        say("stage g: step 1/2")
        say("stage g: step 2/2")
    assert capsys.readouterr().err.splitlines() == [
        f"golfdeblur: note: {tmp_path / 'train.log'}: cannot be written (no space left on device); the run goes on "
        "without it",
        "stage g: step 1/2",
        "stage g: step 2/2",
    ]


def test_a_train_log_that_cannot_be_opened_is_given_up_with_a_note(tmp_path: Path, capsys, monkeypatch):
    # a resume in a shared folder whose train.log another user owns (0644), or a read-only or immutable one, stopped
    # the run before training with `golfdeblur: error: RUN/train.log: Operation not permitted`. (Refused by a
    # stand-in for os.open: tests may run as root, whom a chmod 0444 does not stop.)
    transcript = tmp_path / "train.log"
    transcript.write_text("a previous run's lines\n")
    open_file = run_transcript.os.open

    def not_permitted(path, *args, **kwargs):
        if Path(path) == transcript:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return open_file(path, *args, **kwargs)

    monkeypatch.setattr(run_transcript.os, "open", not_permitted)
    with transcript_kept("golfdeblur train --resume"):
        say("training data: 4 images")
        start_transcript(tmp_path)
        say("stage g: finished at step 2/2")
    assert capsys.readouterr().err.splitlines() == [
        "training data: 4 images",
        f"golfdeblur: note: {transcript}: cannot be written (operation not permitted); the run goes on without it",
        "stage g: finished at step 2/2",
    ]
    assert transcript.read_text() == "a previous run's lines\n"


def test_a_name_s_undecodable_bytes_are_kept_as_stderr_writes_them(tmp_path: Path):
    transcript = run_transcript.RunTranscript("golfdeblur train")
    transcript.start(tmp_path)
    transcript.keep("photos/p\udcffb.png: left out")
    transcript.close()
    assert (tmp_path / "train.log").read_bytes().splitlines()[1] == b"photos/p\\udcffb.png: left out"


def test_the_run_s_train_log_is_closed_when_the_run_ends(tmp_path: Path):
    # each train() called from Python left its train.log open: a notebook's runs ran out of file descriptors
    descriptors = Path("/proc/self/fd")
    before = sorted(os.listdir(descriptors)) if descriptors.is_dir() else None
    with transcript_kept("train() from Python"):
        start_transcript(tmp_path)
        transcript = run_transcript._current
        assert transcript is not None and transcript.descriptor is not None
        say("stage g: finished at step 2/2")
    assert transcript.descriptor is None
    if before is not None:  # Linux: no descriptor of the run's is left open
        assert sorted(os.listdir(descriptors)) == before


@pytest.mark.parametrize(
    ("failure", "line"),
    [
        (GolfdeblurError("bad\ndata"), "golfdeblur: error: bad\\ndata"),
        (PermissionError(errno.EACCES, "Permission denied", "run/weights.tmp"), "golfdeblur: error: run/weights.tmp: "
         "Permission denied"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore"), "golfdeblur: error: out of memory (CUDA "
         "out of memory. Tried to allocate 2.00 GiB); try smaller settings"),
        (MemoryError(), "golfdeblur: error: out of memory (MemoryError); try smaller settings"),
    ],
)  # fmt: skip
def test_train_log_ends_with_the_line_the_command_line_prints_for_the_run_s_failure(tmp_path: Path, failure, line):
    # only a GolfdeblurError's line was kept: a nohup'd GPU run that ran out of memory left no reason in train.log
    with pytest.raises(type(failure)), transcript_kept("golfdeblur train"):
        start_transcript(tmp_path)
        raise failure
    assert (tmp_path / "train.log").read_text().splitlines()[1:] == [line]
    assert error_line(failure) == line  # the command line's own line (tests/test_cli.py checks that it prints it)


@pytest.mark.parametrize("failure", [RuntimeError("a bug"), BrokenPipeError(errno.EPIPE, "Broken pipe"), Exception()])
def test_a_failure_the_command_line_prints_no_line_for_leaves_none_in_train_log(tmp_path: Path, failure):
    with pytest.raises(type(failure)), transcript_kept("golfdeblur train"):
        start_transcript(tmp_path)
        raise failure
    assert (tmp_path / "train.log").read_text().splitlines()[1:] == []


def test_said_lines_with_stderr_closed_go_to_train_log_alone(tmp_path: Path, capsys, monkeypatch):
    # `2>&-`: sys.stderr is None, and print(file=None) writes to stdout, where a run's results go
    monkeypatch.setattr(sys, "stderr", None)
    with transcript_kept("golfdeblur train"):
        start_transcript(tmp_path)
        say("stage g: step 1/2")
        note("resumed")
    assert capsys.readouterr().out == ""
    assert (tmp_path / "train.log").read_text().splitlines()[1:] == ["stage g: step 1/2", "golfdeblur: note: resumed"]
