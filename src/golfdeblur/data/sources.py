"""Sharp-image sources: folders of image files, the natural images bundled with scikit-image, dead-leaves images.

A source is a sequence of sharp images: ``len(source)``, ``source[i]`` -> (3, H, W) float32 RGB in [0, 1] and
``source.name(i)`` -> a short name for messages and pictures. ``default_sources()`` (scikit-image's bundled colour
photographs plus procedural dead leaves) needs no download and no dataset: it is what ``golfdeblur train`` uses when it
is given no data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from golfdeblur.checkout import source_checkout
from golfdeblur.data.image_formats import IMAGE_SUFFIXES, is_image_name
from golfdeblur.data.image_header import header_size
from golfdeblur.data.imageio import read_image
from golfdeblur.data.kernels import numpy_rng, seeded_generator
from golfdeblur.errors import GolfdeblurError, os_reason
from golfdeblur.user_path import user_path

#: scikit-image's bundled colour photographs (shipped inside its wheel, no download). Greyscale ones are optional.
SKIMAGE_COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "immunohistochemistry", "hubble_deep_field",
                  "retina")  # fmt: skip
SKIMAGE_GREY = ("camera", "coins", "moon", "gravel", "brick", "grass", "cell")


class ImageSource(Protocol):
    """What the datasets need from a source of sharp images."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> torch.Tensor: ...

    def name(self, index: int) -> str: ...


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) array (uint8, uint16 or float in [0, 1]) -> (3, H, W) float32 tensor in [0, 1]."""
    array = np.asarray(rgb)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1).contiguous()


def list_images(root: str | Path, on_error: Callable[[OSError], None] | None = None) -> list[Path]:
    """Image files (any suffix of ``image_formats.IMAGE_SUFFIXES``, case-insensitive) under ``root``, recursively,
    sorted by path. Hidden files and folders (names starting with ".") are skipped. Links to folders are followed,
    each folder is walked once: a link back to a folder already walked (a loop) or a second link to the same folder
    adds nothing.

    A folder that cannot be read (``root`` or one below it) is a ``GolfdeblurError`` naming it, unless ``on_error``
    is given: it is then called with the ``OSError`` (whose ``filename`` is the folder) and the walk goes on, so that
    a caller can report the folder and use the rest. Never skipped silently: a partial list would pass for a whole one.
    """
    root = Path(root)

    def unreadable(exc: OSError) -> None:
        if on_error is not None:
            return on_error(exc)
        raise GolfdeblurError(f"{exc.filename or root}: cannot read this folder ({os_reason(exc)})") from exc

    try:
        if not root.is_dir():
            reason = "is a file, not an image folder" if root.exists() else "image folder not found"
            raise GolfdeblurError(f"{root}: {reason}")
    except OSError as exc:  # e.g. a parent folder that may not be searched
        raise GolfdeblurError(f"{root}: cannot read this folder ({os_reason(exc)})") from exc
    found = []
    walked: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, onerror=unreadable, followlinks=True):
        try:
            identity = os.stat(folder)
        except OSError as exc:  # removed or made unreadable while the walk ran
            exc.filename = exc.filename or folder
            unreadable(exc)
            subfolders[:] = []
            continue
        if (identity.st_dev, identity.st_ino) in walked:
            subfolders[:] = []
            continue
        walked.add((identity.st_dev, identity.st_ino))
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(folder) / f for f in files if is_image_name(f)]
    return sorted(found)


class ImageFolder:
    """Every image file under ``root`` (recursive; PNG, JPEG, TIFF, WebP, BMP, AVIF, HEIC; 8 or 16 bit; greyscale
    becomes 3 equal channels).

    Each file's header is read when the folder is opened, so an empty folder or a file that is not a readable image (an
    AVIF or HEIC whose codec is not installed: the error names it) is a clear error now rather than in the middle of
    an epoch. ``sizes[i]`` is the (height, width) from the header.

    Shape:
        ``folder[i]`` -> (3, H, W) float32 in [0, 1].

    Example:
        >>> folder = ImageFolder("../shared/data/sharp/bsds500")  # doctest: +SKIP
        >>> len(folder), folder[0].shape  # doctest: +SKIP
        (400, torch.Size([3, 321, 481]))
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.paths = list_images(self.root)
        if not self.paths:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise GolfdeblurError(f"{self.root}: no images found (looked recursively for {suffixes})")
        self.sizes = [header_size(path) for path in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(read_image(self.paths[index]).rgb)

    def name(self, index: int) -> str:
        return self.paths[index].relative_to(self.root).as_posix()


class ImageList:
    """Images held in memory (e.g. scikit-image's), each (3, H, W) float32 in [0, 1], with names.

    Example:
        >>> images = ImageList([torch.zeros(3, 4, 5), torch.ones(3, 6, 6)], ["black", "white"])
        >>> len(images), images.sizes, images.name(1), images[1].shape
        (2, [(4, 5), (6, 6)], 'white', torch.Size([3, 6, 6]))
    """

    def __init__(self, images: Sequence[torch.Tensor], names: Sequence[str]) -> None:
        if len(images) != len(names):
            raise GolfdeblurError(f"{len(images)} images but {len(names)} names")
        if not images:
            raise GolfdeblurError("an image list needs at least one image")
        self.images, self.names = list(images), list(names)
        self.sizes = [tuple(image.shape[-2:]) for image in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]

    def name(self, index: int) -> str:
        return self.names[index]


def _skimage_array(name: str) -> np.ndarray:
    import skimage.data

    array = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array[..., :3]


@lru_cache(maxsize=2)
def skimage_images(include_grey: bool = False) -> ImageList:
    """The natural photographs bundled inside scikit-image's wheel (read from its package folder; no download).

    Colour: astronaut, chelsea, coffee, rocket, motorcycle (the left image of ``stereo_motorcycle``),
    immunohistochemistry, hubble_deep_field, retina (8 images, 300 to 1411 px). With ``include_grey``, also camera,
    coins, moon, gravel, brick, grass and cell as 3 equal channels. Cached per process.

    Shape:
        each image (3, H, W) float32 in [0, 1].

    Example:
        >>> images = skimage_images()
        >>> len(images), images.name(0), tuple(images[0].shape)
        (8, 'skimage/astronaut', (3, 512, 512))
    """
    names = SKIMAGE_COLOUR + (SKIMAGE_GREY if include_grey else ())
    return ImageList([to_tensor(_skimage_array(name)) for name in names], [f"skimage/{name}" for name in names])


@lru_cache(maxsize=1)
def natural_palette() -> np.ndarray:
    """(4096, 3) float32 RGB colours drawn (with a fixed seed) from the pixels of scikit-image's colour photographs:
    the colour distribution of the dead leaves."""
    rng = np.random.default_rng(20190416)
    pixels = [_skimage_array(name).reshape(-1, 3) for name in SKIMAGE_COLOUR]
    return np.concatenate([p[rng.integers(0, len(p), 512)] for p in pixels]).astype(np.float32) / 255


def dead_leaves(
    size: int | tuple[int, int],
    generator: torch.Generator,
    *,
    alpha: float = 3.0,
    r_min: float = 1.0,
    r_max: float | None = None,
    shading: float = 0.15,
) -> torch.Tensor:
    """A dead-leaves image: opaque disks with power-law radii (density r^-alpha on [r_min, r_max]) falling on each other
    until the image is covered. Colours are drawn from natural photographs (``natural_palette``); each disk gets a
    gentle linear shading (up to ``shading`` across its radius) so that leaves are not perfectly flat.

    Such images share the scale invariance and sharp occluding edges of natural images and are a published route to
    training restoration networks without photographs (Achddou, Gousseau, Ladjal 2021; Baradad et al. 2021).
    Disks are drawn front to back with anti-aliased edges (the "over" operator), which stops as soon as every pixel is
    covered.

    Args:
        size: side length, or (height, width), in pixels.
        generator: CPU ``torch.Generator``; the same state gives the same image.
        r_max: largest radius; default half the image's longer side.

    Shape:
        -> (3, H, W) float32 in [0, 1].

    Example:
        >>> dead_leaves(64, torch.Generator().manual_seed(0)).shape
        torch.Size([3, 64, 64])
    """
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise GolfdeblurError(f"dead leaves size must be positive, got {size}")
    r_max = max(max(height, width) / 2, r_min) if r_max is None else float(r_max)
    if not 0 < r_min <= r_max or alpha <= 1:
        raise GolfdeblurError(f"dead leaves need 0 < r_min <= r_max and alpha > 1, got {r_min}, {r_max}, {alpha}")
    rng = numpy_rng(generator)
    palette = natural_palette()
    image = np.zeros((height, width, 3))
    transmittance = np.ones((height, width))  # light still reaching each pixel from below the disks drawn so far
    a, b = r_min ** (1 - alpha), r_max ** (1 - alpha)
    remaining = height * width
    while remaining:
        # Centres are uniform until 99.5 % of the image is covered; then they are drawn among the uncovered pixels so
        # that the last holes close in a few hundred disks instead of tens of thousands (a change to 0.5 % of pixels).
        batch = 1024
        if remaining > 0.005 * height * width:
            centres = rng.random((batch, 2)) * [height, width]
        else:
            holes = np.argwhere(transmittance > 0)
            centres = holes[rng.integers(0, len(holes), batch)] + rng.random((batch, 2))
        radii = (a - rng.random(batch) * (a - b)) ** (1 / (1 - alpha))  # inverse CDF of the truncated power law
        colours = palette[rng.integers(0, len(palette), batch)]
        slopes = (rng.random((batch, 2)) * 2 - 1) * shading
        remaining -= _draw_disks_in_order(image, transmittance, centres, radii, colours, slopes)
    return torch.from_numpy(np.clip(image, 0, 1).astype(np.float32)).permute(2, 0, 1).contiguous()


def _draw_disks_in_order(
    image: np.ndarray,
    transmittance: np.ndarray,
    centres: np.ndarray,
    radii: np.ndarray,
    colours: np.ndarray,
    slopes: np.ndarray,
) -> int:
    """Draw disks front to back (in the given order, each under the ones before) into ``image`` (H, W, 3), dimming
    ``transmittance`` (H, W); returns how many pixels became covered.

    Disks whose boxes do not overlap commute, so only overlapping disks must keep their order: each disk gets a
    layer one above the highest layer among the earlier disks its box overlaps, and the disks of one layer (pairwise
    disjoint) are drawn together as one vectorised step, layer after layer. Every pixel still goes through the same
    float64 operations in the same order as drawing the disks one at a time, so the image is the same to the bit.
    Disks over already covered pixels change nothing and are dropped first.
    """
    height, width = transmittance.shape
    boxes = _disk_boxes(centres, radii, height, width)
    # Coverage only grows: a box with no open pixel now has none later either (one summed-area table finds them).
    open_count = _summed_area(transmittance > 0)
    y0, y1, x0, x1 = boxes.T
    may_show = np.flatnonzero(open_count[y1, x1] - open_count[y0, x1] - open_count[y1, x0] + open_count[y0, x0] > 0)
    top_layer = np.zeros((height, width), dtype=np.int64)  # the highest layer drawn over each pixel so far
    layers = np.empty(len(may_show), dtype=np.int64)
    for position, index in enumerate(may_show.tolist()):
        top, bottom, left, right = boxes[index].tolist()
        area = top_layer[top:bottom, left:right]
        layers[position] = layer = area.max() + 1
        area[...] = layer
    closed = 0
    for layer in range(1, int(layers.max(initial=0)) + 1):
        group = may_show[layers == layer]
        closed += _draw_disjoint_disks(image, transmittance, boxes, centres, radii, colours, slopes, group)
    return closed


def _draw_disjoint_disks(
    image: np.ndarray,
    transmittance: np.ndarray,
    boxes: np.ndarray,
    centres: np.ndarray,
    radii: np.ndarray,
    colours: np.ndarray,
    slopes: np.ndarray,
    group: np.ndarray,
) -> int:
    """Draw the disks ``group`` (indices; their boxes are pairwise disjoint) at once; returns the pixels closed.

    Per pixel: coverage = clip(r + 0.5 - |p - c|, 0, 1) (anti-aliased edge), colour shaded linearly across the disk,
    image += T * coverage * colour, T *= 1 - coverage, and T < 1e-3 rounds to 0 so that the drawing ends.
    """
    heights = boxes[group, 1] - boxes[group, 0]
    widths = boxes[group, 3] - boxes[group, 2]
    sizes = heights * widths
    disk = np.repeat(group, sizes)  # the disk of each pixel of the group's boxes
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    row, col = np.divmod(within, np.repeat(widths, sizes))
    pixel = (boxes[disk, 0] + row) * transmittance.shape[1] + boxes[disk, 2] + col  # flat index (boxes are disjoint)
    flat_t, flat_image = transmittance.reshape(-1), image.reshape(-1, 3)  # views
    t = flat_t[pixel]
    # Covered pixels (T = 0) would only add 0 and keep T = 0: leave them out (most of a box, late in the drawing).
    open_pixels = np.flatnonzero(t)
    disk, row, col, pixel, t = disk[open_pixels], row[open_pixels], col[open_pixels], pixel[open_pixels], t[open_pixels]
    # Offsets from the centre exactly as np.arange(top + 0.5 - cy, bottom - cy) makes them (start + i * delta).
    ys = _arange_values(boxes[disk, 0] + 0.5 - centres[disk, 0], row)
    xs = _arange_values(boxes[disk, 2] + 0.5 - centres[disk, 1], col)
    r = radii[disk]
    coverage = np.clip(r + 0.5 - np.hypot(ys, xs), 0.0, 1.0)
    shade = 1 + (slopes[disk, 0] * ys + slopes[disk, 1] * xs) / r
    flat_image[pixel] += (t * coverage)[:, None] * np.clip(colours[disk] * shade[:, None], 0.0, 1.0)
    t *= 1 - coverage
    t[t < 1e-3] = 0.0  # the last 0.1 % of light is dropped so that the drawing ends
    flat_t[pixel] = t
    return len(t) - int(np.count_nonzero(t))


def _arange_values(start: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Element ``index`` of ``np.arange(start, ...)`` (step 1), bit for bit: NumPy writes start, start + 1, then
    start + i * ((start + 1) - start)."""
    second = start + 1.0
    return np.where(index == 0, start, np.where(index == 1, second, start + index * (second - start)))


def _disk_boxes(centres: np.ndarray, radii: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 4) int64 pixel boxes [y0, y1) x [x0, x1) holding disks of the given (N, 2) centres and (N,) radii, clipped
    to the image (as ``int(c - r)``, truncated towards zero, and ``int(c + r) + 1``)."""
    low = np.maximum((centres - radii[:, None]).astype(np.int64), 0)
    high = np.minimum((centres + radii[:, None]).astype(np.int64) + 1, [height, width])
    return np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], axis=1)


