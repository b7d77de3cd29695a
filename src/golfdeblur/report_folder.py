"""The folder a command writes its report into (``eval --out``, ``results --out``, ``paper ... --out``), claimed
before any work: a bad path or an earlier report fails in one line at once, not after minutes of scoring, and no
report is replaced unless ``--overwrite`` says so. No folder is created by the claim: the report is written afterwards
(``building_report``), which creates the folder, so a command that fails later leaves no empty folder behind; and a
report is replaced whole, so that a write failing part-way (a full disk, a file size limit) never leaves one run's
files beside another's. The claim is checked again as the report is moved in: a report another run wrote into the
folder meanwhile is not replaced without ``--overwrite``, and two runs moving theirs in at once take turns (where the
system has file locks: not Windows), so that the folder holds one run's report whole, never parts of two."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from golfdeblur.atomic import (
    RANDOM_PART_PATTERN,
    fsync_folder,
    made_folders_removed_on_failure,
    probe_writable,
    publish_new,
)
from golfdeblur.errors import GolfdeblurError, os_reason
from golfdeblur.folder_lock import folder_locked
from golfdeblur.notes import note
from golfdeblur.output_guard import link_to_nothing_on
from golfdeblur.user_path import user_path

#: The signals whose handling waits until a report is moved in (``signals_held``): Ctrl-C, and those cli.py stops on.
HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
# The one line of a report's file or folder that appeared after the claim, where the run has no --overwrite.
APPEARED = "appeared meanwhile; not replaced, so this report was not written (--overwrite replaces it)"
#: What ``building_report`` writes (its ``what``): a report (eval, results, paper) or make-pairs --overwrite's pairs.
Written = Literal["report", "pairs"]
#: Its messages' words for each: the line of a part that appeared meanwhile (make-pairs runs with --overwrite
#: already, so its line points to no flag), and the earlier one's, as in "the earlier report's files".
_WORDS: dict[Written, tuple[str, str]] = {
    "report": (APPEARED, "the earlier report's"),
    "pairs": ("appeared meanwhile; not replaced, so these pairs were not written", "the earlier pairs'"),
}
#: How the hidden folders ``building_report`` makes in the report's folder begin: ``.report-XXXXXXXX.tmp``, the new
#: report being built, and ``.report-XXXXXXXX.old``, an earlier one set aside as it is replaced (``is_hidden_folder``).
BUILDING_PREFIX = ".report-"


def claim_report_folder(folder: Path, names: Iterable[str], overwrite: bool, option: str = "--out") -> Path:
    """Check that a report made of the files or subfolders ``names`` can be written into ``folder``; return the
    folder with a leading ``~`` made the home folder (a quoted ``'~/eval'`` reaches the command unexpanded), which
    the caller writes into.

    Raises GolfdeblurError (one line naming ``option`` and the folder) when ``folder`` is a file or a link to nothing,
    when it does not exist and cannot be created (a file or a link to nothing where a parent folder goes), when the
    nearest existing folder takes no file (no permission, a read-only file system), or when it already holds one of
    ``names`` and ``overwrite`` is False.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)  # nothing there yet
        ...     (Path(tmp) / "eval").mkdir()
        ...     _ = (Path(tmp) / "eval" / "report.md").write_text("an earlier report")
        ...     try:
        ...         claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)
        ...     except GolfdeblurError as exc:
        ...         print(str(exc).split(": ", 1)[1])
        already holds report.md; pass --overwrite to replace that report, or choose another folder
    """
    folder = user_path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise GolfdeblurError(f"{option} {folder}: exists and is not a folder")
        nowhere = link_to_nothing_on(folder)  # "File exists" from mkdir, after all the work, else
        if nowhere == folder:
            raise GolfdeblurError(f"{option} {folder}: is a link to nothing, not a folder")
        if nowhere is not None:
            raise GolfdeblurError(f"{option} {folder}: cannot create the folder ({nowhere} is a link to nothing)")
        held = [name for name in names if os.path.lexists(folder / name)]  # a link to nothing too, as publishing sees
        parent = folder
        while not parent.exists() and parent != parent.parent:  # the nearest folder that exists, where it would go
            parent = parent.parent
    except OSError as exc:  # a name too long, a parent that may not be searched
        raise GolfdeblurError(f"{option} {folder}: cannot use it ({exc.strerror or exc})") from exc
    if held and not overwrite:
        raise GolfdeblurError(
            f"{option} {folder}: already holds {held[0]}; pass --overwrite to replace that report, or choose another "
            "folder"
        )
    if not parent.is_dir():
        raise GolfdeblurError(f"{option} {folder}: cannot create the folder ({parent} is a file)")
    try:  # as the report's writing will: no permission, a read-only file system, an immutable folder
        probe_writable(parent, folder.name)
    except OSError as exc:
        raise GolfdeblurError(f"{option} {folder}: cannot write in the folder {parent} ({os_reason(exc)})") from exc
    return folder


@contextlib.contextmanager
def building_report(
    folder: str | Path, names: Sequence[str], *, overwrite: bool, what: Written = "report"
) -> Iterator[Path]:
    """Yield a new hidden folder inside ``folder`` (made, with its parents, where missing) to write a report made of
    the files or subfolders ``names`` into. When the block ends without an error, the block's ``names`` are moved
    into ``folder`` in the order of ``names``: give the one that says the report is whole (report.md, RESULTS.md)
    last.

    With ``overwrite`` the ``names`` an earlier report left in ``folder`` are set aside first and removed once this
    report is in (a subfolder with what it holds), so that ``folder`` never holds files of two reports side by side;
    where moving in fails part-way, the earlier report is moved back whole. Without it, any of ``names`` in
    ``folder`` (another run's report, written after ``claim_report_folder`` found none) fails the report with
    FileExistsError naming it (``APPEARED``), leaving that one as it is and nothing of this one. Two processes
    moving reports into ``folder`` at once take turns (flock(2) on the folder, where the system has it: not
    Windows); Ctrl-C, SIGTERM and SIGHUP arriving meanwhile are acted on once the report is in (``signals_held``).
    On an error (a full disk, a file size limit, an interrupt) the hidden folder is removed, with any folder made
    for it, and the earlier report is left whole. The hidden folder is held locked from its making until it is
    removed, so that one a killed run left (``is_hidden_folder``) can be told from a running one's. ``what`` names
    what is written in those messages that say so: "report", or "pairs" (make-pairs --overwrite).

    Example:
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "old.png").write_text("an earlier run's"), (Path(tmp) / "keep.txt").write_text("")
        ...     with building_report(tmp, ["old.png", "report.md"], overwrite=True) as building:
        ...         _ = (building / "report.md").write_text("a new report, without old.png")
        ...     sorted(path.name for path in Path(tmp).iterdir())
        ['keep.txt', 'report.md']
    """
    folder = Path(folder)
    with made_folders_removed_on_failure(folder), contextlib.ExitStack() as held:
        folder.mkdir(parents=True, exist_ok=True)
        # Made and locked while the folder is: a run that tidies the folder under its lock (make-pairs, which removes
        # a killed run's hidden folders) sees this one locked, in use, from its start until it is removed.
        with folder_locked(folder):
            building = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX, suffix=".tmp", dir=folder))
            held.enter_context(folder_locked(building))
        try:
            try:
                yield building
            except OSError as exc:  # named by the file in ``folder`` it was for, not by the hidden folder's
                _naming_file_in(exc, building, folder)
                raise
            with folder_locked(folder), signals_held():
                if overwrite:
                    _replace_report(building, folder, names, what)
                else:
                    _add_report(building, folder, names, what)
                fsync_folder(folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)


def is_hidden_folder(name: str) -> bool:
    """Whether ``name`` is that of a hidden folder ``building_report`` makes (mkdtemp's eight characters between
    ``BUILDING_PREFIX`` and ``.tmp`` or ``.old``), which stays in the report's folder only where a run was killed
    (kill -9) before removing it. While a run goes on, its ``.tmp`` is locked (``folder_lock``), and its ``.old``
    exists only while the report's folder is.

    Example:
        >>> is_hidden_folder(".report-y2x6ujh_.tmp"), is_hidden_folder(".report-y2x6ujh_.old"), is_hidden_folder("x")
        (True, True, False)
    """
    return re.fullmatch(rf"{re.escape(BUILDING_PREFIX)}{RANDOM_PART_PATTERN}\.(?:tmp|old)", name) is not None


def _replace_report(building: Path, folder: Path, names: Sequence[str], what: Written) -> None:
    """Move the ``names`` in ``folder`` (a link itself, never what it points to) aside into a hidden folder there,
    then move ``building``'s in, then remove what was set aside. Renames within one folder neither copy nor fail for
    lack of room, and when one fails all the same (no permission on a subfolder, a folder holding files that another
    run wrote meanwhile: FileExistsError, ``APPEARED``) those of this report moved in go back to ``building`` and the
    earlier report is moved back, before the error is raised: it is never left half removed. A part that cannot go
    back (the other run's folder holds its name) stays in the hidden folder, which the error names."""
    aside = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX, suffix=".old", dir=folder))
    set_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in names:
            if os.path.lexists(folder / name):
                os.rename(folder / name, aside / name)
                set_aside.append(name)
        for name in names:
            if (building / name).exists():
                _rename_in(building / name, folder / name, what)
                moved_in.append(name)
    except BaseException as exc:
        for name in reversed(moved_in):
            with contextlib.suppress(OSError):
                os.rename(folder / name, building / name)
        kept = []
        for name in reversed(set_aside):
            try:
                os.rename(aside / name, folder / name)
            except OSError:
                kept.append(name)
        if kept and isinstance(exc, OSError) and exc.strerror:
            exc.strerror += f"; {_WORDS[what][1]} {', '.join(reversed(kept))} kept in {aside}"
        with contextlib.suppress(OSError):  # only when empty: never the earlier report
            aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)  # the report is in: what cannot be removed stays hidden, not an error
    if aside.exists():  # e.g. a read-only subfolder of the earlier report
        note(f"{_WORDS[what][1]} files that could not be removed are in {aside}; remove it by hand")


