"""Whether this package runs from the project's source checkout (``src/golfdeblur`` beside its ``pyproject.toml``:
an editable install, or ``PYTHONPATH=src``) or from an installed wheel. What lies beside a checkout (the evaluation
data in ``../shared/data``; the package's own weights folder, which ``release`` writes into) means nothing inside
site-packages: a folder written there is unknown to pip and outlives an uninstall."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_checkout() -> Path | None:
    """The root of the source checkout this package runs from (the folder holding ``pyproject.toml`` and ``src/``),
    or None when it runs from an installed package.

    Example:
        >>> root = source_checkout()
        >>> root is None or (root / "src" / "golfdeblur" / "checkout.py").is_file()
        True
    """
    root = PACKAGE_DIR.parent.parent
    if PACKAGE_DIR.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None