def _summed_area(mask: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1) integer summed-area table of a (H, W) mask: entry [y, x] counts the true pixels above-left."""
    dtype = np.int32 if mask.size < 2**31 else np.int64  # int32 halves the memory traffic of a hot step
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=dtype)
    np.cumsum(np.cumsum(mask, axis=0, dtype=dtype), axis=1, out=table[1:, 1:])
    return table


class DeadLeaves:
    """``count`` dead-leaves images of ``size`` px, image i made from (seed, i): the same seed gives the same images.
    An image is generated the first time it is asked for (0.2 to 0.8 s, mean about 0.35 s, at 384 px on one CPU core)
    and kept as 8-bit (``count * 3 * size**2`` bytes at most, per process: each DataLoader worker keeps its own).

    Shape:
        ``leaves[i]`` -> (3, size, size) float32 in [0, 1].

    Example:
        >>> leaves = DeadLeaves(count=4, size=32, seed=0)
        >>> len(leaves), leaves.name(2), leaves[0].shape, leaves[0].dtype
        (4, 'dead_leaves/0-00002', torch.Size([3, 32, 32]), torch.float32)
        >>> torch.equal(leaves[0], DeadLeaves(count=4, size=32, seed=0)[0])  # the same seed gives the same images
        True
    """

    def __init__(self, count: int = 128, size: int = 384, seed: int = 0) -> None:
        if count < 1 or size < 1:
            raise GolfdeblurError(f"dead leaves need a positive count and size, got {count} and {size}")
        self.count, self.size, self.seed = count, size, seed
        self.sizes = [(size, size)] * count
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if index not in self._cache:
            image = dead_leaves(self.size, seeded_generator("dead-leaves", self.seed, index))
            self._cache[index] = (image * 255).round().to(torch.uint8)  # 8 bits, as a photograph; 4x less memory
        return self._cache[index].float() / 255

    def name(self, index: int) -> str:
        return f"dead_leaves/{self.seed}-{index:05d}"


def default_sources(dead_leaves_count: int = 128, dead_leaves_size: int = 384, seed: int = 0) -> list[ImageSource]:
    """The embedded training data: scikit-image's 8 bundled colour photographs and ``dead_leaves_count`` dead-leaves
    images. ``SyntheticBlur`` draws images uniformly over all of them, so by default dead leaves make up most samples;
    give the photographs more weight with ``SyntheticBlur(..., source_weights=...)``.

    Example:
        >>> sources = default_sources(dead_leaves_count=2, dead_leaves_size=32)  # dead leaves are made when read
        >>> [len(source) for source in sources], sources[0].name(0), sources[1].name(1)
        ([8, 2], 'skimage/astronaut', 'dead_leaves/0-00001')
    """
    return [skimage_images(), DeadLeaves(dead_leaves_count, dead_leaves_size, seed)]


def default_data_root() -> Path | None:
    """The project's data folder if there is one: $GOLFDEBLUR_DATA, else ../shared/data from the working directory,
    else ../shared/data beside the repository holding this package (when it runs from a source checkout: an installed
    package has none). None when none exists. A $GOLFDEBLUR_DATA that is set but names no folder is a
    GolfdeblurError: a mistyped path must not turn into numbers on the dead-leaves stand-in.

    Example:
        >>> import tempfile
        >>> from unittest import mock
        >>> with tempfile.TemporaryDirectory() as data, mock.patch.dict(os.environ, GOLFDEBLUR_DATA=data):
        ...     default_data_root() == Path(data)
        True
    """
    env = os.environ.get("GOLFDEBLUR_DATA")
    if env:
        if not user_path(env).is_dir():
            raise GolfdeblurError(f"GOLFDEBLUR_DATA={env}: no such folder (unset it, or name the data folder)")
        return user_path(env)
    beside_working_folder = Path.cwd().parent / "shared" / "data"
    if beside_working_folder.is_dir():
        return beside_working_folder
    checkout = source_checkout()  # none for an installed package: nothing beside site-packages is the data
    beside_checkout = checkout.parent / "shared" / "data" if checkout is not None else None
    return beside_checkout if beside_checkout is not None and beside_checkout.is_dir() else None
