import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur import atomic
from golfdeblur.cli import main
from golfdeblur.demo import DemoConfig, check_config, format_results, make_demo_pairs, run_demo, run_real, side_by_side
from golfdeblur.demo_config import MIN_CROP
from golfdeblur.errors import GolfdeblurError
from golfdeblur.infer import prepare_model
from golfdeblur.models import GolfConfig, GolfOptimizer, save_golf, weights_io
from golfdeblur.models.weights_io import sha256_of

SMALL = DemoConfig(images=2, crop=40, kernel_sizes=(7, 9))


def test_pairs_are_seeded_and_blurred():
    names, sizes, blurry, sharp = make_demo_pairs(SMALL)
    again = make_demo_pairs(SMALL)
    assert names == ["skimage/astronaut", "skimage/chelsea"] and sizes == [7, 9]
    assert blurry.shape == sharp.shape == (2, 3, 40, 40)
    assert torch.equal(blurry, again[2])
    assert not torch.equal(blurry, make_demo_pairs(DemoConfig(images=2, crop=40, kernel_sizes=(7, 9), seed=1))[2])
    assert (blurry - sharp).abs().mean() > 0.005  # visibly blurred


def test_identity_model_reports_blurry_numbers_and_writes_outputs(tmp_path):
    identity = prepare_model(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), device="cpu")
    results = run_demo(identity, tmp_path, SMALL)
    for r in results:  # the untrained network returns its input exactly
        assert r.psnr_deblurred == r.psnr_blurry and r.ssim_deblurred == r.ssim_blurry
        assert 10 < r.psnr_blurry < 60 and 0 < r.ssim_blurry < 1
    picture = np.asarray(Image.open(tmp_path / "comparison.png"))
    assert picture.shape == (2 * 40 + 6, 3 * 40 + 12, 3)
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert "8-bit" in report["conventions"]["psnr"] and len(report["images"]) == 2
    assert "mean" in format_results(results)


def test_pictures_round_to_the_nearest_8_bit_value():
    near_white = torch.full((1, 3, 2, 2), 0.999)  # 254.745: rounds to 255, not down to 254
    assert side_by_side(near_white, near_white, near_white, gap=0).tolist() == np.full((2, 6, 3), 255).tolist()


def test_cli_with_weights_prints_table(tmp_path, capsys):
    torch.manual_seed(0)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1), zero_init_last=False), tmp_path / "w.safetensors")
    code = main(["demo", "--out", str(tmp_path / "out"), "--weights", str(weights), "--images", "1", "--crop", "32"])
    assert code == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and f"weights: {weights} (sha256 {sha256_of(weights)[:12]}...)" in out
    assert (tmp_path / "out" / "comparison.png").is_file()
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["weights"] == {
        "weights": str(weights),
        "sha256": sha256_of(weights),
        "iterations": 1,
    }  # what it measured


def test_cli_without_weights_says_so_and_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")  # an install without packaged weights
    code = main(["demo", "--out", str(tmp_path / "out")])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no trained weights" in err
    assert not (tmp_path / "out").exists()


