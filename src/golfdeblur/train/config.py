"""Training recipes: frozen dataclasses loaded from YAML (unknown keys are an error), overridable with ``a.b=value``.

A recipe has five sections: ``model`` (architecture), ``data`` (where training pairs come from), ``loss``, ``optim``
(Adam and the learning-rate schedule) and ``train`` (steps, batch, precision, logging, checkpoints). The resolved recipe
is saved as YAML in every run folder and as JSON inside every checkpoint.

Example:
    >>> recipe = load_recipe("tiny", overrides=["optim.lr=2e-3"])
    >>> recipe.optim.lr
    0.002
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import math
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from golfdeblur.data.gopro_variants import GOPRO_VARIANTS
from golfdeblur.deblur_defaults import MAX_ITERATIONS, VALIDATION_SEED
from golfdeblur.errors import LONE_SURROGATES, GolfdeblurError, not_a_regular_file, os_reason
from golfdeblur.train.launch_env import first_process_by_environment
from golfdeblur.user_path import user_path

# The recipes ship inside the package (configs/ at the repository root links here), so names work from a wheel too.
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


class RecipeError(GolfdeblurError):
    """A recipe file or override that cannot be used: unknown key, wrong type, unreadable file. One-line message."""


@dataclass(frozen=True)
class ModelSection:
    """Architecture: G = ResidualCNN(g_width), D = ResidualCNN(d_width); ``iterations`` is T at test time."""

    g_width: int = 32
    d_width: int = 16
    iterations: int = 3
    zero_init_last: bool = True  # untrained networks are the identity (our deviation: the paper gives no init)
    relu_before_add: bool = False  # BasicBlock's last ReLU before the shortcut's addition (paper.yaml, the text)


@dataclass(frozen=True)
class DataSection:
    """Where training pairs (blurry, sharp) come from.

    ``source``: ``synthetic`` (sharp images blurred on the fly: scikit-image's bundled photos and dead leaves, plus
    the folder ``root`` when given), ``gopro`` (the GoPro dataset at ``root``; ``gopro_variant`` picks its blurry
    images, ``blur`` or ``blur_gamma``), ``paired`` (folders ``blur_dir`` and ``sharp_dir``, matched by file name:
    docs/TRAINING.md, "Training on your own pairs"). ``on_device`` switches synthetic data to the GPU path: sharp
    images held on the device, crops and FFT blur made there (see train/batches.py). A setting the source does not
    read (``SOURCE_KEYS``) is an error, except one the recipe file gave for its own source when ``--set
    data.source=...`` switches it: that one keeps its default, with a note.
    Validation, whatever the source, is on the project's fixed synthetic set (``validation_root``, ``validation_seed``)
    or, with ``validation_blur_dir`` and ``validation_sharp_dir``, on held-out pairs; ``validation_images`` and
    ``validation_crop`` limit either.
    """

    source: str = "synthetic"
    root: str | None = None
    blur_dir: str | None = None
    sharp_dir: str | None = None
    # gopro: GOPRO_Large's blurry folder trained on: blur (frames averaged as stored, the standard benchmark's) or
    # blur_gamma (averaged in linear light, Nah et al.'s protocol; GOPRO_Large layout only). "blur" keeps the runs
    # made before the key existed, which read blur/.
    gopro_variant: str = "blur"
    crop_size: int = 256
    dead_leaves_count: int = 128  # synthetic: dead-leaves images added to scikit-image's bundled photos
    dead_leaves_size: int = 384
    epoch_length: int = 4000  # synthetic pairs per epoch (an epoch is one pass of the sampler)
    kernel_min_size: int = 7
    kernel_max_size: int = 31
    # Traits of recorded shakes (data.kernels.KernelRealism; 0 = off, the kernels of earlier recipes): the optics'
    # Gaussian point spread, sigma up to this many px, on every kernel; and a resting hand, up to this fraction of
    # a camera shake's exposure.
    kernel_optics_sigma_max: float = 0.0
    kernel_dwell_max: float = 0.0
    noise_sigma_max: float = 0.02
    # Shares of synthetic samples made grey (channel mean, before the blur) and left without noise (0 = off).
    grey_fraction: float = 0.0
    clean_fraction: float = 0.0
    linear_light: bool = False  # blur in linear light (x ** 2.2), as light adds up on a sensor
    flips: bool = True  # random horizontal and vertical flips (the paper's augmentation)
    workers: int = 0  # DataLoader worker processes
    pairs_blur_dir: str | None = None  # real pairs mixed into synthetic data (e.g. GoPro-protocol pairs) ...
    pairs_sharp_dir: str | None = None  # ... matched by file name, as golfdeblur.data.datasets.PairedFolders
    pairs_fraction: float = 0.0  # probability that a training sample is a crop of a real pair
    on_device: bool = False
    kernel_bank_size: int = 2048  # on-device path: kernels drawn once, reused with the 8 flips/rotations
    validation_root: str | None = None  # data folder with eval/cbsd68, eval/kodak24; None = the project's default
    # Held-out (blurry, sharp) pairs to validate on instead of that fixed set (both or neither), matched by file name
    # as data.blur_dir and data.sharp_dir are; outside every training folder (train.data_setup.held_out_pairs).
    validation_blur_dir: str | None = None
    validation_sharp_dir: str | None = None
    validation_images: int = 0  # 0 = all images of the validation set
    validation_crop: int = 0  # 0 = whole images; else a centred crop of this size (faster validation)
    validation_seed: int = VALIDATION_SEED


@dataclass(frozen=True)
class LossSection:
    """L = mse_weight * MSE + frequency_weight * L1(FFT) + perceptual_weight * MSE(VGG-11-BN pool5 features).

    The paper's loss is MSE + lambda * perceptual. ``vgg_weights`` names torchvision's ``vgg11_bn-*.pth``; None
    searches the torch hub cache. A recipe with ``perceptual_weight > 0`` and no weights found stops with an error, and
    so does one naming ``vgg_weights`` with ``perceptual_weight`` 0. ``name`` is the recipe's own label: model cards
    name the terms the weights trained with (``losses.loss_label``).
    """

    name: str = "mse+fft-l1"
    mse_weight: float = 1.0
    frequency_weight: float = 0.0
    perceptual_weight: float = 0.0
    vgg_weights: str | None = None


@dataclass(frozen=True)
class OptimSection:
    """Adam and an exponential learning-rate decay from ``lr`` to ``lr_end`` over the stage's steps."""

    lr: float = 1.0e-4
    lr_end: float = 1.0e-6
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear warm-up (useful when an optimiser restarts from --init-from weights)
    grad_clip: float = 0.0  # max global gradient norm; 0 = off
    ema_decay: float = 0.0  # exponential moving average of the weights; 0 = off


