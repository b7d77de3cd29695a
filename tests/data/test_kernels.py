"""Kernel invariants (non-negative, sum 1, odd size, centred), seeding, and the Levin kernel loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golfdeblur.data import kernels
from golfdeblur.data.kernels import (
    DEFAULT_KIND_WEIGHTS,
    MAX_KERNEL_SIZE,
    PUBLISHED_TORCH,
    KernelRealism,
    camera_shake_kernel,
    defocus_kernel,
    draw_category,
    draws_as_published,
    gaussian_kernel,
    linear_motion_kernel,
    load_levin_kernels,
    pad_kernel,
    random_kernel,
    random_kernels,
    seeded_generator,
    with_optics,
)
from golfdeblur.errors import DeblurSettingsError, GolfdeblurError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def centre_of_mass(kernel: torch.Tensor) -> tuple[float, float]:
    k = kernel[0].double()
    r = torch.arange(k.shape[-1], dtype=torch.float64)
    return float((k.sum(1) * r).sum()), float((k.sum(0) * r).sum())


def assert_valid_kernel(kernel: torch.Tensor, size: int) -> None:
    assert kernel.shape == (1, size, size)
    assert kernel.dtype == torch.float32
    assert kernel.min() >= 0
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("size", [1, 3, 7, 25, 51, MAX_KERNEL_SIZE])
def test_camera_shake_invariants(size):
    for seed in range(5):
        kernel = camera_shake_kernel(size, gen(seed))
        assert_valid_kernel(kernel, size)
        cy, cx = centre_of_mass(kernel)
        assert cy == pytest.approx(size // 2, abs=1e-3) and cx == pytest.approx(size // 2, abs=1e-3)


def test_camera_shake_fills_kernel_and_is_not_trivial():
    kernel = camera_shake_kernel(31, gen(1))[0]
    rows, cols = torch.nonzero(kernel > 0, as_tuple=True)
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()).item()
    assert extent >= 26  # the path reaches 14 px from the centre on one axis, plus bilinear spread
    assert kernel.max() < 0.5  # spread over many pixels, not a dot


def test_camera_shake_seeding():
    assert torch.equal(camera_shake_kernel(21, gen(7)), camera_shake_kernel(21, gen(7)))
    assert not torch.equal(camera_shake_kernel(21, gen(7)), camera_shake_kernel(21, gen(8)))


def test_random_kernels_shapes_sizes_and_seeding():
    kernels = random_kernels(32, gen(0), min_size=7, max_size=21)
    assert kernels.shape[:2] == (32, 1) and kernels.shape[-1] == kernels.shape[-2] <= 21
    assert kernels.shape[-1] % 2 == 1
    assert kernels.min() >= 0
    torch.testing.assert_close(kernels.sum((1, 2, 3)), torch.ones(32))
    assert torch.equal(kernels, random_kernels(32, gen(0), min_size=7, max_size=21))
    assert not torch.equal(kernels, random_kernels(32, gen(1), min_size=7, max_size=21))
    # every kernel is centred in the common size; the support fits the size drawn (at least 7 px wide)
    size = kernels.shape[-1]
    for kernel in kernels:
        cy, cx = centre_of_mass(kernel)
        assert abs(cy - size // 2) < 0.75 and abs(cx - size // 2) < 0.75
    assert random_kernels(3, gen(0), 9, 9, pad_to=15).shape == (3, 1, 15, 15)


def test_random_kernels_kinds_and_bad_arguments():
    only_defocus = random_kernels(4, gen(0), 9, 9, kind_weights={"defocus": 1.0})
    torch.testing.assert_close(only_defocus, defocus_kernel(3.5, 9).expand(4, 1, 9, 9))
    with pytest.raises(GolfdeblurError, match="min_size"):
        random_kernels(2, gen(0), 21, 7)
    with pytest.raises(GolfdeblurError, match=f"max_size {MAX_KERNEL_SIZE + 2}: above {MAX_KERNEL_SIZE}"):
        random_kernels(2, gen(0), 7, MAX_KERNEL_SIZE + 2)
    with pytest.raises(GolfdeblurError, match="weights"):
        random_kernels(2, gen(0), kind_weights={"spiral": 1.0})
    with pytest.raises(GolfdeblurError, match="odd"):
        camera_shake_kernel(8, gen(0))


def test_equal_kind_weights_in_another_order_draw_the_same_kernels():
    """A dict's order is no part of its value: the same weights written in another order (a recipe's YAML, a
    caller's dict) give the same kernels for the same seed, and the default order keeps the default stream."""
    reordered = dict(reversed(DEFAULT_KIND_WEIGHTS.items()))
    assert reordered == DEFAULT_KIND_WEIGHTS and list(reordered) != list(DEFAULT_KIND_WEIGHTS)
    for seed in range(4):
        expected = random_kernels(20, gen(seed), 9, 21)
        torch.testing.assert_close(random_kernels(20, gen(seed), 9, 21, kind_weights=reordered), expected)
        torch.testing.assert_close(
            random_kernels(20, gen(seed), 9, 21, kind_weights=dict(DEFAULT_KIND_WEIGHTS)), expected
        )


