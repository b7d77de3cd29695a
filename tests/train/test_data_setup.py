"""Data set-up: each data setting of the recipe reaches the dataset the run trains on."""

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.data.datasets import GoPro, PairedFolders, SyntheticBlur
from golfdeblur.data.kernels import KernelRealism
from golfdeblur.data.sources import ImageList
from golfdeblur.train import data_setup
from golfdeblur.train.config import load_recipe
from golfdeblur.train.data_setup import make_training_dataset


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
