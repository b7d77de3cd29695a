"""Blur kernels: random camera shake, linear motion, defocus disk, Gaussian, and the measured Levin et al. 2009 kernels.

Every kernel is a float32 tensor of shape (1, k, k) with odd k, non-negative and summing to 1; batches are (B, 1, K, K).
Kernels are made on the CPU (small, and bit-identical on every machine for a seed); move them to the images' device
(``degrade.blur`` does this itself).

The random samplers take a CPU ``torch.Generator``: the same generator state gives the same kernel. They draw one
63-bit seed from it (a non-negative int64) and run the trajectory in NumPy (float64), which is fast for these small
sizes.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from golfdeblur.errors import DeblurSettingsError, GolfdeblurError
from golfdeblur.input_values import whole_number

#: Largest kernel size the samplers accept (the issue's "up to 75"); the datasets' border margin is ``size // 2``.
MAX_KERNEL_SIZE = 75

#: Default mixture of kernel kinds drawn by ``random_kernels``: camera shake dominates, as in real hand-held blur.
DEFAULT_KIND_WEIGHTS = {"shake": 0.8, "linear": 0.1, "defocus": 0.05, "gaussian": 0.05}


@dataclass(frozen=True)
class KernelRealism:
    """Two traits of recorded camera-shake kernels that the plain samplers lack; both are off by default, and off they
    draw nothing, so every existing seed gives the same kernels as before.

    - ``optics_sigma_max``: real blur is the motion convolved with the lens and sensor's own point spread, which gives
      a recorded kernel its faint halo around the path. Every kernel (of any kind) is convolved with an isotropic
      Gaussian of sigma uniform in [0, optics_sigma_max] px, cropped to the kernel's size and renormalised.
    - ``dwell_max``: a hand at rest for part of the exposure (before it moves, after it stops, or where it turns)
      leaves a bright dot on the path. A camera shake spends a fraction uniform in [0, dwell_max] of its exposure
      motionless at one random point of its path (``camera_shake_kernel``'s ``dwell``).

    Example:
        >>> k = random_kernels(2, torch.Generator().manual_seed(0), 7, 15, realism=KernelRealism(0.8, 0.3))
        >>> k.shape[:2], [round(v, 5) for v in k.sum((-2, -1)).flatten().tolist()]
        (torch.Size([2, 1]), [1.0, 1.0])
    """

    optics_sigma_max: float = 0.0
    dwell_max: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.optics_sigma_max <= 3.0:
            raise GolfdeblurError(f"optics_sigma_max must be in [0, 3] px, got {self.optics_sigma_max}")
        if not 0.0 <= self.dwell_max < 1.0:
            raise GolfdeblurError(f"dwell_max must be in [0, 1), got {self.dwell_max}")


def seeded_generator(*parts: int | str) -> torch.Generator:
    """A CPU generator seeded from a tuple such as ("train", seed, epoch, index): the same parts give the same stream on
    every machine and in every DataLoader worker, and different parts give independent streams. Integer parts count
    by value: ``3``, ``numpy.int64(3)`` and ``torch.tensor(3)`` give the same stream.

    Example:
        >>> a = torch.rand(2, generator=seeded_generator("train", 0, 1))
        >>> torch.equal(a, torch.rand(2, generator=seeded_generator("train", 0, 1)))
        True
    """
    # By value, not type: a NumPy or 0-d tensor index (a Subset of NumPy indices) seeds as the same int does.
    key = tuple(part if isinstance(part, str) else operator.index(part) for part in parts)
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. (seed, step, rank, "flips"): independent streams without shared state. Parts
    count by their text (``str``), joined with "/": ``derived_seed("d")`` hashes the text "d" alone.

    Example:
        >>> derived_seed(0, "flips") == derived_seed("0/flips") != derived_seed(0, "noise")
        True
    """
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def draw_category(probabilities: torch.Tensor, generator: torch.Generator) -> int:
    """One index drawn from the non-negative weights ``probabilities`` (need not sum to 1), spelled out as torch 2.13's
    ``torch.multinomial(probabilities, 1)`` draws it (the largest ``p / q``, ``q`` exponential from ``torch.rand``),
    so a seed draws the same index under every supported torch: torch 2.6.0's ``multinomial`` consumes the generator
    otherwise, while ``torch.rand``'s stream is the same in both.

    Shape:
        probabilities: (K,) with a positive sum -> an index in [0, K).

    Example:
        >>> draw_category(torch.tensor([0.0, 1.0, 0.0]), torch.Generator().manual_seed(0))
        1
    """
    weights = probabilities.to(torch.float64)
    exponential = -torch.log1p(-torch.rand(weights.shape, generator=generator, dtype=torch.float64))
    # a zero weight is never drawn, even where its exponential is 0 (0 / 0)
    scores = torch.where(weights > 0, weights / exponential, torch.tensor(float("-inf"), dtype=torch.float64))
    return int(torch.argmax(scores))


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A NumPy generator seeded by one 63-bit draw from ``generator`` (so the torch generator advances by one draw)."""
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=generator.device).item())
    return np.random.default_rng(seed)


def _check_generator(generator: object, who: str) -> None:
    """Refuse anything but a ``torch.Generator``: None would draw from torch's global stream (no seed), and other
    values fail deep inside torch."""
    if not isinstance(generator, torch.Generator):
        raise GolfdeblurError(f"{who}: generator must be a torch.Generator (CPU), got {type(generator).__name__}")


def _check_size(size: int) -> int:
    size = int(size)
    if size < 1 or size % 2 == 0:
        raise GolfdeblurError(f"kernel size must be a positive odd number, got {size}")
    if size > MAX_KERNEL_SIZE:
        raise GolfdeblurError(f"kernel size {size} is larger than the supported maximum {MAX_KERNEL_SIZE}")
    return size


def _delta(size: int) -> torch.Tensor:
    kernel = torch.zeros(1, size, size)
    kernel[0, size // 2, size // 2] = 1.0
    return kernel


def _to_kernel(array: np.ndarray) -> torch.Tensor:
    """float64 (k, k) non-negative array -> normalised float32 (1, k, k) tensor."""
    array = np.clip(array, 0.0, None)
    return torch.from_numpy(array / array.sum()).float().unsqueeze(0)


def rasterise_path(points: np.ndarray, size: int) -> torch.Tensor:
    """Draw a polyline as a kernel: equal exposure time per segment, spread sub-pixel by bilinear splatting.

    Each segment is sampled at about 4 points per pixel of its length; the samples share the segment's time equally, so
    a slow part of the path (short segments) gets more light, as on a real sensor. Bilinear splatting keeps the centre
    of mass of the samples exactly.

    Args:
        points: (N, 2) float array of (x, y) pixel coordinates inside [0, size - 1], N >= 1. A single point is a dot.
        size: odd kernel size.

    Shape:
        (N, 2) -> (1, size, size), non-negative, sums to 1.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 1:
        samples, weights = points, np.ones(1)
    else:
        starts, steps = points[:-1], np.diff(points, axis=0)
        counts = np.maximum(1, np.ceil(np.hypot(steps[:, 0], steps[:, 1]) * 4)).astype(np.int64)
        segment = np.repeat(np.arange(len(steps)), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        fraction = (np.arange(counts.sum()) - first + 0.5) / counts[segment]
        samples = starts[segment] + fraction[:, None] * steps[segment]
        weights = 1.0 / counts[segment]
    samples = np.clip(samples, 0.0, size - 1.0)
    x0 = np.minimum(np.floor(samples[:, 0]).astype(np.int64), size - 2 if size > 1 else 0)
    y0 = np.minimum(np.floor(samples[:, 1]).astype(np.int64), size - 2 if size > 1 else 0)
    fx, fy = samples[:, 0] - x0, samples[:, 1] - y0
    kernel = np.zeros(size * size + 2 * size + 2)  # slack so that size 1 needs no special case
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        kernel += np.bincount((y0 + dy) * size + x0 + dx, weights=weights * w, minlength=kernel.size)
    return _to_kernel(kernel[: size * size].reshape(size, size))


def camera_shake_kernel(
    size: int,
    generator: torch.Generator,
    *,
    steps: int = 64,
    inertia: tuple[float, float] = (0.6, 0.95),
    shake: tuple[float, float] = (0.1, 0.7),
    jerk_probability: float = 0.04,
    jerk_strength: float = 3.0,
    dwell: float = 0.0,
) -> torch.Tensor:
    """A random camera-shake kernel from a simulated hand trajectory (in the spirit of Boracchi and Foi 2012).

    The velocity follows a random walk with inertia around a random drift: ``v_t = a v_{t-1} + (1 - a) u + e_t``, with
    a drawn from ``inertia``, drift speed |u| uniform in [0, 1], Gaussian shake e_t of standard deviation drawn from
    ``shake`` (relative to the unit drift speed), and occasional jerks (probability ``jerk_probability`` per step,
    ``jerk_strength`` times larger). The path is scaled to fill the kernel (its extent from the centre of mass reaches
    ``size // 2 - 1`` px on one axis), centred on its centre of mass so that blurring does not shift the image, and
    rasterised sub-pixel with equal exposure time per step (``rasterise_path``).

    Args:
        size: odd kernel size in pixels, 1 to ``MAX_KERNEL_SIZE``; the size sets the blur's extent.
        generator: CPU ``torch.Generator``; the same state gives the same kernel.
        dwell: fraction of the exposure, in [0, 1), during which the hand rests at one point of the path drawn
            uniformly among its steps (start, end or in between). 0 (the default) draws nothing extra, so a seed gives
            the same kernel as without this option.

    Shape:
        -> (1, size, size), float32, non-negative, sums to 1.

    Example:
        >>> k = camera_shake_kernel(15, torch.Generator().manual_seed(0))
        >>> k.shape, round(k.sum().item(), 5)
        (torch.Size([1, 15, 15]), 1.0)
    """
    size = _check_size(size)
    _check_generator(generator, "camera_shake_kernel")
    if steps < 2:
        raise GolfdeblurError(f"camera shake needs at least 2 steps, got {steps}")
    if not 0.0 <= dwell < 1.0:
        raise GolfdeblurError(f"camera shake dwell must be in [0, 1), got {dwell}")
    rng = numpy_rng(generator)
    a = rng.uniform(*inertia)
    drift = rng.uniform(0.0, 1.0) * np.exp(2j * np.pi * rng.uniform())
    sigma = rng.uniform(*shake)
    noise = (rng.normal(size=steps) + 1j * rng.normal(size=steps)) * sigma / math.sqrt(2)
    jerks = rng.random(steps) < jerk_probability
    noise[jerks] *= jerk_strength
    velocity = np.empty(steps, dtype=np.complex128)
    v = drift + noise[0]
    for t in range(steps):  # the recursion is short; a loop is clearer than a filter
        if t:
            v = a * v + (1 - a) * drift + noise[t]
        velocity[t] = v
    rest_steps = round(dwell / (1.0 - dwell) * steps)
    if rest_steps:  # motionless steps: each gets a step's exposure on one point of the path
        velocity = np.insert(velocity, int(rng.integers(0, steps + 1)), np.zeros(rest_steps))
    path = np.concatenate([[0.0], np.cumsum(velocity)])
    centre = ((path[:-1] + path[1:]) / 2).mean()  # centre of mass: every step has equal exposure time
    path = path - centre
    extent = max(np.abs(path.real).max(), np.abs(path.imag).max())
    half = size // 2
    if size < 3 or extent < 1e-9:
        return _delta(size)
    path = path * ((half - 1) / extent) if half > 1 else path * (0.5 / extent)
    return rasterise_path(np.stack([path.real + half, path.imag + half], axis=1), size)


def linear_motion_kernel(length: float, angle: float, size: int | None = None) -> torch.Tensor:
    """Uniform linear motion: a segment of ``length`` px through the centre, at ``angle`` degrees counter-clockwise
    from the image's +x axis (as seen on screen), rasterised sub-pixel.

    Args:
        length: segment length in pixels, >= 0 (0 gives the identity kernel).
        angle: direction in degrees.
        size: odd kernel size; default the smallest odd size holding the segment, ``2 * ceil(length / 2) + 1``.

    Shape:
        -> (1, size, size), float32, non-negative, sums to 1.

    Example:
        >>> linear_motion_kernel(9, 0).shape
        torch.Size([1, 11, 11])
    """
    if length < 0:
        raise GolfdeblurError(f"linear motion length must be >= 0, got {length}")
    if size is None:
        size = 2 * math.ceil(length / 2) + 1
    size = _check_size(size)
    half = size // 2
    dx, dy = math.cos(math.radians(angle)) * length / 2, -math.sin(math.radians(angle)) * length / 2
    points = np.array([[half - dx, half - dy], [half + dx, half + dy]])
    return rasterise_path(points if length > 0 else points[:1], size)


def defocus_kernel(radius: float, size: int | None = None) -> torch.Tensor:
    """Defocus blur: a uniform disk of ``radius`` px, anti-aliased by 8x8 supersampling of each pixel.

    Args:
        radius: disk radius in pixels, >= 0 (below half a pixel it is the identity kernel).
        size: odd kernel size; default ``2 * ceil(radius) + 1``.

    Shape:
        -> (1, size, size), float32, non-negative, sums to 1.

    Example:
        >>> defocus_kernel(3.0).shape
        torch.Size([1, 7, 7])
    """
    if radius < 0:
        raise GolfdeblurError(f"defocus radius must be >= 0, got {radius}")
    size = _check_size(2 * math.ceil(radius) + 1 if size is None else size)
    if radius < 0.5:
        return _delta(size)
    sub = (np.arange(size * 8) + 0.5) / 8 - size / 2
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2 <= radius**2).astype(np.float64)
    return _to_kernel(inside.reshape(size, 8, size, 8).mean(axis=(1, 3)))


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian blur of standard deviation ``sigma`` px.

    Args:
        sigma: standard deviation in pixels, >= 0 (0 gives the identity kernel).
        size: odd kernel size; default ``2 * ceil(3 * sigma) + 1``.

    Shape:
        -> (1, size, size), float32, non-negative, sums to 1.

    Example:
        >>> gaussian_kernel(1.0).shape
        torch.Size([1, 7, 7])
    """
    if sigma < 0:
        raise GolfdeblurError(f"gaussian sigma must be >= 0, got {sigma}")
    size = _check_size(2 * math.ceil(3 * sigma) + 1 if size is None else size)
    if sigma == 0:
        return _delta(size)
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return _to_kernel(np.outer(g, g))


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a (..., k, k) kernel evenly to (..., size, size), keeping its centre; ``size - k`` must be even."""
    k = kernel.shape[-1]
    if size < k or (size - k) % 2:
        raise GolfdeblurError(f"cannot centre-pad a kernel of size {k} to {size}")
    p = (size - k) // 2
    return torch.nn.functional.pad(kernel, (p, p, p, p))


def random_kernel(
    size: int,
    generator: torch.Generator,
    kind_weights: dict[str, float] | None = None,
    realism: KernelRealism | None = None,
) -> tuple[torch.Tensor, str]:
    """One random kernel of the given odd ``size`` and a kind drawn from ``kind_weights`` (default
    ``DEFAULT_KIND_WEIGHTS``). Each kind fills the kernel: linear motion of length ``size - 3`` at a uniform angle, a
    defocus disk of radius ``(size - 2) / 2``, a Gaussian of sigma ``(size - 1) / 6``, or camera shake. ``realism``
    (default off) adds a resting hand to camera shakes and the optics' point spread to every kind (``KernelRealism``).

    Shape:
        -> ((1, size, size) kernel, kind name).
    """
    _check_generator(generator, "random_kernel")
    weights = DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights
    unknown = set(weights) - set(DEFAULT_KIND_WEIGHTS)
    if unknown or not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise GolfdeblurError(
            f"kernel kind weights must be non-negative over {sorted(DEFAULT_KIND_WEIGHTS)}: {weights}"
        )
    names = [n for n in DEFAULT_KIND_WEIGHTS if n in weights]  # one order: equal dicts draw equal kinds
    probabilities = torch.tensor([float(weights[n]) for n in names], dtype=torch.float64)
    kind = names[draw_category(probabilities, generator)]
    realism = realism or KernelRealism()
    if kind == "shake":
        dwell = _uniform(generator, realism.dwell_max) if realism.dwell_max > 0 else 0.0
        kernel = camera_shake_kernel(size, generator, dwell=dwell)
    elif kind == "linear":
        kernel = linear_motion_kernel(max(size - 3, 0), _uniform(generator, 180.0), size)
    elif kind == "defocus":
        kernel = defocus_kernel(max(size - 2, 0) / 2, size)
    else:
        kernel = gaussian_kernel((size - 1) / 6, size)
    if realism.optics_sigma_max > 0:
        kernel = with_optics(kernel, _uniform(generator, realism.optics_sigma_max))
    return kernel, kind


def _uniform(generator: torch.Generator, high: float) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64)) * high


