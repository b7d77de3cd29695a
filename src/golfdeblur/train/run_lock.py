"""One run per folder: rank 0 holds its run folder locked for the whole run, so that a second ``golfdeblur train``
into the same folder (started at the same time, or a --resume while the first still runs) is refused in one line
instead of mixing its log, checkpoints and temporaries with the first's. Where there is no fcntl (Windows) the folder
is not locked, and a second run is not refused (a note says so when a run starts)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from golfdeblur.errors import GolfdeblurError, os_reason
from golfdeblur.notes import note

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no flock, so two runs into one folder are not excluded there
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"  # the hidden file in the run folder that a running run holds locked (``run_folder_lock``)
# The descriptors of the lock files this process holds now. A process forked meanwhile (a DataLoader's worker) shares
# their open file, so the lock with it: kill -9 of the run would leave its orphaned workers holding the folder until
# they end. A forked child closes its copies at once (``close_held_in_child``), which leaves the parent's lock held.
HELD: set[int] = set()


def close_held_in_child() -> None:
    """After a fork, in the child: close the child's copies of the descriptors the parent held locked (the parent's
    lock stays, as it lives on the parent's copy too), so that the folder is free as soon as the parent ends."""
    for descriptor in HELD:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    HELD.clear()


if hasattr(os, "register_at_fork"):  # POSIX; once, at import: a hook per lock could close a number reused since
    os.register_at_fork(after_in_child=close_held_in_child)


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Make ``run_dir`` if missing and hold it locked for the block: a second run into it (with or without
    --resume) is refused in one line rather than mixed in (an interleaved log, checkpoints of two runs, temporaries
    removed under the other's writes).

    The lock is flock(2) on the hidden file ``run_dir``/.lock, which names the holder's pid: the kernel releases
    it when the process ends, kill -9 included, so a file left by a killed run blocks nothing (processes forked
    meanwhile, such as data loader workers, do not keep it). The block removes the file on leaving, while still
    holding it (a run that opened it meanwhile sees it gone and locks a new one); a file it may not remove (another
    user's, in a folder with the sticky bit) stays, blocking nothing. Without fcntl (not POSIX: Windows) the block
    runs unlocked, so a second run into the folder is not refused there; a note says so as the block starts.
    """
    path = run_dir / LOCK_NAME
    descriptor = None
    if fcntl is None:
        note(f"no file locking on this system (no fcntl): a second run into {run_dir} would not be refused")
    else:
        descriptor = lock_file(path)
    try:
        yield
    finally:
        if descriptor is not None:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            HELD.discard(descriptor)  # before closing: a fork in between must not close the number once reused
            os.close(descriptor)


def lock_file(path: Path) -> int | None:
    """The descriptor of ``path`` (made, with its folder, if missing) locked by this process alone, holding its pid
    (unless the file is another user's, left by a killed run: flock needs no write access, so it is locked read-only
    and keeps the old pid); None where the file system has no flock. GolfdeblurError when another process holds it.
    The descriptor is in ``HELD`` until the caller discards it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor, writable = open_lock_file(path)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.read(descriptor, 32).decode("ascii", "replace").strip()
                os.close(descriptor)
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise GolfdeblurError(
                    f"{path.parent}: another golfdeblur train is running into this folder{pid}"
                ) from None
            except OSError as exc:  # e.g. a network file system without locks: train unlocked rather than not
                os.close(descriptor)
                note(f"cannot lock {path.parent} ({os_reason(exc)}): a second run into it would not be refused")
                return None
            try:
                if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            os.close(descriptor)  # the run that held it removed it as it ended: lock the file now there
    except OSError as exc:
        raise GolfdeblurError(f"{path.parent}: cannot make its lock file {path.name} ({os_reason(exc)})") from exc
    HELD.add(descriptor)
    if writable:
        with contextlib.suppress(OSError):  # the pid only helps the message of a run refused
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
    return descriptor


def open_lock_file(path: Path) -> tuple[int, bool]:
    """(descriptor, whether it may be written) of ``path``, made if missing: read-write, or read-only where writing
    is not permitted (a file another user's killed run left, mode 0644, in a shared folder). OSError otherwise."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666), True
    except PermissionError as exc:
        try:
            return os.open(path, os.O_RDONLY), False
        except OSError:
            raise exc from None
