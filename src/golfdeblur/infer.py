"""Deblur images with a Golf Optimizer: any size, optional tiling with blended seams, fp32/bf16/fp16.

The networks are stride 1 with zero padding, so every output pixel depends only on the input within the
receptive-field radius r (184 px for G + 3 D). A tile's output therefore equals the whole image's output except
within r pixels of an inner tile edge (image borders are real borders in both). Tiles overlap by M pixels; in each
overlap the two tiles' weights are 0 within min(r, M // 2) pixels of their inner edges and cross-fade linearly
in between, and the blend is normalised by the weight sum. With M >= the receptive-field diameter the tiled
output equals the untiled one up to float rounding. Trained weights depend on far less context, so released
weights carry a measured overlap in their card (golfdeblur/tile_overlap.py), which ``deblur`` uses by default at
their T.

Tiles are spread evenly: n tiles of at most ``tile`` pixels cover each axis with overlaps of at least M, which
keeps the recomputed margin small: a 3840x2160 photo with tile 1536 and overlap 369 becomes 2 x 3 tiles of
1265x1526 and computes 1.40x its pixels.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload

import numpy as np
import torch
from PIL import Image
from torch import nn

from golfdeblur.data.image_metadata import icc_matches
from golfdeblur.data.imageio import key_alpha
from golfdeblur.deblur_defaults import DEFAULT_TILE, DEFAULT_WEIGHTS, MAX_ITERATIONS, PRECISION_NAMES, Precision
from golfdeblur.device import DeviceError, full_fp32, resolve_device
from golfdeblur.errors import DeblurSettingsError
from golfdeblur.input_values import check_image_dtype, check_value_span, unit_float, whole_iterations, whole_number
from golfdeblur.metrics import value_ends
from golfdeblur.models.fuse import fuse_for_inference
from golfdeblur.models.golf import GolfOptimizer, ResidualCNN
from golfdeblur.models.receptive_field import receptive_field
from golfdeblur.models.weights_io import (
    NO_WEIGHTS_HINT,
    WeightsError,
    card_int,
    card_path_for,
    load_golf,
    load_golf_and_card,
    packaged_weights,
    read_card,
    resolve_weights,
    sha256_of,
)

PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16), strict=True))
# iterations, tile and tile_overlap, as deblur takes them (check_iterations, check_tile)
WholeNumber = int | np.integer[Any]


class SupportsArray(Protocol):
    """An object numpy turns into an array through ``__array__`` (a CuPy, JAX or xarray array, ...), which
    :func:`deblur` takes as numpy and answers with a numpy array."""

    def __array__(self) -> np.ndarray: ...


# ------------------------------------------------------------------------------------------------ model set-up


def default_weights() -> str:
    """The packaged weights used when none are named; a WeightsError saying how to get some if none ship."""
    if DEFAULT_WEIGHTS in packaged_weights():
        return DEFAULT_WEIGHTS
    raise WeightsError(NO_WEIGHTS_HINT)


def weights_identity(weights: str | Path | None, card: dict | None = None) -> tuple[str, str]:
    """(name, sha256) of the weights ``prepare_model(weights=weights)`` loads: the name or path as given, else the
    packaged default; what a report prints so that a result can be traced to the weights that made it. ``card``: the
    model card they were loaded with, whose sha256 the loader checked against the file (no second hashing)."""
    name = default_weights() if weights is None else str(weights)
    return name, card["sha256"].lower() if card is not None else sha256_of(resolve_weights(name))


def weights_tile_overlap(weights: str | Path | None, iterations: int | None = None) -> int | None:
    """The default tile overlap for ``weights`` (None: the packaged default): the one its card's release measured
    (``inference.tile_overlap``, see :mod:`golfdeblur.tile_overlap`) when ``iterations`` is None or the T it was
    measured at; else None, which ``deblur_tensor`` reads as the receptive-field diameter (exact).

    Example:
        >>> weights_tile_overlap("golf-synthetic-v1"), weights_tile_overlap("golf-synthetic-v1", iterations=5)
        (128, None)
    """
    path = resolve_weights(default_weights() if weights is None else weights)
    return card_tile_overlap(read_card(path), iterations, path)


def card_tile_overlap(card: dict, iterations: int | None = None, weights: str | Path | None = None) -> int | None:
    """:func:`weights_tile_overlap` for a model card already read: ``inference.tile_overlap`` when ``iterations`` is
    None or the T it was measured at, else None (the receptive field). A malformed ``inference`` section is a
    WeightsError naming ``weights`` (else the card's ``weights_file``) and the field.

    Example:
        >>> card_tile_overlap({"inference": {"iterations": 3, "tile_overlap": 128}}), card_tile_overlap({})
        (128, None)
    """
    name = weights if weights is not None else card.get("weights_file", "(unnamed)")
    measured = card.get("inference")
    if measured is not None and not isinstance(measured, dict):
        raise WeightsError(f"weights {name}: model card's inference is not an object")
    if not measured or "tile_overlap" not in measured:
        return None
    overlap = card_int(card, "inference.tile_overlap", name, minimum=0)
    # The T it was measured at: without it the overlap could be used at a T it does not cover.
    if iterations not in (None, card_int(card, "inference.iterations", name, minimum=0)):
        return None
    return overlap


Network = TypeVar("Network", GolfOptimizer, ResidualCNN)


@overload
def prepare_model(model: Network, weights: None = None, device: str | torch.device = "auto") -> Network: ...
@overload
def prepare_model(
    model: None = None, weights: str | Path | None = None, device: str | torch.device = "auto"
) -> GolfOptimizer: ...
@overload
def prepare_model(
    model: nn.Module | None = None, weights: str | Path | None = None, device: str | torch.device = "auto"
) -> GolfOptimizer | ResidualCNN: ...
def prepare_model(
    model: nn.Module | None = None, weights: str | Path | None = None, device: str | torch.device = "auto"
) -> GolfOptimizer | ResidualCNN:
    """The network ready for inference: loaded (``weights``, else the packaged default), BatchNorm folded, eval
    mode, float32, on ``device``. Prepare a model object once and pass the result to :func:`deblur` (``model=``) or
    :func:`deblur_tensor` for many images: :func:`deblur` folds an unprepared one anew on every call (it keeps those it
    prepares from weights given by name or path).

    Its parameters end up float32, on ``device``, in the channels_last memory format (the layout the network runs
    fastest in on a CPU). A model with BatchNorm is folded in a copy, which is so cast, moved and converted; the
    caller's module is left as it was. A model that is already folded (has no BatchNorm) is put in eval mode, cast,
    moved and converted to channels_last in place (``Module.to``) and returned itself, so the result of this function
    can be passed to :func:`deblur` many times without folding again. A half or double model therefore runs in
    float32: the arithmetic precision of a run is ``deblur``'s ``precision`` (autocast), not the dtype the model came
    in. Each call with ``weights`` (or neither argument) loads a new model, which is the caller's to change. A model
    on a device with no values ("meta") is a ``DeblurSettingsError``, and so is a name or path passed as ``model``
    (it goes to ``weights``); BatchNorm statistics that are not finite, or a negative running variance, a
    ``WeightsError`` naming that tensor (:func:`check_batchnorm_statistics`).

    Example:
        >>> import golfdeblur
        >>> from golfdeblur.models import GolfConfig
        >>> trained = GolfOptimizer(GolfConfig(g_width=4, d_width=2))  # e.g. a model being trained
        >>> model = golfdeblur.prepare_model(trained, device="cpu")  # folded once, for all the images below
        >>> any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), model.training, trained.training
        (False, False, True)
        >>> images = [np.zeros((8, 8, 3), np.uint8), np.full((6, 5), 0.5, np.float32)]
        >>> [golfdeblur.deblur(image, model=model).shape for image in images]
        [(8, 8, 3), (6, 5)]
    """
    try:
        target = resolve_device(device)
    except DeviceError as exc:  # deblur's callers catch DeblurSettingsError for every bad setting
        raise DeblurSettingsError(str(exc)) from exc
    if isinstance(model, str | os.PathLike):  # "model" as the weights' name: not "got str"
        raise DeblurSettingsError(
            f"model {os.fspath(model)!r} is a name or path: pass it as weights= (model= takes a GolfOptimizer or "
            "ResidualCNN object)"
        )
    if model is None:
        model = load_golf(weights if weights is not None else default_weights())
    elif weights is not None:
        raise DeblurSettingsError("pass either a model or weights, not both")
    if not isinstance(model, GolfOptimizer | ResidualCNN):
        raise DeblurSettingsError(f"model must be a GolfOptimizer or ResidualCNN, got {type(model).__name__}")
    check_model_device(model)
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        check_batchnorm_statistics(model)
        if any(p.dtype != torch.float32 for p in model.parameters()):
            model = copy.deepcopy(model).float()  # fold in float32, not in half precision; the caller's stays
        # Folding multiplies matrices, which a caller's autocast would round to half precision.
        with full_fp32(next(model.parameters()).device):
            model = fuse_for_inference(model)
    # channels_last: G + 3 D on 1280x720 took 15-18 s instead of 21-23 s on a 2-core CPU (bench/bench_memory_format.py).
    # float32 whatever the model's dtype (a .half() model, torch.set_default_dtype(torch.float64)): deblur_tensor
    # feeds float32 tiles and lowers precision with autocast. (torch's type stubs lack Module.to's memory_format)
    return model.eval().to(target, torch.float32, memory_format=torch.channels_last)  # type: ignore[call-overload]


def check_model_device(model: nn.Module) -> None:
    """Raise ``DeblurSettingsError`` (one line) unless the model's parameters are on a device deblur runs on
    (``INPUT_DEVICE_TYPES``): a model on "meta" has no values to copy, fold or run."""
    kinds = sorted({p.device.type for p in model.parameters()} - set(INPUT_DEVICE_TYPES))
    if kinds:
        raise DeblurSettingsError(
            f"model parameters on device {kinds[0]}: use a model on cpu, cuda or mps (one that holds values, e.g. "
            "loaded weights)"
        )


def check_batchnorm_statistics(model: nn.Module) -> None:
    """Raise ``WeightsError`` (one line) naming the first BatchNorm tensor that is not finite, or running variance
    that is negative: folding would turn it into a non-finite convolution weight that is not in the caller's model.

    Example:
        >>> from golfdeblur.models import GolfConfig
        >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
        >>> with torch.no_grad():
        ...     _ = model.D.layer1[0].bn1.running_var.fill_(-1.0)
        >>> try:
        ...     check_batchnorm_statistics(model)
        ... except WeightsError as error:
        ...     print(error)
        model's D.layer1.0.bn1.running_var is negative (-1): a variance must be 0 or more; use intact weights
    """
    for name, module in model.named_modules():
        if not isinstance(module, nn.BatchNorm2d):
            continue
        for field in ("running_mean", "running_var", "weight", "bias"):
            tensor = getattr(module, field)
            if tensor is None:
                continue
            if not bool(torch.isfinite(tensor).all()):
                raise WeightsError(f"model's {name}.{field} includes NaN or infinity; use finite weights")
            if field == "running_var" and bool((tensor < 0).any()):
                raise WeightsError(
                    f"model's {name}.{field} is negative ({float(tensor.min()):g}): a variance must be 0 or more; "
                    "use intact weights"
                )


# The models deblur prepared from weights named by name or path, least recently used first: preparing them (reading
# the card, checking the sha256, building, folding BatchNorm) costs a small image's call many times over
# (bench/deblur_call_overhead.py). Two entries: a GPU model holds device memory after its last use.
_PREPARED_MODELS_KEPT = 2
_prepared_models: OrderedDict[tuple, tuple[GolfOptimizer, dict]] = OrderedDict()
_prepared_models_lock = threading.Lock()
# Held while a model is loaded to be kept: threads whose first calls for the same weights and device come together
# wait for one load and take its model, instead of each loading and folding the same weights (loads of other weights
# wait their turn too). Taken before _prepared_models_lock, never inside it, so the two cannot deadlock.
_load_lock = threading.Lock()


def clear_prepared_models() -> None:
    """Forget the models :func:`deblur` prepared from weights given by name or path (it keeps the last two), e.g.
    to free the device memory they hold; the next such call loads its weights again."""
    with _prepared_models_lock:
        _prepared_models.clear()


def _file_version(path: Path) -> tuple[int, ...]:
    found = path.stat()
    # ctime too: a copy that restores the old mtime (cp -p, rsync -t) over the same inode and size still changes it
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _weights_version(path: Path, device: torch.device) -> tuple | None:
    """What a model prepared from the weights file ``path`` on ``device`` depends on: the file's and its card's
    identity, size and times, which a rewrite or a replacement changes, and the device (preparation is otherwise
    fixed: folded, float32, channels_last). None when either file cannot be looked at: such weights are not kept,
    and loading them says why."""
    try:
        return (str(device), _file_version(path), _file_version(card_path_for(path)))
    except OSError:
        return None


def prepared_weights(
    weights: str | Path | None, device: str | torch.device = "auto"
) -> tuple[GolfOptimizer, dict, Path]:
    """(model, card, path) for ``weights`` (a packaged name or .safetensors path; None: the packaged default) on
    ``device``: ``prepare_model(weights=weights, device=device)``, the model card it was built from and the resolved
    file, kept for the next call with the same files (unchanged since) and device, as :func:`deblur` uses them; first
    calls that come together from several threads load them once, the others waiting for that model. The model is
    shared between calls and threads: run it (``deblur_tensor``), never change it; :func:`prepare_model` gives one of
    your own. Raises what ``prepare_model`` raises for these arguments, on every call.

    Example:
        >>> first, card, path = prepared_weights("golf-synthetic-v1", device="cpu")
        >>> prepared_weights("golf-synthetic-v1", device="cpu")[0] is first, card["g_width"], path.name
        (True, 32, 'golf-synthetic-v1.safetensors')
    """
    try:
        target = resolve_device(device)
    except DeviceError as exc:  # as prepare_model says it
        raise DeblurSettingsError(str(exc)) from exc
    name = weights if weights is not None else default_weights()
    path = resolve_weights(name)
    version = _weights_version(path, target)
    if version is None:  # not kept: loaded, and said why when it cannot be
        return (*_load_prepared(path, target), path)
    kept = _kept_model(version)
    if kept is not None:
        return (*kept, path)
    with _load_lock:
        kept = _kept_model(version)  # loaded by a thread this one waited for
        if kept is not None:
            return (*kept, path)
        model, card = _load_prepared(path, target)
        # Kept only if neither file changed while they were read: the model and card are of the version named.
        if _weights_version(path, target) == version:
            with _prepared_models_lock:
                _prepared_models[version] = (model, card)
                while len(_prepared_models) > _PREPARED_MODELS_KEPT:
                    _prepared_models.popitem(last=False)
        return model, card, path


def _kept_model(version: tuple) -> tuple[GolfOptimizer, dict] | None:
    """The (model, card) kept for ``version``, now the most recently used; None when none is."""
    with _prepared_models_lock:
        kept = _prepared_models.get(version)
        if kept is not None:
            _prepared_models.move_to_end(version)
        return kept


def _load_prepared(path: Path, device: torch.device) -> tuple[GolfOptimizer, dict]:
    loaded, card = load_golf_and_card(path)  # the card read once, with the model it describes
    return prepare_model(loaded, device=device), card


def _autocast(device: torch.device, precision: str) -> full_fp32 | torch.autocast:
    if precision not in PRECISIONS:
        raise DeblurSettingsError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return full_fp32(device)  # not TF32 on a GPU
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


# ------------------------------------------------------------------------------------------------------ tiling


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis, [start, stop), with its overlaps with the previous and next tile."""

    start: int
    stop: int
    overlap_before: int
    overlap_after: int


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Cover [0, length) with the fewest tiles of at most ``tile`` pixels that overlap by at least ``overlap``,
    all of one size and spread evenly (so no tile hangs over the image edge).

    Example:
        >>> [(s.start, s.stop) for s in tile_spans(3840, tile=1536, overlap=369)]  # 3 tiles of 1526 px
        [(0, 1526), (1157, 2683), (2314, 3840)]
        >>> tile_spans(1000, tile=1536, overlap=369)
        [Span(start=0, stop=1000, overlap_before=0, overlap_after=0)]
    """
    if tile >= length:
        return [Span(0, length, 0, 0)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)  # <= tile; overlaps are then >= overlap
    starts = [round(i * (length - size) / (count - 1)) for i in range(count)]
    stops = [s + size for s in starts]
    return [
        Span(
            starts[i],
            stops[i],
            stops[i - 1] - starts[i] if i > 0 else 0,
            stops[i] - starts[i + 1] if i < count - 1 else 0,
        )
        for i in range(count)
    ]


def blend_weights(span: Span, radius: int) -> torch.Tensor:
    """Weights of one tile along one axis: 0 within min(radius, overlap // 2) px of an inner edge, then a linear
    ramp across the rest of the overlap up to 1. Neighbouring tiles' ramps sum to 1 in their common overlap."""
    length = span.stop - span.start
    weight = torch.ones(length, dtype=torch.float32)
    positions = torch.arange(length, dtype=torch.float32)
    for overlap, distance in ((span.overlap_before, positions), (span.overlap_after, positions.flip(0))):
        if overlap <= 0:
            continue
        margin = min(radius, overlap // 2)
        ramp = overlap - 2 * margin  # both tiles are positive on these pixels
        weight = torch.minimum(weight, ((distance - margin + 1) / (ramp + 1)).clamp(0.0, 1.0))
    return weight


def _run(model: GolfOptimizer | ResidualCNN, x: torch.Tensor, iterations: int | None) -> torch.Tensor:
    """The network's output for ``x``, as it computes it: laid out channels_last, prepare_model's layout."""
    x = x.contiguous(memory_format=torch.channels_last)  # no copy for a view of (H, W, 3) pixels
    return model(x, iterations=iterations) if isinstance(model, GolfOptimizer) else model(x)


# Devices deblur runs on (golfdeblur.device); a tensor elsewhere (e.g. "meta", which has no values) is refused.
INPUT_DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_input_values(x: torch.Tensor) -> None:
    """Raise ``DeblurSettingsError`` (one line) unless ``x`` is a dense (strided) float tensor on the CPU, CUDA or
    MPS whose values are finite and within ``input_values.INPUT_VALUE_RANGE``.

    Example:
        >>> try:
        ...     check_input_values(torch.full((1, 3, 2, 2), 255.0))
        ... except DeblurSettingsError as error:
        ...     print(error)
        image values span [255, 255]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it to [0, 1])
    """
    if x.layout != torch.strided:
        raise DeblurSettingsError(f"tensor layout {x.layout}: use a dense tensor on cpu, cuda or mps (x.to_dense())")
    if x.device.type not in INPUT_DEVICE_TYPES:
        raise DeblurSettingsError(
            f"tensor on device {x.device.type}: use a dense tensor on cpu, cuda or mps (one that holds values)"
        )
    if not x.is_floating_point():
        raise DeblurSettingsError(f"tensor dtype {x.dtype}: use a float tensor in [0, 1]")
    if x.numel() == 0:
        return
    check_value_span(*value_ends(x))  # in x's own dtype: a float64 1e39 is finite, and refused as 1e+39


def check_iterations(iterations: object) -> int | None:
    """``iterations`` as deblur takes it: None (the model's T) or a whole number from 0 to 64 (a numpy integer
    included; ``deblur_defaults.MAX_ITERATIONS``); anything else, True,
    2.5 and 10**20 (which would run for ever) included, is a one-line ``DeblurSettingsError``.

    Example:
        >>> check_iterations(None), check_iterations(np.int64(4))
        (None, 4)
        >>> try:
        ...     check_iterations(-1)
        ... except DeblurSettingsError as error:
        ...     print(error)
        iterations -1: must be a whole number, 0 or more (applications of D)
    """
    if iterations is None:
        return None
    count = whole_iterations(iterations)
    if count > MAX_ITERATIONS:
        raise DeblurSettingsError(f"iterations {iterations!r}: at most {MAX_ITERATIONS} (applications of D)")
    return count


def model_iterations(model: GolfOptimizer, iterations: object) -> int:
    """The T a run of ``model`` uses: ``iterations`` as :func:`check_iterations` takes it, or for None the model's own
    T (``config.iterations``), held to the same bound of ``MAX_ITERATIONS`` (64): a larger one is a one-line
    ``DeblurSettingsError`` that says to pass ``iterations``.

    Example:
        >>> from golfdeblur.models import GolfConfig
        >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=2, iterations=3))
        >>> model_iterations(model, None), model_iterations(model, 5)
        (3, 5)
    """
    checked = check_iterations(iterations)
    if checked is not None:
        return checked
    own = model.config.iterations  # a whole number >= 0: GolfConfig checks it when built
    if own > MAX_ITERATIONS:
        raise DeblurSettingsError(
            f"model's config.iterations {own}: at most {MAX_ITERATIONS} (applications of D); pass iterations= to run "
            "fewer"
        )
    return own


def check_tile(value: object, name: str = "tile") -> int | None:
    """``tile`` or ``tile_overlap`` (``name``) as deblur takes it: None (chosen) or a whole number of pixels >= 0 (a
    numpy integer included); anything else, True, 100.5 and "64" included, is a one-line ``DeblurSettingsError``.

    Example:
        >>> check_tile(None), check_tile(np.int64(64)), check_tile(0, "tile_overlap")
        (None, 64, 0)
        >>> try:
        ...     check_tile("2", "tile_overlap")
        ... except DeblurSettingsError as error:
        ...     print(error)
        tile_overlap '2': must be a whole number of pixels, 0 or more
    """
    return None if value is None else whole_number(value, 0, name, unit="pixels")


def default_tile(height: int, width: int, overlap: int) -> int:
    """The tile side ``deblur_tensor`` uses when none is given: 0 (whole image) up to DEFAULT_TILE px a side, else
    the larger of DEFAULT_TILE and twice the overlap, so that any T works (the exact overlap, the receptive field,
    grows by about 92 px per D: 1933 px at T = 20 for G 32 + 3 D 16, more than DEFAULT_TILE). Twice the overlap keeps
    each tile's fresh part at least half its side, so the work stays within 4x the image's; the cost is memory, about
    0.7 GiB per megapixel of tile in fp32 (deblur_defaults.py): a 3866 px tile, about 10 GiB, at T = 20. A smaller
    ``tile_overlap`` (approximate seams) keeps DEFAULT_TILE tiles.

    Example:
        >>> default_tile(1200, 1500, 369), default_tile(3000, 4000, 369), default_tile(3000, 4000, 1933)
        (0, 1536, 3866)
    """
    if max(height, width) <= DEFAULT_TILE:
        return 0
    return max(DEFAULT_TILE, 2 * overlap)


def check_output_values(out: torch.Tensor, model: nn.Module, precision: str = "fp32") -> None:
    """Raise ``WeightsError`` (one line) if the network's output for a finite input is not finite, which clamping
    would keep as NaN and a cast to an integer image would silently make 0: the model's weights are the likely
    cause (it names the first tensor of them that is not finite), else an overflow in half precision.

    Example:
        >>> from golfdeblur.models import GolfConfig
        >>> model = prepare_model(GolfOptimizer(GolfConfig(g_width=4, d_width=2)), device="cpu")
        >>> with torch.no_grad():
        ...     _ = model.G.head.weight.fill_(float("nan"))
        >>> try:
        ...     check_output_values(torch.full((1, 3, 2, 2), float("nan")), model)
        ... except WeightsError as error:
        ...     print(error)
        model output includes NaN or infinity: so do the model's weights (G.head.weight); use finite weights
    """
    if bool(torch.isfinite(out).all()):
        return
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(
                f"model output includes NaN or infinity: so do the model's weights ({name}); use finite weights"
            )
    overflow = f", or {precision} overflowed (try precision fp32)" if precision != "fp32" else ""
    raise WeightsError(
        "model output includes NaN or infinity for a finite image: the model's weights are the likely cause (values "
        f"too large){overflow}"
    )


@torch.no_grad()
def deblur_tensor(
    x: torch.Tensor,
    model: GolfOptimizer | ResidualCNN,
    iterations: WholeNumber | None = None,
    precision: Precision = "fp32",
    tile: WholeNumber | None = None,
    tile_overlap: WholeNumber | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Deblur a batch with a prepared model (see :func:`prepare_model`), tiled when asked or when large.

    Args:
        x: input batch; it is moved to the model's device tile by tile.
        iterations: applications of D, a whole number from 0 to ``MAX_ITERATIONS`` (64; default: the model's T,
            which is held to the same bound); ignored for a single ResidualCNN.
        tile: largest tile side in pixels, a whole number >= 0; None = :func:`default_tile` (whole image up to
            DEFAULT_TILE px a side, beyond that tiles of DEFAULT_TILE or twice the overlap if larger, so every T
            works); 0 = never tile. A given tile must be larger than the overlap unless it covers the image.
        tile_overlap: overlap in pixels, a whole number >= 0; None = the receptive-field diameter (tiled output ==
            untiled output).
        on_tile: called as on_tile(done, total) after each tile.

    Raises:
        DeblurSettingsError: a bad shape (H or W 0 included), dtype, layout, device or setting, non-finite or
            out-of-range input (beyond ``input_values.INPUT_VALUE_RANGE``, [-0.5, 1.5]), or a model not passed through
            :func:`prepare_model` (not float32, in training mode, or with BatchNorm left). WeightsError: the model's
            output is not finite (see :func:`check_output_values`).

    Shape:
        (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float32 in [0, 1] (clamped), on x's device, laid out as x
        is: channels_last when x is (e.g. ``torch.from_numpy(hwc).permute(2, 0, 1)[None]``, which the network takes
        as it is, and whose result's ``[0].permute(1, 2, 0)`` is (H, W, 3) pixels without a copy), else contiguous.
        B may be 0 (an empty batch comes back empty).
        It carries no gradient: the network runs under ``torch.no_grad()``, whether or not x requires grad.

    Example:
        >>> from golfdeblur.models import GolfConfig
        >>> model = prepare_model(GolfOptimizer(GolfConfig(g_width=4, d_width=2), zero_init_last=False), device="cpu")
        >>> blurry = torch.rand(1, 3, 48, 500, generator=torch.Generator().manual_seed(0))
        >>> whole = deblur_tensor(blurry, model, tile=0)
        >>> whole.shape, whole.dtype
        (torch.Size([1, 3, 48, 500]), torch.float32)
        >>> tiled = deblur_tensor(blurry, model, tile=450)  # two tiles overlapping by the receptive field, 369 px
        >>> torch.allclose(tiled, whole, atol=1e-5)
        True
    """
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] < 1 or x.shape[3] < 1:
        raise DeblurSettingsError(f"expected a (B, 3, H, W) batch with H, W >= 1, got shape {tuple(x.shape)}")
    check_input_values(x)
    # A ResidualCNN has no T: its iterations are checked, and ignored.
    iterations = (
        model_iterations(model, iterations) if isinstance(model, GolfOptimizer) else check_iterations(iterations)
    )
    tile, tile_overlap = check_tile(tile), check_tile(tile_overlap, "tile_overlap")
    parameter = next(model.parameters())
    if parameter.dtype != torch.float32:
        raise DeblurSettingsError(
            f"model parameters are {parameter.dtype}: pass the model through prepare_model, which runs it in float32 "
            "(precision sets bf16 or fp16)"
        )
    # A model in training mode would run on batch statistics and overwrite its BatchNorm's running ones.
    if model.training or any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        state = "in training mode" if model.training else "has BatchNorm"
        raise DeblurSettingsError(
            f"model {state}: pass it through prepare_model (folds BatchNorm, eval mode), or use golfdeblur.deblur"
        )
    device = parameter.device
    height, width = x.shape[-2:]
    diameter = receptive_field(model, iterations)
    overlap = diameter if tile_overlap is None else tile_overlap
    if tile is None:
        tile = default_tile(height, width, overlap)
    if tile == 0 or (tile >= height and tile >= width):
        tile = max(height, width)
    elif tile <= overlap:
        raise DeblurSettingsError(f"tile {tile} must be larger than the tile overlap {overlap}")

    rows, cols = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    autocast = _autocast(device, precision)
    total = len(rows) * len(cols)
    layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    if total == 1:
        with autocast:
            out = _run(model, x.to(device, torch.float32), iterations)
        check_output_values(out, model, precision)
        if on_tile is not None:
            on_tile(1, 1)
        return out.contiguous(memory_format=layout).float().clamp_(0.0, 1.0).to(x.device)

    radius = diameter // 2
    out = torch.zeros_like(x, dtype=torch.float32, memory_format=layout)
    weight_sum = torch.zeros(height, width, dtype=torch.float32, device=x.device)
    done = 0
    for row in rows:
        row_weight = blend_weights(row, radius)
        for col in cols:
            patch = x[..., row.start : row.stop, col.start : col.stop].to(device, torch.float32)
            with autocast:
                result = _run(model, patch, iterations)
            check_output_values(result, model, precision)
            weight = (row_weight[:, None] * blend_weights(col, radius)[None, :]).to(x.device)
            out[..., row.start : row.stop, col.start : col.stop] += result.float().to(x.device) * weight
            weight_sum[row.start : row.stop, col.start : col.stop] += weight
            del patch, result
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return out.div_(weight_sum).clamp_(0.0, 1.0)


# ------------------------------------------------------------------------------------------------- public API


def _has_array_interface(image: object) -> bool:
    """Whether numpy takes ``image`` as an array as it is (``__array__``, the array interface or struct), as it does
    a CuPy, JAX or xarray array; a list, a number or None it would make into an array of its own."""
    return any(hasattr(image, name) for name in ("__array__", "__array_interface__", "__array_struct__"))


def _array_to_batch(image: np.ndarray) -> tuple[torch.Tensor, np.ndarray | None, bool]:
    """(1, 3, H, W) float32 batch, the alpha channel (untouched) or None, and whether the input was greyscale."""
    check_image_dtype(image.dtype)  # first: an array of another kind (object, int32) is named by its dtype
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise DeblurSettingsError(
            f"image shape {image.shape}: expected (H, W), or (H, W, C) with C = 1, 2 (grey + alpha), 3 or 4 (RGBA)"
        )
    channels = image.shape[2]
    alpha = image[..., -1].copy() if channels in (2, 4) else None
    colour = unit_float(image[..., : 1 if channels <= 2 else 3])  # alpha is passed through, unchecked
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    # A view, no copy: laid out channels_last, as the network runs, and so is deblur_tensor's result for it.
    return torch.from_numpy(np.ascontiguousarray(colour)).permute(2, 0, 1)[None], alpha, channels <= 2


def _batch_to_array(batch: torch.Tensor, like: np.ndarray, alpha: np.ndarray | None, greyscale: bool) -> np.ndarray:
    rgb = batch[0].permute(1, 2, 0).cpu().numpy()
    colour = rgb.mean(axis=2, keepdims=True) if greyscale else rgb
    if like.dtype in (np.uint8, np.uint16):
        top = 255.0 if like.dtype == np.uint8 else 65535.0
        colour = np.rint(colour * top).astype(like.dtype)
    else:
        colour = colour.astype(like.dtype)
    if alpha is not None:
        colour = np.concatenate([colour, alpha[..., None].astype(colour.dtype)], axis=2)
    return colour.reshape(like.shape)


# The byte order of each explicitly ordered 16-bit greyscale Pillow mode, which Image.fromarray does not give back.
_I16_BYTE_ORDERS = {"I;16B": ">u2", "I;16L": "<u2", "I;16N": "=u2"}


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """The pixels of a Pillow image as an array ``deblur`` takes: 8-bit L, LA, RGB, RGBA, or 16-bit greyscale.

    Transparency is kept as ``read_image`` keeps a file's: a palette image with any (a ``transparency`` entry or
    alpha in its palette) becomes RGBA, and a bilevel, L or RGB image's key colour (``info["transparency"]``) becomes
    an alpha channel (LA, RGBA), 0 on the pixels of exactly that colour, when any has it.
    """
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    if mode == "1":
        image = image.convert("L")  # Pillow scales a bilevel key colour to 255 as it reads one
    elif mode in ("P", "PA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif mode in ("CMYK", "YCbCr", "RGBX", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise DeblurSettingsError(f"Pillow image mode {mode}: use L, LA, RGB, RGBA or I;16")
    array = np.asarray(image)
    alpha = key_alpha(array, image.info.get("transparency"), 8) if mode in ("1", "L", "RGB") else None
    return array if alpha is None else np.dstack([array, alpha])


@overload
def deblur(
    image: torch.Tensor,
    model: nn.Module | None = ...,
    weights: str | Path | None = ...,
    iterations: WholeNumber | None = ...,
    device: str | torch.device = ...,
    precision: Precision = ...,
    tile: WholeNumber | None = ...,
    tile_overlap: WholeNumber | None = ...,
) -> torch.Tensor: ...


@overload
def deblur(
    image: Image.Image,
    model: nn.Module | None = ...,
    weights: str | Path | None = ...,
    iterations: WholeNumber | None = ...,
    device: str | torch.device = ...,
    precision: Precision = ...,
    tile: WholeNumber | None = ...,
    tile_overlap: WholeNumber | None = ...,
) -> Image.Image: ...


@overload
def deblur(
    image: SupportsArray,
    model: nn.Module | None = ...,
    weights: str | Path | None = ...,
    iterations: WholeNumber | None = ...,
    device: str | torch.device = ...,
    precision: Precision = ...,
    tile: WholeNumber | None = ...,
    tile_overlap: WholeNumber | None = ...,
) -> np.ndarray: ...


def deblur(
    image: np.ndarray | torch.Tensor | Image.Image | SupportsArray,
    model: nn.Module | None = None,
    weights: str | Path | None = None,
    iterations: WholeNumber | None = None,
    device: str | torch.device = "auto",
    precision: Precision = "fp32",
    tile: WholeNumber | None = None,
    tile_overlap: WholeNumber | None = None,
) -> np.ndarray | torch.Tensor | Image.Image:
    """Deblur one image (numpy or Pillow) or a batch (torch) and return the result in the input's type, shape and
    dtype (in native byte order: a big-endian numpy ``>u2`` image comes back as native ``uint16``).

    Args:
        image: numpy (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4), uint8, uint16 or float in [0, 1]
            (greyscale is repeated to RGB and the channel mean returned; alpha is passed through untouched); or a
            float torch tensor (B, 3, H, W) or (3, H, W) in [0, 1]; or a Pillow image (L, LA, RGB, RGBA or 16-bit
            greyscale I;16, I;16B, I;16L, I;16N come back in their mode; palette, bilevel, CMYK and YCbCr images come
            back as RGB(A) or L; an L or RGB image's key colour ``info["transparency"]`` comes back as alpha, LA or
            RGBA, as the command line reads a PNG's; ``info`` keeps the ICC profile, EXIF, dpi and a HEIF's nclx
            colour description). Any height and width >= 1. Another array with numpy's array interface (e.g.
            ``__array__``) is taken as numpy and comes back as a numpy array; anything else (None, a list: use
            ``np.asarray``) is a ``DeblurSettingsError`` naming its type. (For a type checker, one with ``__array__``
            is a :class:`SupportsArray`, typed to give numpy back; one with only ``__array_interface__`` or
            ``__array_struct__`` runs too but matches no signature: pass ``np.asarray(image)``.)
        model: a GolfOptimizer or ResidualCNN object of any float dtype, run in float32 (folded for inference on the
            fly in a copy, on every call: the model may have changed since; a folded one, from :func:`prepare_model`,
            is used as it is, cast to float32 and moved in place: prepare a model once to deblur many images with
            it). None loads ``weights`` (a name or path given here is refused, naming ``weights=``).
        weights: a packaged weights name or a .safetensors path; None = the packaged default, if installed. The
            model prepared from them is kept for the next calls with the same weights and device (the last two; one
            whose file or model card has changed since is loaded anew; :func:`clear_prepared_models` forgets them),
            so a loop over many images loads and folds them once.
        iterations: applications of D, a whole number from 0 to ``MAX_ITERATIONS`` (64; default: the model's T,
            which is held to the same bound). It, ``tile`` and ``tile_overlap`` take numpy integers too.
        device: "auto" (CUDA, else Apple MPS, else the CPU), "cpu", "cuda", "cuda:N" or "mps".
        precision: "fp32", "bf16" or "fp16" (autocast; fp16 also works on CPU in torch >= 2.4, slowly). "fp32" on a
            CUDA device is full fp32, not TF32: while its model runs, tile by tile, in any thread, cuDNN's TF32
            convolutions are off for the whole process (cuDNN's settings are one per process), and the settings are
            put back as they were after the last such tile (:class:`golfdeblur.device.full_fp32`).
        tile: largest tile side; None chooses (whole image up to 1536 px a side, then tiles of 1536 px or twice
            the overlap if larger, see :func:`default_tile`); 0 disables tiling.
        tile_overlap: tile overlap in pixels; None = what the weights' card measured (:func:`weights_tile_overlap`) when
            ``weights`` are loaded here, else the receptive-field diameter, which makes tiling exact.

    Shape:
        same as the input; values clamped to [0, 1] (or the integer range). A torch result carries no gradient
        (inference runs under ``torch.no_grad()``), whether or not the input requires grad.

    Raises:
        WeightsError: no model given and no usable weights, BatchNorm statistics that are not finite or a negative
        variance, or the model's output is not finite (NaN weights).
        DeblurSettingsError: bad shape, dtype or setting (``tile`` and ``tile_overlap`` are whole numbers >= 0; with
        ``iterations`` None, a model whose config.iterations exceeds ``MAX_ITERATIONS``), a sparse or meta tensor or
        model, or float values that are not finite or lie outside [0, 1] by more than a resize's overshoot (beyond
        ``input_values.INPUT_VALUE_RANGE``, [-0.5, 1.5]: e.g. a [-1, 1] or 0-255 float image).

    Example:
        >>> from golfdeblur import GolfConfig, GolfOptimizer
        >>> out = deblur(np.zeros((20, 30, 3), np.uint8), model=GolfOptimizer(GolfConfig(4, 4, 1)), device="cpu")
        >>> out.shape, out.dtype
        ((20, 30, 3), dtype('uint8'))
        >>> picture = deblur(Image.new("RGB", (30, 20)), model=GolfOptimizer(GolfConfig(4, 4, 1)), device="cpu")
        >>> picture.mode, picture.size
        ('RGB', (30, 20))
    """
    if isinstance(image, (str, os.PathLike)):  # np.asarray would make it a 0-d array: "image shape ()"
        raise DeblurSettingsError(
            f"image {str(image)!r} is a path: pass the image itself (numpy, torch or Pillow, e.g. "
            "PIL.Image.open(path)), or run `golfdeblur deblur PATH -o OUT`"
        )
    if not isinstance(image, np.ndarray | torch.Tensor | Image.Image) and not _has_array_interface(image):
        # np.asarray(None) is an object array ("image dtype object"); a list would come back as an array, not a list
        raise DeblurSettingsError(
            f"image of type {type(image).__name__}: expected a numpy array, a torch tensor or a Pillow image"
            + (" (np.asarray(image) for a nested list)" if isinstance(image, list | tuple) else "")
        )
    iterations = check_iterations(iterations)  # before the weights' card is read at this T
    tile, tile_overlap = check_tile(tile), check_tile(tile_overlap, "tile_overlap")
    ready: GolfOptimizer | ResidualCNN
    if model is None:  # by name or path: prepared once, then kept (prepared_weights)
        ready, card, path = prepared_weights(weights, device)
        if tile_overlap is None:
            tile_overlap = card_tile_overlap(card, iterations, path)
    else:  # a model object may change between calls (training): prepared anew, unless it is (prepare_model)
        ready = prepare_model(model, weights, device)
    run = functools.partial(
        deblur_tensor, model=ready, iterations=iterations, precision=precision, tile=tile, tile_overlap=tile_overlap
    )
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise DeblurSettingsError(f"tensor dtype {image.dtype}: use a float tensor in [0, 1]")
        if image.ndim not in (3, 4) or image.shape[-3] != 3:
            raise DeblurSettingsError(f"tensor shape {tuple(image.shape)}: expected (B, 3, H, W) or (3, H, W)")
        if image.shape[-1] < 1 or image.shape[-2] < 1:
            raise DeblurSettingsError(f"tensor shape {tuple(image.shape)}: needs at least one pixel")
        batch = image[None] if image.ndim == 3 else image
        check_input_values(batch)  # in its own dtype: .float() would make a float64 1e39 infinity
        out = run(batch.float()).to(image.dtype).contiguous()  # deblur_tensor keeps a channels_last layout; not here
        return out[0] if image.ndim == 3 else out
    array = _pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    array = array.astype(array.dtype.newbyteorder("="), copy=False)  # big-endian uint16 comes back native
    if array.ndim >= 2 and (array.shape[0] < 1 or array.shape[1] < 1):  # other ndims: _array_to_batch lists shapes
        raise DeblurSettingsError(f"image shape {array.shape}: needs at least one pixel")
    batch, alpha, greyscale = _array_to_batch(array)
    restored = _batch_to_array(run(batch), array, alpha, greyscale)
    if not isinstance(image, Image.Image):
        return restored
    picture = Image.fromarray(restored)  # 16-bit greyscale comes out as I;16 (little-endian)
    if image.mode in _I16_BYTE_ORDERS:  # I;16B, I;16L, I;16N: the same values in the input's mode
        picture = Image.frombytes(image.mode, picture.size, restored.astype(_I16_BYTE_ORDERS[image.mode]).tobytes())
    # The pixels keep the input's orientation, so its EXIF (orientation tag included) still describes them; a HEIF's
    # colour description (pillow-heif's nclx_profile, e.g. Display P3) still describes their colours.
    picture.info.update({key: image.info[key] for key in ("exif", "dpi", "nclx_profile") if key in image.info})
    # A CMYK, YCbCr or Lab picture comes back as RGB: its profile no longer describes the pixels.
    if icc_matches(image.info.get("icc_profile"), greyscale=picture.getbands()[0] in ("L", "I")):
        picture.info["icc_profile"] = image.info["icc_profile"]
    return picture
