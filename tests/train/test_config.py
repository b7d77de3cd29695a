"""Recipes: the three shipped recipes load, unknown keys and wrong types are errors, overrides are type-checked."""

import os
from pathlib import Path

import pytest
import yaml

from golfdeblur.train import config
from golfdeblur.train.config import (
    CONFIGS_DIR,
    PATH_KEYS,
    Recipe,
    RecipeError,
    check_paths_exist,
    load_recipe,
    recipe_from_dict,
    recipe_to_dict,
    recipe_to_yaml,
)


@pytest.mark.parametrize("name", ["tiny", "default", "paper", "campaign"])
def test_shipped_recipes_load(name):
    recipe = load_recipe(name)
    assert isinstance(recipe, Recipe)
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe  # round trip through plain data


def test_every_checked_recipe_key_names_a_field():
    """The checks are tables keyed by (section, key): a misspelt key would drop its check without a word (CHOICES is
    read with .get), so each must name a field of the recipe."""
    recipe = load_recipe("default")
    keyed = [*config.CHOICES, *config.MINIMUMS, *config.MAXIMUMS]
    keyed += [(section, key) for section, keys in PATH_KEYS.items() for key in keys]
    keyed += [("data", key) for keys in config.SOURCE_KEYS.values() for key in keys]
    missing = [f"{section}.{key}" for section, key in keyed if not hasattr(getattr(recipe, section, None), key)]
    assert missing == []


def test_every_data_source_has_its_keys_and_a_name_in_messages():
    assert set(config.SOURCE_KEYS) == set(config.SOURCE_DATA) == set(config.CHOICES[("data", "source")])


def test_stage_steps_are_those_of_the_stage_named_and_another_name_is_refused():
    """Any name but "g" gave d_steps: "G" or a typo would train stage D's count without a word."""
    from golfdeblur.errors import GolfdeblurError

    steps = load_recipe("tiny", ["train.g_steps=2", "train.d_steps=6"]).train
    assert (steps.stage_steps("g"), steps.stage_steps("d")) == (2, 6)
    for name in ("G", "x", ""):
        with pytest.raises(GolfdeblurError, match=rf"^stage {name!r}: no such stage \(expected g or d\)$"):
            steps.stage_steps(name)


def test_paper_recipe_holds_the_papers_settings():
    paper = load_recipe("paper")
    assert (paper.model.g_width, paper.model.d_width, paper.model.iterations) == (32, 16, 3)
    assert paper.train.batch_size == 4 and paper.data.flips
    assert paper.loss.perceptual_weight > 0 and paper.loss.mse_weight == 1.0
    assert paper.optim.lr > paper.optim.lr_end > 0  # exponential decay


def test_default_recipe_needs_no_download():
    default = load_recipe("default")
    assert default.loss.perceptual_weight == 0 and default.loss.frequency_weight > 0
    assert default.data.source == "synthetic"


