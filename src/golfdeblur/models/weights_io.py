"""Weights as safetensors (never pickle) beside a JSON model card that records how they were made."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from golfdeblur.atomic import atomic_write_bytes, atomic_write_text
from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfConfig, GolfOptimizer

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "weights"
NO_WEIGHTS_HINT = (
    "no trained weights are installed with this version of golfdeblur; train some with `golfdeblur train` "
    "(see docs/TRAINING.md) and pass the resulting .safetensors file with --weights"
)


class WeightsError(GolfdeblurError):
    """Weights that cannot be used: missing, unreadable, corrupt, or failing their checksum. One-line message."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path_for(weights_path: str | Path) -> Path:
    """The model card of ``x.safetensors`` is ``x.json``."""
    return Path(weights_path).with_suffix(".json")


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
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: weights files must end in .safetensors")
    save_module_weights(model, path, {"format": "pt", "architecture": "GolfOptimizer"})
    write_card(path, {**(card or {}), **model.describe()}, sha256_of(path))
    return path


def write_card(weights_path: Path, card: dict, sha256: str) -> None:
    """Write ``card`` as the model card of ``weights_path`` (atomically), naming the file and its ``sha256``."""
    full_card = {**card, "weights_file": weights_path.name, "sha256": sha256}
    atomic_write_text(card_path_for(weights_path), json.dumps(full_card, indent=2, sort_keys=True) + "\n")


def resolve_weights(name_or_path: str | Path) -> Path:
    """A packaged name (e.g. ``golf-synthetic-v1``) or a path to a .safetensors file -> the file's path."""
    text = str(name_or_path)
    packaged = PACKAGED_DIR / f"{text}.safetensors"
    if "/" not in text and packaged.is_file():
        return packaged
    path = Path(text).expanduser()
    if path.is_file():
        return path
    known = ", ".join(packaged_weights()) or "none installed"
    raise WeightsError(f"weights {text}: no such file, and not a packaged name (packaged: {known})")


def read_card(weights_path: str | Path) -> dict:
    """The model card beside a weights file; missing or malformed cards are a WeightsError."""
    card_file = card_path_for(weights_path)
    if not card_file.is_file():
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is missing beside it")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is not valid JSON ({exc})") from exc
    if not isinstance(card, dict):
        raise WeightsError(f"weights {weights_path}: model card {card_file.name} is not a JSON object")
    return card


def load_golf(name_or_path: str | Path, map_location: str | torch.device = "cpu") -> GolfOptimizer:
    """Build a GolfOptimizer from its model card and load its weights, checking the card's sha256.

    Raises:
        WeightsError: the file is missing, its card is missing or broken, the checksum differs, the tensors do
            not fit the architecture the card names, or they cannot be put on ``map_location``.

    Example:
        >>> import tempfile
        >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     loaded = load_golf(save_golf(model, Path(tmp) / "tiny.safetensors"))
        >>> loaded.config, loaded.training
        (GolfConfig(g_width=4, d_width=2, iterations=3), False)
        >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
        True
    """
    path = resolve_weights(name_or_path)
    card = read_card(path)
    expected = card.get("sha256")
    if not expected:
        raise WeightsError(f"weights {path}: model card has no sha256 to check the file against")
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(f"weights {path}: checksum mismatch (card {expected[:12]}..., file {actual[:12]}...)")
    try:
        config = GolfConfig(
            g_width=int(card["g_width"]), d_width=int(card["d_width"]), iterations=int(card["iterations"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"weights {path}: model card lacks a valid architecture ({exc})") from exc
    try:
        tensors = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights {path}: not a readable safetensors file ({exc})") from exc
    except RuntimeError as exc:  # torch refusing the device (no CUDA, no MPS, a GPU index past the last, ...)
        detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise WeightsError(f"weights {path}: cannot load the tensors onto {map_location} ({detail})") from exc
    model = GolfOptimizer(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise WeightsError(f"weights {path}: tensors do not fit the architecture in the card ({first})") from exc
    return model.to(map_location).eval()