def test_real_photos_grid(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "real").mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "real" / "wide.png")
    Image.fromarray(rng.integers(0, 256, (40, 20), dtype=np.uint8)).save(tmp_path / "real" / "tall.jpg")
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    out = tmp_path / "out"
    assert main(["demo", "--real", str(tmp_path / "real"), "--out", str(out), "--weights", str(weights)]) == 0
    printed = capsys.readouterr().out
    assert f"weights: {weights} (sha256 {sha256_of(weights)[:12]}...)\ndeblurred 2 photos from" in printed
    # the grid says what made it, as the bundled demo's metrics.json does: two grids told apart by their weights
    record = json.loads((out / "real_comparison.json").read_text())
    assert record == {
        "weights": {"weights": str(weights), "sha256": sha256_of(weights), "iterations": 1},
        "picture": "real_comparison.png",
        "picture_sha256": sha256_of(out / "real_comparison.png"),
        "photos": ["tall.jpg", "wide.png"],
    }
    grid = Image.open(out / "real_comparison.png")
    assert grid.size == (round(50 * 320 / 30) * 2 + 6, 2 * 320 + 6)  # rows of blurry | deblurred at 320 px
    identity = np.asarray(Image.open(out / "deblurred" / "wide.png.png"))  # the identity model returns its input
    assert np.array_equal(identity, np.asarray(Image.open(tmp_path / "real" / "wide.png")))
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--real", str(tmp_path / "empty"), "--out", str(out), "--weights", str(weights)]) == 2
    assert "no images found" in capsys.readouterr().err
    # an unreadable photo is reported and left out; the others are deblurred and the grid is written
    (tmp_path / "real" / "broken.png").write_bytes(b"not a picture")
    again = ["demo", "--real", str(tmp_path / "real"), "--out", str(tmp_path / "out2"), "--weights", str(weights)]
    assert main(again) == 1
    printed = capsys.readouterr()
    assert "deblurred 2 photos" in printed.out and "broken.png" in printed.err and "1 of 3 photos failed" in printed.err
    assert (tmp_path / "out2" / "real_comparison.png").is_file()
    assert not (tmp_path / "out2" / "deblurred" / "broken.png.png").exists()
    (tmp_path / "taken").write_text("a file where the output folder goes")
    assert main(["demo", "--out", str(tmp_path / "taken"), "--weights", str(weights)]) == 2
    assert "--out" in capsys.readouterr().err and (tmp_path / "taken").read_text().startswith("a file")


def test_cli_default_settings_fit_every_bundled_photo(tmp_path, capsys):
    # The default crop once was 320 px, larger than chelsea (300x451): torch.stack failed with a traceback.
    torch.manual_seed(0)
    weights = save_golf(GolfOptimizer(GolfConfig(2, 2, 1), zero_init_last=False), tmp_path / "w.safetensors")
    assert main(["demo", "--out", str(tmp_path / "out"), "--weights", str(weights), "--device", "cpu"]) == 0
    assert "skimage/chelsea" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["config"]["crop"] == DemoConfig().crop and len(report["images"]) == DemoConfig().images
    check_config(DemoConfig(images=8))  # the default crop fits all 8 bundled photos


def test_a_crop_may_span_the_shortest_side_and_be_as_small_as_the_ssim_window():
    check_config(DemoConfig(images=1, crop=512))  # astronaut is 512x512
    check_config(DemoConfig(images=1, crop=MIN_CROP))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--images", "0"], "--images 0: must be 1 to 8"),
        (["--images", "9"], "--images 9: must be 1 to 8"),
        (["--crop", "301"], "--crop 301: must be 11 to 300 px for 4 photo(s) (skimage/chelsea is 300x451"),
        (["--images", "1", "--crop", "513"], "--crop 513: must be 11 to 512 px for 1 photo(s)"),
        (["--crop", "0"], "--crop 0: must be 11 to 300 px"),
        (["--seed", "99999999999999999999"], "--seed 99999999999999999999: must be 0 to 2**63 - 1"),
    ],
)
def test_cli_refuses_impossible_settings_in_one_line_before_the_weights(tmp_path, capsys, flags, message):
    assert main(["demo", "--out", str(tmp_path / "out"), *flags]) == 2  # no weights needed to say so
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_real_that_is_no_folder_is_named_for_what_it_is_before_the_weights_load(tmp_path, capsys):
    # a file read "image folder not found", after the weights had loaded
    (tmp_path / "photo.png").write_bytes(b"a file, not a folder")
    os.mkfifo(tmp_path / "fifo")
    expected = {
        tmp_path / "photo.png": "is a file, not a folder",
        tmp_path / "fifo": "not a folder (a pipe, socket or device)",
        tmp_path / "absent": "no such folder",
    }
    for real, what in expected.items():
        command = ["demo", "--real", str(real), "--out", str(tmp_path / "out"), "--weights", str(tmp_path / "none")]
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err == f"golfdeblur: error: demo --real {real}: {what}; name the folder of blurry photos\n"
        assert not (tmp_path / "out").exists()