@dataclass(frozen=True)
class TrainSection:
    """Steps, batch, numerics, logging and checkpoints. ``batch_size`` is per process (see docs/TRAINING.md)."""

    seed: int = 0
    batch_size: int = 4
    g_steps: int = 100000
    d_steps: int = 100000
    # With --init-from weights that carry a campaign history, go on with the learning-rate decay where their chunks
    # left it (g_steps / d_steps are then the decay's length over the whole campaign) instead of restarting it.
    continue_schedule: bool = False
    t_train: int = 3  # D iterates supervised in stage D (each one, paper Eq. 4)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = False
    compile: bool = False
    deterministic: bool = True  # cuDNN deterministic kernels (CPU training is deterministic regardless)
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 1000
    weights_every_minutes: float = 5.0  # also save the weights this often (time-budgeted runs)
    tensorboard: bool = True
    progress: bool = True

    def stage_steps(self, stage: str) -> int:
        """The steps of stage ``stage``, "g" or "d"; any other name is a GolfdeblurError naming it."""
        steps = {"g": self.g_steps, "d": self.d_steps}
        if stage not in steps:
            raise GolfdeblurError(f"stage {stage!r}: no such stage (expected g or d)")
        return steps[stage]


@dataclass(frozen=True)
class Recipe:
    """A whole training recipe."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)


CHOICES = {
    ("data", "source"): ("synthetic", "gopro", "paired"),
    ("data", "gopro_variant"): GOPRO_VARIANTS,
    ("train", "precision"): ("fp32", "bf16"),
}


# How much of a value's repr _shown builds: enough to count the characters of any value a recipe holds in earnest.
SHOWN_MAX = 10_000
_BRACKETS: dict[type, tuple[str, str]] = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}"), set: ("{", "}")}


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a one-line message: shortened when long, and never failing (an int beyond Python's
    digit limit for conversion to text has no repr). Built in bounded time and memory (``_repr_start``): a YAML alias
    bomb of 500 bytes is a list whose repr runs to hundreds of millions of characters."""
    try:
        text, whole = _repr_start(value, SHOWN_MAX)
    except ValueError:
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    if whole and len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text) if whole else f'more than {SHOWN_MAX:,}'} characters)"


