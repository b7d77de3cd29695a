"""Data set-up: each data setting of the recipe reaches the dataset the run trains on."""

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.data.datasets import GoPro, PairedFolders, SyntheticBlur
from golfdeblur.data.kernels import KernelRealism
from golfdeblur.data.sources import ImageList
from golfdeblur.errors import GolfdeblurError
from golfdeblur.train import data_setup
from golfdeblur.train.config import load_recipe
from golfdeblur.train.data_setup import make_training_dataset
from golfdeblur.train.distributed import ProcessGroup


# Each value differs from SyntheticBlur's own default, so a setting left out of the call shows.
@pytest.mark.parametrize(
    ("override", "attribute", "expected"),
    [
        ("data.crop_size=24", "crop_size", 24),
        ("data.epoch_length=20", "length", 20),
        ("train.seed=5", "seed", 5),
        ("data.kernel_min_size=5", "kernel_min_size", 5),
        ("data.kernel_max_size=9", "kernel_max_size", 9),
        ("data.noise_sigma_max=0", "noise_sigma_max", 0),
        ("data.linear_light=true", "linear_light", True),
        ("data.flips=false", "flips", False),
        ("data.kernel_dwell_max=0.3", "kernel_realism", KernelRealism(dwell_max=0.3)),
        ("data.grey_fraction=0.5", "grey_fraction", 0.5),
        ("data.clean_fraction=0.5", "clean_fraction", 0.5),
    ],
)
def test_each_synthetic_setting_of_the_recipe_reaches_the_dataset(monkeypatch, override, attribute, expected):
    # one small image instead of the built-in sources (seconds to load): the settings are what is tested here
    monkeypatch.setattr(data_setup, "training_sources", lambda recipe: [ImageList([torch.rand(3, 48, 48)], ["a"])])
    dataset = make_training_dataset(load_recipe("tiny", [override]))
    assert isinstance(dataset, SyntheticBlur)
    assert getattr(dataset, attribute) == expected


def test_the_flips_setting_reaches_gopro_and_paired_folders(tmp_path):
    image = np.zeros((16, 16, 3), np.uint8)
    for folder in ("gopro/train/blur", "gopro/train/sharp", "paired/blur", "paired/sharp"):
        (tmp_path / folder).mkdir(parents=True)
        Image.fromarray(image).save(tmp_path / folder / "a.png")
    paired = ["data.source=paired", f"data.blur_dir={tmp_path / 'paired/blur'}"]
    paired += [f"data.sharp_dir={tmp_path / 'paired/sharp'}"]
    for flips in (True, False):
        setting = f"data.flips={str(flips).lower()}"
        gopro = make_training_dataset(load_recipe("paper", [f"data.root={tmp_path / 'gopro'}", setting]))
        assert isinstance(gopro, GoPro) and gopro.flips is flips
        folders = make_training_dataset(load_recipe("default", [*paired, setting]))
        assert isinstance(folders, PairedFolders) and folders.flips is flips


def write_gopro_large(root, values: dict[str, int], size: int = 40) -> None:
    """A GOPRO_Large train split under ``root``: one sequence, one pair, each folder of ``values`` (blur, blur_gamma,
    sharp) an image of that one 8-bit value."""
    for folder, value in values.items():
        (root / "train/SEQ" / folder).mkdir(parents=True)
        Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(root / "train/SEQ" / folder / "a.png")


def test_the_gopro_variant_chooses_the_blurry_images_training_reads(tmp_path, capsys):
    """data.source=gopro always trained on GoPro's blur/ folder, never the linear-light blur_gamma/."""
    write_gopro_large(tmp_path, {"blur": 10, "blur_gamma": 200, "sharp": 100})
    gopro = ["data.source=gopro", f"data.root={tmp_path}", "data.crop_size=32", "train.batch_size=1"]
    for variant, value in (("blur_gamma", 200), ("blur", 10)):
        recipe = load_recipe("tiny", [*gopro, f"data.gopro_variant={variant}"])
        dataset = make_training_dataset(recipe)
        assert isinstance(dataset, GoPro) and [blurry.parent.name for blurry, _ in dataset.pairs] == [variant]
        blurry, sharp = dataset[0]
        assert torch.equal((blurry * 255).round(), torch.full((3, 32, 32), float(value)))  # the variant's pixels
        assert torch.equal((sharp * 255).round(), torch.full((3, 32, 32), 100.0))
        capsys.readouterr()
        data_setup.make_batches(recipe, ProcessGroup(), torch.device("cpu"), None)  # the run's first line says it
        assert (
            capsys.readouterr().err == f"training data: 1 pair of GoPro ({variant}) in {tmp_path}, random 32 px crops\n"
        )


