"""Fixed evaluation sets: seeded synthetic blur of CBSD68 + Kodak24 (or, without that data, of dead leaves), and the
Levin et al. 2009 benchmark with its measured kernels.

The validation pairs are regenerated identically every time from (seed, image name): nothing is stored, and adding or
removing an image leaves every other pair unchanged. They are kept apart from the training sources: CBSD68 is the
BSDS500 subset that ``sharp/bsds500`` here does not contain (no file name in common), Kodak24 is not a training source,
and the fallback dead leaves come from a random stream ("validation-dead-leaves") that training never uses.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import cast

import torch
from torch.utils.data import Dataset

from golfdeblur.data.degrade import border_margin, centre_crop, cut_border, degrade
from golfdeblur.data.imageio import read_image
from golfdeblur.data.kernels import (
    PUBLISHED_TORCH,
    draws_as_published,
    load_levin_kernels,
    random_kernels,
    seeded_generator,
)
from golfdeblur.data.sources import dead_leaves, default_data_root, list_images, to_tensor
from golfdeblur.deblur_defaults import VALIDATION_SEED
from golfdeblur.errors import GolfdeblurError
from golfdeblur.input_values import whole_number

#: Folders of the validation images inside the data root.
VALIDATION_FOLDERS = ("eval/cbsd68", "eval/kodak24")


def _check_crop_size(crop_size: object) -> None:
    """Refuse a ``crop_size`` that is neither None nor a whole number of pixels >= 1 (0 or less would crop every pair
    to an empty image, without an error, on first access)."""
    if crop_size is not None:
        whole_number(crop_size, 1, "crop_size", unit="pixels", note="(None: whole images)")


class ValidationSet(Dataset):
    """Seeded synthetic blur of a fixed list of sharp images (see ``validation_set``).

    For image ``name``: a generator seeded by ("validation", seed, name) draws one kernel (``random_kernels``, the
    training mixture) and a noise level; the whole image is blurred where the kernel fits ("valid"), and both images
    are cut to the same window, ``kernel_max_size // 2`` px in from every side, so every pixel saw only real content.
    With ``crop_size`` (None, or a whole number >= 1) the centre ``crop_size`` square of that is kept. Pairs are made
    on first access and then kept in memory as 8 bits (for the 92 CBSD68 + Kodak24 pairs at the default
    ``kernel_max_size``, 2 images x 3 channels x (68 x 431 x 271 + 24 x 450 x 450) px = 76,814,808 bytes, 76.8 MB or
    73.3 MiB); a 16-bit sharp image is rounded to 8 bits first.

    Attributes:
        is_fallback: True when the images are dead leaves because CBSD68 / Kodak24 were not found.

    Shape:
        item -> (blurry (3, H, W), sharp (3, H, W), name), float32 in [0, 1]; H, W vary per image (batch size 1,
        or set ``crop_size``).

    Example:
        >>> images = [("leaves_a", None), ("leaves_b", None)]  # no path: dead leaves of fallback_size px
        >>> data = ValidationSet(images, seed=0, kernel_min_size=7, kernel_max_size=15, noise_sigma_max=0.01,
        ...                      crop_size=None, fallback_size=64, is_fallback=True)
        >>> blurry, sharp, name = data[0]  # 64 px less the 15 // 2 px margin on each side
        >>> len(data), blurry.shape, sharp.shape, name
        (2, torch.Size([3, 50, 50]), torch.Size([3, 50, 50]), 'leaves_a')
        >>> data.kernel(0).shape, round(data.kernel(0).sum().item(), 5)
        (torch.Size([1, 13, 13]), 1.0)
    """

    def __init__(
        self,
        images: list[tuple[str, Path | None]],
        seed: int,
        kernel_min_size: int,
        kernel_max_size: int,
        noise_sigma_max: float,
        crop_size: int | None,
        fallback_size: int,
        is_fallback: bool,
    ) -> None:
        _check_crop_size(crop_size)
        self.images, self.seed, self.crop_size = images, seed, crop_size
        self.kernel_min_size, self.kernel_max_size = kernel_min_size, kernel_max_size
        self.noise_sigma_max = noise_sigma_max
        self._cache: dict[int, tuple[torch.Tensor, ...]] = {}  # (blurry, sharp) as uint8
        self.fallback_size, self.is_fallback = fallback_size, is_fallback
        self.names = [name for name, _ in images]

    def __len__(self) -> int:
        return len(self.images)

    def sharp_image(self, index: int) -> torch.Tensor:
        """The whole sharp image before the margin is cut. Shape: (3, H, W) float32 in [0, 1]."""
        name, path = self.images[index]
        if path is None:
            image = dead_leaves(self.fallback_size, seeded_generator("validation-dead-leaves", self.seed, name))
            return (image * 255).round() / 255  # 8 bits, as a photograph
        # The set is 8-bit (its cache and scores are): a 16-bit file is rounded here, so that the blurry image is
        # made from the sharp image it is scored against.
        return (to_tensor(read_image(path).rgb) * 255).round() / 255

    def _kernel_and_generator(self, index: int) -> tuple[torch.Tensor, torch.Generator]:
        # The kernel is the first draw of the image's generator; the noise follows from the same generator.
        generator = seeded_generator("validation", self.seed, self.names[index])
        return random_kernels(1, generator, self.kernel_min_size, self.kernel_max_size), generator

    def kernel(self, index: int) -> torch.Tensor:
        """The true blur kernel of pair ``index`` (for non-blind references). Shape: (1, k, k), sums to 1."""
        return self._kernel_and_generator(index)[0][0]

    def pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurry, sharp) of image ``index`` with the margin cut, before any centre crop."""
        sharp = self.sharp_image(index)
        kernel, generator = self._kernel_and_generator(index)
        blurry = degrade(sharp[None], kernel, generator, self.noise_sigma_max, padding="valid")[0]
        margin = border_margin(self.kernel_max_size)
        return cut_border(blurry, margin - kernel.shape[-1] // 2), cut_border(sharp, margin)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if index not in self._cache:
            # Kept as 8 bits: both images are 8-bit (sharp ones rounded on reading, blurry quantised): exact.
            self._cache[index] = tuple((image * 255).round().to(torch.uint8) for image in self.pair(index))
        blurry, sharp = (image.float() / 255 for image in self._cache[index])
        if self.crop_size is not None:
            blurry, sharp = centre_crop(blurry, self.crop_size), centre_crop(sharp, self.crop_size)
        return blurry.contiguous(), sharp.contiguous(), self.names[index]


def validation_set(
    root: str | Path | None = None,
    seed: int = VALIDATION_SEED,
    kernel_min_size: int = 7,
    kernel_max_size: int = 51,
    noise_sigma_max: float = 0.02,
    crop_size: int | None = None,
    fallback_count: int = 16,
    fallback_size: int = 320,
) -> ValidationSet:
    """The fixed validation set: CBSD68 (68 images, 481x321) and Kodak24 (24, 500x500) from ``root/eval``, each
    blurred once by a kernel and noise drawn from (seed, name): 92 pairs of 431x271 (or 271x431) and 450x450 px with
    the default ``kernel_max_size`` (the margin ``kernel_max_size // 2`` is cut).

    When ``root`` is not given and the project's data folder (``default_data_root()``) is absent or has neither
    folder, it falls back, with a warning, to ``fallback_count`` dead-leaves images of ``fallback_size`` px: a
    stand-in that tells a run is learning, not a measure comparable with published numbers
    (``ValidationSet.is_fallback`` is True). Under a torch that draws seeded kernels otherwise than the one the
    published numbers were measured with (``kernels.draws_as_published``; every supported torch, 2.6.0 to 2.13.0,
    draws as published), it warns that the set is blurred otherwise. A ``root`` given that has neither folder is an
    error (GolfdeblurError): a mistyped path must not turn into numbers on other images.

    Shape:
        item -> (blurry (3, H, W), sharp (3, H, W), name), float32 in [0, 1].

    Example:
        >>> data = validation_set(fallback_count=2, fallback_size=96)  # without ../shared/data  # doctest: +SKIP
        >>> blurry, sharp, name = data[0]  # doctest: +SKIP
        >>> blurry.shape, name  # doctest: +SKIP
        (torch.Size([3, 46, 46]), 'dead_leaves_000')
    """
    random_kernels(1, torch.Generator(), kernel_min_size, kernel_max_size)  # validate the sizes now
    _check_crop_size(crop_size)
    given = root is not None
    root = default_data_root() if root is None else Path(root)
    images: list[tuple[str, Path | None]] = []
    for folder in VALIDATION_FOLDERS:
        if root is not None and (root / folder).is_dir():
            images += [(f"{Path(folder).name}/{path.stem}", path) for path in list_images(root / folder)]
    if images:
        if not draws_as_published():
            warnings.warn(
                f"this torch ({torch.__version__}) draws seeded kernels and noise otherwise than torch "
                f"{PUBLISHED_TORCH}, with which golfdeblur's published numbers were measured: the validation set is "
                "blurred otherwise here, and its scores are not comparable with docs/RESULTS.md or a model card's",
                stacklevel=2,
            )
        sizes = (kernel_min_size, kernel_max_size)
        return ValidationSet(images, seed, *sizes, noise_sigma_max, crop_size, fallback_size, is_fallback=False)
    if given:
        raise GolfdeblurError(
            f"{root}: holds neither {' nor '.join(VALIDATION_FOLDERS)} (give the data folder holding eval/)"
        )
    if fallback_size < 2 * border_margin(kernel_max_size) + 1:
        raise GolfdeblurError(
            f"fallback_size {fallback_size} leaves nothing once the {kernel_max_size} px kernel margin is cut"
        )
    where = (
        f"under {root} ({', '.join(VALIDATION_FOLDERS)})"
        if root is not None
        else "(no data folder: set GOLFDEBLUR_DATA or give the folder holding eval/)"
    )
    warnings.warn(
        f"validation images not found {where}: using dead-leaves images instead (a fallback, not comparable with "
        "published numbers)",
        stacklevel=2,
    )
    images = [(f"dead_leaves_{i:03d}", None) for i in range(fallback_count)]
    return ValidationSet(
        images, seed, kernel_min_size, kernel_max_size, noise_sigma_max, crop_size, fallback_size, True
    )


def levin09_folder(root: Path) -> Path:
    """The Levin09 folder ``root`` names: its eval/levin09 where it has one (a data folder), else itself."""
    return root / "eval" / "levin09" if (root / "eval" / "levin09").is_dir() else root


class Levin09(Dataset):
    """The Levin et al. 2009 benchmark: 4 greyscale images x 8 measured camera-shake kernels = 32 blurred images,
    no noise, blurred by true convolution (see ``degrade.blur``). Greyscale is returned as 3 equal channels.

    Shape:
        item -> (blurry (3, 255, 255), sharp (3, 255, 255), kernel (1, k, k) with k from 13 to 27, name such as
        "im_1_ker_4"), float32; batch size 1 (kernel sizes differ).

    Example:
        >>> data = Levin09("../shared/data/eval/levin09")  # doctest: +SKIP
        >>> blurry, sharp, kernel, name = data[3]  # doctest: +SKIP
        >>> len(data), blurry.shape, kernel.shape, name  # doctest: +SKIP
        (32, torch.Size([3, 255, 255]), torch.Size([1, 27, 27]), 'im_1_ker_4')
    """

    PATTERN = re.compile(r"im_(\d+)_ker_(\d+)$")

    def __init__(self, root: str | Path | None = None) -> None:
        root = default_data_root() if root is None else Path(root)
        if root is None:
            raise GolfdeblurError("Levin09: no data folder (give its path or set GOLFDEBLUR_DATA)")
        folder = levin09_folder(root)
        self.kernels = load_levin_kernels(folder)
        self.items = []
        for path in list_images(folder / "blurred") if (folder / "blurred").is_dir() else []:
            match = self.PATTERN.match(path.stem)
            if match is None:
                continue
            sharp = next(iter(sorted((folder / "sharp").glob(f"im_{match[1]}.*"))), None)
            if sharp is None or f"k{match[2]}" not in self.kernels:
                raise GolfdeblurError(f"{path}: no sharp image im_{match[1]} or kernel k{match[2]} in {folder}")
            self.items.append((path.stem, path, sharp, f"k{match[2]}"))
        if not self.items:
            raise GolfdeblurError(f"{folder}: no Levin09 blurred images (blurred/im_I_ker_K.png)")
        # Every stem kept above matched PATTERN.
        self.items.sort(
            key=lambda item: tuple(int(n) for n in cast("re.Match[str]", self.PATTERN.match(item[0])).groups())
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
        name, blurry, sharp, kernel = self.items[index]
        return to_tensor(read_image(blurry).rgb), to_tensor(read_image(sharp).rgb), self.kernels[kernel], name


def levin09(root: str | Path | None = None) -> Levin09:
    """The 32 (blurry, sharp, kernel, name) items of Levin et al. 2009 from ``root`` (the data folder holding
    ``eval/levin09``, or that folder itself; default ``default_data_root()``). See ``Levin09``.

    Shape:
        item -> blurry, sharp (3, 255, 255) float32 in [0, 1] (greyscale as three equal channels), kernel (1, k, k)
        with k from 13 to 27, non-negative, summing to 1, and the name.

    Example:
        >>> data = levin09("../shared/data")  # doctest: +SKIP
        >>> blurry, sharp, kernel, name = data[0]  # doctest: +SKIP
        >>> len(data), sharp.shape, kernel.shape, name  # doctest: +SKIP
        (32, torch.Size([3, 255, 255]), torch.Size([1, 19, 19]), 'im_1_ker_1')
    """
    return Levin09(root)
