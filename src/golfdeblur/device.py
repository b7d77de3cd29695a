"""The one place a device name ("auto", "cpu", "cuda", "cuda:1", "mps", ...) becomes a torch.device, for inference,
evaluation and training alike; what "fp32" means on it (``full_fp32``); and whether half precision is fast on this
CPU (``slow_precision_note``)."""

from __future__ import annotations

import threading

import torch

from golfdeblur.errors import GolfdeblurError


class DeviceError(GolfdeblurError, ValueError):
    """A device name that is not one, a device golfdeblur does not run on (xla, meta, cpu:1, ...), or a CUDA (MPS)
    device on a machine or torch build without it. One line."""


# The device types this project is built and tested for; torch.device also parses others (xla, xpu, hpu, meta,
# privateuseone, ...), on which golfdeblur would fail later with a traceback.
SUPPORTED_TYPES = ("cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """The torch.device that ``name`` means for this process.

    "auto" is this process's GPU when CUDA is available, else Apple's GPU when MPS is available, else the CPU;
    "cuda" without an index is cuda:``local_rank`` (the process's GPU under torchrun; GPU 0 otherwise); "cpu",
    "cuda:N" and "mps" (and "cpu:0", "mps:0") are passed to torch.device as they are.

    Raises:
        DeviceError: ``name`` is not a device name, names a device type other than cpu, cuda and mps (torch also
            parses xla, xpu, meta, ...), a CPU or MPS device other than the first (cpu:1), or a CUDA or MPS device
            that is not available (a CUDA index at or past ``torch.cuda.device_count()`` included).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("auto").type in ("cuda", "mps", "cpu")
        True
    """
    if str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"device {name!r}: not a device name (use auto, cpu, cuda, cuda:N or mps)") from exc
    if device.type not in SUPPORTED_TYPES:
        raise DeviceError(
            f"device {name}: golfdeblur does not run on {device.type} devices (use auto, cpu, cuda, cuda:N or mps)"
        )
    if device.type in ("cpu", "mps") and device.index not in (None, 0):
        raise DeviceError(f"device {name}: there is only one {device.type} device, {device.type} (or {device.type}:0)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name}: CUDA is not available on this machine (use cpu or auto)")
    if device.type == "mps" and not mps_available():
        raise DeviceError(f"device {name}: Apple's MPS is not available on this machine (use cpu or auto)")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        count = torch.cuda.device_count()
        if device.index >= count:
            gpus = "1 CUDA GPU, cuda:0" if count == 1 else f"{count} CUDA GPUs, cuda:0 to cuda:{count - 1}"
            raise DeviceError(f"device {name}: no such GPU as {device} (this machine has {gpus}; use cuda or auto)")
    return device


def mps_available() -> bool:
    """Whether Apple's Metal backend can run here (torch builds without it lack torch.backends.mps)."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _cpu_feature(name: str) -> bool:
    # torch.cpu's feature probes are private (torch 2.x): a torch without one is treated as lacking the feature.
    probe = getattr(torch.cpu, name, None)
    return bool(probe()) if callable(probe) else False


def slow_precision_note(device: torch.device | str, precision: str) -> str | None:
    """A one-line note (for ``notes.note``, which prefixes it) when ``precision`` ("bf16" or "fp16") is expected to run
    slower than fp32 on a CPU: bf16 without AVX-512 BF16 or AMX, where torch emulates it (G + 3 D ran 11-14 times
    slower than fp32 on an AVX2 CPU), and fp16 without AMX-FP16 (11-14 times slower on the AVX2 CPU, 1.4-2 times on an
    AVX-512 FP16 one with AMX-BF16, where bf16 ran 1.2-1.8 times faster than fp32; ``bench/cpu_precision_speed.py``).
    None when there is nothing to say.

    Example:
        >>> slow_precision_note("cpu", "fp32") is None, slow_precision_note("cuda", "bf16") is None
        (True, True)
    """
    if torch.device(device).type != "cpu" or precision == "fp32":
        return None
    if precision == "bf16":
        if _cpu_feature("_is_avx512_bf16_supported") or _cpu_feature("_is_amx_tile_supported"):
            return None
        return (
            "this CPU has no native bf16 (AVX-512 BF16 or AMX), so torch emulates it, far slower than fp32 "
            "(11-14x on an AVX2 CPU); fp32 is the fast choice here"
        )
    if _cpu_feature("_is_amx_fp16_supported"):
        return None
    return (
        f"{precision} runs slower than fp32 on a CPU without AMX-FP16 (1.4-2x with AVX-512 FP16, 11-14x on an "
        "AVX2 CPU); fp32 is the fast choice here"
    )


# cuDNN's TF32 settings are one per process, while the guards that turn TF32 off run in any thread (two threads
# deblurring on one GPU enter and leave theirs tile by tile, interleaved): the first guard in saves the settings and
# turns TF32 off, the last one out puts them back. Autocast, by contrast, is per thread in torch and needs none of this.
_tf32_lock = threading.Lock()
_tf32_holders = 0  # full_fp32 guards for CUDA entered and not yet left, in all threads
# torch >= 2.9 sets cuDNN's precision per operation (torch.backends.cudnn.conv.fp32_precision = "ieee"); a user who sets
# it so makes the legacy allow_tf32 unreadable ("a mix of the legacy and new APIs"). Older torch has the legacy only.
_CUDNN_OPS = ("conv", "rnn") if hasattr(torch.backends.cudnn, "conv") else ()
_tf32_saved: tuple[bool | None, tuple[str, ...]] = (True, ())  # (allow_tf32, per-op precisions) as the first found them


def _tf32_settings() -> tuple[bool | None, tuple[str, ...]]:
    """cuDNN's legacy allow_tf32 (None where torch refuses to read it) and its per-op precisions (none before 2.9)."""
    cudnn = torch.backends.cudnn
    try:
        legacy = cudnn.allow_tf32
    except RuntimeError:  # torch >= 2.9, once its legacy flag and per-op settings disagree
        legacy = None
    return legacy, tuple(getattr(cudnn, op).fp32_precision for op in _CUDNN_OPS)


def _set_tf32(legacy: bool | None, per_op: tuple[str, ...]) -> None:
    cudnn = torch.backends.cudnn
    if legacy is not None:  # first: on torch >= 2.9 it sets the per-op settings too, which are then set as given
        cudnn.allow_tf32 = legacy
    for op, precision in zip(_CUDNN_OPS, per_op, strict=True):
        getattr(cudnn, op).fp32_precision = precision


def _hold_tf32_off() -> None:
    global _tf32_holders, _tf32_saved
    with _tf32_lock:
        if _tf32_holders == 0:
            _tf32_saved = _tf32_settings()
            # "ieee" per op: explicit, so a TF32 set for all of cuDNN or all backends cannot reach convolutions; the
            # legacy flag, where it was readable, is turned off with them so that it still reads (False) inside.
            _set_tf32(None if _tf32_saved[0] is None else False, ("ieee",) * len(_CUDNN_OPS))
        _tf32_holders += 1


def _release_tf32() -> None:
    global _tf32_holders
    with _tf32_lock:
        if _tf32_holders <= 0:  # a release without a hold would put back settings saved by no guard
            raise RuntimeError("full_fp32: left without being entered")
        _tf32_holders -= 1
        if _tf32_holders == 0:
            _set_tf32(*_tf32_saved)


class full_fp32:  # noqa: N801 - used like torch.autocast, a context manager named as a function
    """Within: float32 stays float32 on ``device``. An enclosing ``torch.autocast`` for the device's type is switched
    off (a caller's bf16 autocast would otherwise run "fp32" deblurring in bf16, 2e-3 off), and float32 convolutions
    on a CUDA device run in full fp32, not TF32: cuDNN's default on Ampere and later GPUs (the H100s this project
    trains on) is TF32, which keeps 10 mantissa bits, so "fp32" results (deblur's ``--precision fp32``, evaluation,
    in-run validation) would differ from the CPU's beyond the tested tolerances. Autocast for other device types is
    left as it is.

    Autocast is per thread, but cuDNN's TF32 settings are one per process (``torch.backends.cudnn.conv`` and
    ``.rnn.fp32_precision``, set to "ieee" inside, on torch >= 2.9; ``torch.backends.cudnn.allow_tf32``, set to False,
    where it can be read): while any guard for a CUDA device is inside, in any thread (an fp32 deblur, evaluation or
    validation running on CUDA), TF32 convolutions are off process-wide, for other threads' work too; the settings are
    put back as the first guard found them when the last one leaves, however guards in different threads interleave.
    Reusable, like ``torch.autocast`` (tiled inference enters it once per tile), and re-entrant; an instance belongs to
    the thread that enters it, as a ``torch.autocast`` does (make one per thread). Leaving one not entered raises
    RuntimeError. On torch >= 2.9 the per-op settings are put back as values set explicitly (torch keeps no "not
    set"): they read as before, but a later ``torch.backends.fp32_precision`` or ``cudnn.fp32_precision`` no longer
    reaches convolutions; set ``cudnn.conv.fp32_precision`` itself.

    Example:
        >>> with torch.autocast("cpu", dtype=torch.bfloat16), full_fp32("cpu"):
        ...     torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype
        torch.float32
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device_type = torch.device(device).type
        self.cuda = self.device_type == "cuda"
        self.no_autocasts: list[torch.autocast | None] = []  # one per enter not yet left: re-entrant

    def __enter__(self) -> None:
        # TF32 first: if holding it fails, nothing else has changed; if switching autocast off fails, it is let go.
        if self.cuda:
            _hold_tf32_off()
        try:
            # A device type autocast does not know (e.g. "meta") has no autocast to switch off, and torch.autocast
            # refuses it even when disabled.
            no_autocast = None
            if torch.amp.is_autocast_available(self.device_type):
                no_autocast = torch.autocast(self.device_type, enabled=False)
                no_autocast.__enter__()
        except BaseException:
            if self.cuda:
                _release_tf32()
            raise
        self.no_autocasts.append(no_autocast)

    def __exit__(self, *exc_info: object) -> None:
        if not self.no_autocasts:
            raise RuntimeError("full_fp32: left without being entered")
        no_autocast = self.no_autocasts.pop()
        try:
            if no_autocast is not None:
                no_autocast.__exit__(None, None, None)
        finally:
            if self.cuda:
                _release_tf32()
