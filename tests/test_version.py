"""golfdeblur.__version__ is the version pyproject.toml gives the distribution (two places, so they are checked)."""

import re
from pathlib import Path

import golfdeblur


def test_package_version_is_pyproject_version():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    match = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    assert match and golfdeblur.__version__ == match.group(1)
