"""train.log's mechanics without a run: lines said before the folder is written wait for it, a run refused before
then keeps none, and a train.log that cannot be written is given up with a note (a run trains on). A run's own
train.log is tested with the loop (tests/train/test_loop.py, "train.log")."""

import errno
from pathlib import Path

import pytest

from golfdeblur.errors import GolfdeblurError
from golfdeblur.notes import note
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