def second_moments(kernel: torch.Tensor) -> tuple[float, float, float]:
    """(variance along y, variance along x, x-y covariance) of a (1, k, k) kernel about its centre of mass."""
    k = kernel[0].double()
    r = torch.arange(k.shape[-1], dtype=torch.float64)
    cy, cx = centre_of_mass(kernel)
    var_y, var_x = float((k.sum(1) * (r - cy) ** 2).sum()), float((k.sum(0) * (r - cx) ** 2).sum())
    return var_y, var_x, float((k * (r[:, None] - cy) * (r[None, :] - cx)).sum())


def test_the_first_kind_of_each_seed_is_pinned():
    """Every synthetic set, the training data and the paper's numbers are drawn from this stream: the first kinds of
    seeds 0..39 (s: shake, l: linear, d: defocus, g: Gaussian), the same under every supported torch."""
    first_kinds = "".join(random_kernel(21, gen(seed))[1][0] for seed in range(40))
    assert first_kinds == "sslsssssssssssssssllslsssssdsdslsggslsss"


@pytest.mark.skipif(
    not torch.__version__.startswith(PUBLISHED_TORCH), reason="torch 2.6.0's multinomial draws otherwise"
)
def test_a_category_is_drawn_as_torch_2_13_multinomial_draws_it():
    """draw_category spells out torch 2.13's one-sample multinomial: the same index and the same generator state after,
    for weights that are not normalised, hold zeros, or are one."""
    for seed in range(300):
        size = 1 + seed % 6
        weights = torch.rand(size, generator=gen(10_000 + seed), dtype=torch.float64)
        if size > 1 and seed % 3 == 0:
            weights[seed % size] = 0.0
        ours, theirs = gen(seed), gen(seed)
        for _ in range(5):
            assert draw_category(weights, ours) == int(torch.multinomial(weights, 1, generator=theirs)), seed
        assert torch.equal(ours.get_state(), theirs.get_state())


def test_a_category_is_drawn_in_proportion_to_its_weight_and_never_at_weight_zero(monkeypatch):
    generator = gen(0)
    weights = torch.tensor([2.0, 0.0, 1.0, 1.0])
    counts = torch.bincount(torch.tensor([draw_category(weights, generator) for _ in range(4000)]), minlength=4)
    assert counts[1] == 0
    assert abs(counts[0] / 4000 - 0.5) < 0.03 and abs(counts[2] / 4000 - 0.25) < 0.03
    # a uniform draw of exactly 0 gives an exponential of 0: a zero weight still stays out (0 / 0 is not a maximum)
    monkeypatch.setattr(torch, "rand", lambda shape, **_: torch.zeros(shape, dtype=torch.float64))
    assert draw_category(torch.tensor([0.0, 1.0]), generator) == 1


def test_this_torch_draws_the_kernels_the_published_numbers_were_measured_with():
    """Under every supported torch (torch 2.6.0's multinomial drew 90 of the validation set's 92 kernels otherwise
    before draw_category spelled the draw out)."""
    assert draws_as_published()


def test_a_torch_that_draws_otherwise_is_told_apart(monkeypatch):
    """A torch whose generator streams differ (as torch 2.6.0's multinomial did: 90 of the validation set's 92
    kernels) draws other kinds from the fingerprint's seed, which draws_as_published tells."""
    draws_as_published.cache_clear()
    monkeypatch.setattr(kernels, "PUBLISHED_KINDS_SHA256", "0" * 64)
    try:
        assert not draws_as_published()
    finally:
        draws_as_published.cache_clear()


