import math

import numpy as np
import pytest

from golfdeblur.intervals import bootstrap_interval, paired_gap


def test_constant_values_give_a_point_interval():
    assert bootstrap_interval([0.25] * 7) == (0.25, 0.25)


def test_interval_is_seeded_and_about_as_wide_as_the_normal_one():
    values = np.random.default_rng(3).normal(1.0, 1.0, 400)
    low, high = bootstrap_interval(values)
    assert (low, high) == bootstrap_interval(values)  # same seed, same interval
    assert low < values.mean() < high
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)
    assert bootstrap_interval(values, level=0.5)[1] - bootstrap_interval(values, level=0.5)[0] < high - low


def test_groups_that_share_an_offset_widen_the_interval():
    # 8 groups of 4 values: each group shares a large offset, as Levin09's images share a kernel
    rng = np.random.default_rng(0)
    offsets = np.repeat(rng.normal(0, 1.0, 8), 4)
    values = offsets + rng.normal(0, 0.05, 32)
    groups = np.repeat(np.arange(8), 4)
    by_image, by_group = bootstrap_interval(values), bootstrap_interval(values, groups)
    assert by_group[1] - by_group[0] > 1.5 * (by_image[1] - by_image[0])
    # groups of one value each are the plain per-value bootstrap
    assert bootstrap_interval(values, list(range(32))) == by_image


def test_groups_of_unequal_size_weigh_each_value_alike():
    """The mean of a resample is its values' mean (a ratio of sums), not the mean of its groups' means."""
    values = [0.0] + [1.0] * 9 + [5.0, 5.0]
    groups = ["a"] + ["b"] * 9 + ["c"] * 2
    assert bootstrap_interval(values, groups, level=0.5) == pytest.approx((0.947368, 2.5), abs=1e-6)


def test_the_seed_chooses_the_resamples():
    values = np.random.default_rng(0).normal(size=30)
    assert bootstrap_interval(values, seed=0) != bootstrap_interval(values, seed=1)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0], level=1.0)
    with pytest.raises(ValueError, match="2 group labels for 3 values"):
        bootstrap_interval([1.0, 2.0, 3.0], groups=["a", "b"])


def test_paired_gap_pairs_images_and_counts_wins():
    rows = [
        {"image": "a_ker_1", "iterate": "G", "PSNR": "20.0"},
        {"image": "a_ker_1", "iterate": "D3", "PSNR": "20.5"},
        {"image": "b_ker_1", "iterate": "G", "PSNR": "22.0"},
        {"image": "b_ker_1", "iterate": "D3", "PSNR": "21.9"},
        {"image": "c_ker_2", "iterate": "G", "PSNR": "25.0"},
        {"image": "c_ker_2", "iterate": "D3", "PSNR": "inf"},  # identical images: no finite gap, left out
        {"image": "d_ker_2", "iterate": "G", "PSNR": "30.0"},  # no D3 row: not paired
    ]
    gap = paired_gap(rows, "D3", "G", "PSNR", group_of=lambda name: name.rsplit("_", 1)[1])
    assert (gap.images, gap.positive) == (2, 1)
    assert gap.mean == pytest.approx(0.2)
    assert gap.by_image[0] <= gap.mean <= gap.by_image[1] and gap.by_group == (pytest.approx(0.2),) * 2  # one kernel
    assert paired_gap(rows, "D3", "G", "PSNR").by_group is None
    with pytest.raises(ValueError, match="no image has 'D5' and 'G' scores other than"):
        paired_gap(rows, "D5", "G", "PSNR")


def test_a_tie_is_not_counted_as_a_win():
    rows = [{"image": name, "iterate": iterate, "PSNR": 20.0} for name in ("a", "b") for iterate in ("G", "D3")]
    gap = paired_gap(rows, "D3", "G", "PSNR")
    assert (gap.images, gap.positive, gap.mean) == (2, 0, 0.0)


def test_a_nan_score_makes_the_gap_nan_rather_than_being_left_out():
    rows = [
        {"image": "a", "iterate": "G", "PSNR": 20.0},
        {"image": "a", "iterate": "D3", "PSNR": 21.0},
        {"image": "b", "iterate": "G", "PSNR": 20.0},
        {"image": "b", "iterate": "D3", "PSNR": float("nan")},  # the model diverged on this image
    ]
    gap = paired_gap(rows, "D3", "G", "PSNR", group_of=lambda name: name)
    assert gap.images == 2 and math.isnan(gap.mean)
    assert all(math.isnan(v) for v in (*gap.by_image, *gap.by_group))
