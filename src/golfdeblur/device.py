"""The one place a device name ("auto", "cpu", "cuda", "cuda:1", ...) becomes a torch.device, for inference,
evaluation and training alike."""

from __future__ import annotations

import torch

from golfdeblur.errors import GolfdeblurError


class DeviceError(GolfdeblurError, ValueError):
    """A device name that is not one, or a CUDA device on a machine (or torch build) without CUDA. One-line message."""


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """The torch.device that ``name`` means for this process.

    "auto" is this process's GPU when CUDA is available, else the CPU; "cuda" without an index is cuda:``local_rank``
    (the process's GPU under torchrun; GPU 0 otherwise); anything else is passed to torch.device as it is.

    Raises:
        DeviceError: ``name`` is not a device name, or names a CUDA device while CUDA is not available.
    """
    if str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"device {name!r}: not a device name (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name}: CUDA is not available on this machine (use cpu or auto)")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device
