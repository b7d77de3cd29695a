"""Batch sources: the batch of a step is the same however the run got there; on-device pairs are aligned."""

import os
import pickle
import signal

import pytest
import torch
from torch.utils.data import Dataset

from golfdeblur.errors import DeblurSettingsError, GolfdeblurError
from golfdeblur.train.batches import (
    DeviceBatches,
    LoaderBatches,
    MixedPairs,
    _end_quietly,
    derived_seed,
    images_to_device,
    leave_stopping_to_the_main_process,
    random_flips,
)


class Numbered(Dataset):
    """Item i is a pair of constant images of value i (so a batch tells which items it holds)."""

    def __init__(self, n: int = 10) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        image = torch.full((3, 4, 4), float(i))
        return image, image.clone()


def take(source, start: int, count: int) -> list[torch.Tensor]:
    iterator = source.batches(start)
    return [next(iterator)[1][:, 0, 0, 0] for _ in range(count)]


def test_loader_batches_resume_mid_epoch_and_shard():
    source = LoaderBatches(Numbered(10), batch_size=2, seed=3, flips=False)
    assert source.steps_per_epoch == 5
    straight = take(source, 0, 12)
    assert all(torch.equal(a, b) for a, b in zip(straight[7:], take(source, 7, 5), strict=True))
    assert sorted(torch.cat(straight[:5]).tolist()) == list(range(10))  # an epoch sees each item once
    assert not torch.equal(torch.cat(straight[:5]), torch.cat(straight[5:10]))  # a new order each epoch
    shards = [LoaderBatches(Numbered(10), 1, 3, rank=r, world_size=2, flips=False) for r in (0, 1)]
    ranks = [torch.cat(take(shard, 0, 5)) for shard in shards]
    assert not set(ranks[0].tolist()) & set(ranks[1].tolist())  # disjoint shards
    with pytest.raises(GolfdeblurError, match="fewer than one batch"):
        LoaderBatches(Numbered(3), batch_size=2, seed=0, world_size=2)


def test_flips_are_shared_by_both_images():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    a, b = random_flips(x, x.clone(), torch.Generator().manual_seed(derived_seed(0, 1)))
    assert torch.equal(a, b) and a.shape == x.shape


# A 4x5 image whose four flips (none, horizontal, vertical, both) all differ.
ASYMMETRIC = torch.arange(20, dtype=torch.float32).view(1, 4, 5).expand(3, 4, 5)


def flips_of(images: torch.Tensor) -> list[tuple[bool, bool]]:
    """(horizontal, vertical) for each (3, 4, 5) image of ``images``: which flips of ASYMMETRIC it is."""
    variants = {(h, v): ASYMMETRIC.flip([d for d, f in ((-1, h), (-2, v)) if f]) for h in (0, 1) for v in (0, 1)}
    found = []
    for image in images:
        (which,) = [key for key, variant in variants.items() if torch.equal(image, variant)]
        found.append(which)
    return found


def test_flips_draw_horizontal_and_vertical_independently():
    batch = ASYMMETRIC.expand(64, 3, 4, 5).clone()
    flipped, _ = random_flips(batch, batch.clone(), torch.Generator().manual_seed(derived_seed(0, 1)))
    assert set(flips_of(flipped)) == {(0, 0), (1, 0), (0, 1), (1, 1)}  # all four, not only none and both


class Asymmetric(Numbered):
    """Every item is ASYMMETRIC, so a batch tells only which flips it got."""

    def __getitem__(self, i: int):
        return ASYMMETRIC.clone(), ASYMMETRIC.clone()


def test_loader_batches_draw_new_flips_each_step():
    batches = LoaderBatches(Asymmetric(10), batch_size=2, seed=3).batches(0)
    patterns = [tuple(flips_of(next(batches)[1])) for _ in range(10)]
    assert len(set(patterns)) > 1  # steps 0..9 would all flip alike if a step's flips ignored the step


