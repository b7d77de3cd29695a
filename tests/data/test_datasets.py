"""SyntheticBlur, PairedFolders and GoPro: shapes, ranges, determinism (seed, epoch, DataLoader workers), layouts on
small generated folders, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from golfdeblur.data.datasets import GoPro, PairedFolders, SyntheticBlur, random_crop_flip
from golfdeblur.data.sources import ImageList
from golfdeblur.errors import GolfdeblurError


def tiny_sources(count=3, size=48):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size + 8 * i, generator=g) for i in range(count)]
    return ImageList(images, [f"img{i}" for i in range(count)])


def synthetic(sources=None, **kwargs):
    options = dict(crop_size=24, length=6, kernel_min_size=5, kernel_max_size=11)
    options.update(kwargs)
    return SyntheticBlur(tiny_sources() if sources is None else sources, **options)


def test_synthetic_shapes_ranges_and_blur():
    data = synthetic(noise_sigma_max=0.0, quantize=False)
    assert len(data) == 6
    for i in range(len(data)):
        blurry, sharp = data[i]
        assert blurry.shape == sharp.shape == (3, 24, 24)
        assert blurry.dtype == sharp.dtype == torch.float32
        assert 0 <= blurry.min() and blurry.max() <= 1 and 0 <= sharp.min() and sharp.max() <= 1
        # blur removes detail: neighbour differences shrink (the sharp images are white noise)
        assert (blurry.diff(dim=-1).abs().mean()) < 0.7 * sharp.diff(dim=-1).abs().mean()
        torch.testing.assert_close(blurry.mean(), sharp.mean(), atol=0.05, rtol=0)
    blurry, _ = synthetic()[0]
    torch.testing.assert_close(blurry * 255, (blurry * 255).round())  # 8-bit rounding by default


def test_synthetic_with_a_delta_kernel_and_no_noise_gives_the_sharp_crop_itself():
    """The sharp image is the crop the blurry one was made from, pixel for pixel (no shift between them)."""
    data = synthetic(
        tiny_sources(count=1), kernel_min_size=1, kernel_max_size=1, noise_sigma_max=0.0, quantize=False, length=5
    )
    for i in range(5):
        blurry, sharp = data[i]
        torch.testing.assert_close(blurry, sharp, atol=1e-6, rtol=0)


def test_synthetic_kernel_realism_changes_only_the_kernels():
    from golfdeblur.data.kernels import KernelRealism

    plain, off = synthetic(seed=2), synthetic(seed=2, kernel_realism=KernelRealism())
    realistic = synthetic(seed=2, kernel_realism=KernelRealism(optics_sigma_max=0.8, dwell_max=0.3))
    assert torch.equal(off.sample(0).kernel, plain.sample(0).kernel)
    assert not torch.equal(realistic.sample(0).kernel, plain.sample(0).kernel)
    assert torch.equal(realistic.sample(0).sharp, plain.sample(0).sharp)  # same crop: only the kernel differs


def test_synthetic_grey_and_clean_fractions():
    plain = synthetic(seed=2)
    off = synthetic(seed=2, grey_fraction=0.0, clean_fraction=0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain[0], off[0], strict=True))
    _, sharp = synthetic(seed=2, grey_fraction=1.0)[0]
    assert torch.equal(sharp[0], sharp[1]) and torch.equal(sharp[1], sharp[2])
    clean, _ = synthetic(seed=2, clean_fraction=1.0, noise_sigma_max=0.05)[0]
    noiseless, _ = synthetic(seed=2, noise_sigma_max=0.0)[0]
    torch.testing.assert_close(clean, noiseless)  # same crop and kernel, no noise


def test_synthetic_uses_real_pixels_at_the_border():
    flat = ImageList([torch.full((3, 40, 40), 0.25)], ["flat"])
    blurry, sharp = synthetic(sources=flat, noise_sigma_max=0.0, quantize=False, length=2)[1]
    torch.testing.assert_close(blurry, sharp)  # no dark frame


def test_synthetic_determinism_and_epochs():
    a, b = synthetic(seed=3), synthetic(seed=3)
    for i in range(3):
        assert all(torch.equal(x, y) for x, y in zip(a[i], b[i], strict=True))
    first = a[0][0]
    assert not torch.equal(first, a[1][0])
    assert not torch.equal(first, synthetic(seed=4)[0][0])
    a.set_epoch(1)
    assert a.epoch == 1 and not torch.equal(first, a[0][0])
    a.set_epoch(0)
    assert torch.equal(first, a[0][0])


def test_synthetic_items_of_one_image_differ_by_index():
    """Each index has its own random stream: one image still gives different crops and kernels per item."""
    data = synthetic(tiny_sources(count=1), length=4)
    items = [data[i][0] for i in range(4)]
    assert all(not torch.equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :])


def test_synthetic_without_flips_crops_unflipped_windows():
    height, width = 20, 24
    source = torch.arange(3 * height * width, dtype=torch.float32).reshape(3, height, width) / (3 * height * width)
    data = SyntheticBlur(
        ImageList([source], ["ramp"]), crop_size=8, length=30, kernel_min_size=1, kernel_max_size=1, flips=False
    )
    for i in range(len(data)):
        sharp = data[i][1]
        top, left = divmod(round(float(sharp[0, 0, 0]) * 3 * height * width), width)
        assert torch.equal(sharp, source[:, top : top + 8, left : left + 8]), i


def test_synthetic_identical_under_dataloader_workers():
    data = synthetic(length=8)
    serial = [batch for batch in DataLoader(data, batch_size=2, num_workers=0)]
    parallel = [batch for batch in DataLoader(data, batch_size=2, num_workers=2)]
    for (b1, s1), (b2, s2) in zip(serial, parallel, strict=True):
        assert torch.equal(b1, b2) and torch.equal(s1, s2)
    loader = DataLoader(data, batch_size=8, num_workers=2, persistent_workers=True)
    epoch0 = next(iter(loader))[0]
    data.set_epoch(1)
    epoch1 = next(iter(loader))[0]
    assert not torch.equal(epoch0, epoch1)  # the shared epoch reaches persistent workers
    assert torch.equal(epoch1, torch.stack([data[i][0] for i in range(8)]))


def test_synthetic_small_images_are_mirror_padded_not_skipped():
    small = ImageList([torch.rand(3, 5, 7), torch.rand(3, 1, 1)], ["small", "dot"])
    data = synthetic(sources=small, crop_size=32, length=4)
    for i in range(4):
        blurry, sharp = data[i]
        assert blurry.shape == sharp.shape == (3, 32, 32)
    torch.testing.assert_close(data[1][1], data[1][1][:, :1, :1].expand(3, 32, 32))  # a 1 px image stays flat


def test_synthetic_source_weights_and_bad_arguments():
    zeros, ones = ImageList([torch.zeros(3, 30, 30)], ["0"]), ImageList([torch.ones(3, 30, 30)], ["1"])
    data = synthetic(sources=[zeros, ones], source_weights=[0.0, 1.0], length=5)
    assert all(data[i][1].min() == 1 for i in range(5))
    with pytest.raises(GolfdeblurError, match="source_weights"):
        synthetic(sources=[zeros, ones], source_weights=[1.0])
    with pytest.raises(GolfdeblurError, match="min_size"):
        synthetic(kernel_min_size=15, kernel_max_size=11)
    with pytest.raises(GolfdeblurError, match="crop_size"):
        synthetic(crop_size=0)
    with pytest.raises(IndexError):
        synthetic(length=2)[2]


def test_random_crop_flip_same_window_for_all():
    x = torch.arange(2 * 10 * 12, dtype=torch.float32).reshape(2, 10, 12)
    a, b = random_crop_flip([x, x + 1], 6, torch.Generator().manual_seed(0))
    assert a.shape == (2, 6, 6) and torch.equal(b, a + 1)


def test_random_crop_reaches_every_window():
    x = torch.arange(10 * 12, dtype=torch.float32).reshape(1, 10, 12)
    corners = set()
    for seed in range(300):
        (crop,) = random_crop_flip([x], 6, torch.Generator().manual_seed(seed), flips=False)
        top, left = divmod(int(crop[0, 0, 0]), 12)
        assert torch.equal(crop, x[:, top : top + 6, left : left + 6])
        corners.add((top, left))
    assert {top for top, _ in corners} == set(range(5)) and {left for _, left in corners} == set(range(7))


def test_random_crop_flip_draws_all_four_flips():
    x = torch.arange(10 * 12, dtype=torch.float32).reshape(1, 10, 12)  # grows to the right and downwards
    states = set()
    for seed in range(200):
        (crop,) = random_crop_flip([x], 6, torch.Generator().manual_seed(seed))
        flip_h, flip_v = bool(crop[0, 0, 1] < crop[0, 0, 0]), bool(crop[0, 1, 0] < crop[0, 0, 0])
        window = crop.flip(-1) if flip_h else crop
        window = window.flip(-2) if flip_v else window
        top, left = divmod(int(window[0, 0, 0]), 12)
        assert torch.equal(window, x[:, top : top + 6, left : left + 6])
        states.add((flip_h, flip_v))
    assert states == {(False, False), (True, False), (False, True), (True, True)}


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_pair_folders(root, names, size=(20, 24), suffix=".png"):
    rng = np.random.default_rng(0)
    for name in names:
        sharp = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        write(root / "sharp" / f"{name}.png", sharp)
        write(root / "blur" / f"{name}{suffix}", 255 - sharp)  # a known relation: blurry = 1 - sharp


def test_paired_folders(tmp_path):
    make_pair_folders(tmp_path, ["b", "a", "sub/c"])
    data = PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    assert len(data) == 3 and [data.name(i) for i in range(3)] == ["a.png", "b.png", "sub/c.png"]
    blurry, sharp = data[0]
    assert blurry.shape == sharp.shape == (3, 20, 24)
    torch.testing.assert_close(blurry, 1 - sharp)
    cropped = PairedFolders(tmp_path / "blur", tmp_path / "sharp", crop_size=8, seed=1)
    for i in range(3):
        blurry, sharp = cropped[i]
        assert blurry.shape == (3, 8, 8)
        torch.testing.assert_close(blurry, 1 - sharp)  # same window and flips on both
    again = PairedFolders(tmp_path / "blur", tmp_path / "sharp", crop_size=8, seed=1)
    assert torch.equal(cropped[2][0], again[2][0])
    cropped.set_epoch(5)
    assert not torch.equal(cropped[2][0], again[2][0])
    assert PairedFolders(tmp_path / "blur", tmp_path / "sharp", crop_size=64)[0][0].shape == (3, 64, 64)  # padded


def test_paired_folders_without_flips_crop_unflipped_windows(tmp_path):
    rows, cols = np.mgrid[0:20, 0:24]
    image = np.stack([rows * 10, cols * 10, np.full_like(rows, 7)], axis=-1).astype(np.uint8)
    write(tmp_path / "sharp" / "a.png", image)
    write(tmp_path / "blur" / "a.png", image)
    data = PairedFolders(tmp_path / "blur", tmp_path / "sharp", crop_size=8, flips=False)
    whole = torch.from_numpy(image).permute(2, 0, 1)
    for epoch in range(20):
        data.set_epoch(epoch)
        blurry, sharp = data[0]
        levels = (sharp * 255).round().to(torch.uint8)
        top, left = int(levels[0, 0, 0]) // 10, int(levels[1, 0, 0]) // 10
        assert torch.equal(levels, whole[:, top : top + 8, left : left + 8]) and torch.equal(blurry, sharp), epoch


def test_paired_folders_match_across_suffixes(tmp_path):
    make_pair_folders(tmp_path, ["x"], suffix=".jpg")
    assert PairedFolders(tmp_path / "blur", tmp_path / "sharp").name(0) == "x.jpg"


def test_paired_folders_bad_input(tmp_path):
    make_pair_folders(tmp_path, ["a", "b"])
    (tmp_path / "sharp" / "b.png").unlink()
    with pytest.raises(GolfdeblurError, match=r"blur/b\.png has no sharp partner: no .*sharp/b\.\*"):
        PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    write(tmp_path / "sharp" / "b.png", np.zeros((20, 25, 3), dtype=np.uint8))
    with pytest.raises(GolfdeblurError, match=r"size mismatch: .*blur/b\.png is 24x20 but .*sharp/b\.png is 25x20"):
        PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    write(tmp_path / "sharp" / "extra.png", np.zeros((20, 24, 3), dtype=np.uint8))
    with pytest.raises(GolfdeblurError, match="extra.png has no blurry partner"):
        PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    (tmp_path / "sharp" / "extra.png").unlink()
    write(tmp_path / "blur" / "a.jpg", np.zeros((20, 24, 3), dtype=np.uint8))  # a second blurry "a"
    with pytest.raises(GolfdeblurError, match=r"blur/a\.(png|jpg) and .*blur/a\.(png|jpg): two images of one name"):
        PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    (tmp_path / "e1").mkdir()
    (tmp_path / "e2").mkdir()
    with pytest.raises(GolfdeblurError, match="no images found"):
        PairedFolders(tmp_path / "e1", tmp_path / "e2")
    with pytest.raises(GolfdeblurError, match="not found"):
        PairedFolders(tmp_path / "nope", tmp_path / "e2")


def test_gopro_large_layout(tmp_path):
    for sequence in ("GOPR0001_11_00", "GOPR0002_07_00"):
        make_pair_folders(tmp_path / "test" / sequence, ["000001", "000002"])
        rng = np.random.default_rng(1)
        for name in ("000001", "000002"):
            noise = rng.integers(0, 256, (20, 24, 3), np.uint8)
            write(tmp_path / "test" / sequence / "blur_gamma" / f"{name}.png", noise)
    make_pair_folders(tmp_path / "test" / ".GOPR0003.x1y2.tmp", ["000001"])  # a make-pairs killed part-way
    data = GoPro(tmp_path, "test")
    assert len(data) == 4 and data.name(3) == "GOPR0002_07_00/000002.png"
    blurry, sharp = data[0]
    torch.testing.assert_close(blurry, 1 - sharp)
    gamma = GoPro(tmp_path, "test", variant="blur_gamma")
    assert not torch.allclose(gamma[0][0], blurry)
    assert GoPro(tmp_path, "test", crop_size=16)[1][0].shape == (3, 16, 16)
    with pytest.raises(GolfdeblurError, match="variant"):
        GoPro(tmp_path, "test", variant="sharp")
    with pytest.raises(GolfdeblurError, match="split folder not found"):
        GoPro(tmp_path, "train")


@pytest.mark.parametrize("blur_name, sharp_name", [("input", "target"), ("blur", "sharp")])
def test_gopro_flat_layouts(tmp_path, blur_name, sharp_name):
    make_pair_folders(tmp_path / "train", ["p", "q"])
    if blur_name == "input":
        (tmp_path / "train" / "blur").rename(tmp_path / "train" / "input")
        (tmp_path / "train" / "sharp").rename(tmp_path / "train" / "target")
    data = GoPro(tmp_path, "train", crop_size=8)
    assert len(data) == 2 and data[1][0].shape == (3, 8, 8)
    with pytest.raises(GolfdeblurError, match="no 'blur_gamma' variant"):
        GoPro(tmp_path, "train", variant="blur_gamma")


def test_gopro_unknown_layout(tmp_path):
    (tmp_path / "train" / "something").mkdir(parents=True)
    with pytest.raises(GolfdeblurError, match="no GoPro layout found"):
        GoPro(tmp_path, "train")


def test_synthetic_epochs_shorter_than_the_image_list_walk_through_all_of_it():
    images = ImageList([torch.full((3, 8, 8), i / 10) for i in range(10)], [f"i{i}" for i in range(10)])
    data = SyntheticBlur(images, crop_size=4, length=3, kernel_min_size=1, kernel_max_size=1)
    seen = set()
    for epoch in range(4):  # 4 epochs of 3 items: 12 draws reach all 10 images
        data.set_epoch(epoch)
        seen |= {data.sample(i).name for i in range(len(data))}
    assert seen == {f"i{i}" for i in range(10)}


def test_an_item_depends_on_its_index_s_value_not_its_type():
    """A Subset of NumPy indices, or a NumPy seed, gives the items plain ints give."""
    source = ImageList([torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))], ["a"])
    data = SyntheticBlur(source, crop_size=16, kernel_max_size=9, length=8)
    for index in (np.int64(3), torch.tensor(3)):
        assert torch.equal(data[index][0], data[3][0])
    numpy_seed = SyntheticBlur(source, crop_size=16, kernel_max_size=9, length=8, seed=np.int64(0))
    assert torch.equal(numpy_seed[3][0], data[3][0])


def test_a_crop_mirrors_only_the_side_that_is_too_short():
    rows = torch.arange(300, dtype=torch.float32)[:, None].expand(300, 50)[None]  # each row holds its own index
    for seed in range(200):
        (crop,) = random_crop_flip([rows], 64, torch.Generator().manual_seed(seed), flips=False)
        assert torch.equal(crop[0, :, 0], crop[0, 0, 0] + torch.arange(64.0))  # 64 rows in order, none mirrored


@pytest.mark.parametrize("crop_size", [0, 2.5, True, "16"])
def test_a_crop_size_that_is_no_whole_number_of_pixels_is_refused_by_both_datasets(tmp_path, crop_size):
    """2.5 was cut to 2 px and True taken as 1 px; "16" failed comparing a str with an int."""
    refusal = rf"^crop_size {re.escape(repr(crop_size))}: must be a whole number of pixels, 1 or more"
    with pytest.raises(GolfdeblurError, match=refusal):
        synthetic(crop_size=crop_size)
    make_pair_folders(tmp_path, ["a"])
    with pytest.raises(GolfdeblurError, match=r"1 or more \(None: whole images\)$"):
        PairedFolders(tmp_path / "blur", tmp_path / "sharp", crop_size=crop_size)


def test_a_stream_draws_its_own_items_and_no_stream_those_of_before(tmp_path):
    """``set_stream("d")``: stage D's own crops, kernels and noise (it trained on stage G's samples again); "" keeps
    the items of the time before datasets had streams (stage G's)."""
    make_pair_folders(tmp_path, ["a", "b", "c"], size=(40, 44))
    for make in (lambda: synthetic(seed=3), lambda: PairedFolders(tmp_path / "blur", tmp_path / "sharp", 16, 3)):
        data, again = make(), make()
        before = [data[i] for i in range(len(data))]
        data.set_stream("d")
        again.set_stream("d")
        own = [data[i] for i in range(len(data))]
        assert all(not torch.equal(a[1], b[1]) for a, b in zip(before, own, strict=True))
        assert all(torch.equal(a[0], b[0]) for a, b in zip(own, [again[i] for i in range(len(data))], strict=True))
        data.set_epoch(1)
        assert not torch.equal(data[0][1], own[0][1])  # each stream has its own epochs
        data.set_epoch(0)
        data.set_stream("")
        assert all(torch.equal(a[0], data[i][0]) and torch.equal(a[1], data[i][1]) for i, a in enumerate(before))


def _mixed_pairs():
    """Synthetic pairs and, half the time, crops of real ones (train.batches.MixedPairs, which has draws of its own)."""
    from golfdeblur.train.batches import MixedPairs, WholePairs

    g = torch.Generator().manual_seed(1)
    real = WholePairs([(torch.randint(0, 256, (3, 40, 40), generator=g, dtype=torch.uint8),) * 2 for _ in range(3)])
    return MixedPairs(synthetic(length=8), real, 0.5, seed=2, crop_size=24)


@pytest.mark.parametrize("make", [lambda: synthetic(length=8), _mixed_pairs], ids=["SyntheticBlur", "MixedPairs"])
def test_the_stream_and_the_epoch_reach_persistent_workers(make):
    """MixedPairs kept its epoch and stream as plain attributes: persistent workers drew real-or-synthetic, the pair
    and its crop in the old epoch and stream, while the synthetic dataset inside it had switched."""
    data = make()
    loader = DataLoader(data, batch_size=8, num_workers=2, persistent_workers=True)
    no_stream = next(iter(loader))[0]
    data.set_stream("d")
    in_stream = next(iter(loader))[0]
    assert not torch.equal(no_stream, in_stream)
    assert torch.equal(in_stream, torch.stack([data[i][0] for i in range(8)]))
    data.set_epoch(1)
    next_epoch = next(iter(loader))[0]
    assert not torch.equal(next_epoch, in_stream)
    assert torch.equal(next_epoch, torch.stack([data[i][0] for i in range(8)]))
