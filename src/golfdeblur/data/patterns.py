"""Glob patterns expanded as ``glob.glob(pattern, recursive=True)`` expands them, except that a folder on the way
that cannot be read is reported instead of skipped: ``photos/*/IMG_*.jpg`` with one unreadable month folder would
otherwise deblur the other months and exit 0, a partial batch passing for a whole one."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

MAGIC = re.compile(r"[*?[]")

#: What listing a folder or looking a name up may raise without anything being unreadable: the name is gone, or a
#: name on the way is a file. glob.glob matches nothing there, and so does match_pattern.
ABSENT = (FileNotFoundError, NotADirectoryError)


def has_magic(text: str) -> bool:
    """Whether ``text`` holds a glob wildcard (``*``, ``?`` or ``[``)."""
    return MAGIC.search(text) is not None


def match_pattern(pattern: str, on_error: Callable[[OSError], None]) -> list[Path]:
    """The paths ``pattern`` matches, sorted, by glob's rules: ``*``, ``?`` and ``[...]`` within a name, ``**`` as a
    whole name for any depth of folders (none included), and names starting with "." matched only by a pattern name
    that starts with "." (``**`` never enters them). Links to folders are followed, as glob follows them, except a
    link that ``**`` would follow back up to a folder on its own way down (a loop).

    Where ``glob.glob`` silently skips a folder it cannot list, or a name on the way it cannot look up (no
    permission, a name too long, a link loop), ``on_error`` is called with the ``OSError``, whose ``filename`` names
    it, and the matching goes on with the rest. The pattern is taken as written (``~`` is not expanded).

    Example:
        >>> match_pattern("/no/such/folder/*.png", on_error=print)
        []
    """
    path = Path(pattern)
    parts = path.parts[1:] if path.anchor else path.parts
    current = [Path(path.anchor) if path.anchor else Path()]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1 and not pattern.endswith(("/", os.sep))  # "photos/*/" matches folders only
        following: list[Path] = []
        for base in current:
            if part == "**":
                following += _below(base, on_error, with_files=last)
            elif has_magic(part):
                following += _listed(base, part, on_error, dirs_only=not last)
            elif _exists(base / part, on_error, dir_only=not last):
                following.append(base / part)
        current = following
    return sorted(set(current))


def _listed(folder: Path, name_pattern: str, on_error: Callable[[OSError], None], dirs_only: bool) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            names = [(entry.name, _is_dir(entry)) for entry in entries]
    except ABSENT:
        return []
    except OSError as exc:
        on_error(exc)
        return []
    if not name_pattern.startswith("."):
        names = [(name, is_dir) for name, is_dir in names if not name.startswith(".")]
    matched = set(fnmatch.filter([name for name, _ in names], name_pattern))
    return [folder / name for name, is_dir in names if name in matched and (is_dir or not dirs_only)]


def _below(base: Path, on_error: Callable[[OSError], None], with_files: bool) -> list[Path]:
    """``base`` and every folder below it (and, ``with_files``, every file), hidden names left out. A link to a
    folder is followed unless it leads back to a folder on its own way down (a loop, which glob would follow until
    the names grew too long)."""
    found: list[Path] = []
    stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(base, frozenset())]
    while stack:
        folder, above = stack.pop()
        try:
            identity = folder.stat()
            with os.scandir(folder) as entries:
                listed = [(entry.name, _is_dir(entry)) for entry in entries if not entry.name.startswith(".")]
        except ABSENT:
            continue
        except OSError as exc:
            on_error(exc)
            continue
        if (identity.st_dev, identity.st_ino) in above:
            continue
        if folder != Path() or not with_files:  # glob("**") leaves out "."; glob("**/*.png") looks in it
            found.append(folder)
        way_down = above | {(identity.st_dev, identity.st_ino)}
        for name, is_dir in listed:
            if is_dir:
                stack.append((folder / name, way_down))
            elif with_files:
                found.append(folder / name)
    return found


def _exists(target: Path, on_error: Callable[[OSError], None], dir_only: bool) -> bool:
    try:
        info = target.stat()
    except ABSENT:
        return False
    except OSError as exc:
        on_error(exc)
        return False
    return not dir_only or stat.S_ISDIR(info.st_mode)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link, as glob does
    except OSError:
        return False
