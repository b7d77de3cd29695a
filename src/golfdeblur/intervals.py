"""How sure is a gap between two methods? Paired per-image differences and a bootstrap interval for their mean.

Results tables compare means over a few dozen images, and some of the gaps that matter (Golf at T = 3 against G
alone) are hundredths of a dB. Each image scores both methods, so the gap is measured per image and its mean gets a
percentile bootstrap interval. Images that share something (Levin09's 4 photos under each of its 8 kernels) can be
resampled in groups, which asks whether the gap would hold on other groups (kernels) rather than other images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 20000
LEVEL = 0.95


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    groups: Sequence[object] | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, resampling whole groups when ``groups`` is given.

    Args:
        values: (N,) numbers, N >= 1.
        groups: (N,) labels; values with the same label are drawn together (None: each value is its own group).
        resamples: bootstrap draws; seeded by ``seed``, so the same call gives the same interval.
        level: the interval's coverage, in (0, 1).

    Returns:
        (low, high) with low <= high.

    Example:
        >>> low, high = bootstrap_interval([0.1, 0.3, 0.2, 0.4, 0.0], resamples=2000)
        >>> bool(0.0 <= low < 0.2 < high <= 0.4)
        True
        >>> bootstrap_interval([0.5, 0.5, 0.5])
        (0.5, 0.5)
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"bootstrap_interval: values must be a non-empty 1-D sequence, got shape {data.shape}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_interval: level must be in (0, 1), got {level}")
    labels = np.arange(data.size) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    if labels.shape != data.shape:
        raise ValueError(f"bootstrap_interval: {len(labels)} group labels for {data.size} values")
    sums = np.bincount(labels, weights=data)
    counts = np.bincount(labels).astype(np.float64)
    picks = np.random.default_rng(seed).integers(0, len(sums), size=(resamples, len(sums)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(min(low, high)), float(max(low, high))


def mean_and_gap(values: Sequence[float], baseline: Sequence[float] | None = None) -> str:
    """``values``' mean, and with ``baseline`` (the same images, in order) the mean paired gap and its bootstrap
    interval, for benchmark printouts.

        >>> mean_and_gap([21.5, 21.7], baseline=[21.4, 21.5])
        '21.600 (+0.150 [+0.100, +0.200])'
    """
    text = f"{np.mean(values):.3f}"
    if baseline is None:
        return text
    gaps = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    low, high = bootstrap_interval(gaps)
    return f"{text} ({gaps.mean():+.3f} [{low:+.3f}, {high:+.3f}])"


@dataclass(frozen=True)
class PairedGap:
    """``first`` minus ``second`` on ``label`` over the images both were scored on.

    ``by_group`` is None when no grouping was asked for; ``positive`` counts the images where the gap is above 0.
    """

    first: str
    second: str
    label: str
    images: int
    mean: float
    by_image: tuple[float, float]
    by_group: tuple[float, float] | None
    positive: int


def paired_gap(
    rows: Sequence[dict],
    first: str,
    second: str,
    label: str,
    group_of: Callable[[str], object] | None = None,
    seed: int = 0,
) -> PairedGap:
    """The gap between iterates ``first`` and ``second`` (e.g. "D3" and "G") in the metric ``label``.

    Args:
        rows: {"image", "iterate", label: value} per image and iterate, as ``golfdeblur results`` writes them.
        group_of: image name -> group (e.g. Levin09's kernel) for the grouped interval; None: no grouped interval.

    A NaN score (a model that diverged on an image) makes the mean and intervals NaN.

    Raises:
        ValueError: no image has both iterates (other than with an infinite PSNR).
    """
    scores: dict[str, dict[str, float]] = {first: {}, second: {}}
    for row in rows:
        if row["iterate"] in scores:
            scores[row["iterate"]][row["image"]] = float(row[label])
    # an infinite PSNR (identical images) has no gap and is left out, as summarise leaves it out of means; a NaN (a
    # diverged model) is kept, so the gap is NaN rather than a mean over the images where the model did not diverge
    images = sorted(
        i for i in set(scores[first]) & set(scores[second]) if math.inf not in (scores[first][i], scores[second][i])
    )
    if not images:
        raise ValueError(f"paired_gap: no image has {first!r} and {second!r} scores other than +inf")
    differences = np.array([scores[first][image] - scores[second][image] for image in images])
    by_group = None
    if group_of is not None:
        by_group = bootstrap_interval(differences, [group_of(image) for image in images], seed=seed)
    return PairedGap(
        first=first,
        second=second,
        label=label,
        images=len(images),
        mean=float(differences.mean()),
        by_image=bootstrap_interval(differences, seed=seed),
        by_group=by_group,
        positive=int((differences > 0).sum()),
    )
