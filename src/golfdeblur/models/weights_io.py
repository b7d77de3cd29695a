"""Weights as safetensors (never pickle) beside a JSON model card that records how they were made."""

from __future__ import annotations

import hashlib
import json
import os
import string
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from golfdeblur.atomic import atomic_write_bytes, atomic_write_text
from golfdeblur.checkout import PACKAGE_DIR
from golfdeblur.deblur_defaults import MAX_ITERATIONS
from golfdeblur.device import resolve_device
from golfdeblur.errors import WeightsError, not_a_regular_file, os_reason
from golfdeblur.models.blocks import BasicBlock
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.user_path import user_path

PACKAGED_DIR = PACKAGE_DIR / "weights"  # the weights that ship inside the package
NO_WEIGHTS_HINT = (
    "no trained weights are installed with this version of golfdeblur; train some with `golfdeblur train` "
    "(see docs/TRAINING.md) and pass the resulting .safetensors file with --weights"
)
# A model card is a few kilobytes (the packaged one about 8 KB); a larger one is refused before it is read, as JSON
# parsing takes many times its size in memory.
MAX_CARD_BYTES = 1 << 20


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def non_utf8_path(path: str | Path) -> str | None:
    """``path`` shown with its undecodable bytes as ``\\xNN`` when it is not valid UTF-8, else None. safetensors
    opens only UTF-8 paths, and its error reads like a corrupt file, so such paths are refused up front.

    Example:
        >>> non_utf8_path("runs/a"), non_utf8_path(os.fsdecode(b"run\\xff"))
        (None, 'run\\\\xff')
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return None


def card_path_for(weights_path: str | Path) -> Path:
    """The model card of ``x.safetensors`` is ``x.json``."""
    return Path(weights_path).with_suffix(".json")


def packaged_path(name: str) -> Path:
    """Where the packaged weights ``name`` (e.g. ``golf-synthetic-v1``) live, or would live, inside the package."""
    return PACKAGED_DIR / f"{name}.safetensors"


def packaged_weights() -> list[str]:
    """Names of the weights that ship inside the package (the files in golfdeblur/weights/)."""
    return sorted(p.stem for p in PACKAGED_DIR.glob("*.safetensors"))


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """Write ``tensors`` (on the CPU, contiguous) and ``metadata`` to the .safetensors file ``path``, atomically, in
    the same bytes every time for the same tensors and metadata.

    safetensors writes its metadata map in no fixed order (a Rust HashMap), so the same weights saved twice could
    get two sha256s; the header is written again with the metadata sorted by key (a format safetensors reads back).
    """
    data = save(tensors, metadata=metadata)
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data keep the 8-byte alignment safetensors gives them
    atomic_write_bytes(path, len(text).to_bytes(8, "little") + text + data[8 + size :])


def save_module_weights(module: torch.nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """Write ``module``'s state dict (on the CPU, contiguous) to the .safetensors file ``path``, atomically."""
    write_safetensors({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, path, metadata)
    return Path(path)


def save_golf(model: GolfOptimizer, path: str | Path, card: dict | None = None) -> Path:
    """Save ``model`` as ``path`` (.safetensors) and its model card as ``path`` with .json; both atomically.

    The card holds the architecture (widths, T), whatever ``card`` adds (training data, recipe, steps, metrics with
    their conventions) and the sha256 of the weights file. Returns the weights path.

    Raises:
        WeightsError: ``path`` does not end in .safetensors, or ``model`` was folded for inference
            (``fuse_for_inference``, ``prepare_model``: no BatchNorm left, which no loader takes back); nothing is
            written then.

    Example:
        >>> import tempfile
        >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = save_golf(model, Path(tmp) / "tiny.safetensors", card={"steps": 0})
        ...     card = read_card(path)
        ...     print(sorted(p.name for p in Path(tmp).iterdir()), card["sha256"] == sha256_of(path))
        ['tiny.json', 'tiny.safetensors'] True
        >>> card["architecture"], card["g_width"], card["d_width"], card["iterations"], card["steps"]
        ('GolfOptimizer', 4, 2, 3, 0)
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors":  # as resolve_weights, which loads it back
        raise WeightsError(f"weights {path}: the file name must end in .safetensors")
    if any(isinstance(m, BasicBlock) and not isinstance(m.bn1, torch.nn.BatchNorm2d) for m in model.modules()):
        raise WeightsError(
            f"weights {path}: cannot save a model folded for inference (fuse_for_inference, prepare_model): its "
            "BatchNorm is gone and load_golf could not read it back; save the GolfOptimizer before folding"
        )
    save_module_weights(model, path, {"format": "pt", "architecture": "GolfOptimizer"})
    write_card(path, {**(card or {}), **model.describe()}, sha256_of(path))
    return path


def write_card(weights_path: Path, card: dict, sha256: str, replace: bool = True) -> None:
    """Write ``card`` as the model card of ``weights_path`` (atomically), naming the file and its ``sha256``;
    ``replace`` False: never over an existing card, even one written since the caller checked (FileExistsError)."""
    full_card = {**card, "weights_file": weights_path.name, "sha256": sha256}
    text = json.dumps(full_card, indent=2, sort_keys=True) + "\n"
    atomic_write_text(card_path_for(weights_path), text, replace=replace)


def resolve_weights(name_or_path: str | Path) -> Path:
    """A packaged name (e.g. ``golf-synthetic-v1``) or a path to a .safetensors file -> the file's path.

    A name with no ``/`` is the packaged name when ``golfdeblur/weights/<name>.safetensors`` exists, except that an
    existing file of that name ending in .safetensors (what ``golfdeblur train`` writes, e.g. ``golf.safetensors``) is
    the user's own: it is taken over a packaged ``golf.safetensors.safetensors``, which ``golfdeblur release`` no longer
    writes. Anything else at such a name (a folder, a file without that suffix) cannot be weights, so there the
    packaged file is meant.

    Raises:
        WeightsError: an empty name; no such file or packaged name; a folder, pipe or device; a file without the
            .safetensors suffix (a model card, an ONNX export), which would otherwise fail later as a checksum
            mismatch or a missing card; or a path that is not valid UTF-8 (``non_utf8_path``), which would fail as
            a corrupt file.

    Example:
        >>> resolve_weights("golf-synthetic-v1").name
        'golf-synthetic-v1.safetensors'
    """
    text = str(name_or_path)
    if not text.strip():  # Path("") is the working folder: "is a folder" would be a puzzling answer
        known = ", ".join(packaged_weights()) or "none installed"
        raise WeightsError(
            f"weights {text!r}: the name is empty; name packaged weights ({known}) or a .safetensors path"
        )
    packaged = packaged_path(text)
    is_packaged = "/" not in text and packaged.is_file() and not _is_own_weights_file(text)
    path = packaged if is_packaged else user_path(text)
    shown = non_utf8_path(path)
    if shown is not None:
        raise WeightsError(f"weights {shown}: path is not valid UTF-8, which safetensors cannot open")
    if is_packaged:
        return path
    try:
        if path.is_file():
            if path.suffix.lower() != ".safetensors":
                beside = path.with_suffix(".safetensors")
                hint = (
                    f"pass {beside}, the weights beside it"
                    if beside.is_file()
                    else "pass the .safetensors beside its card"
                )
                raise WeightsError(f"weights {text}: not a .safetensors file ({hint})")
            return path
        if path.is_dir():
            inside = sorted(p.name for p in path.glob("*.safetensors"))
            hint = f" ({', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''} in it)" if inside else ""
            raise WeightsError(f"weights {text}: is a folder; name a .safetensors file{hint}")
        what = not_a_regular_file(path)  # a named pipe (reading it would block), /dev/zero (it never ends)
        if what is not None:
            raise WeightsError(f"weights {text}: {what}; name a .safetensors file")
    except OSError as exc:  # a parent that may not be searched, a name too long
        raise WeightsError(f"weights {text}: cannot read it ({exc.strerror or exc})") from exc
    known = ", ".join(packaged_weights()) or "none installed"
    raise WeightsError(f"weights {text}: no such file, and not a packaged name (packaged: {known})")


def _is_own_weights_file(text: str) -> bool:
    """Whether ``text`` names an existing file ending in .safetensors (any case), which is a user's weights file."""
    if not text.lower().endswith(".safetensors"):
        return False
    try:
        return user_path(text).is_file()
    except OSError:  # a name too long for the file system: no file of it, so not the user's
        return False


def read_card(weights_path: str | Path) -> dict:
    """The model card beside a weights file; missing or malformed cards are a WeightsError."""
    card_file = card_path_for(weights_path)
    if not card_file.is_file():
        what = not_a_regular_file(card_file)  # a folder, a named pipe (reading it would block), a device
        if what is not None:
            raise WeightsError(f"weights {weights_path}: model card {card_file.name} beside it: {what}")
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is missing beside it")
    try:
        with open(card_file, "rb") as handle:  # no more than the limit is read, whatever size the file claims
            text = handle.read(MAX_CARD_BYTES + 1)
            size = max(len(text), os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise WeightsError(
            f"weights {weights_path}: model card {card_file.name} cannot be read ({os_reason(exc)})"
        ) from exc
    if size > MAX_CARD_BYTES:
        raise WeightsError(
            f"weights {weights_path}: model card {card_file.name} is {size:,} bytes, over the limit of "
            f"{MAX_CARD_BYTES:,} (a card is a few kilobytes)"
        )
    try:
        card = json.loads(text.decode("utf-8"))
    except RecursionError as exc:  # arrays or objects nested a thousand deep
        raise WeightsError(
            f"weights {weights_path}: model card {card_file.name} is not valid JSON (nested too deeply)"
        ) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer beyond Python's digit limit
        digits = not isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) and "digits" in str(exc)
        reason = f"a number of more than {sys.get_int_max_str_digits()} digits" if digits else str(exc)
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is not valid JSON ({reason})") from exc
    if not isinstance(card, dict):
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is not a JSON object")
    return card


def load_golf(name_or_path: str | Path, map_location: str | torch.device = "cpu") -> GolfOptimizer:
    """Build a GolfOptimizer from its model card and load its weights, checking the card's sha256.

    ``map_location`` is a device name as everywhere in golfdeblur ("auto", "cpu", "cuda", "cuda:N", "mps"; see
    ``golfdeblur.device.resolve_device``), checked before the file is read.

    Raises:
        DeviceError: ``map_location`` is not a device golfdeblur runs on, or is not available here.
        WeightsError: the file is missing, its card is missing or broken, the checksum differs, a tensor is not
            floating point (BatchNorm's ``num_batches_tracked`` aside), the tensors do not fit the architecture the
            card names (checked before the model is built, so a wrong width allocates nothing), or they cannot be
            put on ``map_location``. Half, bfloat16 and double tensors are loaded as float32.

    Example:
        >>> import tempfile
        >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     loaded = load_golf(save_golf(model, Path(tmp) / "tiny.safetensors"))
        >>> loaded.config, loaded.training
        (GolfConfig(g_width=4, d_width=2, iterations=3, relu_before_add=False), False)
        >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
        True
    """
    return load_golf_and_card(name_or_path, map_location)[0]


def load_golf_and_card(
    name_or_path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[GolfOptimizer, dict]:
    """:func:`load_golf`, and the model card the model was built from, read once (a card read again could be a
    newer one, written meanwhile). Raises what ``load_golf`` raises."""
    device = resolve_device(map_location)  # a bad device is named as such, not blamed on the weights file
    path = resolve_weights(name_or_path)
    card = read_card(path)
    expected = card.get("sha256")
    if not expected:
        raise WeightsError(f"weights {path}: model card has no sha256 to check the file against")
    if not isinstance(expected, str) or len(expected) != 64 or not set(expected) <= set(string.hexdigits):
        raise WeightsError(f"weights {path}: model card's sha256 {json.dumps(expected)} is not 64 hexadecimal digits")
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise WeightsError(f"weights {path}: cannot read it ({exc.strerror or exc})") from exc
    if actual != expected.lower():
        raise WeightsError(f"weights {path}: checksum mismatch (card {expected[:12]}..., file {actual[:12]}...)")
    config = GolfConfig(
        g_width=card_int(card, "g_width", path, minimum=1),
        d_width=card_int(card, "d_width", path, minimum=1),
        iterations=card_int(card, "iterations", path, minimum=0, maximum=MAX_ITERATIONS),
        # cards written before 2026-11-29 do not name it: their networks add before the last ReLU
        relu_before_add=bool(card_field(card, "relu_before_add", path, bool)),
    )
    try:
        # safetensors takes "cuda:N", but "cpu" and "mps" only without an index
        tensors = load_file(str(path), device=str(device) if device.type == "cuda" else device.type)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights {path}: not a readable safetensors file ({exc})") from exc
    except RuntimeError as exc:  # a device resolve_device accepted that cannot take them (out of memory, a GPU error)
        detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise WeightsError(f"weights {path}: cannot load the tensors onto {device} ({detail})") from exc
    for name, tensor in tensors.items():  # load_state_dict would cast integers and booleans to floats silently
        if not tensor.is_floating_point() and name.rsplit(".", 1)[-1] != "num_batches_tracked":
            raise WeightsError(f"weights {path}: tensor {name} is {tensor.dtype}, not floating point")
    with torch.device("meta"):  # the card's widths are checked against the file before any memory is spent on them
        _load_state(GolfOptimizer(config), tensors, path, assign=True)
        # Built without values and then filled: a random initialisation would draw from the caller's global random
        # generator (torch.manual_seed(0); load; torch.rand(1) would differ) only to be overwritten.
        model = GolfOptimizer(config).float()  # float32 as documented, under torch.set_default_dtype(float64) too
    model.to_empty(device=device)  # contiguous, as built; the file's tensors are copied (and cast) into it
    for module in model.modules():  # the 0 a BatchNorm is built with, which it keeps for a file that lacks the count
        if isinstance(module, torch.nn.BatchNorm2d) and module.num_batches_tracked is not None:
            module.num_batches_tracked.zero_()
    _load_state(model, tensors, path)
    return model.eval(), card


def _load_state(model: GolfOptimizer, tensors: dict[str, torch.Tensor], path: Path, assign: bool = False) -> None:
    """``model.load_state_dict(tensors, strict=True)``; keys or shapes that differ are a one-line WeightsError."""
    try:
        model.load_state_dict(tensors, strict=True, assign=assign)
    except RuntimeError as exc:
        # torch's first line only says "Error(s) in loading state_dict for GolfOptimizer:"; the next names the
        # first mismatch (a size, missing or unexpected keys), which may list many keys: cut it short.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines or [type(exc).__name__])[0]
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise WeightsError(f"weights {path}: tensors do not fit the architecture in the card ({detail})") from exc


_KIND_NAMES: dict[Any, str] = {dict: "an object", list: "a list", str: "a string", bool: "true or false",
                               int: "a whole number", (int, float): "a number"}  # fmt: skip


def card_field(
    card: dict, field: str, weights_path: str | Path, kind: Any, required: bool = False, items: Any = None
) -> Any:
    """``card[field]`` (a dotted path into nested objects, e.g. ``inference.tile_overlap``), checked to be of ``kind``
    (dict, list, str, bool, int or (int, float); JSON's true is no number) and, for a list, each item of ``items``.
    None when absent or null, unless ``required``; a malformed or missing field is a WeightsError naming the weights
    and the field, not a traceback where it is used.

    Example:
        >>> card_field({"campaign": {"g_steps": 5}}, "campaign.g_steps", "w.safetensors", int)
        5
    """
    value: Any = card
    for key in field.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        if required:
            raise WeightsError(f"weights {weights_path}: model card has no {field}")
        return None
    checks = [(field, value, kind)] + [(f"{field}[{i}]", item, items) for i, item in enumerate(value if items else [])]
    for name, found, wanted in checks:
        if not isinstance(found, wanted) or (isinstance(found, bool) and wanted is not bool):
            raise WeightsError(
                f"weights {weights_path}: model card's {name} {json.dumps(found)[:60]} is not {_KIND_NAMES[wanted]}"
            )
    return value


def card_int(card: dict, field: str, weights_path: str | Path, minimum: int = 0, maximum: int | None = None) -> int:
    """``card[field]`` (a dotted path, as in :func:`card_field`), which must be a whole number of at least ``minimum``
    (and at most ``maximum``, if given); a WeightsError naming the weights and the field otherwise.

    Example:
        >>> card_int({"inference": {"tile_overlap": 128}}, "inference.tile_overlap", "w.safetensors")
        128
    """
    value: object = card
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            raise WeightsError(f"weights {weights_path}: model card has no {field}")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WeightsError(
            f"weights {weights_path}: model card's {field} {json.dumps(value)} is not a whole number of at least "
            f"{minimum}"
        )
    if maximum is not None and value > maximum:
        raise WeightsError(f"weights {weights_path}: model card's {field} {value} is over the limit of {maximum}")
    return value