def test_device_batches_align_blurry_and_sharp():
    generator = torch.Generator().manual_seed(0)
    pictures = [torch.rand(3, 40, 50, generator=generator), torch.rand(48, 36, 3, generator=generator)]
    images = images_to_device(pictures, "cpu")
    assert images[1].shape == (3, 48, 36) and images[0].dtype == torch.uint8
    # delta kernels and no noise: the blurry image must equal the sharp crop exactly
    identity = DeviceBatches(images, 16, 3, seed=1, kernel_min_size=1, kernel_max_size=1, kernel_bank_size=4,
                             noise_sigma_max=0.0)  # fmt: skip
    blurry, sharp = identity.batch(5)
    assert blurry.shape == sharp.shape == (3, 3, 16, 16)
    torch.testing.assert_close(blurry, sharp, atol=1e-6, rtol=0)
    source = DeviceBatches(images, 16, 3, seed=1, kernel_min_size=3, kernel_max_size=7, kernel_bank_size=4)
    assert source.kernels.shape == (32, 1, 7, 7)  # the bank under 8 flips/rotations
    first, again, other = source.batch(7), source.batch(7), source.batch(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])
    assert 0 <= float(first[0].min()) and float(first[0].max()) <= 1
    assert float((first[0] - first[1]).abs().mean()) > 0.01  # blurred
    # an image smaller than crop + kernel - 1 is mirror-padded to fit, never left out (docs/DATA.md's rule), on its
    # short side only (40 rows to 46; its 50 columns are enough)
    small = DeviceBatches(images[:1], 40, 2, seed=0, kernel_min_size=1, kernel_max_size=7, kernel_bank_size=2)
    assert small.images[0].shape == (3, 46, 50) and small.batch(0)[1].shape == (2, 3, 40, 40)
    with pytest.raises(GolfdeblurError, match="no sharp image"):
        DeviceBatches([], 16, 2, seed=0)


def test_device_batches_draw_new_noise_each_step():
    # a flat image: every crop, flip and kernel gives the same sharp patch and blur, so only the noise differs
    flat = images_to_device([torch.full((3, 40, 40), 0.5)], "cpu")
    options = dict(kernel_min_size=3, kernel_max_size=5, kernel_bank_size=2, noise_sigma_max=0.05)
    source = DeviceBatches(flat, 16, 2, seed=0, **options)
    (first, first_sharp), (second, second_sharp) = source.batch(0), source.batch(1)
    assert torch.equal(first_sharp, second_sharp)
    assert not torch.equal(first[0], second[0])  # new noise at step 1, not step 0's again


def test_streams_and_kernel_banks_give_new_batches():
    # Stage D must not retrace stage G's batches, and each campaign chunk draws a new kernel bank.
    images = images_to_device([torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))], "cpu")
    options = dict(kernel_min_size=3, kernel_max_size=7, kernel_bank_size=4)
    source = DeviceBatches(images, 16, 3, seed=1, **options)
    g, d = source.batch(4, "g"), source.batch(4, "d")
    assert not torch.equal(g[1], d[1]) and torch.equal(g[1], source.batch(4, "g")[1])
    assert torch.equal(next(source.batches(4, "d"))[1], d[1])
    assert torch.equal(DeviceBatches(images, 16, 3, seed=1, bank_index=0, **options).kernels, source.kernels)
    assert not torch.equal(DeviceBatches(images, 16, 3, seed=1, bank_index=1, **options).kernels, source.kernels)
    loader = LoaderBatches(Numbered(10), batch_size=2, seed=3, flips=False)
    g_order, d_order = torch.cat(take(loader, 0, 5)), torch.cat([b[1][:, 0, 0, 0] for b in _first(loader, "d", 5)])
    assert sorted(d_order.tolist()) == list(range(10)) and not torch.equal(g_order, d_order)
    assert torch.equal(torch.cat(take(loader, 0, 5)), g_order)  # the default stream is unchanged by the detour


def test_an_even_kernel_max_size_rounds_inward_on_both_data_paths():
    """data.kernel_max_size 8: kernels up to 7 px on the GPU path, as the DataLoader path's random_kernels draws."""
    from golfdeblur.data.kernels import random_kernels

    images = images_to_device([torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))], "cpu")
    source = DeviceBatches(images, 16, 2, seed=1, kernel_min_size=7, kernel_max_size=8, kernel_bank_size=4)
    assert source.kernels.shape[-1] == 7 == random_kernels(4, torch.Generator().manual_seed(0), 7, 8).shape[-1]


def test_recipe_kernel_realism_reaches_the_kernel_bank():
    from golfdeblur.data.kernels import KernelRealism
    from golfdeblur.train.config import load_recipe
    from golfdeblur.train.data_setup import kernel_realism

    assert kernel_realism(load_recipe("tiny")) == KernelRealism()  # off unless a recipe sets it
    realism = kernel_realism(load_recipe("tiny", ["data.kernel_optics_sigma_max=0.8", "data.kernel_dwell_max=0.3"]))
    assert realism == KernelRealism(optics_sigma_max=0.8, dwell_max=0.3)
    images = images_to_device([torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))], "cpu")
    options = dict(kernel_min_size=3, kernel_max_size=9, kernel_bank_size=4)
    plain = DeviceBatches(images, 16, 3, seed=1, **options).kernels
    assert torch.equal(DeviceBatches(images, 16, 3, seed=1, kernel_realism=KernelRealism(), **options).kernels, plain)
    real = DeviceBatches(images, 16, 3, seed=1, kernel_realism=realism, **options).kernels
    assert real.shape == plain.shape and not torch.equal(real, plain)
    assert torch.allclose(real.sum((-2, -1)), torch.ones(real.shape[:2]), atol=1e-5)


def test_grey_and_clean_fractions_in_device_batches():
    images = images_to_device([torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))], "cpu")
    options = dict(kernel_min_size=3, kernel_max_size=7, kernel_bank_size=4)
    plain = DeviceBatches(images, 16, 4, seed=1, **options).batch(3)
    off = DeviceBatches(images, 16, 4, seed=1, grey_fraction=0.0, clean_fraction=0.0, **options).batch(3)
    assert all(torch.equal(a, b) for a, b in zip(plain, off, strict=True))  # off: the same batches as before
    blurry, sharp = DeviceBatches(images, 16, 4, seed=1, grey_fraction=1.0, **options).batch(3)
    assert torch.equal(sharp[:, 0], sharp[:, 1]) and torch.equal(sharp[:, 1], sharp[:, 2])
    clean, _ = DeviceBatches(images, 16, 4, seed=1, clean_fraction=1.0, noise_sigma_max=0.05, **options).batch(3)
    noiseless, _ = DeviceBatches(images, 16, 4, seed=1, noise_sigma_max=0.0, **options).batch(3)
    torch.testing.assert_close(clean, noiseless)  # the same crops and kernels, no noise


def _first(source, stream: str, count: int, dataset_stream: str | None = None) -> list:
    iterator = source.batches(0, stream, dataset_stream)
    return [next(iterator) for _ in range(count)]


def test_real_pairs_mix_into_synthetic_batches():
    pictures = images_to_device([torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))], "cpu")
    real = [(torch.full((3, 20, 24), 51, dtype=torch.uint8), torch.full((3, 20, 24), 204, dtype=torch.uint8))]
    options = dict(kernel_min_size=3, kernel_max_size=5, kernel_bank_size=2)
    only_real = DeviceBatches(pictures, 16, 4, seed=0, real_pairs=real, real_fraction=1.0, **options)
    blurry, sharp = only_real.batch(0)
    assert torch.allclose(blurry, torch.full_like(blurry, 0.2)) and torch.allclose(sharp, torch.full_like(sharp, 0.8))
    half = DeviceBatches(pictures, 16, 64, seed=0, real_pairs=real, real_fraction=0.5, **options)
    is_real = (half.batch(3)[1] == 0.8).flatten(1).all(dim=1)
    assert 10 < int(is_real.sum()) < 54  # about half
    assert torch.equal(is_real, (half.batch(3)[1] == 0.8).flatten(1).all(dim=1))  # the same step, the same mix
    padded = DeviceBatches(pictures, 32, 2, seed=0, real_pairs=real, real_fraction=1.0, **options)  # 20x24 < 32
    # each side padded only as much as it needs
    assert [tuple(image.shape) for image in padded.real_pairs[0]] == [(3, 32, 32)] * 2
    blurry, sharp = padded.batch(0)
    assert torch.allclose(blurry, torch.full_like(blurry, 0.2)) and torch.allclose(sharp, torch.full_like(sharp, 0.8))
    mixed = MixedPairs(Numbered(20), Numbered(3), fraction=1.0, crop_size=4)
    assert all(float(mixed[i][0].max()) < 3 for i in range(20)) and len(mixed) == 20
    only_synthetic = MixedPairs(Numbered(5), Numbered(3), 0.0, crop_size=4)
    assert [float(only_synthetic[i][1][0, 0, 0]) for i in range(5)] == [0, 1, 2, 3, 4]


def test_device_batches_draw_images_by_area():
    # 40x40 has 4 crop positions for a 37 px patch, 80x80 has 44**2: weighting by area keeps the ratio at 1:4
    images = [torch.zeros(3, 40, 40, dtype=torch.uint8), torch.zeros(3, 80, 80, dtype=torch.uint8)]
    batches = DeviceBatches(images, 16, 2, seed=0, kernel_min_size=3, kernel_max_size=21, kernel_bank_size=2)
    assert batches.image_weights.tolist() == pytest.approx([0.2, 0.8])


class Unreadable(Numbered):
    def __getitem__(self, i: int):
        raise GolfdeblurError(f"photo{i}.png: truncated")


def test_an_error_in_a_loader_worker_stays_one_line():
    batches = LoaderBatches(Unreadable(4), batch_size=2, seed=0, workers=1).batches(0)
    with pytest.raises(GolfdeblurError) as raised:
        next(batches)
    assert "\n" not in str(raised.value) and str(raised.value).startswith("photo") and "truncated" in str(raised.value)


def test_recipe_flips_setting_reaches_the_real_pairs_too(tmp_path):
    import numpy as np
    from PIL import Image

    from golfdeblur.train.config import load_recipe
    from golfdeblur.train.data_setup import make_training_dataset

    for folder in ("blur", "sharp"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / folder / "a.png")
    pairs = [f"data.pairs_blur_dir={tmp_path / 'blur'}", f"data.pairs_sharp_dir={tmp_path / 'sharp'}"]
    for flips in (True, False):
        recipe = load_recipe("tiny", [*pairs, "data.pairs_fraction=0.5", f"data.flips={str(flips).lower()}"])
        dataset = make_training_dataset(recipe)
        assert dataset.synthetic.flips is flips and dataset.flips is flips  # MixedPairs crops and flips the real pairs


@pytest.mark.parametrize("on_device", [False, True])
def test_the_run_says_what_it_trains_on(tmp_path, capsys, on_device):
    import numpy as np
    from PIL import Image

    from golfdeblur.train.config import load_recipe
    from golfdeblur.train.data_setup import make_batches
    from golfdeblur.train.distributed import ProcessGroup

    (tmp_path / "mine").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "mine" / f"{i}.png")
    recipe = load_recipe("tiny", [f"data.root={tmp_path / 'mine'}", f"data.on_device={str(on_device).lower()}"])
    make_batches(recipe, ProcessGroup(), torch.device("cpu"), None)
    assert (
        f"training data: 15 sharp images (8 scikit-image photos, 4 dead-leaves images, 3 from {tmp_path / 'mine'})"
        in (capsys.readouterr().err)
    )


def test_real_pairs_mixed_through_the_loader_get_a_crop_per_item(tmp_path):
    # MixedPairs used to take real item j as the real dataset cropped it, by (seed, epoch, j): every draw of pair j in
    # an epoch was the same crop (16 items, 2 pairs: 2 distinct crops)
    import numpy as np
    from PIL import Image

    from golfdeblur.train.config import load_recipe
    from golfdeblur.train.data_setup import make_training_dataset

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        sharp = rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)
        for folder, image in (("sharp", sharp), ("blur", 255 - sharp)):  # blurry = 1 - sharp, exactly
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / folder / f"{name}.png")
    pairs = [f"data.pairs_blur_dir={tmp_path / 'blur'}", f"data.pairs_sharp_dir={tmp_path / 'sharp'}"]
    dataset = make_training_dataset(load_recipe("tiny", [*pairs, "data.pairs_fraction=1.0"]))
    dataset.set_epoch(0)
    items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == 16 and all(sharp.shape == (3, 32, 32) for _, sharp in items)
    assert len({sharp.numpy().tobytes() for _, sharp in items}) > 12  # each item its own crop (and flips)
    assert all(torch.allclose(blurry, 1 - sharp, atol=1e-6) for blurry, sharp in items)  # the same window in both
    assert all(torch.equal(dataset[i][1], items[i][1]) for i in (0, 5))  # an item depends on (seed, epoch, index)
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0][1], items[0][1])


