"""The folder a command writes its report into (``eval --out``, ``results --out``, ``paper ... --out``), claimed
before any work: a bad path or an earlier report fails in one line at once, not after minutes of scoring, and no
report is replaced unless ``--overwrite`` says so. No folder is created by the claim: the report is written afterwards
(``building_report``), which creates the folder, so a command that fails later leaves no empty folder behind; and a
report is replaced whole, so that a write failing part-way (a full disk, a file size limit) never leaves one run's
files beside another's."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from golfdeblur.atomic import fsync_folder, made_folders_removed_on_failure, probe_writable
from golfdeblur.errors import GolfdeblurError, os_reason
from golfdeblur.output_guard import link_to_nothing_on
from golfdeblur.user_path import user_path


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
        held = [name for name in names if (folder / name).exists()]
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
def building_report(folder: str | Path, names: Sequence[str]) -> Iterator[Path]:
    """Yield a new hidden folder inside ``folder`` (made, with its parents, where missing) to write a report made of
    the files or subfolders ``names`` into. When the block ends without an error, the ``names`` an earlier report
    left in ``folder`` are removed (a subfolder with what it holds) and the block's are moved in, in the order of
    ``names``: give the one that says the report is whole (report.md, RESULTS.md) last. So ``folder`` never holds
    files of two reports side by side. On an error (a full disk, a file size limit, an interrupt) the hidden folder
    is removed, with any folder made for it, and the earlier report is left whole.

    Example:
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "old.png").write_text("an earlier run's"), (Path(tmp) / "keep.txt").write_text("")
        ...     with building_report(tmp, ["old.png", "report.md"]) as building:
        ...         _ = (building / "report.md").write_text("a new report, without old.png")
        ...     sorted(path.name for path in Path(tmp).iterdir())
        ['keep.txt', 'report.md']
    """
    folder = Path(folder)
    with made_folders_removed_on_failure(folder):
        folder.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".report-", suffix=".tmp", dir=folder))
        try:
            try:
                yield building
            except OSError as exc:  # named by the file in ``folder`` it was for, not by the hidden folder's
                _naming_file_in(exc, building, folder)
                raise
            for name in names:
                earlier = folder / name
                if earlier.is_dir() and not earlier.is_symlink():
                    shutil.rmtree(earlier)
                else:
                    earlier.unlink(missing_ok=True)
            for name in names:
                if (building / name).exists():
                    os.rename(building / name, folder / name)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    fsync_folder(folder)


def _naming_file_in(exc: OSError, building: Path, folder: Path) -> None:
    """Change ``exc`` that names a file in the hidden folder ``building`` to name that file in ``folder``."""
    if isinstance(exc.filename, str | os.PathLike):
        named = Path(exc.filename)
        if named.is_relative_to(building):
            exc.filename = str(folder / named.relative_to(building))
