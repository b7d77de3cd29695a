"""Locks on folders between processes (flock(2) on the folder itself, so no lock file is left in it): a report moved
into ``--out``, a release written into its folder, and make-pairs' hidden build folder, which tells another run of
it that the folder is in use rather than left by a run that was killed. Where the system has no flock (Windows) or
the file system refuses it (some network ones), nothing is locked: ``folder_locked`` runs its block unlocked and
``held_by_another_process`` answers True, so that a folder whose use cannot be told counts as in use."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX (Windows)
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def folder_locked(folder: Path) -> Iterator[None]:
    """Hold ``folder`` locked for the block, waiting while another process holds it (Ctrl-C ends the wait)."""
    descriptor = None
    if fcntl is not None:
        with contextlib.suppress(OSError):
            descriptor = os.open(folder, os.O_RDONLY)
    try:
        if descriptor is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)  # which releases the lock


def held_by_another_process(folder: Path) -> bool:
    """Whether another process (or another open of it in this one) holds ``folder`` locked now; True where that
    cannot be told (no flock, a folder that cannot be opened, a file system that refuses locks).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     free = held_by_another_process(Path(tmp))
        ...     with folder_locked(Path(tmp)):
        ...         held = held_by_another_process(Path(tmp))
        >>> free, held
        (False, True)
    """
    if fcntl is None:
        return True
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held; others: locks refused here
        return True
    finally:
        os.close(descriptor)  # which releases this probe's lock
    return False