def test_the_default_kind_mixture_is_mostly_camera_shake():
    """The training blur mixture: shake 0.8, linear 0.1, defocus 0.05, Gaussian 0.05 (the weights, as docs/DATA.md
    states them, and the draws that follow them by default)."""
    assert DEFAULT_KIND_WEIGHTS == {"shake": 0.8, "linear": 0.1, "defocus": 0.05, "gaussian": 0.05}
    for seed in range(3):
        default, named = random_kernel(15, gen(seed)), random_kernel(15, gen(seed), DEFAULT_KIND_WEIGHTS)
        assert default[1] == named[1] and torch.equal(default[0], named[0])
    kinds = [random_kernel(15, gen(seed))[1] for seed in range(400)]
    assert kinds.count("shake") / 400 == pytest.approx(0.8, abs=0.06)
    assert kinds.count("linear") / 400 == pytest.approx(0.1, abs=0.05)
    assert 0 < kinds.count("defocus") / 400 < 0.11 and 0 < kinds.count("gaussian") / 400 < 0.11


def test_random_linear_motion_spans_size_minus_3_px_at_any_angle():
    """A random linear kernel is a segment of length size - 3 (variance L**2 / 12 along it), at an angle uniform over
    the half turn: both diagonals occur (x-y covariance of both signs)."""
    for seed in range(5):
        var_y, var_x, _ = second_moments(random_kernel(31, gen(seed), {"linear": 1.0})[0])
        assert var_y + var_x == pytest.approx(28**2 / 12 + 1 / 6, rel=0.02)  # L = 27 or 29 is 7 % off
    covariances = [second_moments(random_kernel(15, gen(seed), {"linear": 1.0})[0])[2] for seed in range(200)]
    assert min(covariances) < -1 and max(covariances) > 1


def test_a_random_gaussian_kernel_has_sigma_size_minus_1_over_6():
    var_y, var_x, _ = second_moments(random_kernel(31, gen(0), {"gaussian": 1.0})[0])
    assert 0.95 * 25 <= var_x <= 25 and var_y == pytest.approx(var_x)  # sigma 5, truncated at 3 sigma


def test_linear_motion_kernel():
    horizontal = linear_motion_kernel(8, 0)
    assert_valid_kernel(horizontal, 9)
    assert torch.count_nonzero(horizontal[0].sum(1)) == 1  # one row only
    assert torch.count_nonzero(horizontal[0].sum(0)) == 9
    vertical = linear_motion_kernel(8, 90)
    torch.testing.assert_close(vertical[0], horizontal[0].T)
    diagonal = linear_motion_kernel(10, 37.0, size=15)
    assert_valid_kernel(diagonal, 15)
    assert centre_of_mass(diagonal) == pytest.approx((7, 7), abs=1e-4)
    assert torch.equal(linear_motion_kernel(0, 12), torch.ones(1, 1, 1))


def test_defocus_and_gaussian_kernels():
    disk = defocus_kernel(4.0)
    assert_valid_kernel(disk, 9)
    torch.testing.assert_close(disk[0], disk[0].T)
    torch.testing.assert_close(disk[0], disk[0].flip(0))
    assert disk[0, 4, 4] == disk[0].max() and disk[0, 0, 0] == 0
    assert 1 / disk.max().item() == pytest.approx(np.pi * 4.0**2, rel=0.01)  # full-coverage pixels hold 1/area
    gauss = gaussian_kernel(2.0)
    assert_valid_kernel(gauss, 13)
    r = torch.arange(13, dtype=torch.float64) - 6
    variance = (gauss[0].double().sum(0) * r**2).sum()
    assert variance.item() == pytest.approx(4.0, rel=0.02)  # truncated at 3 sigma
    assert torch.equal(gaussian_kernel(0.0), torch.ones(1, 1, 1))
    with pytest.raises(GolfdeblurError):
        defocus_kernel(-1)


def test_pad_kernel_keeps_centre():
    kernel = gaussian_kernel(1.0)
    padded = pad_kernel(kernel, 11)
    assert padded.shape == (1, 11, 11) and padded.sum().item() == pytest.approx(1.0)
    assert torch.equal(padded[0, 2:9, 2:9], kernel[0])
    with pytest.raises(GolfdeblurError):
        pad_kernel(kernel, 8)


