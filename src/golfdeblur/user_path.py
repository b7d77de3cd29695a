"""A path a user typed, with a leading ``~`` made the home folder wherever the shell left it: the argparse type of
every path option, and what the library's functions that take a user's path (weights, recipes, report folders) read
it with.

A shell expands ``~`` only at the start of an unquoted word, so ``--root '~/data'`` and ``--root=~/data`` reach the
command as they were typed; read literally they name a ``./~`` folder ("not found", or a stray folder made there).
"""

from __future__ import annotations

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
