"""Export a Golf Optimizer to ONNX, for deployment without PyTorch (ONNX Runtime, TensorRT, OpenVINO, ...).

The exported graph is what :func:`golfdeblur.infer.deblur_tensor` computes on one untiled batch: BatchNorm folded,
G then D applied ``iterations`` times, the result clamped to [0, 1]. Batch, height and width are dynamic axes, so one
file serves any image size (all convolutions are stride 1). There is no tiling inside the graph, so memory grows
with the pixel count (one 1536x1536 image peaked at 1.2 GiB resident in ONNX Runtime 1.32 on a 2-core CPU, G + 3 D);
tile large images yourself (overlap at least ``golfdeblur.models.receptive_field``, 369 px for G + 3 D, for exact
seams, or the overlap measured for the weights, which the file's ``tile_overlap`` metadata gives) or use
``golfdeblur deblur``.

Needs the optional extra: ``pip install 'golfdeblur[onnx]'`` (onnx and onnxscript for the export, onnxruntime for the
check).

Example:
    >>> from golfdeblur.export import export_onnx                                            # doctest: +SKIP
    >>> report = export_onnx("golf.onnx", weights="runs/default/golf.safetensors", iterations=3)  # doctest: +SKIP
    >>> report.max_difference < 1e-4                                                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from golfdeblur import __version__
from golfdeblur.atomic import atomic_path, made_folders_removed_on_failure, prepare_folder
from golfdeblur.deblur_defaults import MAX_ITERATIONS
from golfdeblur.errors import DeblurSettingsError, GolfdeblurError, os_reason
from golfdeblur.infer import card_tile_overlap, check_iterations, default_weights, prepare_model
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.receptive_field import receptive_field
from golfdeblur.models.weights_io import read_card, resolve_weights, sha256_of
from golfdeblur.output_guard import existing_output
from golfdeblur.user_path import user_path

INPUT_NAME = "blurry"
OUTPUT_NAME = "deblurred"
OPSET = 18  # the opset torch's exporter builds its operators for (TORCHLIB_OPSET in torch 2.13)
# The check runs both on two sizes, one in a batch of two, so a size or batch baked into the graph would show.
CHECK_SHAPES = ((2, 3, 45, 67), (1, 3, 96, 33))
CHECK_TOLERANCE = 1e-4  # fp32 on the same CPU: measured 2-4e-7 for G + 3 D with random weights


class ExportError(GolfdeblurError):
    """The export cannot be made or does not match the PyTorch model; one-line message."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime reproduces PyTorch on it.

    ``max_difference`` is the largest absolute difference over ``CHECK_SHAPES`` (None when the check was skipped;
    never NaN: an output that is not finite, on either side, is an infinite difference and refuses the export).
    """

    path: Path
    iterations: int
    max_difference: float | None


class _ClampedGolf(nn.Module):
    """``deblur_tensor`` without tiling: (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1]."""

    def __init__(self, network: nn.Module, iterations: int) -> None:
        super().__init__()
        self.network = network
        self.iterations = iterations

    def forward(self, blurry: torch.Tensor) -> torch.Tensor:
        if isinstance(self.network, GolfOptimizer):
            out = self.network(blurry, iterations=self.iterations)
        else:
            out = self.network(blurry)
        return out.clamp(0.0, 1.0)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Errors only from logger ``name`` (the exporter warns about torchvision operators this model never uses)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError as exc:
        raise ExportError(f"export: needs {module} (install the extra: pip install 'golfdeblur[onnx]')") from exc


def export_onnx(
    path: str | Path,
    model: nn.Module | None = None,
    weights: str | Path | None = None,
    iterations: int | None = None,
    overwrite: bool = False,
    check: bool = True,
) -> ExportReport:
    """Write the Golf Optimizer (or one ResidualCNN) as the ONNX file ``path``, atomically, and check it.

    Args:
        path: the .onnx file to write (``~`` is expanded; missing folders are made, and removed again if the export
            fails); an existing file is an error unless ``overwrite``, also one that another export wrote there
            during this one's work (kept, not replaced).
        model: a GolfOptimizer or ResidualCNN (BatchNorm folded here if needed); or give ``weights`` (a .safetensors
            file with its model card, or a packaged name); neither: the packaged default weights.
        iterations: T, the number of D applications baked into the graph, a whole number in 0..``MAX_ITERATIONS``
            (ignored for a lone ResidualCNN); None: the T of the model's config (from the weights' model card), as
            ``golfdeblur deblur`` uses, held to the same range.
        check: run the file with ONNX Runtime on seeded inputs of ``CHECK_SHAPES`` and compare with PyTorch; a
            difference above ``CHECK_TOLERANCE``, or an output that is not finite on either side, removes the file
            and raises ExportError.

    Shape:
        the graph's input ``blurry`` and output ``deblurred`` are float32 (B, 3, H, W), RGB in [0, 1], with B, H, W
        dynamic.

    Raises:
        ExportError: the file exists (or appeared during the export) or its folder cannot be made or written,
            ``iterations`` (given, or the model's) is not a whole number in range, the onnx extra is missing, or the
            check fails.
        WeightsError: the weights cannot be loaded, or their model card's ``inference`` section is malformed.

    Example:
        >>> report = export_onnx("golf.onnx", weights="golf.safetensors", iterations=3)  # doctest: +SKIP
        >>> report.max_difference < CHECK_TOLERANCE  # ONNX Runtime against PyTorch  # doctest: +SKIP
        True
    """
    path = user_path(path)
    if path.suffix.lower() != ".onnx":
        raise ExportError(f"export: {path}: the output file must end in .onnx")
    if path.is_dir():  # before the export's seconds of work; --overwrite never replaces a folder
        raise ExportError(f"export: {path} is a folder; name the .onnx file to write")
    existing = existing_output(path)  # a link to nothing too: with overwrite replaced, never followed
    if existing is not None and not overwrite:
        raise ExportError(f"export: {path} already exists{existing}; pass --overwrite to replace it")
    if iterations is not None:
        iterations = _iterations_in_range(iterations, "iterations")
    _require("onnx")
    _require("onnxscript")
    if check:
        _require("onnxruntime")  # the check runs after the export: a missing runtime is said before it
    source, card = "", {}
    if model is None:  # resolve the file once: it is loaded from here and named in the metadata, byte for byte
        weights = resolve_weights(weights if weights is not None else default_weights())
        source, card = f"{weights.name} sha256:{sha256_of(weights)}", read_card(weights)
    # (torch's type stubs lack Module.to's memory_format argument)
    # a copy: prepare_model works in place on a model already prepared (its mode, device and memory layout), and
    # the caller's model stays as it was
    own_copy = copy.deepcopy(model) if model is not None else None
    network = prepare_model(own_copy, weights, device="cpu").to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    if iterations is None:  # the model's own T (a card's is checked by load_golf): held to the same range
        own = network.config.iterations if isinstance(network, GolfOptimizer) else 0
        iterations = _iterations_in_range(own, "the model's config.iterations")
    overlap = card_tile_overlap(card, iterations, weights)  # a malformed inference section: said before the export
    if overlap is None:
        overlap = receptive_field(network, iterations)
    with made_folders_removed_on_failure(path.parent):  # a refused or failed export leaves no folder it made
        try:  # a folder that cannot be made or takes no file: said now, before the export's seconds of work
            prepare_folder(path)
        except GolfdeblurError as exc:
            raise ExportError(f"export: {exc}") from exc.__cause__
        metadata = _metadata(network, iterations, source, overlap)
        return _export(path, network, iterations, metadata, check, overwrite)


def _iterations_in_range(iterations: object, what: str) -> int:
    """``iterations`` as a plain int in 0..``MAX_ITERATIONS`` (a numpy integer included; True, 2.5 and "3" are not);
    else an ExportError naming ``what``."""
    try:
        whole = check_iterations(iterations)
    except DeblurSettingsError:
        whole = None
    if whole is None or whole > MAX_ITERATIONS:
        raise ExportError(f"export: {what} must be a whole number between 0 and {MAX_ITERATIONS}, got {iterations!r}")
    return whole


def _export(
    path: Path, network: nn.Module, iterations: int, metadata: dict[str, str], check: bool, overwrite: bool
) -> ExportReport:
    """Export ``network`` with ``iterations`` and ``metadata``, write it atomically as ``path`` and check it. Without
    ``overwrite`` a file that appeared at ``path`` since the caller's check (another export) is kept: an ExportError."""
    wrapped = _ClampedGolf(network, iterations).eval()
    example = torch.rand(*CHECK_SHAPES[0], generator=torch.Generator().manual_seed(0))
    batch, height, width = (torch.export.Dim(name, min=1) for name in ("batch", "height", "width"))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_logger("torch.onnx"):
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation chatter is not the user's business
        program = torch.onnx.export(
            wrapped,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"blurry": {0: batch, 2: height, 3: width}},
            optimize=True,
            verbose=False,
        )
    assert program is not None  # torch.onnx.export(dynamo=True) always returns the program
    program.model.metadata_props.update(metadata)
    max_difference = None
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            program.save(str(tmp), include_initializers=True, keep_initializers_as_inputs=False, external_data=False)
            if check:
                max_difference = _check(tmp, wrapped)
                if max_difference == math.inf:
                    raise ExportError(
                        f"export: {path}: ONNX Runtime or PyTorch gives values that are not finite (NaN or infinite) "
                        "on the check inputs; the file was not written"
                    )
                if not max_difference <= CHECK_TOLERANCE:
                    raise ExportError(
                        f"export: {path}: ONNX Runtime differs from PyTorch by {max_difference:.3g} "
                        f"(tolerance {CHECK_TOLERANCE:g}); the file was not written"
                    )
    except OSError as exc:  # the disk full, the folder changed since it was tried: named by the file, not its temporary
        raise ExportError(f"export: {path}: cannot write it ({os_reason(exc)}); the file was not written") from exc
    return ExportReport(path=path, iterations=iterations, max_difference=max_difference)


