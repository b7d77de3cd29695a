"""JSON text that strict parsers read (``jq``, JavaScript, Go): Python's ``json`` writes a NaN or an infinite number
as ``NaN`` or ``Infinity``, which the JSON standard does not have. Reports write such a number as ``null``: a score
that is not a finite number (a model that diverged, an image identical to its target)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from golfdeblur.errors import undecodable_escaped


def finite_or_null(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite, at any depth of dicts, lists and tuples, replaced by None.

    Example:
        >>> finite_or_null({"psnr": float("nan"), "runs": [1.5, float("inf")]})
        {'psnr': None, 'runs': [1.5, None]}
    """
    return _each_leaf(value, _finite_or_null_leaf)


def strict_json_text(value: Any, indent: int = 2) -> str:
    """``value`` as strict JSON text ending in a newline, non-finite floats written as ``null``, the undecodable bytes
    of a file name in a string (keys too) as the characters ``\\xNN`` (``undecodable_escaped``): such a name reads
    ``x\\xff.png`` in the report, as in a markdown page beside it, not as the lone surrogate escape ``\\udcff`` that
    strict parsers (Rust's serde_json) refuse or turn into U+FFFD.

    Example:
        >>> strict_json_text({"mean": float("nan")}, indent=0)
        '{\\n"mean": null\\n}\\n'
    """
    return json.dumps(_each_leaf(value, _strict_leaf), indent=indent, allow_nan=False) + "\n"


def _each_leaf(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to every value that is no dict, list or tuple, and to every string key, at any
    depth; tuples become lists."""
    if isinstance(value, dict):
        return {(leaf(key) if isinstance(key, str) else key): _each_leaf(item, leaf) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_each_leaf(item, leaf) for item in value]
    return leaf(value)


def _finite_or_null_leaf(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _strict_leaf(value: Any) -> Any:
    return undecodable_escaped(value) if isinstance(value, str) else _finite_or_null_leaf(value)


def null_as_nan(value: float | None) -> float:
    """A score read back from such a report: ``null`` is NaN (no finite score)."""
    return float("nan") if value is None else float(value)
