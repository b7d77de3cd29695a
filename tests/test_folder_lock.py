"""Locks on folders between processes: a second holder waits its turn, and a folder whose lock cannot be taken
(no flock, a folder that cannot be opened, a file system that refuses locks) runs the block unlocked and counts as
in use."""

import errno
import os
import threading

import pytest

from golfdeblur import folder_lock
from golfdeblur.folder_lock import folder_locked, held_by_another_process


@pytest.mark.skipif(folder_lock.fcntl is None, reason="no file locks here (Windows): the limit its docs name")
def test_a_second_holder_of_a_folder_waits_until_the_first_lets_go(tmp_path):
    """A shared lock would let two reports (or releases) be moved into one folder at once, mixing their files."""
    inside = []

    def second_holder():
        with folder_locked(tmp_path):
            inside.append("second")

    second = threading.Thread(target=second_holder, daemon=True)
    with folder_locked(tmp_path):
        second.start()
        second.join(0.3)
        waited = second.is_alive() and inside == []  # asserted once the lock is let go: a failure never hangs
    second.join(5)
    assert waited and inside == ["second"]


@pytest.fixture(params=["no flock", "cannot be opened", "locks refused"])
def unlockable_folder(request, tmp_path, monkeypatch):
    """A folder whose lock cannot be taken: a system without flock (Windows), a folder that may not be opened, or a
    file system that refuses locks (some network ones)."""
    if request.param == "no flock":
        monkeypatch.setattr(folder_lock, "fcntl", None)
    elif folder_lock.fcntl is None:
        pytest.skip("no file locks here (Windows)")
    elif request.param == "cannot be opened":
        opened = os.open

        def no_permission(path, *args, **kwargs):
            if os.fspath(path) == os.fspath(tmp_path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return opened(path, *args, **kwargs)

        monkeypatch.setattr(folder_lock.os, "open", no_permission)
    else:

        def refused(*args):
            raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(folder_lock.fcntl, "flock", refused)
    return tmp_path


def test_a_folder_whose_lock_cannot_be_taken_runs_the_block_unlocked(unlockable_folder):
    """A report, a release or make-pairs' pairs are still written there, as before folders were locked."""
    ran = []
    with folder_locked(unlockable_folder):
        ran.append("the block")
    assert ran == ["the block"]


def test_a_folder_whose_lock_cannot_be_taken_counts_as_in_use(unlockable_folder):
    """make-pairs removes a hidden folder left by a killed run only when it is not in use: one that cannot be told
    might be a running make-pairs' folder."""
    assert held_by_another_process(unlockable_folder) is True