def _add_report(building: Path, folder: Path, names: Sequence[str], what: Written) -> None:
    """Move ``building``'s ``names`` into ``folder``, none replacing anything there: FileExistsError (``APPEARED``,
    naming it) where one of ``names`` is in ``folder``, or comes meanwhile (a writer that takes no lock), when
    those of this report already moved in are taken out again."""
    for name in names:
        if os.path.lexists(folder / name):
            raise FileExistsError(errno.EEXIST, _WORDS[what][0], str(folder / name))
    added: list[tuple[Path, os.stat_result]] = []
    try:
        for name in names:
            if (building / name).exists():
                added.append((folder / name, os.lstat(building / name)))
                _move_in_new(building / name, folder / name, what)
    except OSError:
        for path, identity in reversed(added):  # only this report's: the same file, or folder, as it built
            with contextlib.suppress(OSError):
                if os.path.samestat(os.lstat(path), identity):
                    _remove(path)
        raise


def _move_in_new(new: Path, target: Path, what: Written) -> None:
    """Give ``new`` (a file or a folder) the name ``target`` unless something has it (FileExistsError). A file is
    hard-linked (``atomic.publish_new``), which never replaces; a folder is renamed, which
    fails onto a file or a folder that holds something (onto an empty one, holding no report, it succeeds)."""
    if not new.is_dir():
        publish_new(new, target, _WORDS[what][0])
        return
    _rename_in(new, target, what)


