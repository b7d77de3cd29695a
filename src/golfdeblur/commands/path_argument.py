"""The argparse type of every path option: a leading ``~`` is the home folder, wherever the shell left it.

A shell expands ``~`` only at the start of an unquoted word, so ``--root '~/data'`` and ``--root=~/data`` reach the
command as they were typed; read literally they name a ``./~`` folder ("not found", or a stray folder made there).
"""

from __future__ import annotations

import os
from pathlib import Path


def user_path(text: str) -> Path:
    """``text`` as a Path, with a leading ``~`` or ``~user`` made that home folder; a ``~name`` that names no user is
    left as it is, as a shell leaves it (``os.path.expanduser``; ``Path.expanduser`` raises there).

    Example:
        >>> user_path("~/data") == Path.home() / "data", str(user_path("data/~x")), str(user_path("~no_such_user_x/a"))
        (True, 'data/~x', '~no_such_user_x/a')
    """
    return Path(os.path.expanduser(text))
