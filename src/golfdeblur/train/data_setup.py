"""The data a recipe names, set up for the loop: the batch source for training and the held-out validation pairs.

How batches are drawn deterministically from them lives in train/batches.py; what the data sets are, in data/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
from torch.utils.data import Dataset

from golfdeblur.data.kernels import KernelRealism
from golfdeblur.data.packed import load_packed
from golfdeblur.errors import GolfdeblurError
from golfdeblur.train.batches import DeviceBatches, LoaderBatches, MixedPairs, WholePairs
from golfdeblur.train.config import VALIDATION_PAIR_KEYS, Recipe, is_pack
from golfdeblur.train.distributed import ProcessGroup
from golfdeblur.train.run_transcript import say

if TYPE_CHECKING:
    from golfdeblur.data.datasets import PairedFolders, PairedImages


def make_batches(
    recipe: Recipe, group: ProcessGroup, device: torch.device, train_data: Dataset | None, bank_index: int = 0
) -> LoaderBatches | DeviceBatches:
    """The batch source: ``train_data`` or the recipe's data, through a DataLoader or made on the device.
    ``bank_index``: the on-device path's kernel bank (a campaign's chunk number, so each chunk sees new kernels)."""
    data, cfg = recipe.data, recipe.train
    if train_data is None and data.on_device:
        if data.source != "synthetic":
            raise GolfdeblurError("data.on_device works with data.source=synthetic only")
        from golfdeblur.train.batches import images_to_device

        sources = training_sources(recipe)
        pairs = real_pairs(recipe)
        if group.is_main:
            say(f"training data: {describe_training_data(sources, len(pairs), data.pairs_fraction)}")
        return DeviceBatches(
            images_to_device(sharp_images(recipe, sources), device),
            data.crop_size,
            cfg.batch_size,
            cfg.seed,
            group.rank,
            data.kernel_min_size,
            data.kernel_max_size,
            data.kernel_bank_size,
            data.noise_sigma_max,
            data.flips,
            data.linear_light,
            device=device,
            real_pairs=pairs,
            real_fraction=data.pairs_fraction,
            bank_index=bank_index,
            kernel_realism=kernel_realism(recipe),
            grey_fraction=data.grey_fraction,
            clean_fraction=data.clean_fraction,
        )
    dataset = train_data if train_data is not None else make_training_dataset(recipe)
    if train_data is None and group.is_main:
        from golfdeblur.data.datasets import SyntheticBlur

        synthetic = getattr(dataset, "synthetic", dataset)  # MixedPairs holds the synthetic dataset
        real = getattr(dataset, "real", None)
        what = (
            describe_training_data(synthetic.sources, len(real) if real is not None else 0, data.pairs_fraction)
            if isinstance(synthetic, SyntheticBlur)
            else describe_pairs(cast("PairedImages", dataset), recipe)
        )
        say(f"training data: {what}")
    return LoaderBatches(
        dataset, cfg.batch_size, cfg.seed, group.rank, group.world_size, data.workers, data.flips, device
    )


def describe_training_data(sources: list, real_pairs: int = 0, fraction: float = 0.0) -> str:
    """What synthetic training data is made from, for the run's first line: so that a user sees their data.root was
    found, and how much of it.

    Example:
        >>> from golfdeblur.data.sources import DeadLeaves, skimage_images
        >>> describe_training_data([skimage_images(), DeadLeaves(4, 32)], real_pairs=12, fraction=0.25)
        '12 sharp images (8 scikit-image photos, 4 dead-leaves images), blurred on the fly; 12 real pairs at 25 %'
    """
    from golfdeblur.data.sources import DeadLeaves, ImageFolder

    parts = []
    for source in sources:
        if isinstance(source, DeadLeaves):
            parts.append(f"{len(source)} dead-leaves images")
        elif isinstance(source, ImageFolder):
            parts.append(f"{len(source)} from {source.root}")
        elif source.name(0).startswith("skimage/"):
            parts.append(f"{len(source)} scikit-image photos")
        else:
            parts.append(f"{len(source)} from the pack")
    text = f"{sum(len(s) for s in sources)} sharp images ({', '.join(parts)}), blurred on the fly"
    return text + (f"; {real_pairs} real pairs at {fraction * 100:.0f} %" if real_pairs else "")


def _pairs_count(count: int) -> str:
    """``count`` pairs, in words: "1 pair", "2 pairs"."""
    return f"{count} pair{'s' if count != 1 else ''}"


def _smaller_than(sizes: list[tuple[int, int]], crop: int, then: str) -> str:
    """How many (height, width) ``sizes`` have a side under ``crop``, as "; N smaller than CROP px on a side, THEN";
    "" when none has."""
    small = sum(min(size) < crop for size in sizes)
    return f"; {small} smaller than {crop} px on a side, {then}" if small else ""


def describe_pairs(pairs: PairedImages, recipe: Recipe) -> str:
    """What ``data.source`` paired or gopro trains on, for the run's first line: how many pairs, from where (GoPro's
    with ``data.gopro_variant``, the blurry images read), and how many are smaller than the crop on a side
    (``random_crop_flip`` mirror-pads those, which a user should know of). Uses the sizes ``PairedImages`` read
    from the headers (``pairs.sizes``): no file is opened again.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> from golfdeblur.data.datasets import PairedFolders
        >>> from golfdeblur.train.config import load_recipe
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name, size in (("a", (40, 30)), ("b", (16, 20))):  # (width, height)
        ...         for folder in ("blur", "sharp"):
        ...             (Path(tmp) / folder).mkdir(exist_ok=True)
        ...             Image.new("RGB", size).save(Path(tmp) / folder / f"{name}.png")
        ...     recipe = load_recipe("tiny", ["data.source=paired", f"data.blur_dir={tmp}/blur",
        ...                                   f"data.sharp_dir={tmp}/sharp", "data.crop_size=24"])
        ...     text = describe_pairs(PairedFolders(f"{tmp}/blur", f"{tmp}/sharp"), recipe)
        >>> text.replace(tmp, "TMP")
        '2 pairs from TMP/blur and TMP/sharp, random 24 px crops; 1 smaller than 24 px on a side, mirror-padded to it'
    """
    data = recipe.data
    count = len(pairs)
    where = (
        f"from {data.blur_dir} and {data.sharp_dir}"
        if data.source == "paired"
        else f"of GoPro ({data.gopro_variant}) in {data.root}"
    )
    text = f"{_pairs_count(count)} {where}, random {data.crop_size} px crops"
    return text + _smaller_than(pairs.sizes, data.crop_size, "mirror-padded to it")


def kernel_realism(recipe: Recipe) -> KernelRealism:
    """The recipe's traits of recorded shakes for the training kernels (both 0, off, unless the recipe sets them)."""
    return KernelRealism(recipe.data.kernel_optics_sigma_max, recipe.data.kernel_dwell_max)