def test_load_levin_kernels_from_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"k{i}": rng.random((2 * i + 11, 2 * i + 11)) for i in range(1, 9)}
    np.savez(tmp_path / "kernels.npz", **arrays)
    kernels = load_levin_kernels(tmp_path)
    assert list(kernels) == [f"k{i}" for i in range(1, 9)]
    for name, kernel in kernels.items():
        assert_valid_kernel(kernel, arrays[name].shape[0])
        np.testing.assert_allclose(kernel[0].numpy(), arrays[name] / arrays[name].sum(), rtol=1e-6)
    with pytest.raises(GolfdeblurError, match="not found"):
        load_levin_kernels(tmp_path / "missing")
    np.savez(tmp_path / "bad.npz", k1=np.ones((4, 4)))
    with pytest.raises(GolfdeblurError, match="odd square"):
        load_levin_kernels(tmp_path / "bad.npz")


def peak_ratio(kernel: torch.Tensor) -> float:
    """Peak over the mean of the taps above 5 % of it: high when the path has a bright dot (a resting hand)."""
    return float(kernel.max() / kernel[kernel >= 0.05 * kernel.max()].mean())


def test_kernel_realism_off_draws_the_same_kernels_as_before():
    # Off, it must not consume random draws: the fixed validation set and earlier recipes keep their kernels.
    plain = random_kernels(16, gen(3), 7, 31)
    assert torch.equal(random_kernels(16, gen(3), 7, 31, realism=KernelRealism()), plain)
    assert not torch.equal(random_kernels(16, gen(3), 7, 31, realism=KernelRealism(optics_sigma_max=0.8)), plain)


@pytest.mark.parametrize("dwell", [0.1, 0.3, 0.6])
def test_camera_shake_dwell_keeps_invariants_and_concentrates_the_path(dwell):
    ratios = []
    for seed in range(30):
        kernel = camera_shake_kernel(19, gen(seed), dwell=dwell)
        assert_valid_kernel(kernel, 19)
        cy, cx = centre_of_mass(kernel)
        assert cy == pytest.approx(9, abs=1e-3) and cx == pytest.approx(9, abs=1e-3)
        ratios.append(peak_ratio(kernel) / peak_ratio(camera_shake_kernel(19, gen(seed))))
    assert np.median(ratios) > 1.1  # a resting hand leaves a bright dot: the peak stands out more
    with pytest.raises(GolfdeblurError, match="dwell"):
        camera_shake_kernel(19, gen(0), dwell=1.0)


def test_with_optics_spreads_the_kernel_and_keeps_it_a_kernel():
    line = linear_motion_kernel(9, 30)
    spread = with_optics(line, 0.8)
    assert_valid_kernel(spread, line.shape[-1])
    assert int((spread > 1e-4).sum()) > int((line > 1e-4).sum())  # the faint halo of the optics
    assert spread.max() < line.max()
    cy, cx = centre_of_mass(spread)
    assert cy == pytest.approx(5, abs=1e-3) and cx == pytest.approx(5, abs=1e-3)
    assert torch.equal(with_optics(line, 0.0), line)


def test_random_kernel_with_realism_is_seeded_and_valid():
    realism = KernelRealism(optics_sigma_max=0.8, dwell_max=0.3)
    for kind in ("shake", "linear", "defocus", "gaussian"):
        kernel, drawn = random_kernel(15, gen(5), {kind: 1.0}, realism)
        assert drawn == kind
        assert_valid_kernel(kernel, 15)
        assert torch.equal(kernel, random_kernel(15, gen(5), {kind: 1.0}, realism)[0])
    with pytest.raises(GolfdeblurError, match="optics_sigma_max"):
        KernelRealism(optics_sigma_max=-0.1)
    with pytest.raises(GolfdeblurError, match="dwell_max"):
        KernelRealism(dwell_max=1.0)