def test_unknown_key_is_an_error(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("optim:\n  lr: 1.0e-3\n  learning_rate: 2\n")
    with pytest.raises(RecipeError, match="unknown key.*learning_rate"):
        load_recipe(path)
    path.write_text("optimizer:\n  lr: 1.0e-3\n")
    with pytest.raises(RecipeError, match="unknown section.*optimizer"):
        load_recipe(path)


def test_wrong_type_is_an_error(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  batch_size: 2.5\n")
    with pytest.raises(RecipeError, match="train.batch_size: expected int"):
        load_recipe(path)
    path.write_text("train:\n  precision: fp16\n")
    with pytest.raises(RecipeError, match="not one of"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="train.log_every: must be >= 1"):
        load_recipe("tiny", ["train.log_every=0"])
    with pytest.raises(RecipeError, match="pairs_blur_dir"):
        load_recipe("tiny", ["data.pairs_fraction=0.3"])
    with pytest.raises(RecipeError, match="ema_decay"):
        load_recipe("tiny", ["optim.ema_decay=1.0"])
    for bad in ("optim.ema_decay=nan", "optim.lr=.nan", "optim.lr=inf"):  # NaN passes every "< minimum" check
        with pytest.raises(RecipeError, match="must be a finite number"):
            load_recipe("tiny", [bad])
    with pytest.raises(RecipeError, match=r"optim.beta1: must be in \[0, 1\)"):
        load_recipe("tiny", ["optim.beta1=1.5"])
    with pytest.raises(RecipeError, match="data.grey_fraction: must be at most 1"):
        load_recipe("tiny", ["data.grey_fraction=1.5"])
    with pytest.raises(RecipeError, match="data.clean_fraction: must be >= 0"):
        load_recipe("tiny", ["data.clean_fraction=-0.5"])
    with pytest.raises(RecipeError, match="data.kernel_dwell_max: must be below 1"):
        load_recipe("tiny", ["data.kernel_dwell_max=1.0"])
    with pytest.raises(RecipeError, match="data.kernel_optics_sigma_max: must be at most 3"):
        load_recipe("tiny", ["data.kernel_optics_sigma_max=4.0"])
    with pytest.raises(RecipeError, match="data.kernel_optics_sigma_max: must be >= 0"):
        load_recipe("tiny", ["data.kernel_optics_sigma_max=-1.0"])
    with pytest.raises(RecipeError, match="data.kernel_max_size: must be at most 75, got 81"):
        load_recipe("tiny", ["data.kernel_max_size=81"])
    # deblur, eval and export run at most 64 iterations: weights trained with more could not deblur by default
    with pytest.raises(RecipeError, match="model.iterations: must be at most 64, got 65"):
        load_recipe("tiny", ["model.iterations=65"])
    assert load_recipe("tiny", ["model.iterations=64"]).model.iterations == 64
    with pytest.raises(RecipeError, match=r"data.validation_crop: must be 0 \(whole images\) or at least 11"):
        load_recipe("tiny", ["data.validation_crop=5"])  # failed at the first validation, after training steps
    assert load_recipe("tiny", ["data.validation_crop=11"]).data.validation_crop == 11
    broken = tmp_path / "broken.yaml"
    broken.write_text("train:\n  batch_size: [1,\n")
    with pytest.raises(RecipeError, match="cannot be read as YAML") as refusal:
        load_recipe(broken)
    assert "\n" not in str(refusal.value)  # one line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_recipe_that_is_a_folder_pipe_or_device_is_named_for_what_it_is(special_files):
    # these read "no such file, and not a recipe in ..." though they were there
    for path, what in special_files(".yaml").items():
        with pytest.raises(RecipeError) as info:
            load_recipe(path)
        assert str(info.value).startswith(f"recipe {path}: {what}; name a YAML file or a packaged recipe (")


def test_range_checks_hold_at_their_edges():
    # a 10 px validation crop passed the check and failed at the first validation, after training steps (SSIM's
    # window is 11); beta 1 made Adam's bias correction divide by zero
    with pytest.raises(RecipeError, match=r"data.validation_crop: must be 0 .* at least 11 .*, got 10$"):
        load_recipe("tiny", ["data.validation_crop=10"])
    assert load_recipe("tiny", ["data.validation_crop=11"]).data.validation_crop == 11
    for name in ("beta1", "beta2"):
        with pytest.raises(RecipeError, match=rf"optim.{name}: must be in \[0, 1\), got 1"):
            load_recipe("tiny", [f"optim.{name}=1"])
        assert getattr(load_recipe("tiny", [f"optim.{name}=0"]).optim, name) == 0


def test_overrides_are_type_checked():
    recipe = load_recipe("tiny", ["optim.lr=1e-4", "train.batch_size=3", "data.root=null", "train.compile=true"])
    assert recipe.optim.lr == pytest.approx(1e-4) and isinstance(recipe.optim.lr, float)
    assert recipe.train.batch_size == 3 and recipe.train.compile is True and recipe.data.root is None
    with pytest.raises(RecipeError, match="expected int"):
        load_recipe("tiny", ["train.batch_size=many"])
    with pytest.raises(RecipeError, match="expected bool"):
        load_recipe("tiny", ["train.compile=1"])
    with pytest.raises(RecipeError, match="unknown key"):
        load_recipe("tiny", ["train.batchsize=3"])
    with pytest.raises(RecipeError, match="section.key=value"):
        load_recipe("tiny", ["train.batch_size"])


def test_recipe_is_frozen_and_yaml_round_trips(tmp_path: Path):
    recipe = load_recipe("tiny")
    with pytest.raises(AttributeError):
        recipe.optim.lr = 1.0  # frozen dataclass
    path = tmp_path / "saved.yaml"
    path.write_text(recipe_to_yaml(recipe))
    assert load_recipe(path) == recipe


def test_unknown_recipe_name_lists_known_ones():
    with pytest.raises(RecipeError, match="tiny"):
        load_recipe("no-such-recipe")
    assert (CONFIGS_DIR / "tiny.yaml").is_file()


def test_paths_expand_and_settings_the_source_ignores_are_refused(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    recipe = load_recipe("tiny", ["data.root=~/photos.NPZ", "data.validation_root=~/data"])
    assert recipe.data.root == "/home/someone/photos.NPZ" and recipe.data.validation_root == "/home/someone/data"
    assert load_recipe("tiny", ["data.root=pack.NPZ", "data.pairs_fraction=0.5"]).data.pairs_fraction == 0.5  # a pack
    for overrides, message in [
        (["data.kernel_min_size=8", "data.kernel_max_size=8"], "data.kernel_min_size: must be odd"),
        (["data.blur_dir=b", "data.sharp_dir=s"], "data.blur_dir: has no effect with data.source=synthetic"),
        (["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s", "data.root=r"], "data.root: has no effect"),
        (["data.source=gopro", "data.root=g", "data.pairs_fraction=0.2"], "data.pairs_fraction: has no effect"),
        (["data.pairs_blur_dir=b", "data.pairs_sharp_dir=s"], "have no effect with data.pairs_fraction 0"),
    ]:
        with pytest.raises(RecipeError, match=message):
            load_recipe("tiny", overrides)


def test_learning_rates_must_be_positive():
    # lr_end 0 used to turn the decay off silently, lr 0 to train nothing
    for key in ("optim.lr", "optim.lr_end"):
        for value in ("0", "-1e-4"):
            with pytest.raises(RecipeError, match=rf"recipe key {key}: must be > 0, got "):
                load_recipe("tiny", [f"{key}={value}"])


def test_synthetic_data_settings_are_refused_with_another_source():
    real = ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"]
    assert load_recipe("default", real).data.source == "paired"  # its synthetic settings are the defaults
    assert load_recipe("paper").data.source == "gopro"
    for key, value in [("grey_fraction", 0.5), ("clean_fraction", 0.5), ("linear_light", "true"),
                       ("kernel_optics_sigma_max", 1.0), ("kernel_dwell_max", 0.5), ("on_device", "true"),
                       ("noise_sigma_max", 0.05), ("kernel_max_size", 9), ("epoch_length", 10)]:  # fmt: skip
        with pytest.raises(RecipeError, match=rf"^recipe key data.{key}: has no effect with data.source=paired"):
            load_recipe("default", [*real, f"data.{key}={value}"])
        with pytest.raises(RecipeError, match=rf"data.{key}: has no effect with data.source=gopro"):
            load_recipe("paper", ["data.root=g", f"data.{key}={value}"])
    said = r"^recipe key data.on_device: has no effect with data.source=paired \(synthetic data only\); "
    with pytest.raises(RecipeError, match=said + r"drop it, or pass --set data.on_device=false$"):  # the reset
        load_recipe("default", [*real, "data.on_device=true"])
    with pytest.raises(RecipeError, match=r"^recipe key data.root: .*; drop it, or pass --set data.root=null$"):
        load_recipe("default", [*real, "data.root=r"])


def test_the_gopro_variant_is_a_setting_of_gopro_data_only(tmp_path: Path, capsys):
    """data.source=gopro always trained on GoPro's blur/ folder: no recipe key chose blur_gamma/."""
    gopro = ["data.root=g"]
    assert load_recipe("paper", gopro).data.gopro_variant == "blur"  # the default: every existing recipe unchanged
    assert load_recipe("paper", [*gopro, "data.gopro_variant=blur_gamma"]).data.gopro_variant == "blur_gamma"
    with pytest.raises(RecipeError, match=r"^recipe key data.gopro_variant: 'gamma' is not one of blur, blur_gamma$"):
        load_recipe("paper", [*gopro, "data.gopro_variant=gamma"])
    said = r"^recipe key data.gopro_variant: has no effect with data.source={} \(GoPro data only\); drop it, or pass "
    with pytest.raises(RecipeError, match=said.format("synthetic") + r"--set data.gopro_variant='blur'$"):
        load_recipe("default", ["data.gopro_variant=blur_gamma"])
    paired = ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"]
    with pytest.raises(RecipeError, match=said.format("paired")):
        load_recipe("default", [*paired, "data.gopro_variant=blur_gamma"])
    assert load_recipe("default", [*paired, "data.gopro_variant=blur"]).data.gopro_variant == "blur"  # the default
    # a GoPro recipe file's variant is its source's setting: unused, with a note, when --set switches the source
    path = tmp_path / "gopro.yaml"
    path.write_text("data:\n  source: gopro\n  root: GOPRO_Large\n  gopro_variant: blur_gamma\n")
    capsys.readouterr()
    switched = load_recipe(path, [*paired, "data.root=null"]).data
    assert (switched.source, switched.gopro_variant) == ("paired", "blur")
    assert "(the recipe's: data.gopro_variant='blur_gamma')" in capsys.readouterr().err
    # a run resumed with another variant is noted as any other changed setting is (train.checkpoints.recipe_changes)
    from golfdeblur.train.checkpoints import recipe_changes

    before, after = (
        recipe_to_dict(load_recipe("paper", [*gopro, f"data.gopro_variant={v}"])) for v in ("blur", "blur_gamma")
    )
    assert recipe_changes(before, after) == ["data.gopro_variant blur -> blur_gamma"]


def test_a_recipe_file_of_one_source_with_settings_of_another_is_refused_naming_each_reset(tmp_path: Path):
    # the file itself says paired: its synthetic settings are the file's mistake, not left over from its source
    path = tmp_path / "mine.yaml"
    path.write_text("data:\n  source: paired\n  blur_dir: b\n  sharp_dir: s\n  kernel_max_size: 9\n  on_device: true\n")
    with pytest.raises(RecipeError, match=r"^recipe keys data.kernel_max_size, data.on_device: have no") as caught:
        load_recipe(path)
    assert str(caught.value).endswith("drop them, or pass --set data.kernel_max_size=31 --set data.on_device=false")
    with pytest.raises(RecipeError, match="kernel_max_size, data.on_device: have no effect"):
        load_recipe(path, ["data.source=paired"])  # naming the file's own source again switches nothing


def test_switching_the_source_on_the_command_line_leaves_the_recipes_settings_for_its_source_unused(
    tmp_path: Path, capsys
):
    """``tiny`` + paired folders was refused until its six dead-leaves and kernel settings were reset by hand."""
    paired = ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"]
    recipe = load_recipe("tiny", paired)
    assert recipe.data == config.DataSection(
        source="paired", blur_dir="b", sharp_dir="s", crop_size=32, validation_images=2, validation_crop=32
    )  # tiny's settings that paired data reads too stay
    assert recipe.train == load_recipe("tiny").train
    assert capsys.readouterr().err == (
        "golfdeblur: note: recipe tiny: with --set data.source=paired, its settings for data.source=synthetic are "
        "unused and keep their defaults in the run's config.yaml (the recipe's: data.dead_leaves_count=4, "
        "data.dead_leaves_size=96, data.epoch_length=16, data.kernel_min_size=3, data.kernel_max_size=7, "
        "data.kernel_bank_size=16)\n"
    )
    # the campaign's pack, real-pairs share and on-device batches are synthetic data's settings too
    campaign = load_recipe("campaign", paired).data
    assert (campaign.root, campaign.pairs_fraction, campaign.on_device) == (None, 0.0, False)
    assert "(the recipe's: data.root='local/campaign/data.npz', data.pairs_fraction=0.25" in capsys.readouterr().err
    # a setting given with --set is the user's: still refused, naming the --set that resets it
    with pytest.raises(RecipeError, match=r"^recipe key data.kernel_max_size: has no effect with data.source=paired"):
        load_recipe("tiny", [*paired, "data.kernel_max_size=9"])
    with pytest.raises(RecipeError, match=r"^recipe key data.root: has no effect with data.source=paired"):
        load_recipe("campaign", [*paired, "data.root=photos"])
    path = tmp_path / "r.yaml"
    path.write_text("data:\n  epoch_length: many\n")
    with pytest.raises(RecipeError, match=r"^recipe key data.epoch_length: expected int, got 'many'"):
        load_recipe(path, paired)  # an unused value still has its type checked
    assert capsys.readouterr().err == ""  # no note before an error


def test_a_switched_source_notes_only_settings_that_were_not_defaults(monkeypatch, capsys):
    paired = ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"]
    assert load_recipe("default", paired).data.workers == 2  # default.yaml's kernels and noise are the defaults
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "1")  # under torchrun rank 0 alone says it
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert load_recipe("tiny", paired).data.epoch_length == config.DataSection.epoch_length
    assert capsys.readouterr().err == ""
    # the recipe's own source named again switches nothing: no note (and no refusal of the campaign's data.root)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert load_recipe("campaign", ["data.source=synthetic"]).data.root == "local/campaign/data.npz"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "environment", [{"RANK": "1"}, {"RANK": ""}, {"RANK": "", "WORLD_SIZE": "2"}, {"RANK": "0", "WORLD_SIZE": ""}]
)
def test_a_switched_source_is_noted_outside_torchrun_whatever_rank_the_shell_holds(monkeypatch, capsys, environment):
    """A stray RANK=1 in a plain shell (no WORLD_SIZE over 1: not torchrun) hid the note, and RANK='' was a
    traceback (ValueError from int())."""
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    load_recipe("tiny", ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"])
    assert capsys.readouterr().err.startswith("golfdeblur: note: recipe tiny: with --set data.source=paired")


def test_a_switched_source_that_reads_data_root_otherwise_needs_its_own(tmp_path: Path):
    # synthetic data reads data.root as sharp photos, GoPro as its folder: the recipe's root must not change meaning
    said = r"^recipe key data.root: the recipe's 'local/campaign/data.npz' is data for data.source=synthetic; with "
    with pytest.raises(RecipeError, match=said + r"--set data.source=gopro, pass --set data.root=PATH too"):
        load_recipe("campaign", ["data.source=gopro"])
    assert load_recipe("campaign", ["data.source=gopro", "data.root=g"]).data.root == "g"
    path = tmp_path / "gopro.yaml"
    path.write_text("data:\n  source: gopro\n  root: GOPRO_Large\n")
    with pytest.raises(RecipeError, match=r"data.source=synthetic, pass --set data.root=PATH too \(a folder"):
        load_recipe(path, ["data.source=synthetic"])
    assert load_recipe(path, ["data.source=synthetic", "data.root=null"]).data.root is None
    assert load_recipe(path, ["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"]).data.root is None


def test_real_pairs_need_both_folders():
    for given in ("pairs_blur_dir", "pairs_sharp_dir"):  # with a pack, one folder used to be ignored silently
        missing = "pairs_sharp_dir" if given == "pairs_blur_dir" else "pairs_blur_dir"
        for root in (["data.root=pack.npz"], []):
            with pytest.raises(RecipeError, match=rf"data.{given}: needs data.{missing} too .*both or neither"):
                load_recipe("tiny", [*root, f"data.{given}=folder", "data.pairs_fraction=0.5"])


def test_vgg_weights_need_the_perceptual_term():
    with pytest.raises(RecipeError, match="loss.vgg_weights: has no effect with loss.perceptual_weight 0"):
        load_recipe("default", ["loss.vgg_weights=vgg11_bn.pth"])
    assert load_recipe("paper", ["loss.vgg_weights=vgg11_bn.pth"]).loss.vgg_weights == "vgg11_bn.pth"


def test_yaml_values_json_cannot_hold_are_refused_naming_their_key(tmp_path: Path):
    # a date, bytes or a set in a recipe file crashed the overrides' JSON round trip with a TypeError
    path = tmp_path / "r.yaml"
    for text in ("2024-05-01", "!!binary aGVsbG8=", "!!set {a, b}"):
        path.write_text(f"data:\n  root: {text}\n")
        with pytest.raises(RecipeError, match="recipe key data.root: expected str, got"):
            load_recipe(path, ["train.g_steps=1"])
    path.write_text("train:\n  1: 2\n  foo: 3\n")  # keys of mixed types: listed, not a TypeError from sorting
    with pytest.raises(RecipeError, match="unknown key.*1, foo"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="override 'data.root=2024-13-45': value is not valid YAML"):
        load_recipe("tiny", ["data.root=2024-13-45"])  # a date YAML cannot build: a ValueError


def test_a_float_beyond_floats_range_is_refused_in_one_line():
    with pytest.raises(RecipeError, match=r"optim.grad_clip: 10+\.\.\. \(401 characters\) is too large for a float"):
        load_recipe("tiny", ["optim.grad_clip=1" + "0" * 400])  # an OverflowError from float()


def test_an_integer_beyond_pythons_digit_limit_is_refused_in_one_line(tmp_path: Path):
    with pytest.raises(RecipeError, match=r"value is not valid YAML \(a number of more than 4300 digits\)") as refusal:
        load_recipe("tiny", ["train.g_steps=1" + "0" * 5000])  # a ValueError from PyYAML
    assert len(str(refusal.value)) < 200
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  g_steps: 1" + "0" * 5000 + "\n")
    with pytest.raises(RecipeError, match=r"cannot be read as YAML \(a number of more than 4300 digits\)"):
        load_recipe(path)


def test_train_seed_is_range_checked():
    for seed in ("100000000000000000000000", str(2**64), "-1"):  # torch.manual_seed failed after the data set-up
        with pytest.raises(RecipeError, match=r"train.seed: must be 0 to 2\*\*64 - 1"):
            load_recipe("tiny", [f"train.seed={seed}"])
    assert load_recipe("tiny", [f"train.seed={2**64 - 1}"]).train.seed == 2**64 - 1


def test_nan_and_infinite_floats_are_refused_as_not_finite():
    for bad in ("nan", "1e400", "1.0e+400", "-.inf"):  # were "expected float, got 'nan'"
        with pytest.raises(RecipeError, match="^recipe key optim.lr: must be a finite number, got "):
            load_recipe("tiny", [f"optim.lr={bad}"])


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n", "---\n"])
def test_a_recipe_without_sections_is_refused(tmp_path: Path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match="r.yaml: holds no sections"):
        load_recipe(path)


def test_an_unknown_key_names_the_key_it_resembles_or_lists_the_known_ones(tmp_path: Path):
    with pytest.raises(RecipeError, match=r"^recipe section optim: unknown key\(s\) lrr \(did you mean lr\?\)$"):
        load_recipe("tiny", ["optim.lrr=1"])
    with pytest.raises(RecipeError, match=r"unknown key\(s\) zzz \(known: beta1, beta2, .*, weight_decay\)$"):
        load_recipe("tiny", ["optim.zzz=1"])
    with pytest.raises(RecipeError, match=r"unknown section optimm \(did you mean optim\?\)$"):
        load_recipe("tiny", ["optimm.lr=1"])
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  gsteps: 1\n  qq: 2\n")  # one close, one not: the suggestion, no list
    with pytest.raises(RecipeError, match=r"unknown key\(s\) gsteps \(did you mean g_steps\?\), qq$"):
        load_recipe(path)


def test_an_unknown_section_is_named_as_a_section(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("foo:\n  a: 1\ntrain:\n  g_steps: 1\n")
    with pytest.raises(
        RecipeError, match=r"^recipe: unknown section\(s\) foo \(known: data, loss, model, optim, train\)$"
    ):
        load_recipe(path)
    with pytest.raises(RecipeError, match=r"^recipe: expected a mapping of sections, got \[1\]$"):
        recipe_from_dict([1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("train:\n  batch_size: 2\noptim:\n  lr: 1.0e-3\ntrain:\n  g_steps: 3\n", "train", (1, 5)),  # reset to defaults
        ("optim:\n  lr: 2.0e-3\n  lr: 2.0e-4\n", "lr", (2, 3)),  # the last one won
    ],
    ids=["section", "key"],
)
def test_a_repeated_key_is_refused_naming_the_file_the_key_and_its_lines(tmp_path: Path, text, key, lines):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as refusal:
        load_recipe(path)
    assert str(refusal.value) == (
        f"recipe {path}: key {key} is given twice, on lines {lines[0]} and {lines[1]} (YAML would keep only the last)"
    )


def test_merge_keys_may_override_what_they_fold_in():
    # "inner" is folded into "t" before its own turn comes, its merged x then beside its own x: not a repeated key
    text = "a: &b {x: 1}\ns:\n  inner: &c\n    <<: *b\n    x: 2\nt:\n  <<: *c\n  y: 3\n"
    assert yaml.load(text, Loader=config._UniqueKeyLoader) == yaml.safe_load(text)  # a SafeLoader otherwise
    with pytest.raises(RecipeError, match="^key x is given twice, on lines 3 and 4"):
        yaml.load("t:\n  <<: {x: 1}\n  x: 2\n  x: 3\n", Loader=config._UniqueKeyLoader)


def test_the_perceptual_loss_needs_a_crop_its_vgg_features_hold():
    # a 16 px crop crashed in VGG's 5th max-pool after the data set-up, leaving config.yaml and log.csv behind
    import torch

    from golfdeblur.losses import VGG11_LAYOUT, VGGFeatures

    minimum = config.VGG_MIN_CROP
    assert minimum == 2 ** VGG11_LAYOUT.count("M")
    features = VGGFeatures()  # the layers the perceptual loss runs (random weights)
    assert features(torch.rand(1, 3, minimum, minimum)).shape[-2:] == (1, 1)
    with pytest.raises(RuntimeError, match="too small"):
        features(torch.rand(1, 3, minimum - 1, minimum - 1))
    for crop in (16, minimum - 1):
        with pytest.raises(RecipeError) as refusal:
            load_recipe("paper", [f"data.crop_size={crop}"])
        assert str(refusal.value) == (
            f"recipe keys data.crop_size and loss.perceptual_weight: a crop of {crop} px is smaller than the 32 px the "
            "perceptual loss's VGG-11-BN features need (five 2x2 max-pools)"
        )
    assert load_recipe("paper", [f"data.crop_size={minimum}"]).data.crop_size == minimum
    assert load_recipe("tiny", ["data.crop_size=16"]).data.crop_size == 16  # no perceptual term: no VGG


def test_a_synthetic_epoch_shorter_than_one_batch_is_refused():
    # was refused only after the data set-up (train.batches.LoaderBatches, which also knows the processes)
    with pytest.raises(RecipeError) as refusal:
        load_recipe("tiny", ["data.epoch_length=1"])  # tiny's batch: 2
    assert str(refusal.value) == (
        "recipe keys data.epoch_length and train.batch_size: 1 synthetic pairs per epoch are fewer than one batch of 2"
    )
    assert load_recipe("tiny", ["data.epoch_length=2"]).data.epoch_length == 2
    assert load_recipe("tiny", ["data.epoch_length=1", "data.on_device=true"]).data.on_device  # no epochs there


@pytest.mark.parametrize("key", [f"{section}.{key}" for section, keys in PATH_KEYS.items() for key in keys])
@pytest.mark.parametrize("value", ["", "'  '"])
def test_an_empty_path_is_refused_not_taken_as_unset(key, value):
    shown = repr(yaml.safe_load(value) if value else "")
    with pytest.raises(RecipeError) as refusal:
        load_recipe("tiny", [f"{key}={value}"])  # "" was read as null: e.g. data.root="" trained on other data
    assert str(refusal.value) == f"recipe key {key}: is empty ({shown}); give a path, or null to leave it unset"
    assert load_recipe("tiny", [f"{key}=null"]) == load_recipe("tiny")  # null is unset


def test_crop_size_and_batch_size_have_bounds_that_training_can_use():
    # a 1 px crop in a batch of 1 crashed in BatchNorm (one value per channel), a huge batch in torch's size arithmetic
    with pytest.raises(RecipeError, match=r"^recipe key data.crop_size: must be >= 2, got 1$"):
        load_recipe("tiny", ["data.crop_size=1", "train.batch_size=1"])
    assert load_recipe("tiny", ["data.crop_size=2", "train.batch_size=1"]).data.crop_size == 2
    for batch in (2**16 + 1, 4611686018427387904):
        with pytest.raises(RecipeError, match=rf"^recipe key train.batch_size: must be at most 65536, got {batch}$"):
            load_recipe("tiny", [f"train.batch_size={batch}", "data.on_device=true"])
    assert load_recipe("tiny", ["train.batch_size=65536", "data.on_device=true"]).train.batch_size == 2**16


def test_a_validation_root_without_the_validation_images_is_refused_before_the_set_up(tmp_path: Path):
    from golfdeblur.data.validation import validation_set
    from golfdeblur.errors import GolfdeblurError

    root = tmp_path / "data"
    root.mkdir()
    recipe = load_recipe("tiny", [f"data.validation_root={root}"])
    with pytest.raises(RecipeError) as refusal:
        check_paths_exist(recipe)  # was refused only at the first validation, after the data set-up
    with pytest.raises(GolfdeblurError) as late:
        validation_set(root=root)
    assert str(refusal.value) == str(late.value)  # the same line
    assert (
        str(refusal.value) == f"{root}: holds neither eval/cbsd68 nor eval/kodak24 (give the data folder holding eval/)"
    )
    check_paths_exist(load_recipe("tiny", [f"data.validation_root={root}", "train.val_every=0"]))  # not read
    (root / "eval" / "kodak24").mkdir(parents=True)
    (root / "eval" / "kodak24" / "kodim01.png").touch()  # listed, not read, by the check
    check_paths_exist(recipe)


def test_a_recipe_nested_too_deeply_is_refused_in_one_line(tmp_path: Path):
    # PyYAML composes nested lists recursively: a 1 KB file or --set value gave a RecursionError traceback
    nested = "[" * 600 + "]" * 600  # PyYAML gives up at about 500
    path = tmp_path / "r.yaml"
    path.write_text(f"train: {nested}\n")
    with pytest.raises(RecipeError) as refusal:
        load_recipe(path)
    assert str(refusal.value) == f"recipe {path}: cannot be read as YAML (nested too deeply)"
    with pytest.raises(RecipeError) as refusal:
        load_recipe("tiny", [f"train.seed={nested}"])
    assert str(refusal.value) == (
        "override 'train.seed=[[[[[[[[[[[[[[[[[[[[[[[[[[[[... (1213 characters): value is not valid YAML (nested too "
        "deeply)"
    )


def test_a_yaml_alias_bomb_is_refused_at_once_in_one_line(tmp_path: Path):
    # 8 levels of 9 aliases (422 bytes) are a list of 43 million strings: its whole repr, shortened only afterwards,
    # took 24 s and 750 MB before "expected float, got ..." (10 levels under train.seed ran past 120 s). A subprocess:
    # repr runs in C, which no alarm interrupts.
    import subprocess
    import sys
    import time

    levels = ["&a0 [" + ", ".join(['"x"'] * 9) + "]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 8)]
    path = tmp_path / "bomb.yaml"
    path.write_text(f"optim:\n  lr: [{', '.join(levels)}]\n")
    script = (
        "import sys\n"
        "try:\n"
        "    import resource\n"  # the old code's repr held 750 MB: held to 1 GiB, it fails instead of swapping
        "    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "except (ImportError, ValueError, OSError):\n"
        "    pass\n"
        "from golfdeblur.train.config import RecipeError, load_recipe\n"
        "try:\n"
        "    load_recipe(sys.argv[1])\n"
        "except RecipeError as exc:\n"
        "    print(exc)\n"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.stdout == (
        "recipe key optim.lr: expected float, got [['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'... (more than 10,000 "
        "characters)\n"
    ), done.stderr[-500:]
    assert time.monotonic() - start < 5


def test_a_value_whose_repr_is_exactly_the_limit_is_shown_whole():
    # one character more is shortened: the boundary of a message's shown value is where it says
    assert config._shown("x" * 58) == "'" + "x" * 58 + "'"  # 60 characters, the limit
    assert config._shown("x" * 59) == "'" + "x" * 39 + "... (61 characters)"


@pytest.mark.parametrize("value, shown", [("&a [*a]", "[[...]]"), ("&a {k: *a}", "{'k': {...}}")])
def test_a_value_that_holds_itself_is_shown_as_repr_shows_it(value, shown):
    # a YAML anchor inside itself is a list or mapping holding itself: written [...] or {...} as repr writes it
    with pytest.raises(RecipeError) as refusal:
        load_recipe("tiny", [f"optim.lr={value}"])
    assert str(refusal.value) == f"recipe key optim.lr: expected float, got {shown}"


@pytest.mark.parametrize(
    "override, hint",
    [
        ("data.root={absent}/folder", False),
        ("data.validation_root={absent}/v.npz", False),
        ("data.root={absent}/p.NPZ", True),
    ],
)
def test_the_pack_data_hint_is_given_for_a_missing_data_root_pack_only(tmp_path, override, hint):
    # pack-data writes the packs data.root reads; a missing folder or validation root is not one of those
    with pytest.raises(RecipeError) as refusal:
        check_paths_exist(load_recipe("tiny", [override.format(absent=tmp_path / "absent")]))
    assert ("write a pack with golfdeblur pack-data" in str(refusal.value)) == hint


def test_a_yaml_error_quoting_the_word_digits_is_not_called_a_long_number():
    # only Python's digit-limit ValueError is said as "a number of more than N digits"; YAML's own error is kept
    with pytest.raises(RecipeError) as refusal:
        load_recipe("tiny", ["train.seed=[digits"])
    assert "a number of more than" not in str(refusal.value) and "expected ',' or ']'" in str(refusal.value)


def test_a_recipe_path_under_a_folder_that_may_not_be_searched_is_one_line(tmp_path, monkeypatch):
    """Path.exists() raises PermissionError there (Python < 3.12 for every such error): a RecipeError naming the key,
    not an OSError without it."""
    import errno
    import pathlib

    exists = pathlib.Path.exists

    def locked(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "locked")):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return exists(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "exists", locked)
    with pytest.raises(RecipeError) as refusal:
        check_paths_exist(load_recipe("tiny", [f"data.root={tmp_path / 'locked' / 'p.npz'}"]))
    assert (
        str(refusal.value)
        == f"recipe key data.root: {tmp_path / 'locked' / 'p.npz'}: cannot use it (permission denied)"
    )


def test_a_recipe_path_whose_name_is_too_long_is_one_line(tmp_path):
    """Any OSError of Path.exists(), not only PermissionError: a name longer than the file system takes (Python <
    3.13 raises it there; later ones say the path does not exist)."""
    long = tmp_path / ("a" * 300)
    try:
        long.exists()  # False on Python >= 3.13
        raises = False
    except OSError:  # ENAMETOOLONG
        raises = True
    with pytest.raises(RecipeError) as refusal:
        check_paths_exist(load_recipe("tiny", [f"data.root={long}"]))
    if raises:
        assert str(refusal.value) == f"recipe key data.root: {long}: cannot use it (file name too long)"
    else:
        assert str(refusal.value) == f"recipe key data.root: {long} does not exist"


def test_an_override_naming_a_folder_of_undecodable_bytes_is_taken_as_given_and_kept_in_config_yaml(tmp_path):
    # YAML text cannot hold the surrogates that stand for such bytes: "value is not valid YAML (unacceptable character)"
    root = tmp_path / os.fsdecode(b"caf\xe9 photos")
    root.mkdir()
    recipe = load_recipe("tiny", [f"data.root= {root} "])
    assert recipe.data.root == str(root)
    assert yaml.safe_load(recipe_to_yaml(recipe))["data"]["root"] == str(root)  # the run folder keeps it


def write_held_out_pairs(folder: Path, sizes: dict[str, tuple[int, int]]) -> list[str]:
    """A blur/ and a sharp/ PNG of each name and (height, width) under ``folder``; returns the overrides that
    validate on them."""
    import numpy as np
    from PIL import Image

    for name, (height, width) in sizes.items():
        for kind in ("blur", "sharp"):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(folder / kind / f"{name}.png")
    return [f"data.validation_blur_dir={folder / 'blur'}", f"data.validation_sharp_dir={folder / 'sharp'}"]


def test_held_out_validation_pairs_need_both_folders_and_leave_the_fixed_sets_settings_alone():
    # the keys did not exist: a run on your own pairs validated only on the fixed synthetic set
    for given, missing in (("validation_blur_dir", "validation_sharp_dir"),
                           ("validation_sharp_dir", "validation_blur_dir")):  # fmt: skip
        with pytest.raises(RecipeError) as refusal:
            load_recipe("tiny", [f"data.{given}=held"])
        assert str(refusal.value) == (
            f"recipe key data.{given}: needs data.{missing} too (validation pairs are matched across both folders); "
            "give both or neither"
        )
    both = ["data.validation_blur_dir=held/blur", "data.validation_sharp_dir=held/sharp"]
    for key, value, default in (("validation_root", "data", "null"), ("validation_seed", "7", "2019")):
        with pytest.raises(RecipeError) as refusal:
            load_recipe("tiny", [*both, f"data.{key}={value}"])
        assert str(refusal.value) == (
            f"recipe key data.{key}: has no effect with data.validation_blur_dir and data.validation_sharp_dir "
            f"(validation is on those pairs, not on the fixed set); drop it, or pass --set data.{key}={default}"
        )
    for source in (["data.source=paired", "data.blur_dir=b", "data.sharp_dir=s"], ["data.root=photos"], []):
        recipe = load_recipe("tiny", [*source, *both])  # any source
        assert (recipe.data.validation_blur_dir, recipe.data.validation_sharp_dir) == ("held/blur", "held/sharp")


def test_held_out_validation_folders_round_trip_through_config_yaml(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    recipe = load_recipe("tiny", ["data.validation_blur_dir=~/held/blur", "data.validation_sharp_dir=held/sharp"])
    assert recipe.data.validation_blur_dir == "/home/someone/held/blur"  # "~" expanded, as in every path key
    saved = tmp_path / "config.yaml"
    saved.write_text(recipe_to_yaml(recipe))
    assert yaml.safe_load(saved.read_text())["data"]["validation_sharp_dir"] == "held/sharp"
    assert load_recipe(saved) == recipe


def test_held_out_validation_pairs_are_checked_before_the_set_up(tmp_path: Path):
    training = ["data.source=paired", f"data.blur_dir={tmp_path / 'pairs/blur'}"]
    training += [f"data.sharp_dir={tmp_path / 'pairs/sharp'}"]
    write_held_out_pairs(tmp_path / "pairs", {"a": (40, 40), "b": (40, 40)})
    held = write_held_out_pairs(tmp_path / "held", {"c": (40, 40), "d": (40, 40)})
    check_paths_exist(load_recipe("tiny", [*training, *held]))  # usable: no error

    def refusal(*overrides: str) -> str:
        with pytest.raises(RecipeError) as refused:
            check_paths_exist(load_recipe("tiny", [*training, *overrides]))
        return str(refused.value)

    absent = tmp_path / "absent"
    assert refusal(f"data.validation_blur_dir={absent}", held[1]) == (
        f"recipe key data.validation_blur_dir: {absent} does not exist"
    )
    check_paths_exist(load_recipe("tiny", [*training, f"data.validation_blur_dir={absent}", held[1],
                                           "train.val_every=0"]))  # fmt: skip  # not read
    (tmp_path / "empty/blur").mkdir(parents=True)
    (tmp_path / "empty/sharp").mkdir()
    empty = [
        f"data.validation_blur_dir={tmp_path / 'empty/blur'}",
        f"data.validation_sharp_dir={tmp_path / 'empty/sharp'}",
    ]
    assert refusal(*empty) == (
        "recipe keys data.validation_blur_dir and data.validation_sharp_dir: "
        f"{tmp_path / 'empty/blur'} and {tmp_path / 'empty/sharp'}: no images found"
    )
    # the training folders themselves, one inside them, or one holding them: real paths compared
    inside = write_held_out_pairs(tmp_path / "pairs/blur/held", {"e": (40, 40)})
    linked = tmp_path / "link"
    linked.symlink_to(tmp_path / "pairs", target_is_directory=True)
    for overrides, key, given, relation, named, folder in (
        ([f"data.validation_blur_dir={tmp_path / 'pairs/blur'}", held[1]], "validation_blur_dir",
         tmp_path / "pairs/blur", "is", "data.blur_dir", tmp_path / "pairs/blur"),
        ([held[0], f"data.validation_sharp_dir={linked / 'sharp'}"], "validation_sharp_dir",
         linked / "sharp", "is", "data.sharp_dir", tmp_path / "pairs/sharp"),
        (inside, "validation_blur_dir", tmp_path / "pairs/blur/held/blur", "lies inside", "data.blur_dir",
         tmp_path / "pairs/blur"),
        ([f"data.validation_blur_dir={tmp_path}", held[1]], "validation_blur_dir", tmp_path, "holds",
         "data.blur_dir", tmp_path / "pairs/blur"),
    ):  # fmt: skip
        assert refusal(*overrides) == (
            f"recipe key data.{key}: {given} {relation} {named} ({folder}), which the run trains on; validate on "
            "pairs kept out of the training data"
        )
    # a pair below SSIM's window among those validated on (the first data.validation_images by name)
    small = write_held_out_pairs(tmp_path / "small", {"a": (40, 40), "b": (10, 40)})
    assert refusal(*small, "data.validation_images=2") == (
        f"recipe key data.validation_blur_dir: {tmp_path / 'small/blur/b.png'}: 40x10 pixels, smaller than SSIM's "
        "11x11 window (validation scores SSIM); leave the pair out"
    )
    check_paths_exist(load_recipe("tiny", [*training, *small, "data.validation_images=1"]))  # b is not validated on