def training_sources(recipe: Recipe) -> list:
    """The sharp-image sources of synthetic data: the built-in ones, plus data.root (a folder, or a .npz written by
    ``golfdeblur pack-data`` or ``data.packed.save_packed_images``) when given."""
    from golfdeblur.data import sources

    data = recipe.data
    found = list(sources.default_sources(data.dead_leaves_count, data.dead_leaves_size, recipe.train.seed))
    for source in found:
        if isinstance(source, sources.DeadLeaves):
            # Draw them once here: DataLoader workers forked later share this cache instead of each redrawing it
            # (the loader's workers restart every epoch).
            for index in range(len(source)):
                source[index]
    if is_pack(data.root):
        packed = load_packed(data.root, pairs=False).sharp
        if not packed:
            raise GolfdeblurError(f"data.root {data.root}: the pack holds no sharp images")
        found.append(sources.ImageList([image.float() / 255 for _, image in packed], [name for name, _ in packed]))
    elif data.root:
        found.append(sources.ImageFolder(data.root))
    return found


def sharp_images(recipe: Recipe, sources: list | None = None) -> list[torch.Tensor]:
    """Every sharp image of the synthetic sources, (3, H, W) (for the on-device data path): of ``sources`` when the
    caller made them already (``training_sources(recipe)``), else of ``training_sources(recipe)``."""
    found = training_sources(recipe) if sources is None else sources
    return [source[index] for source in found for index in range(len(source))]