class SignalDispositions(Dataset):
    """Items of value 1 + 2 + 4: the process that loads them ignores SIGINT (1), ends quietly on SIGTERM (2), and is
    out of the process group of the process that made the dataset (4)."""

    def __init__(self) -> None:
        self.group = os.getpgrp()

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        value = float(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
        value += 2 * float(signal.getsignal(signal.SIGTERM) is _end_quietly)  # not ignored: torch ends them with it
        value += 4 * float(os.getpgrp() != self.group)
        image = torch.full((3, 4, 4), value)
        return image, image.clone()


def test_loader_workers_leave_ctrl_c_to_the_training_process():
    # a terminal's Ctrl-C reaches the workers too: spawned ones (macOS, Windows) died of it, and the run crashed with
    # 'DataLoader worker (pid(s) ...) exited unexpectedly' instead of saving a checkpoint; forked ones inherited the
    # loop's handler. They ignore SIGINT; SIGTERM, which torch ends them with, stays.
    handler = signal.getsignal(signal.SIGINT)
    blurry, _ = next(LoaderBatches(SignalDispositions(), batch_size=2, seed=0, workers=1, flips=False).batches(0))
    assert blurry.flatten().tolist() == [7.0] * blurry.numel()  # and out of the group a group's signal reaches
    assert signal.getsignal(signal.SIGINT) is handler  # the training process's own handler is left alone
    # spawned workers get it pickled: a module-level function
    assert pickle.loads(pickle.dumps(leave_stopping_to_the_main_process)) is leave_stopping_to_the_main_process


def test_device_batches_refuse_images_that_are_not_uint8():
    # float images in [0, 1] were divided by 255 again: near-black pairs, without an error
    pictures = [torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))]
    options = dict(kernel_min_size=3, kernel_max_size=5, kernel_bank_size=2)
    # a DeblurSettingsError, as random_kernels' refusals: a ValueError to a library caller, one line to the CLI's
    with pytest.raises(
        DeblurSettingsError, match=r"^DeviceBatches images\[0\]: expected a uint8 \(3, H, W\) .*float32"
    ):
        DeviceBatches(pictures, 16, 2, seed=0, **options)
    assert issubclass(DeblurSettingsError, ValueError)
    uint8 = images_to_device(pictures, "cpu")
    with pytest.raises(ValueError, match=r"images\[1\]: .* got torch\.uint8 \(40, 50, 3\)"):
        DeviceBatches([uint8[0], uint8[0].permute(1, 2, 0)], 16, 2, seed=0, **options)
    real = [(torch.full((3, 20, 24), 0.2), torch.full((3, 20, 24), 0.8))]
    with pytest.raises(ValueError, match=r"real_pairs\[0\]\[0\]: .*torch\.float32"):
        DeviceBatches(uint8, 16, 2, seed=0, real_pairs=real, real_fraction=1.0, **options)
    blurry, sharp = DeviceBatches(uint8, 16, 2, seed=0, **options).batch(0)  # images_to_device's are taken
    assert float(sharp.mean()) > 0.3  # the pictures' mean, about 0.5


def _pair_folders(root):
    """Three (blurry, sharp) pairs of random pixels, blurry = 255 - sharp; returns (blur folder, sharp folder)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, size in (("a", (40, 48)), ("b", (36, 52)), ("c", (30, 44))):
        sharp = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        for folder, image in (("sharp", sharp), ("blur", 255 - sharp)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / folder / f"{name}.png")
    return root / "blur", root / "sharp"


def _loader_recipe(tmp_path, data: str, *extra: str):
    """The tiny recipe with DataLoader data of kind ``data``: synthetic, synthetic mixed with real pairs, or pairs."""
    from golfdeblur.train.config import load_recipe

    blur, sharp = _pair_folders(tmp_path)
    settings = {
        "synthetic": [],
        "mixed": [f"data.pairs_blur_dir={blur}", f"data.pairs_sharp_dir={sharp}", "data.pairs_fraction=0.5"],
        # the synthetic-only keys at their defaults (tiny's would be refused with data.source=paired)
        "paired": ["data.source=paired", f"data.blur_dir={blur}", f"data.sharp_dir={sharp}", "data.crop_size=24",
                   "train.batch_size=1", "data.dead_leaves_count=128", "data.epoch_length=4000",
                   "data.kernel_min_size=7", "data.kernel_max_size=31", "data.kernel_bank_size=2048"],
    }[data]  # fmt: skip
    return load_recipe("tiny", [*settings, *extra])


def _loader(recipe, dataset=None, workers: int = 0) -> LoaderBatches:
    from golfdeblur.train.data_setup import make_training_dataset

    data, train = recipe.data, recipe.train
    dataset = make_training_dataset(recipe) if dataset is None else dataset
    return LoaderBatches(dataset, train.batch_size, train.seed, workers=workers, flips=data.flips)


def _uint8_digest(batches, count: int, which: tuple[int, ...]) -> str:
    """A hash of the first ``count`` batches' images ``which`` (0 blurry, 1 sharp), as 8-bit levels."""
    import hashlib

    digest = hashlib.sha256()
    for _ in range(count):
        batch = next(batches)
        for image in which:
            digest.update(batch[image].mul(255).round().to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class _WithoutStreams(Dataset):
    """A dataset as LoaderBatches saw datasets before they had streams: no ``set_stream``."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int):
        return self.dataset[index]


# The stream the training loop tells the datasets in each stage (train.loop.run_stage): stage G's keep the draws of
# before streams.
DATASET_STREAMS = {"g": "", "d": "d"}

# sha256 (16 hex digits) of stage G's first 10 batches on the DataLoader path, as the code before datasets had
# streams gave them (sharp images; blurry ones too where no FFT is involved, whose last bits may vary by platform).
OLD_STAGE_G_DIGESTS = {
    "synthetic": ((1,), "afbe154e0565718a"),
    "mixed": ((1,), "ca553e629c55254a"),
    "paired": ((0, 1), "1fa12adef5565168"),
}


@pytest.mark.parametrize("data", ["synthetic", "mixed", "paired"])
def test_stage_g_batches_on_the_loader_path_are_those_of_before_streams(tmp_path, data):
    # Stage G keeps its draws, so that a stage G checkpointed before datasets had streams resumes on the same batches.
    from golfdeblur.train.data_setup import make_training_dataset

    recipe = _loader_recipe(tmp_path, data)
    which, old = OLD_STAGE_G_DIGESTS[data]
    stage_g = _loader(recipe).batches(0, "g", dataset_stream=DATASET_STREAMS["g"])
    assert _uint8_digest(stage_g, 10, which) == old  # 10 steps: over an epoch's end
    # the whole pairs, in float: as LoaderBatches drew them from a dataset without streams
    old_style = _loader(recipe, _WithoutStreams(make_training_dataset(recipe)))
    assert_same_batches(_first(_loader(recipe), "g", 10, DATASET_STREAMS["g"]), _first(old_style, "g", 10))


@pytest.mark.parametrize("data", ["synthetic", "mixed"])
def test_the_dataset_draws_in_the_batches_stream_unless_told_another(tmp_path, data):
    # LoaderBatches tells the dataset the batches' stream; the loop asks for "" in stage G (stage names are its own)
    recipe = _loader_recipe(tmp_path, data, "data.flips=false")
    source = _loader(recipe)
    own = _first(source, "g", 3)
    assert_same_batches(own, _first(source, "g", 3, "g"))
    old = _first(source, "g", 3, "")
    assert not any(torch.equal(a[1], b[1]) for a, b in zip(own, old, strict=True))
    # the sampler's order and the flips stay the stream's: only the dataset's draws change
    numbered = LoaderBatches(Numbered(10), batch_size=2, seed=3)
    assert_same_batches(_first(numbered, "d", 5), _first(numbered, "d", 5, ""))


def assert_same_batches(batches: list, others: list) -> None:
    assert len(batches) == len(others)
    for (blurry, sharp), (other_blurry, other_sharp) in zip(batches, others, strict=True):
        assert torch.equal(blurry, other_blurry) and torch.equal(sharp, other_sharp)


@pytest.mark.parametrize("data", ["synthetic", "mixed", "paired"])
def test_stage_d_draws_other_samples_than_stage_g_on_the_loader_path(tmp_path, data):
    # SyntheticBlur (and pair crops) seeded items by (seed, epoch, index) alone: stage D's epochs were stage G's
    # samples again (the same crops, kernels and noise), in another order
    recipe = _loader_recipe(tmp_path, data, "data.flips=false")  # no loader flips: a sample is the same in any order
    source = _loader(recipe)
    samples = {}
    for stream in ("g", "d"):
        epoch = _first(source, stream, source.steps_per_epoch, DATASET_STREAMS[stream])
        samples[stream] = {pair.numpy().tobytes() for blurry, sharp in epoch for pair in torch.cat([blurry, sharp], 1)}
    shared = len(samples["g"] & samples["d"])
    assert shared == 0, f"{shared} of stage D's {len(samples['d'])} samples in its first epoch are stage G's"


def test_stage_d_samples_stay_the_same_under_workers_and_resume(tmp_path):
    # the stream reaches the datasets in the loader's worker processes, and a resume mid-epoch draws it again
    recipe = _loader_recipe(tmp_path, "mixed")
    straight = _first(_loader(recipe), "d", 12)  # over an epoch's end (8 steps)
    assert_same_batches(straight, _first(_loader(recipe, workers=2), "d", 12))
    resumed = _loader(recipe).batches(9, "d")
    assert_same_batches(straight[9:], [next(resumed) for _ in range(3)])
