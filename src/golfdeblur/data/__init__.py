"""Training and evaluation data: blur kernels, degradation, sharp-image sources, datasets of (blurry, sharp) pairs,
the fixed validation sets and GoPro-protocol pairs from high-frame-rate frames. See docs/DATA.md.

The names below load on first use (PEP 562), all together: importing ``golfdeblur.data.imageio``, which the command
line needs to build its help and which imports no torch, runs this file.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from golfdeblur.data.datasets import GoPro, PairedFolders, Sample, SyntheticBlur
    from golfdeblur.data.degrade import blur, border_margin, cut_border, degrade
    from golfdeblur.data.frames import make_pairs
    from golfdeblur.data.kernels import (
        KernelRealism,
        camera_shake_kernel,
        defocus_kernel,
        gaussian_kernel,
        linear_motion_kernel,
        load_levin_kernels,
        random_kernels,
        seeded_generator,
    )
    from golfdeblur.data.sources import (
        DeadLeaves,
        ImageFolder,
        ImageList,
        dead_leaves,
        default_data_root,
        default_sources,
        skimage_images,
    )
    from golfdeblur.data.validation import Levin09, ValidationSet, levin09, validation_set

# The submodules that define the names in __all__.
_PUBLIC_MODULES = ("datasets", "degrade", "frames", "kernels", "sources", "validation")

__all__ = [
    "DeadLeaves",
    "GoPro",
    "ImageFolder",
    "ImageList",
    "KernelRealism",
    "Levin09",
    "PairedFolders",
    "Sample",
    "SyntheticBlur",
    "ValidationSet",
    "blur",
    "border_margin",
    "camera_shake_kernel",
    "cut_border",
    "dead_leaves",
    "default_data_root",
    "default_sources",
    "defocus_kernel",
    "degrade",
    "gaussian_kernel",
    "levin09",
    "linear_motion_kernel",
    "load_levin_kernels",
    "make_pairs",
    "random_kernels",
    "seeded_generator",
    "skimage_images",
    "validation_set",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'golfdeblur.data' has no attribute {name!r}")
    modules = [importlib.import_module(f"golfdeblur.data.{module}") for module in _PUBLIC_MODULES]
    for public in __all__:  # all at once: later lookups skip this function
        globals()[public] = next(getattr(module, public) for module in modules if hasattr(module, public))
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _DataPackage(ModuleType):
    """Keeps ``golfdeblur.data.degrade`` the function it was when this file imported everything at once, not the
    submodule of the same name, which the import system sets as the package's attribute whenever it loads it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _DataPackage