def real_pairs(recipe: Recipe) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The real (blurry, sharp) pairs to mix into synthetic data, as uint8 (3, H, W) tensors (on-device path)."""
    data = recipe.data
    if data.pairs_fraction <= 0:
        return []
    if not (data.pairs_blur_dir and data.pairs_sharp_dir):
        return packed_pairs(recipe)
    from golfdeblur.data.datasets import PairedFolders

    pairs = PairedFolders(data.pairs_blur_dir, data.pairs_sharp_dir)
    uint8_pairs = [tuple((image * 255).round().to(torch.uint8) for image in pairs[i][:2]) for i in range(len(pairs))]
    return cast("list[tuple[torch.Tensor, torch.Tensor]]", uint8_pairs)  # (blurry, sharp) each


def packed_pairs(recipe: Recipe) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The real pairs inside the pack data.root (when data.pairs_fraction > 0 and no pairs folders are named)."""
    # recipe_from_dict refuses data.pairs_fraction > 0 without pairs folders unless data.root is a pack.
    pairs = load_packed(cast(str, recipe.data.root), sharp=False).pairs
    if not pairs:
        raise GolfdeblurError(f"data.pairs_fraction > 0 but the pack {recipe.data.root} holds no real pairs")
    return [(blurry, sharp) for _, blurry, sharp in pairs]


def make_training_dataset(recipe: Recipe) -> Dataset:
    """The recipe's training pairs as a Dataset of (blurry, sharp) crops."""
    from golfdeblur.data import datasets

    data = recipe.data
    if data.source == "synthetic":
        synthetic = datasets.SyntheticBlur(
            training_sources(recipe),
            crop_size=data.crop_size,
            length=data.epoch_length,
            seed=recipe.train.seed,
            kernel_min_size=data.kernel_min_size,
            kernel_max_size=data.kernel_max_size,
            noise_sigma_max=data.noise_sigma_max,
            linear_light=data.linear_light,
            flips=data.flips,
            kernel_realism=kernel_realism(recipe),
            grey_fraction=data.grey_fraction,
            clean_fraction=data.clean_fraction,
        )
        if data.pairs_fraction <= 0:
            return synthetic
        # Whole pairs: MixedPairs cuts each item's own crop (a dataset that crops item j by (seed, epoch, j) would
        # give every draw of pair j in an epoch the same crop).
        real: Dataset
        if data.pairs_blur_dir and data.pairs_sharp_dir:
            real = datasets.PairedFolders(data.pairs_blur_dir, data.pairs_sharp_dir, None, recipe.train.seed)
        else:
            real = WholePairs(packed_pairs(recipe))
        return MixedPairs(
            synthetic, real, data.pairs_fraction, recipe.train.seed, crop_size=data.crop_size, flips=data.flips
        )
    if data.source == "gopro":
        if not data.root:
            raise GolfdeblurError("data.source=gopro needs data.root (the GoPro folder with train/ and test/)")
        try:
            return datasets.GoPro(
                data.root,
                "train",
                variant=data.gopro_variant,
                crop_size=data.crop_size,
                seed=recipe.train.seed,
                flips=data.flips,
            )
        except datasets.GoProVariantError as exc:  # a flattened layout: its one variant is read as blur
            raise GolfdeblurError(f"recipe key data.gopro_variant: {exc}; pass --set data.gopro_variant=blur") from exc
    if not (data.blur_dir and data.sharp_dir):  # a recipe may leave them to the command line
        missing = [f"--set data.{key}=DIR" for key in ("blur_dir", "sharp_dir") if not getattr(data, key)]
        raise GolfdeblurError(
            "data.source=paired needs data.blur_dir and data.sharp_dir (blurry images and their sharp partners, "
            f"matched by file name): pass {' '.join(missing)}"
        )
    return datasets.PairedFolders(data.blur_dir, data.sharp_dir, data.crop_size, recipe.train.seed, data.flips)


