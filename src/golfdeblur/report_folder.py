"""The folder a command writes its report into (``eval --out``, ``results --out``, ``paper ... --out``), claimed
before any work: a bad path or an earlier report fails in one line at once, not after minutes of scoring, and no
report is replaced unless ``--overwrite`` says so. Nothing is created here: the report's own (atomic) writes create
the folder, so a command that fails later leaves no empty folder behind."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from golfdeblur.errors import GolfdeblurError


def claim_report_folder(folder: Path, names: Iterable[str], overwrite: bool, option: str = "--out") -> None:
    """Check that a report made of the files or subfolders ``names`` can be written into ``folder``.

    Raises GolfdeblurError (one line naming ``option`` and the folder) when ``folder`` is a file, when it does not
    exist and cannot be created (a file where a parent folder goes, no permission to write in the nearest existing
    parent), or when it already holds one of ``names`` and ``overwrite`` is False.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)  # nothing there yet
        ...     (Path(tmp) / "eval").mkdir()
        ...     _ = (Path(tmp) / "eval" / "report.md").write_text("an earlier report")
        ...     try:
        ...         claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)
        ...     except GolfdeblurError as exc:
        ...         print(str(exc).split(": ", 1)[1])
        already holds report.md; pass --overwrite to replace that report, or choose another folder
    """
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise GolfdeblurError(f"{option} {folder}: exists and is not a folder")
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
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GolfdeblurError(f"{option} {folder}: cannot write there (no permission in {parent})")