def _metadata(network: nn.Module, iterations: int, source: str, tile_overlap: int) -> dict[str, str]:
    """Key-value metadata a deployer can read with ``onnx.load(path).metadata_props``; ``tile_overlap`` is the one
    ``golfdeblur deblur`` would use (measured for the weights at their T, else the exact receptive field)."""
    if isinstance(network, GolfOptimizer):
        architecture = {**network.describe(), "iterations": iterations}
    else:
        architecture = {
            "architecture": "ResidualCNN",
            "width": network.width,
            "relu_before_add": network.relu_before_add,
        }
    return {
        "producer": f"golfdeblur {__version__}",
        "weights": source,
        "architecture": json.dumps(architecture),
        "input": f"{INPUT_NAME}: float32 (B, 3, H, W), RGB in [0, 1]",
        "output": f"{OUTPUT_NAME}: float32 (B, 3, H, W), RGB in [0, 1] (clamped)",
        "tile_overlap": str(tile_overlap),
    }


def _check(onnx_path: Path, wrapped: nn.Module) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch over ``CHECK_SHAPES`` (seeded inputs); infinite
    when either output holds a NaN or an infinity (a NaN difference would otherwise compare as no difference)."""
    _require("onnxruntime")
    import onnxruntime

    # The model's bytes, not its path: ONNX Runtime takes only a path that is valid UTF-8 (a TypeError otherwise), and
    # the file holds the whole model (no external data).
    session = onnxruntime.InferenceSession(onnx_path.read_bytes(), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for shape in CHECK_SHAPES:
        x = torch.rand(*shape, generator=generator)
        with torch.no_grad():
            expected = wrapped(x).numpy()
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        if not (np.isfinite(got).all() and np.isfinite(expected).all()):
            return math.inf
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst
