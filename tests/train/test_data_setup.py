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
