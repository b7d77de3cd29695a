"""Training and evaluation data: blur kernels, degradation, sharp-image sources, datasets of (blurry, sharp) pairs,
the fixed validation sets and GoPro-protocol pairs from high-frame-rate frames. See docs/DATA.md."""

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
