"""requirements-lowest.txt (what `make test-lowest` installs) pins exactly the lowest versions pyproject.toml allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def lower_bounds() -> dict[str, str]:
    """Each ``name>=version`` requirement of pyproject.toml (its dependencies and every extra's)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = project["dependencies"] + [requirement for extra in extras for requirement in extra]
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([^,]+)(,.*)?", requirement)
        assert match, f"{requirement}: every requirement states its lowest version with >="
        bounds[match[1].lower()] = match[2]
    return bounds


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements-lowest.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip().lower(): version.strip() for name, version in pairs}


def test_lowest_pins_equal_pyproject_lower_bounds():
    bounds, pinned = lower_bounds(), pins()
    # ruff and mypy are not installed there (make test-lowest does not lint); ml_dtypes is onnxscript's need, pinned
    # for numpy 1
    expected = {name: version for name, version in bounds.items() if name not in ("ruff", "mypy")}
    # a pin may name a patch release of the bound (numpy>=1.24 is tested as 1.24.4, scipy>=1.10 as 1.10.1)
    for name, bound in expected.items():
        pin = pinned.get(name)
        assert pin is not None, f"{name} missing from requirements-lowest.txt"
        assert pin == bound or pin.startswith(bound + "."), f"{name}: pinned {pin}, bound {bound}"
    assert set(pinned) - set(expected) == {"ml_dtypes"}
