"""Training and evaluation datasets of (blurry, sharp) pairs: synthetic blur on the fly, GoPro, paired folders.

Every item is a pair of float32 tensors (3, H, W) in [0, 1]. Random choices (crop, flips, kernel, noise) come from a
generator seeded by (dataset seed, epoch, index) and, once one is set, the stream, nothing else, so a sample is the same
whatever the DataLoader's worker count or order; ``set_epoch(epoch)`` changes every random choice (call it before
iterating, as with a DistributedSampler), and so does ``set_stream(name)`` (a training stage's own draws: stage D does
not train on stage G's samples again). Both live in shared memory, so persistent workers see them too.

Images smaller than the crop (plus the blur margin) are mirror-padded (``pad_to_fit``) to the size needed rather
than skipped, so an epoch never stops on one small image; the pair stays consistent because the blur sees the same
mirrored scene as the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, cast

import torch
from torch.utils.data import Dataset

from golfdeblur.data.degrade import border_margin, cut_border, degrade, pad_to_fit, random_grey
from golfdeblur.data.gopro_variants import GOPRO_VARIANTS
from golfdeblur.data.image_header import header_size
from golfdeblur.data.imageio import read_image
from golfdeblur.data.kernels import KernelRealism, derived_seed, draw_category, random_kernels, seeded_generator
from golfdeblur.data.sources import ImageSource, list_images, to_tensor
from golfdeblur.errors import GolfdeblurError
from golfdeblur.input_values import whole_number

__all__ = [
    "GOPRO_VARIANTS",
    "GoPro",
    "GoProVariantError",
    "PairedFolders",
    "PairedImages",
    "Sample",
    "SyntheticBlur",
    "random_crop_flip",
    "seeded_generator",
]


class Sample(NamedTuple):
    """One synthetic item with what made it: (3, H, W) blurry and sharp, the (1, k, k) kernel, the image's name.

    Example:
        >>> from golfdeblur.data.sources import ImageList
        >>> images = ImageList([torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(0))], ["noise"])
        >>> blurry, sharp, kernel, name = SyntheticBlur(images, crop_size=16, kernel_max_size=9).sample(0)
        >>> blurry.shape, sharp.shape, kernel.shape, round(kernel.sum().item(), 5), name
        (torch.Size([3, 16, 16]), torch.Size([3, 16, 16]), torch.Size([1, 9, 9]), 1.0, 'noise')
    """

    blurry: torch.Tensor
    sharp: torch.Tensor
    kernel: torch.Tensor
    name: str


def stream_key(stream: str) -> int:
    """The number that stands for a stream's name in the item seeds: 0 for "" (no stream), else a 63-bit hash.

    Example:
        >>> stream_key(""), stream_key("d") == stream_key("d") != stream_key("g"), stream_key("d") > 0
        (0, True, True)
    """
    return (derived_seed(stream) or 1) if stream else 0  # 1: a name hashing to 0 is still a stream


class SharedDraws:
    """An epoch and a stream in shared memory: ``set_epoch`` and ``set_stream`` in the main process reach persistent
    DataLoader workers. An item reads both once, together (``_draws_now``); ``_generator`` seeds its draws from them and
    the dataset's ``seed``."""

    seed: int

    def _init_draws(self) -> None:
        self._draws = torch.zeros(2, dtype=torch.int64).share_memory_()  # (epoch, stream_key of the stream's name)

    @property
    def epoch(self) -> int:
        return int(self._draws[0])

    def set_epoch(self, epoch: int) -> None:
        """Use the random choices of ``epoch`` from now on (crops, flips, kernels, noise)."""
        self._draws[0] = int(epoch)

    def set_stream(self, stream: str) -> None:
        """Use the random choices of ``stream`` from now on (e.g. a training stage's name): each stream draws its own
        crops, flips, kernels and noise for every (epoch, index). "" (the default) is no stream: an item's draws are
        seeded by (tag, seed, epoch, index) alone."""
        self._draws[1] = stream_key(stream)

    def _draws_now(self) -> tuple[int, int]:
        """(epoch, stream key), read together."""
        epoch, stream = self._draws.tolist()
        return epoch, stream

    def _generator(self, tag: str, index: int) -> tuple[torch.Generator, int]:
        """The generator of item ``index``'s draws, seeded by (tag, seed, epoch, index) and the stream when set, and
        that epoch (for the item's other uses of it)."""
        epoch, stream = self._draws_now()
        return seeded_generator(tag, self.seed, epoch, index, *((stream,) if stream else ())), epoch


