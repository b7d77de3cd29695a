"""A path a user typed, with a leading ``~`` made the home folder wherever the shell left it: what the library's
functions that take a user's path (weights, recipes, report folders) read it with, and (``path_argument``, which also
refuses an empty one) the argparse type of every path option.

A shell expands ``~`` only at the start of an unquoted word, so ``--root '~/data'`` and ``--root=~/data`` reach the
command as they were typed; read literally they name a ``./~`` folder ("not found", or a stray folder made there).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def user_path(text: str | os.PathLike[str]) -> Path:
    """``text`` as a Path, with a leading ``~`` or ``~user`` made that home folder; a ``~name`` that names no user is
    left as it is, as a shell leaves it (``os.path.expanduser``; ``Path.expanduser`` raises there).

    Example:
        >>> user_path("~/data") == Path.home() / "data", str(user_path("data/~x")), str(user_path("~no_such_user_x/a"))
        (True, 'data/~x', '~no_such_user_x/a')
    """
    return Path(os.path.expanduser(text))


def path_argument(text: str) -> Path:
    """The argparse type of a path option or positional: ``user_path(text)``, but an empty ``text`` (an unset
    ``"$OUT"`` in a script) is refused, as argparse refuses a bad number: one line naming the option, exit 2.
    ``Path("")`` is ``.``: a report, a pack or frames would otherwise be read from or written into the current folder.

    Example:
        >>> str(path_argument("out")), str(path_argument("~/data")) == str(Path.home() / "data")
        ('out', True)
        >>> path_argument("")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: is empty; name a file or folder ('.' for the current folder)
    """
    if not text:
        raise argparse.ArgumentTypeError("is empty; name a file or folder ('.' for the current folder)")
    return user_path(text)