def test_realism_draws_the_optics_sigma_and_the_dwell_uniformly_up_to_their_maxima(monkeypatch):
    from golfdeblur.data import kernels

    sigmas: list[float] = []
    real_with_optics = kernels.with_optics

    def optics(kernel, sigma):
        sigmas.append(sigma)
        return real_with_optics(kernel, sigma)

    monkeypatch.setattr(kernels, "with_optics", optics)
    for seed in range(100):
        random_kernel(7, gen(seed), {"gaussian": 1.0}, KernelRealism(optics_sigma_max=2.0))
    assert min(sigmas) < 0.3 and max(sigmas) > 1.7 and max(sigmas) <= 2.0
    dwells: list[float] = []

    def shake(size, generator, dwell=0.0):
        dwells.append(dwell)
        return kernels._delta(size)

    monkeypatch.setattr(kernels, "camera_shake_kernel", shake)
    for seed in range(100):
        random_kernel(7, gen(seed), {"shake": 1.0}, KernelRealism(dwell_max=0.5))
    assert min(dwells) < 0.1 and max(dwells) > 0.4 and max(dwells) <= 0.5


def test_seeded_generator_depends_on_every_part():
    draws = {parts: torch.rand(4, generator=seeded_generator(*parts)) for parts in (("t", 0, 1), ("t", 0, 2))}
    draws[("t", 1, 1)] = torch.rand(4, generator=seeded_generator("t", 1, 1))
    draws[("u", 0, 1)] = torch.rand(4, generator=seeded_generator("u", 0, 1))
    values = list(draws.values())
    assert all(not torch.equal(a, b) for i, a in enumerate(values) for b in values[i + 1 :])
    assert torch.equal(values[0], torch.rand(4, generator=seeded_generator("t", 0, 1)))


def test_a_truncated_or_corrupt_kernel_file_fails_in_one_line(tmp_path, damaged_copies_fail_in_one_line):
    np.savez_compressed(tmp_path / "kernels.npz", k1=np.random.default_rng(0).random((13, 13)))
    damaged_copies_fail_in_one_line(
        tmp_path / "kernels.npz", load_levin_kernels, "broken.npz: cannot read Levin kernels"
    )


def test_even_kernel_size_bounds_are_rounded_inward():
    # a range with no odd size left (8 to 8) is refused: the parametrised test below
    assert random_kernels(2, torch.Generator().manual_seed(0), 6, 8).shape[-1] == 7  # even bounds rounded inward
    assert random_kernels(2, torch.Generator().manual_seed(0), 1, 76).shape[-1] <= 75  # 76 rounds down to 75


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((0, 7), "kernel min_size 0: must be 1 or more (pixels)"),
        ((-3, 7), "kernel min_size -3: must be 1 or more (pixels)"),
        ((9, 7), "kernel max_size 7: below min_size 9"),
        ((8, 7), "kernel max_size 7: below min_size 8"),
        ((8, 8), "kernel sizes 8 to 8: no odd size between them (kernels are odd)"),
        ((77, 79), "kernel max_size 79: above 75"),
        ((7, 77), "kernel max_size 77: above 75"),
    ],
)
def test_kernel_sizes_that_cannot_be_drawn_are_a_value_error_naming_the_arguments(sizes, message):
    """The docstring says 1 <= min_size, but min_size 0 was taken as 1 (int(0) | 1). Every refusal of a size is a
    ValueError (DeblurSettingsError), as a library caller catching bad arguments expects, not a bare GolfdeblurError."""
    with pytest.raises(ValueError) as refusal:
        random_kernels(2, torch.Generator().manual_seed(0), *sizes)
    assert isinstance(refusal.value, DeblurSettingsError) and str(refusal.value) == message  # one line, as every error


@pytest.mark.parametrize("generator", [None, 0, 7.5])
def test_the_samplers_refuse_what_is_no_torch_generator_in_one_line(generator):
    """None raised AttributeError ('device') or drew unseeded from torch's global stream; 0 raised torch's long
    randint TypeError."""
    for sampler, name in ((random_kernels, "random_kernels"), (random_kernel, "random_kernel")):
        with pytest.raises(GolfdeblurError, match=f"{name}: generator must be a torch.Generator"):
            sampler(2 if sampler is random_kernels else 9, generator)
    with pytest.raises(GolfdeblurError, match="camera_shake_kernel: generator must be a torch.Generator"):
        camera_shake_kernel(9, generator)


@pytest.mark.parametrize("batch", [0, 2.5, True, None])
def test_random_kernels_takes_a_whole_positive_batch(batch):
    with pytest.raises(DeblurSettingsError, match=rf"^kernel batch {batch!r}: must be a whole number, 1 or more$"):
        random_kernels(batch, gen(0))
    assert random_kernels(np.int64(2), gen(0), 7, 9).shape[0] == 2