def _repr_start(value: object, most: int) -> tuple[str, bool]:
    """(``repr(value)``, True) when it is at most about ``most`` characters long, else (its start, a little over
    ``most`` characters, False). Lists, tuples, dicts and sets are walked only as far as that start shows, without
    recursion (YAML nests them hundreds deep, and repeats one list under many aliases); one that holds itself is
    written ``[...]``, as repr writes it. A ValueError (an int beyond Python's digit limit) propagates as from repr.

    Example:
        >>> _repr_start([1, ("a",), {None: 2.5}, set()], 100), _repr_start([[0] * 10] * 10, 20)
        (("[1, ('a',), {None: 2.5}, set()]", True), ('[[0, 0, 0, 0, 0, 0, 0', False))
    """
    text: list[str] = []
    size = 0
    shown: set[int] = set()  # the containers being written (their ids)
    pending: list[typing.Iterator[tuple[bool, object]]] = [iter([(False, value)])]  # (is text, text or element)
    while pending:
        try:
            is_text, piece = next(pending[-1])
        except StopIteration:
            pending.pop()
            continue
        if size > most:
            return "".join(text), False
        kind = type(piece)
        if is_text:
            part = typing.cast(str, piece)
        elif kind not in _BRACKETS:
            part = repr(piece)
        elif id(piece) in shown:
            part = "{...}" if kind is dict else "[...]" if kind is list else "(...)"
        else:
            shown.add(id(piece))
            pending.append(_repr_pieces(piece, shown))
            continue
        text.append(part)
        size += len(part)
    return "".join(text), True


def _repr_pieces(container: typing.Any, shown: set[int]) -> typing.Iterator[tuple[bool, object]]:
    """The pieces of ``repr(container)`` for ``_repr_start``: (True, text) or (False, an element to write)."""
    kind = type(container)
    if kind is set and not container:
        yield True, "set()"
    else:
        opening, closing = _BRACKETS[kind]
        yield True, opening
        for index, item in enumerate(container):
            if index:
                yield True, ", "
            if kind is dict:
                yield False, item
                yield True, ": "
                yield False, container[item]
            else:
                yield False, item
        yield True, ",)" if kind is tuple and len(container) == 1 else closing
    shown.discard(id(container))


# train.seed seeds torch.manual_seed, which takes 0 to 2**64 - 1 (and negatives, refused here as in the other
# commands' seeds); every other use hashes it (data.kernels.derived_seed).
SEED_RANGE = (0, 2**64 - 1)


