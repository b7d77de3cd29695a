"""The folder a command writes its report into (``eval --out``, ``results --out``), claimed before any work: a bad
path or an earlier report fails in one line at once, not after minutes of scoring, and no report is replaced
unless ``--overwrite`` says so."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from golfdeblur.errors import GolfdeblurError


def claim_report_folder(folder: Path, names: Iterable[str], overwrite: bool, option: str = "--out") -> None:
    """Create ``folder`` (and its parents) for a report made of the files or subfolders ``names``.

    Raises GolfdeblurError (one line naming ``option`` and the folder) when ``folder`` is a file or cannot be
    created, or when it already holds one of ``names`` and ``overwrite`` is False.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)
        ...     _ = (Path(tmp) / "eval" / "report.md").write_text("an earlier report")
        ...     try:
        ...         claim_report_folder(Path(tmp) / "eval", ["report.md"], overwrite=False)
        ...     except GolfdeblurError as exc:
        ...         print(str(exc).split(": ", 1)[1])
        already holds report.md; pass --overwrite to replace that report, or choose another folder
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GolfdeblurError(f"{option} {folder}: exists and is not a folder")
    held = [name for name in names if (folder / name).exists()]
    if held and not overwrite:
        raise GolfdeblurError(
            f"{option} {folder}: already holds {held[0]}; pass --overwrite to replace that report, or choose another "
            "folder"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission, a read-only file system
        raise GolfdeblurError(f"{option} {folder}: cannot create the folder ({exc.strerror or exc})") from exc