def _rename_in(new: Path, target: Path, what: Written) -> None:
    """``os.rename(new, target)``, where failing onto a folder that holds files, a file onto a folder or a folder
    onto a file (another run's, written meanwhile) is FileExistsError (``APPEARED``, naming ``target``)."""
    try:
        os.rename(new, target)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise FileExistsError(errno.EEXIST, _WORDS[what][0], str(target)) from None
        raise


def _remove(path: Path) -> None:
    """Remove the file or folder ``path`` (a link itself)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Run the block to its end through SIGINT, SIGTERM and SIGHUP (``HELD_SIGNALS``): one arriving meanwhile is
    recorded, and raised again as the block ends, when the handler it had before (KeyboardInterrupt, cli.py's
    ``Stopped``, or the default action that ends the process) takes it. A signal ignored stays ignored. Handlers are
    swapped rather than the signals blocked (pthread_sigmask): a mask holds only the calling thread, and a signal
    taken by another one (torch's) still runs its Python handler in the main thread at once. Only the main thread
    may set handlers: elsewhere the block runs with the signals as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def hold(signum: int, frame: object) -> None:
        arrived.append(signum)

    previous = {}
    try:
        for signum in HELD_SIGNALS:
            handler = signal.getsignal(signum)
            if handler is not signal.SIG_IGN and handler is not None:  # None: set outside Python, left as it is
                previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def _naming_file_in(exc: OSError, building: Path, folder: Path) -> None:
    """Change ``exc`` that names a file in the hidden folder ``building`` to name that file in ``folder``."""
    if isinstance(exc.filename, str | os.PathLike):
        named = Path(exc.filename)
        if named.is_relative_to(building):
            exc.filename = str(folder / named.relative_to(building))