@pytest.mark.parametrize("layout", [("input", "target"), ("blur", "sharp")])
def test_blur_gamma_on_a_flattened_gopro_layout_names_the_recipe_key(tmp_path, layout):
    """The refusal named the folder and the variant, not data.gopro_variant nor how to reset it."""
    for folder in layout:
        (tmp_path / "train" / folder).mkdir(parents=True)
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "train" / folder / "a.png")
    gopro = ["data.source=gopro", f"data.root={tmp_path}", "data.crop_size=32", "train.batch_size=1"]
    with pytest.raises(GolfdeblurError) as refusal:
        make_training_dataset(load_recipe("tiny", [*gopro, "data.gopro_variant=blur_gamma"]))
    assert str(refusal.value) == (
        f"recipe key data.gopro_variant: {tmp_path / 'train'}: flattened GoPro layout has no 'blur_gamma' variant; "
        "pass --set data.gopro_variant=blur"
    )
    assert isinstance(make_training_dataset(load_recipe("tiny", gopro)), GoPro)  # blur: the layout's one variant


def write_pairs(folder, sizes: dict[str, tuple[int, int]]) -> list[str]:
    """A blur/ and a sharp/ image of each name and (height, width) under ``folder``; returns the overrides that
    train on them."""
    for name, (height, width) in sizes.items():
        for kind in ("blur", "sharp"):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(folder / kind / f"{name}.png")
    return ["data.source=paired", f"data.blur_dir={folder / 'blur'}", f"data.sharp_dir={folder / 'sharp'}"]


def test_the_first_line_of_a_run_on_paired_folders_names_them_and_the_pairs_the_crop_pads(tmp_path, capsys):
    # it said "3 pairs (paired)": not which folders were read, nor that pairs smaller than the crop are mirror-padded
    paired = write_pairs(tmp_path, {"a": (40, 40), "b": (20, 48), "c": (48, 20)})
    recipe = load_recipe("tiny", [*paired, "data.crop_size=32"])
    capsys.readouterr()
    data_setup.make_batches(recipe, ProcessGroup(), torch.device("cpu"), None)
    assert capsys.readouterr().err == (
        f"training data: 3 pairs from {tmp_path / 'blur'} and {tmp_path / 'sharp'}, random 32 px crops; 2 smaller "
        "than 32 px on a side, mirror-padded to it\n"
    )
    one = write_pairs(tmp_path / "one", {"a": (40, 40)})
    data_setup.make_batches(
        load_recipe("tiny", [*one, "train.batch_size=1"]), ProcessGroup(), torch.device("cpu"), None
    )
    assert capsys.readouterr().err.endswith(f"training data: 1 pair from {tmp_path / 'one/blur'} and "
                                            f"{tmp_path / 'one/sharp'}, random 32 px crops\n")  # fmt: skip


def test_a_pair_the_size_of_the_crop_is_not_said_to_be_smaller(tmp_path):
    from golfdeblur.data.datasets import PairedFolders

    paired = write_pairs(tmp_path, {"a": (24, 24), "b": (24, 30)})
    recipe = load_recipe("tiny", [*paired, "data.crop_size=24"])
    text = data_setup.describe_pairs(PairedFolders(tmp_path / "blur", tmp_path / "sharp"), recipe)
    assert text == f"2 pairs from {tmp_path / 'blur'} and {tmp_path / 'sharp'}, random 24 px crops"


def test_paired_data_without_its_folders_names_the_settings_to_give():
    for given, missing in [([], "--set data.blur_dir=DIR --set data.sharp_dir=DIR"),
                           (["data.blur_dir=b"], "--set data.sharp_dir=DIR")]:  # fmt: skip
        recipe = load_recipe("tiny", ["data.source=paired", *given])
        with pytest.raises(GolfdeblurError, match=rf"matched by file name\): pass {missing}$"):
            make_training_dataset(recipe)


def write_distinct_pairs(folder, names: list[str], size: tuple[int, int] = (48, 40), seed: int = 0) -> list[str]:
    """Random blur/ and sharp/ PNGs of ``names`` and (height, width) ``size`` under ``folder``; returns the
    overrides that validate on them."""
    generator = np.random.default_rng(seed)
    for name in names:
        for kind in ("blur", "sharp"):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            pixels = generator.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / kind / f"{name}.png")
    return [f"data.validation_blur_dir={folder / 'blur'}", f"data.validation_sharp_dir={folder / 'sharp'}"]


def test_held_out_pairs_are_validated_on_centre_cropped_and_named_in_the_first_lines(tmp_path, capsys):
    # validation was on the project's fixed synthetic set, whatever pairs a user trained on
    from golfdeblur.data.degrade import centre_crop

    paired = write_pairs(tmp_path / "train", {"a": (40, 40), "b": (40, 40)})
    held = write_distinct_pairs(tmp_path / "held", ["x", "y", "z"])
    recipe = load_recipe("tiny", [*paired, "train.batch_size=2", *held, "data.validation_images=2"])
    capsys.readouterr()
    validation = data_setup.make_validation_data(recipe, None)
    assert capsys.readouterr().err == (
        f"validation: 2 pairs from {tmp_path / 'held/blur'} and {tmp_path / 'held/sharp'}, central 32 px crops\n"
    )
    assert validation.where == f"2 pairs from {tmp_path / 'held/blur'} and {tmp_path / 'held/sharp'}"
    whole = PairedFolders(tmp_path / "held/blur", tmp_path / "held/sharp")
    assert [name for _, _, name in validation.items] == ["x.png", "y.png"]
    for (blurry, sharp, _name), index in zip(validation.items, (0, 1), strict=True):
        expected_blurry, expected_sharp = (centre_crop(image, 32) for image in whole[index])
        assert torch.equal(blurry, expected_blurry) and torch.equal(sharp, expected_sharp)
        assert blurry.untyped_storage().nbytes() == blurry.numel() * 4  # a copy, not a view of the whole photo
    whole_images = load_recipe("tiny", [*paired, *held, "data.validation_crop=0", "data.validation_images=0"])
    capsys.readouterr()
    assert [item[0].shape for item in data_setup.make_validation_data(whole_images, None).items] == [(3, 48, 40)] * 3
    assert capsys.readouterr().err.endswith(f"{tmp_path / 'held/sharp'}, whole images\n")


def test_held_out_pairs_smaller_than_the_validation_crop_are_counted():
    recipe = load_recipe("tiny", ["data.validation_blur_dir=b", "data.validation_sharp_dir=s"])

    class Pairs:
        sizes = [(20, 40), (40, 40)]

        def __len__(self):
            return 2

    assert data_setup.describe_validation_pairs(Pairs(), recipe) == (  # type: ignore[arg-type]
        "2 pairs from b and s, central 32 px crops; 1 smaller than 32 px on a side, scored whole there"
    )


def test_held_out_pairs_inside_any_folder_the_run_trains_on_are_refused(tmp_path):
    held = write_distinct_pairs(tmp_path / "photos/held", ["x"])
    gopro = tmp_path / "gopro"
    (gopro / "train").mkdir(parents=True)
    for overrides, named, folder in (
        (["data.root=" + str(tmp_path / "photos")], "data.root", tmp_path / "photos"),  # synthetic: sharp photos
        ([f"data.pairs_blur_dir={tmp_path / 'photos'}", f"data.pairs_sharp_dir={tmp_path / 'other'}",
          "data.pairs_fraction=0.5"], "data.pairs_blur_dir", tmp_path / "photos"),
    ):  # fmt: skip
        with pytest.raises(GolfdeblurError) as refusal:
            data_setup.held_out_pairs(load_recipe("tiny", [*overrides, *held]))
        assert str(refusal.value) == (
            f"recipe key data.validation_blur_dir: {tmp_path / 'photos/held/blur'} lies inside {named} ({folder}), "
            "which the run trains on; validate on pairs kept out of the training data"
        )
    # GoPro trains on its train split only: its test split is held out
    test_split = write_distinct_pairs(gopro / "test", ["x"])
    assert data_setup.held_out_pairs(load_recipe("paper", [f"data.root={gopro}", *test_split])) is not None
    with pytest.raises(GolfdeblurError, match=r"lies inside the train split of data.root \("):
        data_setup.held_out_pairs(
            load_recipe("paper", [f"data.root={gopro}", *write_distinct_pairs(gopro / "train", ["x"])])
        )
    assert data_setup.held_out_pairs(load_recipe("tiny")) is None  # none named: the fixed set


def test_a_held_out_set_is_the_same_set_by_its_pixels_not_its_folder(tmp_path):
    # pairs named 001.png in two folders are two sets; the same files moved are one
    import shutil

    first = write_distinct_pairs(tmp_path / "held", ["001", "002"])
    shutil.copytree(tmp_path / "held", tmp_path / "moved")
    other = write_distinct_pairs(tmp_path / "other", ["001", "002"], seed=1)
    moved = [
        f"data.validation_blur_dir={tmp_path / 'moved/blur'}",
        f"data.validation_sharp_dir={tmp_path / 'moved/sharp'}",
    ]
    record = data_setup.make_validation_data(load_recipe("tiny", first), None).record()
    assert record["names"] == ["001.png", "002.png"] and len(record["digest"]) == 64
    assert data_setup.make_validation_data(load_recipe("tiny", moved), None).same_set(record)
    assert not data_setup.make_validation_data(load_recipe("tiny", other), None).same_set(record)
    fixed = {key: value for key, value in record.items() if key != "digest"}  # the fixed set records no digest
    assert not data_setup.make_validation_data(load_recipe("tiny", first), None).same_set(fixed)


def test_held_out_pairs_in_a_folder_that_holds_a_training_folder_are_refused(tmp_path):
    # validation_sharp_dir=T/pairs holds T/pairs/blur, which the run trains on
    trained = [
        "data.source=paired",
        f"data.blur_dir={tmp_path / 'pairs/blur'}",
        f"data.sharp_dir={tmp_path / 'pairs/sharp'}",
    ]
    held = [f"data.validation_blur_dir={tmp_path / 'held/blur'}", f"data.validation_sharp_dir={tmp_path / 'pairs'}"]
    with pytest.raises(GolfdeblurError) as refusal:
        data_setup.held_out_pairs(load_recipe("tiny", [*trained, *held]))
    assert str(refusal.value) == (
        f"recipe key data.validation_sharp_dir: {tmp_path / 'pairs'} holds data.blur_dir ({tmp_path / 'pairs/blur'}), "
        "which the run trains on; validate on pairs kept out of the training data"
    )