@dataclass(frozen=True)
class ValidationPairs:
    """The pairs rank 0 validates on, and which set they are.

    Attributes:
        items: (blurry (3, H, W), sharp (3, H, W), name) triples, float32 in [0, 1].
        where: what they are, for notes: e.g. "2 images from ../shared/data/eval", "2 dead-leaves stand-in images",
            "2 pairs from held/blur and held/sharp".
        seed: ``data.validation_seed``; crop: ``data.validation_crop`` (0: whole images).
        digest: for held-out pairs (``data.validation_blur_dir``), the sha256 of the pixels validated on (the crops):
            their file names alone (``001.png``) do not tell one set from another. None for the fixed set, which
            (seed, names) determine.
    """

    items: list
    where: str
    seed: int = 0
    crop: int = 0
    digest: str | None = None

    def record(self) -> dict:
        """What a checkpoint keeps of the set: its images' names, seed and crop, the digest of held-out pairs, and
        ``where`` (for notes)."""
        names = [item[2] for item in self.items]
        record = {"where": self.where, "names": names, "seed": self.seed, "crop": self.crop}
        return record if self.digest is None else {**record, "digest": self.digest}

    def same_set(self, record: dict) -> bool:
        """Whether a checkpoint's ``record`` names this set: the same images, seed and crop (and pixels, for held-out
        pairs). Where the data folder lies does not count: the same images moved to another folder or machine are
        the same set."""
        mine = self.record()
        return all(record.get(key) == mine.get(key) for key in ("names", "seed", "crop", "digest"))


def training_folders(recipe: Recipe) -> list[tuple[str, Path]]:
    """(how a message names it, folder) for every folder the recipe's training data are read from: the pairs of
    ``data.source=paired``, GoPro's train split, the sharp photos of ``data.root`` and the real pairs mixed into
    synthetic data."""
    data = recipe.data
    if data.source == "paired":
        named = [("data.blur_dir", data.blur_dir), ("data.sharp_dir", data.sharp_dir)]
    elif data.source == "gopro":
        named = [("the train split of data.root", str(Path(data.root) / "train") if data.root else None)]
    else:
        named = [("data.root", None if is_pack(data.root) else data.root)]
        named += [("data.pairs_blur_dir", data.pairs_blur_dir), ("data.pairs_sharp_dir", data.pairs_sharp_dir)]
    return [(key, Path(folder)) for key, folder in named if folder]


def held_out_pairs(recipe: Recipe) -> PairedFolders | None:
    """The recipe's held-out validation pairs (``data.validation_blur_dir`` against ``data.validation_sharp_dir``,
    whole images, matched by file name as ``PairedFolders`` matches training pairs), or None when it names none.

    Refused (GolfdeblurError, one line naming the key): a folder that is, lies inside or holds a training folder
    (``training_folders``; real paths compared, links followed), since validating on training data scores nothing
    held out; a missing folder, a folder of no images, an image without its partner, a pair of two sizes; and among
    the pairs validated on (the first ``data.validation_images``, by name), one smaller than SSIM's window, which
    validation scores. Reads the files' headers, not their pixels.
    """
    from golfdeblur.data.datasets import PairedFolders
    from golfdeblur.evaluate import SSIM_MIN_SIDE
    from golfdeblur.output_guard import real_path

    data = recipe.data
    if not (data.validation_blur_dir and data.validation_sharp_dir):
        return None
    for key in VALIDATION_PAIR_KEYS:
        given = getattr(data, key)
        held_out = real_path(Path(given))
        for named, folder in training_folders(recipe):
            trained = real_path(folder)
            if held_out == trained or trained in held_out.parents or held_out in trained.parents:
                relation = "is" if held_out == trained else "lies inside" if trained in held_out.parents else "holds"
                raise GolfdeblurError(
                    f"recipe key data.{key}: {given} {relation} {named} ({folder}), which the run trains on; validate "
                    "on pairs kept out of the training data"
                )
    try:
        pairs = PairedFolders(data.validation_blur_dir, data.validation_sharp_dir)
    except GolfdeblurError as exc:
        raise GolfdeblurError(f"recipe keys data.validation_blur_dir and data.validation_sharp_dir: {exc}") from exc
    scored = slice(data.validation_images or None)
    for (blurry, _sharp), (height, width) in zip(pairs.pairs[scored], pairs.sizes[scored], strict=True):
        if min(height, width) < SSIM_MIN_SIDE:
            raise GolfdeblurError(
                f"recipe key data.validation_blur_dir: {blurry}: {width}x{height} pixels, smaller than SSIM's "
                f"{SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} window (validation scores SSIM); leave the pair out"
            )
    return pairs


