"""The run folder's lock: processes forked while a run holds it do not keep it once the run is killed, and a lock file
another user's killed run left (which this user may not write) still locks."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from golfdeblur.errors import GolfdeblurError
from golfdeblur.train import run_lock
from golfdeblur.train.run_lock import run_folder_lock

needs_flock = pytest.mark.skipif(run_lock.fcntl is None, reason="no flock (not POSIX)")

# Holds argv[1] locked, forks a child that sleeps (as a DataLoader's worker waits for work), prints its pid, waits.
HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from golfdeblur.train.run_lock import run_folder_lock

    with run_folder_lock(Path(sys.argv[1])):
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        print(child, flush=True)
        time.sleep(60)
    """
)


@needs_flock
def test_a_killed_run_s_forked_children_do_not_keep_its_folder_locked(tmp_path: Path):
    # kill -9 of a run left its orphaned data loader workers holding the lock for seconds: an immediate --resume was
    # refused, 'another golfdeblur train is running into this folder (pid DEAD)'
    run_dir = tmp_path / "run"
    child = None
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            child = int(holder.stdout.readline())
            with pytest.raises(GolfdeblurError, match=rf"another golfdeblur train .* \(pid {holder.pid}\)$"):
                with run_folder_lock(run_dir):  # the child closed its copy: the holder's lock stays
                    pass
            holder.kill()
            assert holder.wait(timeout=30) == -signal.SIGKILL
            with run_folder_lock(run_dir):  # at once, while the child still sleeps
                os.kill(child, 0)
        finally:
            holder.kill()
            if child is not None:
                os.kill(child, signal.SIGKILL)


@needs_flock
def test_a_lock_file_this_user_may_not_write_still_locks_the_folder(tmp_path: Path, monkeypatch):
    # a .lock (mode 0644) another user's killed run left in a shared folder: 'cannot make its lock file .lock
    # (permission denied)', since it was opened for writing; flock needs only reading. Root may write any file, so
    # there the kernel's refusals are played: writing the file, and (a folder with the sticky bit) removing it.
    run_dir = tmp_path / "shared"
    run_dir.mkdir()
    lock = run_dir / ".lock"
    lock.write_text("4242\n")  # the killed run's pid
    lock.chmod(0o444)
    if os.geteuid() == 0:
        real_open, real_unlink = os.open, Path.unlink

        def refusing_open(path, flags, *args, **kwargs):
            if Path(path) == lock and flags & (os.O_WRONLY | os.O_RDWR):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        def refusing_unlink(path, missing_ok=False):
            if path == lock:
                raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
            return real_unlink(path, missing_ok)

        monkeypatch.setattr(os, "open", refusing_open)
        monkeypatch.setattr(Path, "unlink", refusing_unlink)
    with run_folder_lock(run_dir):
        with pytest.raises(GolfdeblurError, match=r"another golfdeblur train is running into this folder"):
            with run_folder_lock(run_dir):  # another open of the file: flock excludes it
                pass
    with run_folder_lock(run_dir):  # released on leaving, whether or not the file could be removed
        pass
    assert run_lock.HELD == set()


def test_without_fcntl_a_run_is_told_its_folder_is_not_locked(tmp_path: Path, monkeypatch, capsys):
    # Windows has no fcntl: the run trained unlocked, and the docs' 'a second run is refused' held silently not
    monkeypatch.setattr(run_lock, "fcntl", None)
    with run_folder_lock(tmp_path / "run"):
        with run_folder_lock(tmp_path / "run"):  # not refused there
            pass
    note = (
        f"golfdeblur: note: no file locking on this system (no fcntl): a second run into {tmp_path / 'run'} would not "
        "be refused"
    )
    assert capsys.readouterr().err.splitlines() == [note, note]


@needs_flock
def test_a_lock_file_removed_while_being_locked_is_not_held(tmp_path: Path, monkeypatch):
    # the run that held .lock removed it as it ended, between this run's open and flock: this run then held an unlinked
    # file, and the next run (which makes a new .lock) was not refused
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / ".lock"
    lock.write_text("4242\n")
    real_fcntl, calls = run_lock.fcntl, []

    def flock(descriptor: int, operation: int) -> None:
        if not calls:
            lock.unlink()  # the previous holder leaving
        calls.append(descriptor)
        real_fcntl.flock(descriptor, operation)

    monkeypatch.setattr(
        run_lock, "fcntl", SimpleNamespace(flock=flock, LOCK_EX=real_fcntl.LOCK_EX, LOCK_NB=real_fcntl.LOCK_NB)
    )
    with run_folder_lock(run_dir):
        monkeypatch.setattr(run_lock, "fcntl", real_fcntl)
        with pytest.raises(GolfdeblurError, match=r"another golfdeblur train is running into this folder"):
            with run_folder_lock(run_dir):
                pass
        assert len(calls) == 2 and lock.read_text() == f"{os.getpid()}\n"  # the file now there, locked again
    assert not lock.exists() and run_lock.HELD == set()  # removed on leaving


@needs_flock
def test_a_folder_that_cannot_be_locked_trains_unlocked_with_a_note(tmp_path: Path, monkeypatch, capsys):
    # a file system without flock (some network ones: ENOLCK) must not stop the run, only say it is not protected
    def flock(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    real_fcntl = run_lock.fcntl
    monkeypatch.setattr(
        run_lock, "fcntl", SimpleNamespace(flock=flock, LOCK_EX=real_fcntl.LOCK_EX, LOCK_NB=real_fcntl.LOCK_NB)
    )
    ran = False
    with run_folder_lock(tmp_path / "run"):
        ran = True
        assert run_lock.HELD == set()
    assert ran and run_lock.HELD == set()
    assert capsys.readouterr().err == (
        f"golfdeblur: note: cannot lock {tmp_path / 'run'} (no locks available): a second run into it would not be "
        "refused\n"
    )