def random_crop_flip(
    images: Sequence[torch.Tensor], crop: int, generator: torch.Generator, flips: bool = True
) -> list[torch.Tensor]:
    """The same random ``crop`` x ``crop`` window and the same random horizontal and vertical flips for every image;
    an image shorter than the crop on a side is mirror-padded (symmetric) on that side first.

    Shape:
        each (C, H, W) -> (C, crop, crop).
    """
    padded = [pad_to_fit(image, crop) for image in images]
    height, width = padded[0].shape[-2:]
    top = int(torch.randint(0, height - crop + 1, (), generator=generator))
    left = int(torch.randint(0, width - crop + 1, (), generator=generator))
    out = [image[..., top : top + crop, left : left + crop] for image in padded]
    if flips:
        flip_h, flip_v = (torch.rand(2, generator=generator) < 0.5).tolist()
        dims = [d for d, f in ((-1, flip_h), (-2, flip_v)) if f]
        if dims:
            out = [image.flip(dims) for image in out]
    return [image.contiguous() for image in out]


class SyntheticBlur(SharedDraws, Dataset):
    """Blur made on the fly from sharp images, so every epoch sees new crops, flips, kernels and noise.

    For each item: pick a sharp image (item ``(index + epoch * length) % total`` over the concatenated sources, so
    that epochs shorter than the image list still walk through all of it; or, with ``source_weights``, a source drawn
    by weight and an image uniformly), cut a random crop of ``crop_size`` plus
    ``kernel_max_size // 2`` px on every side, flip it, draw a kernel (``random_kernels``), degrade (blur, noise,
    8-bit rounding; ``degrade``), then cut the margin from both images, so no pixel of the pair depends on anything
    outside the real image.

    Args:
        sources: one ``ImageSource`` or several (e.g. ``default_sources()``).
        crop_size: side of the square pairs.
        length: items per epoch; default the total number of source images.
        seed: the dataset's seed; items depend only on (seed, epoch, index) and the stream (``set_stream``).
        kernel_min_size, kernel_max_size, kind_weights, kernel_realism: passed to ``random_kernels``.
        grey_fraction: share of items whose sharp crop is made grey before the blur (``degrade.random_grey``).
        clean_fraction: share of items left without noise (``degrade``'s ``clean_fraction``).
        noise_sigma_max, linear_light, quantize: passed to ``degrade``.
        flips: random horizontal and vertical flips (the paper's augmentation).
        source_weights: relative probability of each source; None walks the concatenated images in order.

    Shape:
        item -> (blurry, sharp), each (3, crop_size, crop_size) float32 in [0, 1].

    Example:
        >>> from golfdeblur.data.sources import skimage_images
        >>> data = SyntheticBlur(skimage_images(), crop_size=64, kernel_max_size=15)
        >>> blurry, sharp = data[0]
        >>> blurry.shape, sharp.shape
        (torch.Size([3, 64, 64]), torch.Size([3, 64, 64]))
    """

    def __init__(
        self,
        sources: ImageSource | Sequence[ImageSource],
        crop_size: int = 256,
        length: int | None = None,
        seed: int = 0,
        kernel_min_size: int = 7,
        kernel_max_size: int = 51,
        kind_weights: dict[str, float] | None = None,
        noise_sigma_max: float = 0.02,
        linear_light: bool = False,
        quantize: bool = True,
        flips: bool = True,
        source_weights: Sequence[float] | None = None,
        kernel_realism: KernelRealism | None = None,
        grey_fraction: float = 0.0,
        clean_fraction: float = 0.0,
    ) -> None:
        # Several sources come as a list or tuple; anything else is one source.
        self.sources: list[ImageSource] = (
            list(sources) if isinstance(sources, (list, tuple)) else [cast(ImageSource, sources)]
        )
        if not self.sources or any(len(source) == 0 for source in self.sources):
            raise GolfdeblurError("synthetic blur needs at least one non-empty image source")
        whole_number(crop_size, 1, "crop_size", unit="pixels")  # 2.5 was cut to 2 px, True taken as 1
        if source_weights is not None and (
            len(source_weights) != len(self.sources) or min(source_weights) < 0 or sum(source_weights) <= 0
        ):
            raise GolfdeblurError(f"source_weights {list(source_weights)} must be one non-negative weight per source")
        random_kernels(1, torch.Generator().manual_seed(0), kernel_min_size, kernel_max_size, kind_weights)  # validate
        self.crop_size, self.seed = int(crop_size), seed
        self.kernel_min_size, self.kernel_max_size, self.kind_weights = kernel_min_size, kernel_max_size, kind_weights
        self.kernel_realism = kernel_realism
        self.grey_fraction, self.clean_fraction = grey_fraction, clean_fraction
        self.noise_sigma_max, self.linear_light, self.quantize = noise_sigma_max, linear_light, quantize
        self.flips = flips
        self.source_weights = None if source_weights is None else torch.tensor(source_weights, dtype=torch.float64)
        self.total = sum(len(source) for source in self.sources)
        self.length = self.total if length is None else int(length)
        if self.length < 1:
            raise GolfdeblurError(f"length must be positive, got {length}")
        self._init_draws()

    def __len__(self) -> int:
        return self.length

    def pick(self, index: int, generator: torch.Generator, epoch: int | None = None) -> tuple[int, int]:
        """(source number, image number) of item ``index`` in ``epoch`` (default the dataset's)."""
        if self.source_weights is not None:
            source = draw_category(self.source_weights, generator)
            return source, int(torch.randint(0, len(self.sources[source]), (), generator=generator))
        # Each epoch goes on where the last one stopped: with fewer items per epoch than images, item i alone would
        # never reach the images past the epoch's length.
        flat = (index + (self.epoch if epoch is None else epoch) * self.length) % self.total
        for source, images in enumerate(self.sources):
            if flat < len(images):
                return source, flat
            flat -= len(images)
        raise AssertionError("unreachable")

    def sample(self, index: int) -> Sample:
        """Item ``index`` with the kernel that blurred it and the sharp image's name (for pictures and debugging).

        Shape:
            -> Sample(blurry (3, crop, crop), sharp (3, crop, crop), kernel (1, k, k), name).
        """
        if not 0 <= index < self.length:
            raise IndexError(index)
        generator, epoch = self._generator("synthetic-blur", index)
        source, image = self.pick(index, generator, epoch)
        margin = border_margin(self.kernel_max_size)
        (sharp,) = random_crop_flip([self.sources[source][image]], self.crop_size + 2 * margin, generator, self.flips)
        kernel = random_kernels(
            1, generator, self.kernel_min_size, self.kernel_max_size, self.kind_weights, realism=self.kernel_realism
        )
        sharp = random_grey(sharp[None], generator, self.grey_fraction)[0]
        blurry = degrade(
            sharp[None],
            kernel,
            generator,
            self.noise_sigma_max,
            linear_light=self.linear_light,
            quantize=self.quantize,
            padding="valid",
            clean_fraction=self.clean_fraction,
        )[0]
        # "valid" skips the mirrored border: pixel (i, j) of it is pixel (i + k // 2, j + k // 2) of the crop
        blurry = cut_border(blurry, margin - kernel.shape[-1] // 2)
        name = self.sources[source].name(image)
        return Sample(blurry, cut_border(sharp, margin).clone(), kernel[0], name)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.sample(index)
        return sample.blurry, sample.sharp


class PairedImages(SharedDraws, Dataset):
    """(blurry, sharp) pairs of image files. With ``crop_size=None`` items are whole images (evaluation: no flips);
    otherwise the same random crop and flips for both images, seeded by (seed, epoch, index) and the stream.

    The sizes in both files' headers are compared when the dataset is built: a mismatch is an error naming both files.
    They are kept as ``sizes``, (height, width) per pair, for checks of a whole set before it is read (``eval``
    refuses a pair smaller than SSIM's window up front).

    Shape:
        item -> (blurry, sharp), each (3, H, W) (or (3, crop, crop)) float32 in [0, 1].
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        names: Sequence[str],
        crop_size: int | None = None,
        seed: int = 0,
        flips: bool = True,
    ) -> None:
        if not pairs:
            raise GolfdeblurError("no image pairs found")
        if crop_size is not None:
            whole_number(crop_size, 1, "crop_size", unit="pixels", note="(None: whole images)")
        self.sizes: list[tuple[int, int]] = []  # (height, width) of each pair, from the headers
        for blurry, sharp in pairs:
            blurry_size, sharp_size = header_size(blurry), header_size(sharp)
            if blurry_size != sharp_size:
                raise GolfdeblurError(
                    f"size mismatch: {blurry} is {blurry_size[1]}x{blurry_size[0]} but {sharp} is "
                    f"{sharp_size[1]}x{sharp_size[0]}"
                )
            self.sizes.append(blurry_size)
        self.pairs, self.names = list(pairs), list(names)
        self.crop_size, self.seed, self.flips = crop_size, seed, flips
        self._init_draws()

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        return self.names[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        blurry_path, sharp_path = self.pairs[index]
        blurry, sharp = to_tensor(read_image(blurry_path).rgb), to_tensor(read_image(sharp_path).rgb)
        if blurry.shape != sharp.shape:  # e.g. EXIF orientation on one file only
            raise GolfdeblurError(
                f"size mismatch: {blurry_path} is {tuple(blurry.shape[1:])} but {sharp_path} is "
                f"{tuple(sharp.shape[1:])} (height, width)"
            )
        if self.crop_size is None:
            return blurry, sharp
        generator, _ = self._generator("pairs", index)
        blurry, sharp = random_crop_flip([blurry, sharp], self.crop_size, generator, self.flips)
        return blurry, sharp


def _by_stem(folder: Path) -> dict[str, Path]:
    """The images under ``folder`` keyed by relative path without suffix; two files of one key are an error."""
    found: dict[str, Path] = {}
    for path in list_images(folder):
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in found:
            raise GolfdeblurError(f"{found[key]} and {path}: two images of one name; pairs are matched by name")
        found[key] = path
    return found


def _match_by_name(blur_dir: Path, sharp_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pair the files of two folders by relative path without suffix; any file without a partner, or two files
    of one name (``a.png`` and ``a.jpg``), is an error."""
    blurry, sharp = _by_stem(blur_dir), _by_stem(sharp_dir)
    for name, path in blurry.items():
        if name not in sharp:
            raise GolfdeblurError(f"{path} has no sharp partner: no {sharp_dir / name}.* image")
    for name, path in sharp.items():
        if name not in blurry:
            raise GolfdeblurError(f"{path} has no blurry partner: no {blur_dir / name}.* image")
    if not blurry:
        raise GolfdeblurError(f"{blur_dir} and {sharp_dir}: no images found")
    names = sorted(blurry)
    return [(blurry[n], sharp[n]) for n in names], [n + blurry[n].suffix for n in names]


class PairedFolders(PairedImages):
    """Blurry images in ``blur_dir`` and their sharp partners in ``sharp_dir``, matched by relative path and file
    name without suffix (``a/001.png`` pairs with ``a/001.jpg``). A file without a partner, or two partners of
    different sizes, is an error naming both files.

    Shape:
        item -> (blurry, sharp), each (3, H, W) (or (3, crop, crop)) float32 in [0, 1].

    Example:
        >>> import tempfile
        >>> from golfdeblur.data.image_data import ImageData
        >>> from golfdeblur.data.image_writing import write_image
        >>> g = torch.Generator().manual_seed(0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name in ("a", "b"):  # folders are created as needed; a .jpg pairs with the .png of its name
        ...         rgb = torch.rand(8, 10, 3, generator=g).numpy()
        ...         _ = write_image(Path(tmp) / "sharp" / f"{name}.png", ImageData(rgb=rgb))
        ...         _ = write_image(Path(tmp) / "blur" / f"{name}.jpg", ImageData(rgb=rgb))
        ...     pairs = PairedFolders(Path(tmp) / "blur", Path(tmp) / "sharp")
        ...     blurry, sharp = pairs[0]
        ...     crops = PairedFolders(Path(tmp) / "blur", Path(tmp) / "sharp", crop_size=4)[1]
        >>> len(pairs), pairs.names, blurry.shape, sharp.shape
        (2, ['a.jpg', 'b.jpg'], torch.Size([3, 8, 10]), torch.Size([3, 8, 10]))
        >>> [image.shape for image in crops]
        [torch.Size([3, 4, 4]), torch.Size([3, 4, 4])]
    """

    def __init__(
        self,
        blur_dir: str | Path,
        sharp_dir: str | Path,
        crop_size: int | None = None,
        seed: int = 0,
        flips: bool = True,
    ) -> None:
        for folder in (blur_dir, sharp_dir):
            if not Path(folder).is_dir():
                raise GolfdeblurError(f"{folder}: folder not found")
        pairs, names = _match_by_name(Path(blur_dir), Path(sharp_dir))
        super().__init__(pairs, names, crop_size, seed, flips)


class GoProVariantError(GolfdeblurError):
    """A GoPro variant the layout does not hold: a flattened layout holds one only, read as "blur"."""


#: Flattened layouts of GoPro used by other codebases: (blurry folder, sharp folder) inside train/ or test/.
FLAT_LAYOUTS = (("input", "target"), ("blur", "sharp"))


class GoPro(PairedImages):
    """The GoPro dataset (Nah et al. 2017) in its GOPRO_Large layout, ``root/{train,test}/SEQUENCE/{blur, blur_gamma,
    sharp}/*.png``, or a flattened one: ``root/{train,test}/{input,target}/`` (MPRNet, Restormer) or
    ``root/{train,test}/{blur,sharp}/``. Flattened layouts hold one variant only, read as ``variant="blur"``.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        split: "train" or "test".
        variant: "blur" (frames averaged as stored) or "blur_gamma" (averaged in linear light, gamma 2.2; the variant
            of Nah et al.'s paper), GOPRO_Large only.
        crop_size: None for whole 1280x720 images (evaluation), else random crops with flips (training).

    Shape:
        item -> (blurry, sharp), each (3, 720, 1280) (or (3, crop, crop)) float32 in [0, 1].

    Example:
        >>> test = GoPro("datasets/GOPRO_Large", split="test", variant="blur_gamma")  # doctest: +SKIP
        >>> len(test), test[0][0].shape  # doctest: +SKIP
        (1111, torch.Size([3, 720, 1280]))
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        variant: str = "blur",
        crop_size: int | None = None,
        seed: int = 0,
        flips: bool = True,
    ) -> None:
        if variant not in GOPRO_VARIANTS:
            raise GolfdeblurError(f"GoPro variant must be {' or '.join(map(repr, GOPRO_VARIANTS))}, got {variant!r}")
        folder = Path(root) / split
        if not folder.is_dir():
            raise GolfdeblurError(f"{folder}: GoPro split folder not found (expected {root}/train and {root}/test)")
        for blur_name, sharp_name in FLAT_LAYOUTS:
            if (folder / blur_name).is_dir() and (folder / sharp_name).is_dir():
                if variant != "blur":
                    raise GoProVariantError(f"{folder}: flattened GoPro layout has no {variant!r} variant")
                pairs, names = _match_by_name(folder / blur_name, folder / sharp_name)
                break
        else:
            # hidden folders left out: a make-pairs killed part-way leaves its unfinished sequence in one
            sequences = sorted(p for p in folder.iterdir() if (p / "sharp").is_dir() and not p.name.startswith("."))
            if not sequences:
                raise GolfdeblurError(
                    f"{folder}: no GoPro layout found (looked for SEQUENCE/{variant}/ + SEQUENCE/sharp/, input/ + "
                    "target/, blur/ + sharp/)"
                )
            pairs, names = [], []
            for sequence in sequences:
                if not (sequence / variant).is_dir():
                    raise GolfdeblurError(f"{sequence}: no {variant}/ folder beside sharp/")
                seq_pairs, seq_names = _match_by_name(sequence / variant, sequence / "sharp")
                pairs += seq_pairs
                names += [f"{sequence.name}/{name}" for name in seq_names]
        super().__init__(pairs, names, crop_size, seed, flips)