def describe_validation_pairs(pairs: PairedFolders, recipe: Recipe) -> str:
    """What validation on held-out pairs scores, for the run's first lines: how many pairs, from where, which crop,
    and how many are smaller than the crop on a side (scored whole on that side: a centre crop does not pad).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> from golfdeblur.data.datasets import PairedFolders
        >>> from golfdeblur.train.config import load_recipe
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name, size in (("a", (40, 36)), ("b", (16, 20)), ("c", (12, 12))):  # (width, height)
        ...         for folder in ("blur", "sharp"):
        ...             (Path(tmp) / folder).mkdir(exist_ok=True)
        ...             Image.new("RGB", size).save(Path(tmp) / folder / f"{name}.png")
        ...     recipe = load_recipe("tiny", [f"data.validation_blur_dir={tmp}/blur",
        ...                                   f"data.validation_sharp_dir={tmp}/sharp", "data.validation_images=2"])
        ...     text = describe_validation_pairs(PairedFolders(f"{tmp}/blur", f"{tmp}/sharp"), recipe)
        >>> text.replace(tmp, "TMP")
        '2 pairs from TMP/blur and TMP/sharp, central 32 px crops; 1 smaller than 32 px on a side, scored whole there'
    """
    data = recipe.data
    count = min(len(pairs), data.validation_images) if data.validation_images > 0 else len(pairs)
    text = f"{_pairs_count(count)} from {data.validation_blur_dir} and {data.validation_sharp_dir}"
    if not data.validation_crop:
        return f"{text}, whole images"
    text += f", central {data.validation_crop} px crops"
    return text + _smaller_than(pairs.sizes[:count], data.validation_crop, "scored whole there")


def pixels_digest(items: list) -> str:
    """sha256 of the (blurry, sharp, name) ``items``' pixels (float32 bytes) and shapes, in order."""
    digest = hashlib.sha256()
    for blurry, sharp, _name in items:
        for image in (blurry, sharp):
            digest.update(str(tuple(image.shape)).encode())
            digest.update(image.contiguous().numpy().tobytes())
    return digest.hexdigest()


def make_validation_data(recipe: Recipe, validation_data: Dataset | None) -> ValidationPairs:
    """The held-out validation pairs (never a test set), possibly limited in number and centre-cropped: those given,
    else the recipe's held-out pairs (``held_out_pairs``; the run's first lines name them), else the project's
    fixed set."""
    from golfdeblur.data.degrade import centre_crop

    where = "pairs given to train()"
    held_out = held_out_pairs(recipe) if validation_data is None else None
    if held_out is not None:
        say(f"validation: {describe_validation_pairs(held_out, recipe)}")
        where = f"pairs from {recipe.data.validation_blur_dir} and {recipe.data.validation_sharp_dir}"
        validation_data = held_out
    if validation_data is None:
        from golfdeblur.data.validation import validation_set

        # The project's fixed set (its own kernel and noise settings, whatever the recipe trains on), so that
        # validation numbers compare across recipes.
        crop = recipe.data.validation_crop or None
        data = validation_set(root=recipe.data.validation_root, seed=recipe.data.validation_seed, crop_size=crop)
        # without data.validation_root the data folder is found from the current folder (data.sources): say which
        first_path = data.images[0][1]  # DATA/eval/cbsd68/NAME.png, or None for the dead-leaves stand-in
        where = "dead-leaves stand-in images" if first_path is None else f"images from {first_path.parent.parent}"
        validation_data = data
    count = len(cast(Sized, validation_data))
    if recipe.data.validation_images > 0:
        count = min(count, recipe.data.validation_images)
    items = []
    for index in range(count):
        item = validation_data[index]
        name = held_out.name(index) if held_out is not None else str(item[-1])
        blurry, sharp = item[0], item[1]
        if recipe.data.validation_crop > 0:
            blurry, sharp = (
                centre_crop(blurry, recipe.data.validation_crop),
                centre_crop(sharp, recipe.data.validation_crop),
            )
            # a view of a whole photograph would keep all of it in memory for the whole run
            blurry, sharp = blurry.clone(), sharp.clone()
        items.append((blurry, sharp, name))
    digest = pixels_digest(items) if held_out is not None else None
    return ValidationPairs(items, f"{count} {where}", recipe.data.validation_seed, recipe.data.validation_crop, digest)
