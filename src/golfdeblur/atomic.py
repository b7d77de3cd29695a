"""Atomic file writes: write a temporary file in the target folder, then rename it over the target."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from golfdeblur.errors import GolfdeblurError, os_reason, undecodable_escaped

# Longest file name, in bytes, on common file systems (ext4, XFS, APFS, tmpfs; NTFS counts 255 UTF-16 units).
NAME_MAX = 255
_RANDOM_PART = 8  # the random characters tempfile.mkstemp puts between prefix and suffix
RANDOM_PART_PATTERN = f"[a-z0-9_]{{{_RANDOM_PART}}}"  # tempfile's characters, as a regular expression


@contextlib.contextmanager
def atomic_path(target: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``, on error removed.

    With ``replace`` False an existing ``target`` is never replaced: the finished file is published under its name
    with a hard link, which fails (``FileExistsError`` naming ``target``, the temporary removed) when a file of that
    name appeared meanwhile, e.g. written by another process between a caller's check and this write. Where the file
    system has no hard links, the existence check is made just before the rename instead.

    A reader never sees a half-written file, and an interrupted write leaves the old target (if any) untouched.
    The temporary name keeps the target's suffix so that writers which pick a format by extension still work, and
    its stem is shortened as needed to stay within ``NAME_MAX`` bytes (a target whose own name is near the limit
    could otherwise not be written at all); mkstemp's random part keeps it unique. The
    data reach the disk before the rename, and the rename before we return (``fsync`` of the file, then of the
    folder where the system allows it), so that a power cut cannot leave an empty file under the target's name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = temporary_affixes(target.name)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as exc:  # a folder that takes no file: named by the target, not by the temporary's random name
        _naming_target(exc, target)
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files, and some writers (safetensors) replace the file with one of their own; give
        # the result, once written, the permissions an ordinary open() would (0666 less the umask).
        os.chmod(tmp, 0o666 & ~current_umask())
        _fsync(tmp)
        if replace:
            os.replace(tmp, target)
        else:
            publish_new(tmp, target)
    except BaseException as exc:  # KeyboardInterrupt and the command's SIGTERM/SIGHUP (cli.py) included
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _naming_target(exc, target)
        raise
    fsync_folder(target.parent)


# What link(2) says where the file system has no hard links (FAT, some network file systems).
NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


def publish_new(tmp: Path, target: Path, reason: str = "a file of that name appeared meanwhile; not replaced") -> None:
    """Give the finished temporary file ``tmp`` the name ``target`` unless a file already has it (FileExistsError
    saying ``reason``, naming ``target``)."""
    appeared = FileExistsError(errno.EEXIST, reason, str(target))
    try:
        os.link(tmp, target)  # atomic, and refuses an existing name
    except FileExistsError:
        raise appeared from None
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(target):  # no hard links here (FAT, some network file systems): checked at the last moment
            raise appeared from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _naming_target(exc: OSError, target: Path) -> None:
    """Change ``exc`` to name ``target`` where it names no file or the hidden temporary of ``target`` (a full disk,
    a file size limit: write() names no file; os.replace names both), so that its one line on stderr says which
    file could not be written. An error naming another file (one a writer reads) is left as it is. Its reason stays
    in ``strerror`` (set from the message where the error has none, as Pillow's encoder errors), which is what
    callers that add the name themselves (``write_image``, ``export_onnx``) print.
    """
    named = exc.filename
    if named is None or (
        isinstance(named, (str, bytes, os.PathLike))
        and is_temporary_of(os.path.basename(os.fsdecode(named)), target.name)
    ):
        if exc.strerror is None:
            exc.strerror = str(exc) or type(exc).__name__
        exc.filename = str(target)
        # Deleted, not set to None: an OSError whose filename2 is None says "'target' -> None" in str().
        del exc.filename2


def prepare_folder(path: str | Path) -> None:
    """Make the folder of the file ``path`` and create (and remove) a hidden file in it, named as ``atomic_path``
    names its temporary file, so that a folder that cannot be made (a file in the way, no permission) or takes no
    file (no permission, read-only, immutable) is said before the work whose result goes there, not after it.

    Raises ``GolfdeblurError``, one line naming ``path`` and its folder, for example
    ``out/m.onnx: cannot make its folder out (out is a file)`` or
    ``out/m.onnx: cannot write in its folder out (permission denied)``; a caller may prefix it with its own name.
    The folder stays made: wrap the work in ``made_folders_removed_on_failure`` to remove it when the work fails.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is a file" if blocking is not None else os_reason(exc)
        raise GolfdeblurError(f"{path}: cannot make its folder {path.parent} ({reason})") from exc
    try:
        probe_writable(path.parent, path.name)
    except OSError as exc:
        raise GolfdeblurError(f"{path}: cannot write in its folder {path.parent} ({os_reason(exc)})") from exc


def probe_writable(folder: Path, name: str) -> None:
    """Create and remove, in the existing ``folder``, a hidden file named as ``atomic_path`` names the temporary of
    ``name``: raises OSError when the folder takes no file (no permission, read-only, immutable)."""
    prefix, suffix = temporary_affixes(name)
    descriptor, probe = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(descriptor)
    os.unlink(probe)


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is set back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def made_folders_removed_on_failure(folder: Path) -> Iterator[None]:
    """Run a block that may make ``folder`` and its missing parents; if it raises, those of them it made are removed
    again, deepest first, while empty, so that a refused or failed write leaves no folders behind."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        yield
    except BaseException:
        for path in missing:
            with contextlib.suppress(OSError):  # not empty, or made by someone else meanwhile: left alone
                path.rmdir()
        raise


def temporary_affixes(name: str) -> tuple[str, str]:
    """mkstemp's prefix (".stem.") and suffix (".tmp.ext") for a target named ``name``, the whole temporary name
    (with the random part) at most ``NAME_MAX`` bytes in the file system's encoding. The stem is cut by whole
    characters; a suffix too long to leave room for some of the stem is dropped (no writer chooses a format by it)."""
    path = Path(name)
    stem, suffix = path.stem, f".tmp{path.suffix}"
    budget = NAME_MAX - _RANDOM_PART - 2  # the two dots around the stem in the prefix
    if len(os.fsencode(suffix)) > budget // 2:
        stem, suffix = name, ".tmp"
    budget -= len(os.fsencode(suffix))
    stem = stem[: max(budget, 0)]  # a character is at least one byte
    while len(os.fsencode(stem)) > budget:
        stem = stem[:-1]
    return f".{stem}.", suffix


def is_temporary_of(name: str, target_name: str) -> bool:
    """Whether the file name ``name`` is one ``atomic_path`` gives the temporary of a target named ``target_name``
    (``temporary_affixes`` around mkstemp's random part): what a write killed before its rename leaves behind.

    Example:
        >>> is_temporary_of(".checkpoint-g.71ly1etz.tmp.safetensors", "checkpoint-g.safetensors")
        True
        >>> is_temporary_of(".checkpoint-g.71ly1etz.tmp.safetensors", "checkpoint-d.safetensors")
        False
    """
    prefix, suffix = temporary_affixes(target_name)
    random_part = RANDOM_PART_PATTERN
    return re.fullmatch(re.escape(prefix) + random_part + re.escape(suffix), name) is not None


def remove_temporaries(folder: Path, target_names: Iterable[str]) -> list[Path]:
    """Remove from ``folder`` the temporaries that writes of ``target_names`` killed before their rename (kill -9,
    a power cut) left there; returns the removed files. Call it only where no such write can be running."""
    targets = list(target_names)
    removed = []
    for path in sorted(Path(folder).glob(".*")):
        if path.is_file() and any(is_temporary_of(path.name, target) for target in targets):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename into ``folder`` durable, where the system lets a folder be opened for fsync (not Windows)."""
    with contextlib.suppress(OSError):
        _fsync(folder)


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to the disk. A file is opened for writing: Windows' fsync
    (FlushFileBuffers) refuses a read-only descriptor. A folder cannot be opened so, nor a file whose mode forbids
    writing (``atomic_path``'s chmod under a umask such as 0o277); those are opened read-only, which Linux and
    macOS flush, and Windows does not let a folder be opened at all."""
    try:
        descriptor = os.open(path, os.O_RDWR)
    except (IsADirectoryError, PermissionError):
        descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write_bytes(target: str | Path, data: bytes, replace: bool = True) -> None:
    """Write ``data`` to ``target`` atomically; ``replace`` as for ``atomic_path``."""
    with atomic_path(target, replace=replace) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str, replace: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically; ``replace`` as for ``atomic_path``.

    A file name in ``text`` whose bytes are not UTF-8 (held as surrogates) is written with them as ``\\xNN``
    (``undecodable_escaped``), readable and valid UTF-8, where a strict encode would fail after the work the file
    reports on. JSON text must hold no such name raw (``\\x`` is no JSON escape): ``strict_json_text`` escapes them
    in its strings, and ``json.dumps`` with its default ``ensure_ascii`` writes them as ``\\udcNN``.
    """
    atomic_write_bytes(target, undecodable_escaped(text).encode("utf-8"), replace)