def _check_value(where: str, kind: object, value: object) -> object:
    """Return ``value`` converted to the annotated ``kind`` or raise RecipeError; ints are accepted for floats."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        kind = next(option for option in options if option is not type(None))
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError as exc:  # an int beyond float's range
                raise RecipeError(f"recipe key {where}: {_shown(value)} is too large for a float") from exc
            if not math.isfinite(number):  # NaN would slip past every range check
                raise RecipeError(f"recipe key {where}: must be a finite number, got {_shown(value)}")
            return number
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                number = float(value)
            if number is not None and not math.isfinite(number):  # "nan", "inf", "1e400"
                raise RecipeError(f"recipe key {where}: must be a finite number, got {_shown(value)}")
            if number is not None:
                return number
    elif kind is str:
        if isinstance(value, str):
            return value
    raise RecipeError(f"recipe key {where}: expected {getattr(kind, '__name__', kind)}, got {_shown(value)}")


def _unknown_names(unknown: list[str], known: set[str]) -> str:
    """``unknown`` for a message: each with the known name it most resembles, else the known names listed."""
    shown, suggested = [], False
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        text = name if name.isprintable() else _shown(name)
        shown.append(f"{text} (did you mean {close[0]}?)" if close else text)
        suggested = suggested or bool(close)
    if suggested:
        return ", ".join(shown)
    return f"{', '.join(shown)} (known: {', '.join(sorted(known))})"


def _section_from_dict(cls: type, data: object, where: str) -> object:
    """``cls`` built from ``data``; ``where`` is the section's name ("" for the whole recipe)."""
    if not isinstance(data, dict):
        what = f"recipe section {where}: expected a mapping" if where else "recipe: expected a mapping of sections"
        raise RecipeError(f"{what}, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in data if key not in names)  # YAML keys may be numbers, dates, null
    if unknown:
        shown = _unknown_names(unknown, names)
        if where:
            raise RecipeError(f"recipe section {where}: unknown key(s) {shown}")
        raise RecipeError(f"recipe: unknown section(s) {shown}")
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _section_from_dict(hints[name], value, key)
        else:
            values[name] = _check_value(key, hints[name], value)
            allowed = CHOICES.get((where, name))
            if allowed and values[name] not in allowed:
                raise RecipeError(f"recipe key {key}: {values[name]!r} is not one of {', '.join(allowed)}")
    return cls(**values)


# Lower bounds of the integer and float settings that have one.
MINIMUMS = {
    ("model", "g_width"): 1,
    ("model", "d_width"): 1,
    ("model", "iterations"): 0,
    ("data", "crop_size"): 2,  # BatchNorm needs more than one value per channel: a 1 px crop in a batch of 1 has one
    ("data", "epoch_length"): 1,
    ("data", "kernel_min_size"): 1,
    ("data", "kernel_bank_size"): 1,
    ("data", "noise_sigma_max"): 0,
    ("data", "kernel_optics_sigma_max"): 0,
    ("data", "kernel_dwell_max"): 0,
    ("data", "grey_fraction"): 0,
    ("data", "clean_fraction"): 0,
    ("data", "pairs_fraction"): 0,
    ("data", "workers"): 0,
    ("data", "validation_images"): 0,
    ("data", "validation_crop"): 0,
    ("data", "dead_leaves_count"): 1,
    ("data", "dead_leaves_size"): 1,
    ("loss", "mse_weight"): 0,
    ("loss", "frequency_weight"): 0,
    ("loss", "perceptual_weight"): 0,
    ("optim", "weight_decay"): 0,
    ("optim", "warmup_steps"): 0,
    ("optim", "grad_clip"): 0,
    ("optim", "ema_decay"): 0,
    ("train", "batch_size"): 1,
    ("train", "g_steps"): 0,
    ("train", "d_steps"): 0,
    ("train", "t_train"): 1,
    ("train", "log_every"): 1,
    ("train", "val_every"): 0,  # 0 = no validation
    ("train", "checkpoint_every"): 0,  # 0 = checkpoints only at the end, on a signal or a time budget
    ("train", "weights_every_minutes"): 0,
}

# Upper bounds (inclusive) of the settings that have one.
MAXIMUMS = {
    ("model", "iterations"): MAX_ITERATIONS,  # what deblur, eval and export run: weights with more would not deblur
    ("data", "kernel_min_size"): 75,  # data.kernels.MAX_KERNEL_SIZE (not imported: this module stays torch-free)
    ("data", "kernel_max_size"): 75,
    ("data", "kernel_optics_sigma_max"): 3,  # px
    ("data", "grey_fraction"): 1,
    ("data", "clean_fraction"): 1,
    ("data", "pairs_fraction"): 1,
    ("train", "batch_size"): 2**16,  # far beyond any memory; larger numbers overflowed torch's sizes with a traceback
}
SSIM_WINDOW = 11  # metrics.ssim_gaussian's window: a validation crop must hold it
# The perceptual loss's VGG-11-BN features (losses.vgg11_bn_features) end at its 5th 2x2 max-pool of stride 2, each
# halving the size (rounding down; the 3x3 convolutions keep it): a crop must hold 2**5 px (not imported: this module
# stays torch-free; tests/train/test_config.py checks it against the layers).
VGG_MIN_CROP = 32
# Settings that name files or folders: "~" is expanded in them, as in every path the command line takes.
PATH_KEYS = {"data": ("root", "blur_dir", "sharp_dir", "pairs_blur_dir", "pairs_sharp_dir", "validation_root",
                      "validation_blur_dir", "validation_sharp_dir"),
             "loss": ("vgg_weights",)}  # fmt: skip
# The recipe keys of held-out validation pairs, blurry folder first.
VALIDATION_PAIR_KEYS = ("validation_blur_dir", "validation_sharp_dir")
# The data settings that only validation reads: with train.val_every 0 no folder of theirs is checked.
VALIDATION_PATH_KEYS = ("validation_root", *VALIDATION_PAIR_KEYS)


def _exists(path: Path, key: str) -> bool:
    """``path.exists()``, but a folder on the way that may not be searched (no permission) is a RecipeError naming
    the recipe key, not an OSError."""
    try:
        return path.exists()
    except OSError as exc:
        raise RecipeError(f"recipe key {key}: {path}: cannot use it ({os_reason(exc)})") from exc


def check_paths_exist(recipe: Recipe, vgg_weights_given: bool = False) -> None:
    """Refuse (RecipeError) a recipe whose files or folders (PATH_KEYS) do not exist, before any set-up: a relative
    path is read from the current folder, which the message names (the campaign recipe's ``local/campaign`` exists
    only at the root of a checkout after ``make campaign-data``). Paths the run will not read are not checked:
    ``loss.vgg_weights`` when ``--vgg-weights`` replaces it, the validation folders when ``train.val_every`` is 0.
    A ``data.validation_root`` read must hold the validation images (eval/cbsd68 or eval/kodak24), as
    ``data.validation.validation_set`` requires, and held-out validation pairs must be usable
    (``train.data_setup.held_out_pairs``: matched, outside the training folders, SSIM's window); this imports torch."""
    unread = {("loss", "vgg_weights")} if vgg_weights_given else set()
    if recipe.train.val_every == 0:
        unread.update(("data", key) for key in VALIDATION_PATH_KEYS)
    for section, keys in PATH_KEYS.items():
        for key in keys:
            value = getattr(getattr(recipe, section), key)
            if value and (section, key) not in unread and not _exists(Path(value), f"{section}.{key}"):
                where = (
                    ""
                    if Path(value).is_absolute()
                    else f" (a relative path is read from the current folder, {Path.cwd()})"
                )
                if (section, key) == ("data", "root") and Path(value).suffix.lower() == ".npz":
                    where += (
                        "; write a pack with golfdeblur pack-data (the campaign's: make campaign-data in a checkout)"
                    )
                raise RecipeError(f"recipe key {section}.{key}: {value} does not exist{where}")
    if recipe.data.validation_root and ("data", "validation_root") not in unread:
        from golfdeblur.data.validation import validation_set

        try:  # lists the images only (pairs are made on first access): the check the first validation makes
            validation_set(root=recipe.data.validation_root)
        except GolfdeblurError as exc:  # e.g. a folder without eval/cbsd68 or eval/kodak24
            raise RecipeError(str(exc)) from exc
    if recipe.data.validation_blur_dir and recipe.train.val_every > 0:
        from golfdeblur.train.data_setup import held_out_pairs

        try:  # reads the files' headers only: what the run's set-up reads again, checked before it
            held_out_pairs(recipe)
        except GolfdeblurError as exc:  # an empty folder, a training folder, a pair below SSIM's window
            raise RecipeError(str(exc)) from exc


def is_pack(root: str | None) -> typing.TypeGuard[str]:
    """Whether ``data.root`` names a pack written by ``golfdeblur pack-data`` (a .npz file, any case) rather than a
    folder."""
    return bool(root) and Path(str(root)).suffix.lower() == ".npz"


def recipe_from_dict(data: dict) -> Recipe:
    """Build a Recipe from nested dicts; missing keys take the defaults, unknown keys are a RecipeError."""
    recipe = typing.cast(Recipe, _section_from_dict(Recipe, data or {}, ""))
    for section, keys in PATH_KEYS.items():
        values = getattr(recipe, section)
        for key in keys:  # "" would count as unset, as null does, and the run would read other data than it names
            if getattr(values, key) is not None and not getattr(values, key).strip():
                raise RecipeError(
                    f"recipe key {section}.{key}: is empty ({_shown(getattr(values, key))}); give a path, or null "
                    "to leave it unset"
                )
        expanded = {key: os.path.expanduser(getattr(values, key)) for key in keys if getattr(values, key)}
        recipe = dataclasses.replace(recipe, **{section: dataclasses.replace(values, **expanded)})
    for (section, key), minimum in MINIMUMS.items():
        value = getattr(getattr(recipe, section), key)
        if value < minimum:
            raise RecipeError(f"recipe key {section}.{key}: must be >= {minimum}, got {_shown(value)}")
    for (section, key), maximum in MAXIMUMS.items():
        value = getattr(getattr(recipe, section), key)
        if value > maximum:
            raise RecipeError(f"recipe key {section}.{key}: must be at most {maximum}, got {_shown(value)}")
    if not SEED_RANGE[0] <= recipe.train.seed <= SEED_RANGE[1]:
        raise RecipeError(
            "recipe key train.seed: must be 0 to 2**64 - 1 (what torch.manual_seed takes), "
            f"got {_shown(recipe.train.seed)}"
        )
    for name in ("lr", "lr_end"):  # the decay is lr * (lr_end / lr) ** fraction: both must be positive
        if not getattr(recipe.optim, name) > 0:
            raise RecipeError(f"recipe key optim.{name}: must be > 0, got {getattr(recipe.optim, name)}")
    if recipe.optim.ema_decay >= 1:
        raise RecipeError(f"recipe key optim.ema_decay: must be below 1, got {recipe.optim.ema_decay}")
    if recipe.loss.vgg_weights and recipe.loss.perceptual_weight <= 0:
        raise RecipeError(
            "recipe key loss.vgg_weights: has no effect with loss.perceptual_weight 0 (the VGG weights serve the "
            "perceptual term only)"
        )
    for name in ("beta1", "beta2"):  # Adam's moment decays
        if not 0 <= getattr(recipe.optim, name) < 1:
            raise RecipeError(f"recipe key optim.{name}: must be in [0, 1), got {getattr(recipe.optim, name)}")
    check_data_keys_apply(recipe.data)
    check_validation_keys(recipe.data)
    packed_root = is_pack(recipe.data.root)
    has_folders = bool(recipe.data.pairs_blur_dir and recipe.data.pairs_sharp_dir)
    if recipe.data.pairs_fraction > 0 and not (has_folders or packed_root):
        raise RecipeError(
            "recipe key data.pairs_fraction > 0 needs data.pairs_blur_dir and data.pairs_sharp_dir, "
            "or a data.root pack (.npz) holding real pairs"
        )
    if recipe.data.kernel_min_size > recipe.data.kernel_max_size:
        raise RecipeError("recipe keys data.kernel_min_size and data.kernel_max_size: min exceeds max")
    for key in ("kernel_min_size", "kernel_max_size"):
        if getattr(recipe.data, key) % 2 == 0:
            raise RecipeError(
                f"recipe key data.{key}: must be odd (a kernel has a centre pixel), got {getattr(recipe.data, key)}"
            )
    if 0 < recipe.data.validation_crop < SSIM_WINDOW:
        raise RecipeError(
            f"recipe key data.validation_crop: must be 0 (whole images) or at least {SSIM_WINDOW} (SSIM's window), "
            f"got {recipe.data.validation_crop}"
        )
    if recipe.data.kernel_dwell_max >= 1:
        raise RecipeError(f"recipe key data.kernel_dwell_max: must be below 1, got {recipe.data.kernel_dwell_max}")
    if recipe.loss.perceptual_weight > 0 and recipe.data.crop_size < VGG_MIN_CROP:
        raise RecipeError(
            f"recipe keys data.crop_size and loss.perceptual_weight: a crop of {recipe.data.crop_size} px is smaller "
            f"than the {VGG_MIN_CROP} px the perceptual loss's VGG-11-BN features need (five 2x2 max-pools)"
        )
    synthetic, batch = recipe.data, recipe.train.batch_size
    if synthetic.source == "synthetic" and not synthetic.on_device and synthetic.epoch_length < batch:
        # one process; under torchrun, N processes share an epoch and each needs a batch (checked at the set-up)
        raise RecipeError(
            f"recipe keys data.epoch_length and train.batch_size: {synthetic.epoch_length} synthetic pairs per "
            f"epoch are fewer than one batch of {batch}"
        )
    return recipe


# The data settings each source reads. Every source reads the others (crop_size, flips, workers, validation_*).
SOURCE_KEYS = {
    "synthetic": ("root", "pairs_blur_dir", "pairs_sharp_dir", "pairs_fraction", "dead_leaves_count",
                  "dead_leaves_size", "epoch_length", "kernel_min_size", "kernel_max_size", "kernel_optics_sigma_max",
                  "kernel_dwell_max", "noise_sigma_max", "grey_fraction", "clean_fraction", "linear_light",
                  "on_device", "kernel_bank_size"),
    "gopro": ("root", "gopro_variant"),
    "paired": ("blur_dir", "sharp_dir"),
}  # fmt: skip
# How a refusal names the data of each source, whose settings another source ignores.
SOURCE_DATA = {"synthetic": "synthetic data", "gopro": "GoPro data", "paired": "paired data"}


def _as_override(key: str) -> str:
    """``--set data.KEY=DEFAULT`` for a message: the data setting's default as YAML reads it back.

    Example:
        >>> _as_override("root"), _as_override("on_device"), _as_override("noise_sigma_max")
        ('--set data.root=null', '--set data.on_device=false', '--set data.noise_sigma_max=0.02')
    """
    return f"--set data.{key}={_yaml_scalar(getattr(DataSection(), key))}"


def _yaml_scalar(value: object) -> str:
    """A setting's value as a recipe or ``--set`` writes it: ``null``, ``true``, ``0.02``, ``'a path'``."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else _shown(value)


def check_data_keys_apply(data: DataSection) -> None:
    """Refuse (RecipeError) data settings the chosen source would ignore: a run that trains on other data than its
    recipe names must not look as if it had used it. The message gives the ``--set`` that resets each one."""
    uses = SOURCE_KEYS[data.source]
    for key in ("root", "blur_dir", "sharp_dir", "pairs_blur_dir", "pairs_sharp_dir", "pairs_fraction"):
        if getattr(data, key) and key not in uses:
            raise RecipeError(
                f"recipe key data.{key}: has no effect with data.source={data.source}; drop it, or pass "
                f"{_as_override(key)}"
            )
    # Any other setting the source does not read, named with the others of the source that does (those above, when
    # the source does not read them, are at their defaults by now).
    defaults = DataSection()
    for source, keys in SOURCE_KEYS.items():
        changed = [key for key in keys if key not in uses and getattr(data, key) != getattr(defaults, key)]
        if changed:
            names = ", ".join(f"data.{key}" for key in changed)
            several = len(changed) > 1
            raise RecipeError(
                f"recipe key{'s' if several else ''} {names}: {'have' if several else 'has'} no effect with "
                f"data.source={data.source} ({SOURCE_DATA[source]} only); drop {'them' if several else 'it'}, or pass "
                f"{' '.join(_as_override(key) for key in changed)}"
            )
    _both_or_neither(data, ("pairs_blur_dir", "pairs_sharp_dir"), "real pairs")
    if (data.pairs_blur_dir or data.pairs_sharp_dir) and data.pairs_fraction <= 0:
        raise RecipeError(
            "recipe keys data.pairs_blur_dir and data.pairs_sharp_dir: have no effect with data.pairs_fraction 0 "
            "(the share of samples taken from those pairs)"
        )


def _both_or_neither(data: DataSection, keys: tuple[str, str], what: str) -> None:
    """Refuse (RecipeError) one of two paired folders (``keys``: blurry, sharp) without the other: ``what`` (e.g.
    "real pairs") are matched across both."""
    first, second = keys
    if bool(getattr(data, first)) != bool(getattr(data, second)):
        given, missing = (first, second) if getattr(data, first) else (second, first)
        raise RecipeError(
            f"recipe key data.{given}: needs data.{missing} too ({what} are matched across both folders); "
            "give both or neither"
        )


def check_validation_keys(data: DataSection) -> None:
    """Refuse (RecipeError) one held-out validation folder without the other, and the fixed set's settings beside
    them (``validation_root``, ``validation_seed``), which validation on held-out pairs would ignore."""
    _both_or_neither(data, VALIDATION_PAIR_KEYS, "validation pairs")
    if not data.validation_blur_dir:
        return
    for key in ("validation_root", "validation_seed"):  # the fixed synthetic set's: its folder, its blur
        if getattr(data, key) != getattr(DataSection(), key):
            raise RecipeError(
                f"recipe key data.{key}: has no effect with data.validation_blur_dir and data.validation_sharp_dir "
                f"(validation is on those pairs, not on the fixed set); drop it, or pass {_as_override(key)}"
            )


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader refusing (RecipeError, without the file's name) a key repeated in one mapping, which
    SafeLoader accepts keeping the last value: a second ``train:`` section would reset the first to the defaults."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Checked here, before merge keys (<<: *anchor) fold other keys in (those a mapping may override, as YAML
        # says). A node merged into another is folded when that one is, maybe before its own turn: so each node is
        # checked the first time it comes here.
        checked: set[int] = self.__dict__.setdefault("_checked", set())
        if id(node) not in checked:
            checked.add(id(node))
            lines: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                with contextlib.suppress(TypeError):  # an unhashable key: SafeLoader's own error follows
                    if key in lines:
                        name = key if str(key).isprintable() else _shown(key)  # as unknown keys are named
                        raise RecipeError(
                            f"key {name} is given twice, on lines {lines[key]} and {line} (YAML would keep only the "
                            "last)"
                        )
                    lines[key] = line
        super().flatten_mapping(node)


def recipe_to_dict(recipe: Recipe) -> dict:
    """Nested plain dicts (YAML/JSON friendly)."""
    return dataclasses.asdict(recipe)


def parse_override(text: str) -> tuple[list[str], object]:
    """``"optim.lr=1e-4"`` -> (["optim", "lr"], 1e-4); the value is read as YAML (so ``null``, ``true`` work), except
    one that holds a file name's undecodable bytes (surrogates, as ``data.root=/photos/caf\\xe9``), which no YAML
    text can hold: that is the string as given, less the spaces around it (as YAML reads a plain string).

    Example:
        >>> parse_override("optim.lr=0.001"), parse_override("data.root=" + os.fsdecode(b"/caf\\xe9"))[1][-1]
        ((['optim', 'lr'], 0.001), '\\udce9')
    """
    if "=" not in text:
        raise RecipeError(f"override {_shown(text)}: expected section.key=value")
    key, raw = text.split("=", 1)
    if LONE_SURROGATES.search(raw):
        return key.strip().split("."), raw.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # see _yaml_reason
        raise RecipeError(f"override {_shown(text)}: value is not valid YAML ({_yaml_reason(exc)})") from exc
    return key.strip().split("."), value


def _yaml_reason(exc: Exception) -> str:
    """Why PyYAML could not read a text, in one line: its own error, a ValueError for an int beyond Python's digit
    limit, or a RecursionError for lists or mappings nested some hundreds deep (PyYAML composes them recursively)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if not isinstance(exc, yaml.YAMLError) and "digits" in str(exc):
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return " ".join(str(exc).split())  # YAML's messages span lines; the error is one


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides to nested dicts (type checks happen in recipe_from_dict)."""
    data = copy.deepcopy(data)  # not a JSON round trip: YAML values JSON cannot hold (dates, bytes, sets) are then
    # refused by the type checks, naming their key
    for text in overrides:
        path, value = parse_override(text)
        if len(path) != 2 or not all(path):
            raise RecipeError(f"override {_shown(text)}: expected section.key=value (two names), got {'.'.join(path)}")
        section, key = path
        sections = {f.name for f in dataclasses.fields(Recipe)}
        if section not in sections:
            raise RecipeError(f"override {_shown(text)}: unknown section {_unknown_names([section], sections)}")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise RecipeError(f"override {_shown(text)}: section {section} is not a mapping")
        data[section][key] = value
    return data


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe name in configs/ (``tiny``, ``default``, ``campaign``, ``paper``) or a path to a YAML file."""
    text = str(name_or_path)
    path = user_path(text)
    if path.is_file():
        return path
    named = CONFIGS_DIR / f"{text}.yaml"
    if "/" not in text and named.is_file():
        return named
    known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))) or "none found"
    what = not_a_regular_file(path)  # a folder, a named pipe (reading it would block), /dev/null: no recipe file
    if what is not None:
        raise RecipeError(f"recipe {text}: {what}; name a YAML file or a packaged recipe ({known})")
    raise RecipeError(f"recipe {text}: no such file, and not a recipe in {CONFIGS_DIR} (known: {known})")


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a YAML recipe, apply ``section.key=value`` overrides, check every key and type.

    Example:
        >>> recipe = load_recipe("campaign", ["optim.lr=1e-4", "train.batch_size=8"])  # a packaged name or a YAML path
        >>> recipe.optim.lr, recipe.train.batch_size, recipe.data.crop_size, recipe.train.t_train
        (0.0001, 8, 256, 3)
        >>> load_recipe("campaign", ["optim.lrr=1"])
        Traceback (most recent call last):
            ...
        golfdeblur.train.config.RecipeError: recipe section optim: unknown key(s) lrr (did you mean lr?)
    """
    path = resolve_recipe_path(name_or_path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
    except RecipeError as exc:  # a repeated key
        raise RecipeError(f"recipe {path}: {exc}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, RecursionError) as exc:  # see _yaml_reason
        raise RecipeError(f"recipe {path}: cannot be read as YAML ({_yaml_reason(exc)})") from exc
    if data is None or data == {}:  # an empty or comments-only file would train on the dataclasses' defaults
        sections = ", ".join(f.name for f in dataclasses.fields(Recipe))
        raise RecipeError(f"recipe {path}: holds no sections (expected some of {sections})")
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: the top level must be a mapping of sections")
    merged = apply_overrides(data, overrides or [])
    unused = _drop_settings_of_the_recipes_source(data, merged, overrides or [])
    recipe = recipe_from_dict(merged)
    if unused and first_process_by_environment():  # under torchrun every process loads the recipe: one note
        from golfdeblur.notes import note

        note(f"recipe {name_or_path}: {unused}")
    return recipe


# What data.root holds for the sources that read it, for the message that asks for another one.
ROOT_MEANING = {"synthetic": "a folder or .npz pack of sharp photos, or null", "gopro": "the GoPro folder"}


def _drop_settings_of_the_recipes_source(recipe_file: dict, merged: dict, overrides: list[str]) -> str | None:
    """When ``--set data.source=NEW`` switches the recipe file's source, remove from ``merged`` (the file with
    ``overrides`` applied) the data settings the file gave that NEW does not read (``SOURCE_KEYS``), so that they take
    their defaults, as in any recipe for NEW: ``tiny``'s dead-leaves and kernel settings do not stop a run on paired
    folders. They would have no effect on the run, and the saved recipe then names only what it used. Settings given
    with ``--set`` stay (``check_data_keys_apply`` refuses those NEW ignores), and a ``data.root`` of the file, which
    synthetic data and GoPro read in two different ways, is refused unless ``--set data.root`` gives NEW's.

    Returns:
        What was removed, for a note, when some of it was not at its default; else None.
    """
    file_data, data = recipe_file.get("data"), merged.get("data")
    given = {tuple(parse_override(text)[0]) for text in overrides}  # apply_overrides has checked them
    if not (isinstance(file_data, dict) and isinstance(data, dict) and ("data", "source") in given):
        return None
    old, new, choices = file_data.get("source", DataSection.source), data.get("source"), CHOICES[("data", "source")]
    if old == new or old not in choices or new not in choices:  # a value not in choices is refused later
        return None
    if "root" in SOURCE_KEYS[new] and file_data.get("root") and ("data", "root") not in given:
        raise RecipeError(
            f"recipe key data.root: the recipe's {_shown(file_data['root'])} is data for data.source={old}; with "
            f"--set data.source={new}, pass --set data.root=PATH too ({ROOT_MEANING[new]})"
        )
    hints, defaults, unused = typing.get_type_hints(DataSection), DataSection(), []
    for key in SOURCE_KEYS[old]:
        if key in SOURCE_KEYS[new] or key not in data or ("data", key) in given:
            continue
        value = _check_value(f"data.{key}", hints[key], data.pop(key))  # a wrong type is still an error
        if value != getattr(defaults, key):
            unused.append(f"data.{key}={_yaml_scalar(value)}")
    if not unused:
        return None
    return (
        f"with --set data.source={new}, its settings for data.source={old} are unused and keep their defaults in the "
        f"run's config.yaml (the recipe's: {', '.join(unused)})"
    )


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML text (what every run folder keeps as config.yaml)."""
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)
