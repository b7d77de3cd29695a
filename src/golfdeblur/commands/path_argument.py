"""The argparse type of every path option: a leading ``~`` is the home folder, wherever the shell left it.

A shell expands ``~`` only at the start of an unquoted word, so ``--root '~/data'`` and ``--root=~/data`` reach the
command as they were typed; read literally they name a ``./~`` folder ("not found", or a stray folder made there).
"""

from __future__ import annotations

from pathlib import Path


def user_path(text: str) -> Path:
    """``text`` as a Path, with a leading ``~`` or ``~user`` made that home folder (``Path.expanduser``).

    Example:
        >>> user_path("~/data") == Path.home() / "data", user_path("data/~x") == Path("data/~x")
        (True, True)
    """
    return Path(text).expanduser()
