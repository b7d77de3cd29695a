"""Whether this package runs from the project's source checkout (``src/golfdeblur`` beside its ``pyproject.toml``:
an editable install, or ``PYTHONPATH=src``) or from an installed wheel. What lies beside a checkout (the evaluation
data in ``../shared/data``; the package's own weights folder, which ``release`` writes into) means nothing inside
site-packages: a folder written there is unknown to pip and outlives an uninstall."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_checkout() -> Path | None:
    """The root of the source checkout this package runs from (the folder holding ``src/`` and a ``pyproject.toml``
    naming the project golfdeblur), or None when it runs from an installed package (or from a ``src/`` folder of
    another project, as ``pip install --target other/src`` makes)."""
    root = PACKAGE_DIR.parent.parent
    if PACKAGE_DIR.parent.name != "src":
        return None
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, ValueError):  # none, unreadable, or not UTF-8
        return None
    # the name line of its [project] table (tomllib is not in Python 3.10, and the line is all that is needed)
    return root if _PROJECT_NAME.search(text) else None


_PROJECT_NAME = re.compile(r"""^name\s*=\s*["']golfdeblur["']\s*(#.*)?$""", re.MULTILINE)
