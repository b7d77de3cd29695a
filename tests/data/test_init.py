"""golfdeblur.data's public names load on first use, all together, and keep what they named before."""

from __future__ import annotations

import subprocess
import sys

import pytest

import golfdeblur.data


@pytest.mark.parametrize(
    "module", ["imageio", "image_data", "image_formats", "image_metadata", "image_writing", "tiff_reading"]
)
def test_image_files_alone_do_not_import_torch(module):
    """Each module of image reading and writing imports alone (no cycle) and without torch (2 s of start-up)."""
    code = f"import sys, golfdeblur.data.{module}\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_degrade_is_the_function_even_after_its_submodule_loads():
    code = (
        "import golfdeblur.data.degrade\nimport golfdeblur.data as data\nfrom golfdeblur.data import degrade\n"
        "print(callable(degrade), degrade is data.degrade, type(degrade).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True True function", result.stderr


def test_star_import_gives_every_public_name():
    namespace: dict[str, object] = {}
    exec("from golfdeblur.data import *", namespace)
    from golfdeblur.data import kernels, validation

    assert set(golfdeblur.data.__all__) <= set(namespace)
    assert namespace["camera_shake_kernel"] is kernels.camera_shake_kernel
    assert namespace["levin09"] is validation.levin09
    with pytest.raises(AttributeError, match="no attribute 'psnr'"):
        golfdeblur.data.psnr  # noqa: B018 (the attribute access is the test)
