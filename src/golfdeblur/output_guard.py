"""Output files that never destroy data: the checks ``golfdeblur deblur`` and ``golfdeblur demo --real`` make before
they read or compute anything for an input.

An output is refused when its extension names no format we write, when it is one of the run's inputs (the same
resolved path, or the same file reached through another name: a hard or symbolic link), when an earlier input of
the run already wrote it, or when it exists and overwriting was not asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from golfdeblur.data.imageio import ImageWriteError, format_for_path
from golfdeblur.errors import GolfdeblurError


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

    def __init__(self, inputs: Iterable[Path], overwrite: bool = False) -> None:
        inputs = list(inputs)
        self.identities = {identity for identity in map(file_identity, inputs) if identity is not None}
        self.resolved = {path.resolve() for path in inputs}
        self.overwrite = overwrite
        self.written: dict[Path, Path] = {}

    def check(self, output: Path, source: Path) -> None:
        """Raise ``GolfdeblurError`` (one line naming ``source``) if ``output`` must not be written for it."""
        try:
            format_for_path(output)
        except ImageWriteError as exc:
            raise GolfdeblurError(f"{source}: cannot write its result: {exc}") from exc
        resolved = output.resolve()
        if resolved in self.resolved or file_identity(output) in self.identities:
            raise GolfdeblurError(
                f"{source}: output {output} would overwrite an input file; choose another output folder"
            )
        if resolved in self.written:
            raise GolfdeblurError(f"{source}: output {output} was already written from {self.written[resolved]}")
        if output.exists() and not self.overwrite:
            raise GolfdeblurError(f"{source}: output {output} exists; pass --overwrite to replace it")

    def record(self, output: Path, source: Path) -> None:
        """Note that ``output`` now holds the result of ``source`` (a later input may not write it again)."""
        self.written[output.resolve()] = source
