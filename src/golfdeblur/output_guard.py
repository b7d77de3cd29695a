"""Output files that never destroy data: the checks ``golfdeblur deblur`` and ``golfdeblur demo --real`` make before
they read or compute anything for an input.

An output is refused when its extension names no format we write, when it is one of the run's inputs (the same
resolved path, or the same file reached through another name: a hard or symbolic link), when an earlier input of
the run already wrote it (under any name: also another case of it on a case-insensitive disk, as macOS's), when a
folder stands at its path, or when it exists and neither overwriting nor skipping was asked for. A symbolic link
that leads nowhere (to a missing file, or round in a loop) counts as existing: it is refused unless overwriting, then
replaced as a file would be, never followed to create what it names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from golfdeblur.data.image_data import ImageWriteError
from golfdeblur.data.image_formats import format_for_path
from golfdeblur.errors import GolfdeblurError


def real_path(path: Path) -> Path:
    """``path`` made absolute with its links followed, as ``Path.resolve()``, but a link loop ends the walk instead of
    raising: Python 3.10-3.12's ``resolve`` raises RuntimeError there, and the reader reports such a file in one line.

    Example:
        >>> real_path(Path("/tmp/../tmp/a.png"))
        PosixPath('/tmp/a.png')
    """
    return Path(os.path.realpath(path))


def existing_output(path: Path) -> str | None:
    """None when nothing is at ``path``; else how an error says what is there: "" for a file or folder, or
    " (a link to nothing)" for a symbolic link that leads nowhere (to a missing file, or round in a loop), which
    ``Path.exists`` does not see but which takes the name all the same.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "out.png").symlink_to(Path(tmp) / "missing.png")
        ...     existing_output(Path(tmp) / "out.png"), existing_output(Path(tmp) / "other.png")
        (' (a link to nothing)', None)
    """
    if not os.path.lexists(path):
        return None
    return "" if path.exists() else " (a link to nothing)"


def link_to_nothing_on(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that is a symbolic link leading nowhere (to a missing file, or round
    in a loop), where a folder can be neither found nor made (``mkdir`` says "File exists"); None when there is none.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "runs").symlink_to(Path(tmp) / "missing")
        ...     link_to_nothing_on(Path(tmp) / "runs" / "a") == Path(tmp) / "runs", link_to_nothing_on(Path(tmp))
        (True, None)
    """
    return next((p for p in reversed((path, *path.parents)) if p.is_symlink() and not p.exists()), None)


def refuse_folder_behind_link_to_nothing(folder: Path, option: str = "--out") -> None:
    """GolfdeblurError, one line naming ``option`` and ``folder``, when ``folder`` or a parent is a link to nothing
    (:func:`link_to_nothing_on`): said before the work, not as mkdir's "File exists" after it."""
    nowhere = link_to_nothing_on(folder)
    if nowhere is not None:
        where = "" if nowhere == folder else f"{nowhere} "
        raise GolfdeblurError(f"{option} {folder}: {where}is a link to nothing, not a folder")


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None when it does not exist: one file under any of its names."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class OutputGuard:
    """The outputs of one run over ``inputs``: ``check`` before working on an input, ``record`` once its output is
    written (or, to plan every output first, right after ``check``).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     photo = Path(tmp) / "a.png"
        ...     _ = photo.write_bytes(b"")
        ...     guard = OutputGuard([photo])
        ...     try:
        ...         guard.check(photo, photo)
        ...     except GolfdeblurError as exc:
        ...         print("would overwrite an input file" in str(exc))
        True
    """

    def __init__(self, inputs: Iterable[Path], overwrite: bool = False, skip_existing: bool = False) -> None:
        if overwrite and skip_existing:
            raise GolfdeblurError("overwrite and skip existing outputs: choose one")
        inputs = list(inputs)
        self.identities = {identity for identity in map(file_identity, inputs) if identity is not None}
        self.resolved = {real_path(path) for path in inputs}
        self.overwrite = overwrite
        self.skip_existing = skip_existing
        self.written: dict[Path, Path] = {}  # output -> the input this run wrote it from
        self.kept: dict[Path, Path] = {}  # output -> the input whose earlier result it is (skip_existing)
        # (device, inode) of each output written or kept -> its name in ``written`` or ``kept``: a case-insensitive
        # file system (macOS, Windows) gives another case of the name the same file, which real_path does not fold
        self.claimed: dict[tuple[int, int], Path] = {}

    def check(self, output: Path, source: Path) -> bool:
        """Raise ``GolfdeblurError`` (one line naming ``source``) if ``output`` must not be written for it; return
        False when it exists and the guard skips existing outputs (outputs are written atomically, so an existing one
        is a whole result of an earlier run), True when it is to be written."""
        try:
            format_for_path(output)
        except ImageWriteError as exc:
            raise GolfdeblurError(f"{source}: cannot write its result: {exc}") from exc
        resolved, identity = real_path(output), file_identity(output)
        if resolved in self.resolved or identity in self.identities:
            raise GolfdeblurError(f"{source}: output {output} would overwrite an input file; choose another output")
        if identity is not None:
            resolved = self._claimed_name(identity, resolved)
        if resolved in self.kept:
            raise GolfdeblurError(
                f"{source}: output {output} is also the output of {self.kept[resolved]}, kept from an earlier run"
            )
        if resolved in self.written:
            raise GolfdeblurError(f"{source}: output {output} was already written from {self.written[resolved]}")
        if output.is_dir():  # not an earlier result, even when skipping those; nor replaceable by overwriting
            raise GolfdeblurError(f"{source}: output {output} is a folder; cannot write the result there")
        existing = existing_output(output)
        if existing is not None and not self.overwrite:
            if self.skip_existing and not existing:  # a link to nothing is no earlier result to keep
                self.kept[resolved] = source  # a later input of the run may not claim it either
                if identity is not None:
                    self.claimed[identity] = resolved
                return False
            raise GolfdeblurError(f"{source}: output {output} exists{existing}; pass --overwrite to replace it")
        return True

    def record(self, output: Path, source: Path) -> None:
        """Note that ``output`` now holds the result of ``source`` (a later input may not write it again)."""
        resolved = real_path(output)
        self.written[resolved] = source
        identity = file_identity(output)  # None for an output planned before its writing
        if identity is not None:
            self.claimed[identity] = resolved

    def _claimed_name(self, identity: tuple[int, int], resolved: Path) -> Path:
        """The name under which this run wrote or kept the existing file ``identity`` (an output of ``resolved`` under
        another case of its name), else ``resolved``. A name whose file has been replaced since (a planned output,
        written over an older file) no longer holds that file, so its old inode, which the system may reuse, is not
        taken for it."""
        claimed = self.claimed.get(identity)
        if claimed is None or file_identity(claimed) != identity:
            return resolved
        # Only another case of the same name: two names of one file that differ otherwise are hard links (a
        # deduplicating tool linked two identical results), which a case-insensitive disk does not make.
        return claimed if claimed.as_posix().casefold() == resolved.as_posix().casefold() else resolved