def test_real_never_overwrites_inputs_or_collides(tmp_path, capsys):
    rng = np.random.default_rng(1)
    real, out = tmp_path / "real", tmp_path / "out"
    real.mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(real / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(real / "a.jpg")  # same stem
    before = {p.name: p.read_bytes() for p in real.iterdir()}
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    command = ["demo", "--weights", str(weights), "--device", "cpu", "--real", str(real), "--out"]

    assert main([*command, str(out)]) == 0
    assert "deblurred 2 photos" in capsys.readouterr().out
    # Both results exist, each from its own input (the identity model returns its input).
    assert sorted(p.name for p in (out / "deblurred").iterdir()) == ["a.jpg.png", "a.png.png"]
    for name in ("a.png", "a.jpg"):
        assert np.array_equal(
            np.asarray(Image.open(out / "deblurred" / f"{name}.png")), np.asarray(Image.open(real / name))
        )

    # A second run into the same folder leaves the results alone unless --overwrite, as `golfdeblur deblur` does.
    stamp = (out / "deblurred" / "a.png.png").stat().st_mtime_ns
    assert main([*command, str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists; pass --overwrite to replace it" in err and err.count("\n") == 0
    assert (out / "deblurred" / "a.png.png").stat().st_mtime_ns == stamp
    assert main([*command, str(out), "--overwrite"]) == 0

    # An output folder in the input folder (or the input folder itself) is refused before anything is written.
    (real / "deblurred").mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(real / "deblurred" / "a.png.png")
    before["deblurred/a.png.png"] = (real / "deblurred" / "a.png.png").read_bytes()
    for target in (real, real / "sub", real / "deblurred" / "x"):
        assert main([*command, str(target), "--overwrite"]) == 2
        err = capsys.readouterr().err.strip()
        assert "overlaps --real" in err and err.count("\n") == 0
    after = {p.relative_to(real).as_posix(): p.read_bytes() for p in real.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
@pytest.mark.parametrize("written", ["deblurred/a.png.png", "real_comparison.png"])
def test_real_replaces_an_output_another_run_wrote_meanwhile_only_with_overwrite(
    tmp_path, capsys, monkeypatch, written, overwrite
):
    """Two runs into one --out: the other wrote an output after this one's check, before its write. It was replaced
    silently; without --overwrite it is kept now, and this run fails with one line naming it."""
    import golfdeblur.demo

    real, out = tmp_path / "real", tmp_path / "out"
    real.mkdir()
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(real / "a.png")
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    real_deblur = golfdeblur.demo.deblur_tensor

    def deblur_as_the_other_run_finishes(*args, **kwargs):
        (out / written).parent.mkdir(parents=True, exist_ok=True)
        (out / written).write_bytes(b"the other run's output")
        return real_deblur(*args, **kwargs)

    monkeypatch.setattr(golfdeblur.demo, "deblur_tensor", deblur_as_the_other_run_finishes)
    command = ["demo", "--weights", str(weights), "--device", "cpu", "--real", str(real), "--out", str(out)]
    code = main([*command, "--overwrite"] if overwrite else command)
    err = capsys.readouterr().err
    if overwrite:
        assert code == 0 and err == ""
        with Image.open(out / written) as picture:
            assert picture.format == "PNG"
    else:
        assert code != 0 and (out / written).read_bytes() == b"the other run's output"
        reason = "a file of that name appeared meanwhile; not replaced"
        photo = written.startswith("deblurred/")  # write_image's error, or atomic_path's
        line = f"{out / written}: cannot write ({reason})" if photo else f"{out / written}: {reason}"
        assert err == f"golfdeblur: error: {line}\n"
    leftover = [p.name for p in out.rglob(".*")]
    assert leftover == []  # no temporary left


def test_real_refuses_an_input_folder_inside_the_results_folder(tmp_path):
    real = tmp_path / "out" / "deblurred" / "in"  # its results would land beside it and be read as inputs next time
    real.mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(real / "a.png")
    identity = prepare_model(GolfOptimizer(GolfConfig(4, 4, 1)), device="cpu")
    with pytest.raises(GolfdeblurError, match="overlaps"):
        run_real(identity, real, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "out/deblurred/in/a.png"
    ]


@pytest.mark.parametrize("real", [False, True])
def test_cli_refuses_an_output_folder_that_takes_no_file_before_the_work(tmp_path, capsys, monkeypatch, real):
    monkeypatch.setattr("golfdeblur.infer.prepare_model", lambda *args, **kwargs: pytest.fail("loaded all the same"))
    (tmp_path / "real").mkdir()
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "real" / "a.png")
    mode = ["--real", str(tmp_path / "real")] if real else ["--images", "1", "--crop", "16"]
    picture = "real_comparison.png" if real else "comparison.png"
    blocking = tmp_path / "afile"
    blocking.write_text("a file where the folder would go")
    assert main(["demo", "--out", str(blocking / "sub"), *mode]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"golfdeblur: error: {blocking}/sub/{picture}: cannot make its folder {blocking}/sub ({blocking} is a file)\n"
    )

    def refused(*args, **kwargs):  # as in a read-only or immutable folder, which root cannot write either
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "x"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    assert main(["demo", "--out", str(tmp_path / "ro"), *mode]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"golfdeblur: error: {tmp_path}/ro/{picture}: cannot write in its folder {tmp_path}/ro (permission denied)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "real"]  # the folder it made is removed again


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--crop", "16"], "--crop only applies"), (["--images", "4", "--seed", "0"], "--images, --seed only apply")],
)
def test_cli_refuses_bundled_photo_settings_with_real_in_one_line(tmp_path, capsys, flags, named):
    (tmp_path / "real").mkdir()
    assert main(["demo", "--real", str(tmp_path / "real"), "--out", str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"demo --real {tmp_path / 'real'}: {named} to the bundled photos" in err
    assert not (tmp_path / "out").exists()


def test_real_refuses_a_result_name_too_long_before_writing_any(tmp_path, capsys, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    long_name = "b" * 251 + ".png"  # 255 bytes, the most a file name may have: its result's name, + .png, is over
    for name in ("a.png", long_name):
        Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(real / name)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    command = ["demo", "--weights", str(weights), "--device", "cpu", "--real", str(real), "--out", "~/out"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == (
        f"golfdeblur: error: {real / long_name}: its result's name, {long_name}.png, would be 259 bytes, over the "
        "255 a file name may have; shorten the photo's name\n"
    )
    assert not (tmp_path / "home").exists()  # nothing written, a.png's result included, and no folder left made
    (real / long_name).rename(real / "b.png")  # and so a rerun is not refused for a.png's result
    assert main(command) == 0
    assert sorted(p.name for p in (tmp_path / "home" / "out" / "deblurred").iterdir()) == ["a.png.png", "b.png.png"]
    assert not (tmp_path / "~").exists()  # '~' is the home folder


def test_real_says_one_photo_in_the_singular_and_keeps_an_earlier_record_unless_overwrite(tmp_path, capsys):
    """It printed "deblurred 1 photos"; the grid's record is an output like the others: kept without --overwrite."""
    real, out = tmp_path / "real", tmp_path / "out"
    real.mkdir()
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(real / "a.png")
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    command = ["demo", "--weights", str(weights), "--device", "cpu", "--real", str(real), "--out", str(out)]
    assert main(command) == 0
    assert f"\ndeblurred 1 photo from {real}\n" in capsys.readouterr().out
    (out / "real_comparison.png").unlink()
    (out / "deblurred" / "a.png.png").unlink()
    record = (out / "real_comparison.json").read_bytes()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"output {out / 'real_comparison.json'} exists; pass --overwrite to replace it" in err
    assert err.count("\n") == 1
    assert (out / "real_comparison.json").read_bytes() == record and not (out / "real_comparison.png").exists()
    assert main([*command, "--overwrite"]) == 0