def with_optics(kernel: torch.Tensor, sigma: float) -> torch.Tensor:
    """``kernel`` convolved with an isotropic Gaussian of ``sigma`` px (the optics' point spread), cropped to its
    size and renormalised (mass spread past the border is dropped).

    Shape:
        (1, k, k) -> (1, k, k), float32, non-negative, sums to 1.

    Example:
        >>> k = with_optics(linear_motion_kernel(9, 0), 0.7)
        >>> k.shape, int((k > 0).sum()) > int((linear_motion_kernel(9, 0) > 0).sum())
        (torch.Size([1, 11, 11]), True)
    """
    if sigma <= 0:
        return kernel
    spread = gaussian_kernel(sigma, min(2 * math.ceil(3 * sigma) + 1, MAX_KERNEL_SIZE))
    blurred = torch.nn.functional.conv2d(kernel[None].double(), spread[None].double(), padding=spread.shape[-1] // 2)[0]
    return _to_kernel(blurred[0].numpy())


def random_kernels(
    batch: int,
    generator: torch.Generator,
    min_size: int = 7,
    max_size: int = 51,
    kind_weights: dict[str, float] | None = None,
    pad_to: int | None = None,
    realism: KernelRealism | None = None,
) -> torch.Tensor:
    """A batch of random kernels: each has an odd size drawn uniformly from [min_size, max_size] and a kind drawn from
    ``kind_weights`` (see ``random_kernel``, which also takes ``realism``), then is centre-padded to a common size.

    Args:
        batch: number of kernels, a whole number >= 1 (else a ``DeblurSettingsError``).
        generator: CPU ``torch.Generator``; the same state gives the same batch.
        min_size, max_size: kernel size range in pixels, 1 <= min_size <= max_size (else a ``DeblurSettingsError``,
            a ValueError, naming the argument); even bounds are rounded inward to odd (76 to 75), and the odd sizes
            kept must lie in 1..75.
        pad_to: the common odd size K; default the largest size drawn.

    Shape:
        -> (B, 1, K, K), float32, each kernel non-negative and summing to 1.

    Example:
        >>> random_kernels(4, torch.Generator().manual_seed(0), 7, 15).shape[:2]
        torch.Size([4, 1])
    """
    if min_size < 1:  # 0 rounded up to 1 (int(0) | 1) and passed unseen
        raise DeblurSettingsError(f"kernel min_size {min_size}: must be 1 or more (pixels)")
    if max_size < min_size:
        raise DeblurSettingsError(f"kernel max_size {max_size}: below min_size {min_size}")
    low, high = int(min_size) | 1, int(max_size) - (1 - int(max_size) % 2)
    if low > high:  # e.g. 8 to 8: each bound rounds inward past the other
        raise DeblurSettingsError(f"kernel sizes {min_size} to {max_size}: no odd size between them (kernels are odd)")
    if high > MAX_KERNEL_SIZE:  # the checks above leave 1 <= low <= high
        raise DeblurSettingsError(f"kernel max_size {max_size}: above {MAX_KERNEL_SIZE}")
    whole_number(batch, 1, "kernel batch")
    _check_generator(generator, "random_kernels")
    sizes = low + 2 * torch.randint(0, (high - low) // 2 + 1, (batch,), generator=generator)
    kernels = [random_kernel(int(s), generator, kind_weights, realism)[0] for s in sizes]
    common = int(sizes.max()) if pad_to is None else _check_size(pad_to)
    return torch.stack([pad_kernel(k, common) for k in kernels])


def load_levin_kernels(path: str | Path) -> dict[str, torch.Tensor]:
    """The 8 measured camera-shake kernels of Levin et al. 2009 (13 to 27 px), from their ``kernels.npz``.

    Args:
        path: the ``kernels.npz`` file, or the folder holding it (e.g. ``../shared/data/eval/levin09``).

    Shape:
        -> {"k1": (1, k, k), ..., "k8": (1, k, k)}, float32, non-negative, each summing to 1 (re-normalised).

    Example:
        >>> kernels = load_levin_kernels("../shared/data/eval/levin09")  # doctest: +SKIP
        >>> kernels["k4"].shape  # doctest: +SKIP
        torch.Size([1, 27, 27])
    """
    path = Path(path)
    if path.is_dir():
        path = path / "kernels.npz"
    if not path.is_file():
        raise GolfdeblurError(f"{path}: Levin kernel file not found")
    try:
        with np.load(path) as archive:
            arrays = {name: archive[name] for name in archive.files}
    # a truncated or corrupt .npz raises any of these from zipfile, zlib or numpy: one line, not a traceback
    except (OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
        raise GolfdeblurError(f"{path}: cannot read Levin kernels ({type(exc).__name__}: {exc})") from exc
    kernels = {}
    for name in sorted(arrays, key=lambda n: (len(n), n)):
        array = np.asarray(arrays[name], dtype=np.float64)
        if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] % 2 == 0 or array.sum() <= 0:
            raise GolfdeblurError(f"{path}: kernel {name} of shape {array.shape} is not an odd square kernel")
        kernels[name] = _to_kernel(array)
    return kernels


#: The kinds of 64 successive ``random_kernel(21, seeded_generator("published-draws"))`` calls under torch 2.13.0,
#: the torch golfdeblur's published numbers (docs/RESULTS.md, the model cards, the campaign log) were measured with.
#: Each kind follows from every draw before it, so a torch that consumes its generator differently draws other kinds
#: here, and other kernels and noise everywhere a seed is used. (torch 2.6.0's one-sample ``multinomial`` did, until
#: ``draw_category`` spelled that draw out with ``torch.rand``, whose stream 2.6.0 and 2.13.0 share.)
PUBLISHED_KINDS_SHA256 = "28e5bfd7c6bb8dda7544f78816d922591fe3291ad2c573db4437557f71b2e259"
PUBLISHED_TORCH = "2.13.0"


@functools.cache
def draws_as_published() -> bool:
    """Whether this torch draws seeded kernels as the one golfdeblur's published numbers were measured with
    (``PUBLISHED_TORCH``): where it does not, the seeded synthetic validation set (``validation_set``) is blurred
    otherwise, and its scores are not comparable with published ones. Levin09 (measured kernels) is unaffected."""
    generator = seeded_generator("published-draws")
    kinds = ",".join(random_kernel(21, generator)[1] for _ in range(64))
    return hashlib.sha256(kinds.encode()).hexdigest() == PUBLISHED_KINDS_SHA256
