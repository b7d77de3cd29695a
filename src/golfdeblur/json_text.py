"""JSON text that strict parsers read (``jq``, JavaScript, Go): Python's ``json`` writes a NaN or an infinite number
as ``NaN`` or ``Infinity``, which the JSON standard does not have. Reports write such a number as ``null``: a score
that is not a finite number (a model that diverged, an image identical to its target)."""

from __future__ import annotations

import json
import math
from typing import Any

from golfdeblur.errors import undecodable_escaped


def finite_or_null(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite, at any depth of dicts, lists and tuples, replaced by None.

    Example:
        >>> finite_or_null({"psnr": float("nan"), "runs": [1.5, float("inf")]})
        {'psnr': None, 'runs': [1.5, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def strict_json_text(value: Any, indent: int = 2) -> str:
    """``value`` as strict JSON text ending in a newline, non-finite floats written as ``null``, the undecodable bytes
    of a file name in a string as the characters ``\\xNN`` (``undecodable_escaped``).

    Example:
        >>> strict_json_text({"mean": float("nan")}, indent=0)
        '{\\n"mean": null\\n}\\n'
    """
    return json.dumps(_names_escaped(finite_or_null(value)), indent=indent, allow_nan=False) + "\n"


def _names_escaped(value: Any) -> Any:
    """``value`` with every string (keys too), at any depth of dicts and lists, ``undecodable_escaped``: a file name
    whose bytes are not UTF-8 reads ``x\\xff.png`` in the report, as in a markdown page beside it, not as the
    lone surrogate escape ``\\udcff`` that strict parsers (Rust's serde_json) refuse or turn into U+FFFD."""
    if isinstance(value, str):
        return undecodable_escaped(value)
    if isinstance(value, dict):
        return {_names_escaped(key): _names_escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_names_escaped(item) for item in value]
    return value


def null_as_nan(value: float | None) -> float:
    """A score read back from such a report: ``null`` is NaN (no finite score)."""
    return float("nan") if value is None else float(value)
