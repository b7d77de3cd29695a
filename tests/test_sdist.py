"""The source distribution: what `python -m build --sdist` packs from a checkout (MANIFEST.in and the package data)."""

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_too_old() -> bool:
    """Whether this interpreter's setuptools is older than pyproject.toml's [build-system] asks for."""
    import setuptools

    wanted = re.search(r'"setuptools>=(\d+)"', (ROOT / "pyproject.toml").read_text())
    return wanted is not None and int(setuptools.__version__.split(".")[0]) < int(wanted[1])


# The test builds with this interpreter's setuptools (no isolated build environment: no network needed), which must
# be one pyproject.toml's [build-system] takes; a venv of the lowest versions carries an older one of its own.
@pytest.mark.skipif(_setuptools_too_old(), reason="older setuptools than pyproject.toml's [build-system] asks for")
def test_the_sdist_holds_the_package_and_its_data_but_no_part_of_the_test_suite(tmp_path):
    """setuptools packs tests/test_*.py by default but not conftest.py or the subfolders, so an sdist's tests
    failed for want of fixtures; MANIFEST.in leaves them all out."""
    checkout, skip = tmp_path / "checkout", shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src" / "golfdeblur", checkout / "src" / "golfdeblur", ignore=skip)
    shutil.copytree(ROOT / "tests", checkout / "tests", ignore=skip)
    for name in ("pyproject.toml", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, checkout / name)
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / result.stdout.split()[-1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert not [name for name in names if name.startswith("tests")]
    weights = f"src/golfdeblur/weights/{DEFAULT_WEIGHTS}"
    for packed in (f"{weights}.safetensors", f"{weights}.json", "src/golfdeblur/configs/campaign.yaml",
                   "src/golfdeblur/py.typed", "src/golfdeblur/cli.py"):  # fmt: skip
        assert packed in names
