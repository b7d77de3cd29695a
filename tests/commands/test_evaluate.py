"""`golfdeblur eval` as a user runs it: the folders it reads and writes, the data options each --data takes, what the
report records of the data, and sets it cannot score or scores perfectly."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from golfdeblur import cli, evaluate
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf

FAST = ["--device", "cpu", "--runtime-repeats", "0"]


def write_image(path: Path, seed: int, size: tuple[int, int] = (24, 32), scale: float = 1.0) -> None:
    """A random 8-bit RGB PNG of (height, width) ``size``, its values times ``scale`` (0.9: a 'blurry' partner)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3)).astype(np.float64)
    Image.fromarray((pixels * scale).astype(np.uint8)).save(path)


def pair_folders(root: Path, names: dict[str, tuple[int, int]]) -> tuple[Path, Path]:
    """root/blur and root/sharp holding a pair NAME.png of each (height, width); the blurry one darker."""
    for seed, (name, size) in enumerate(names.items()):
        write_image(root / "sharp" / f"{name}.png", seed, size)
        write_image(root / "blur" / f"{name}.png", seed, size, scale=0.9)
    return root / "blur", root / "sharp"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "w.safetensors"
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), path, {})
    return path


def paired(blur: Path, sharp: Path, out: Path, weights: Path | str) -> list[str]:
    return ["eval", "--data", "paired", "--blur-dir", str(blur), "--sharp-dir", str(sharp), "--out", str(out),
            "--weights", str(weights), *FAST]  # fmt: skip


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_an_out_that_is_a_folder_read_is_refused_and_its_image_kept_even_with_overwrite(tmp_path: Path, capsys):
    """`eval --out BLUR_DIR --overwrite` replaced the user's BLUR_DIR/crops.png with the report's picture; without
    --overwrite it called that photo a report."""
    blur, sharp = pair_folders(tmp_path / "data", {"a": (24, 32), "crops": (24, 32)})
    photo = (blur / "crops.png").read_bytes()
    missing = tmp_path / "no-weights.safetensors"  # refused before the weights are even looked for
    for flags in ([], ["--overwrite"]):
        assert cli.main([*paired(blur, sharp, blur, missing), *flags]) == 2
        assert one_error_line(capsys) == (
            f"golfdeblur: error: --out {blur}: is --blur-dir {blur}, which --data paired reads; choose another --out"
        )
    assert (blur / "crops.png").read_bytes() == photo
    assert sorted(path.name for path in blur.iterdir()) == ["a.png", "crops.png"]


def test_an_out_inside_a_folder_read_is_refused_also_through_a_link(tmp_path: Path, capsys, weights):
    """`--out BLUR_DIR/eval` worked once, then every rerun failed: 'eval/crops.png has no sharp partner'."""
    blur, sharp = pair_folders(tmp_path / "data", {"a": (24, 32)})
    assert cli.main(paired(blur, sharp, sharp / "eval", weights)) == 2
    assert f"--out {sharp / 'eval'}: lies inside --sharp-dir {sharp}, which --data paired reads" in one_error_line(
        capsys
    )
    (tmp_path / "link").symlink_to(blur)
    assert cli.main(paired(tmp_path / "link", sharp, blur / "eval", weights)) == 2
    assert f"lies inside --blur-dir {tmp_path / 'link'}" in one_error_line(capsys)
    assert not (blur / "eval").exists() and not (sharp / "eval").exists()
    # beside the folders read is where a report goes: written, and a rerun reads the same pairs
    for flags in ([], ["--overwrite"]):
        assert cli.main([*paired(blur, sharp, tmp_path / "data" / "eval", weights), *flags]) == 0
    assert json.loads((tmp_path / "data" / "eval" / "summary.json").read_text())["info"]["images"] == 1


def test_an_out_inside_the_folders_the_other_data_kinds_read_is_refused(tmp_path, capsys, weights, levin_root,
                                                                        monkeypatch):  # fmt: skip
    gopro = tmp_path / "gopro"
    write_image(gopro / "test" / "SEQ" / "sharp" / "000.png", 0)
    write_image(gopro / "test" / "SEQ" / "blur" / "000.png", 0, scale=0.9)
    common = ["eval", "--weights", str(weights), *FAST]
    out = gopro / "test" / "SEQ" / "blur"
    assert cli.main([*common, "--data", "gopro", "--root", str(gopro), "--out", str(out)]) == 2
    assert f"--out {out}: lies inside {gopro / 'test'} (GoPro's test split)" in one_error_line(capsys)
    kodak = levin_root / "eval" / "kodak24"
    assert cli.main([*common, "--data", "synthetic", "--root", str(levin_root), "--out", str(kodak / "e")]) == 2
    assert f"lies inside {kodak} (validation images), which --data synthetic reads" in one_error_line(capsys)
    # the default data folder ($GOLFDEBLUR_DATA) is checked as --root is
    blurred = levin_root / "eval" / "levin09" / "blurred"
    monkeypatch.setenv("GOLFDEBLUR_DATA", str(levin_root))
    assert cli.main([*common, "--data", "levin09", "--out", str(blurred)]) == 2
    assert f"--out {blurred}: is {blurred} (Levin09's blurred images)" in one_error_line(capsys)
    assert sorted(path.name for path in blurred.iterdir()) == ["im_1_ker_1.png"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--data", "paired", "--root", "R", "--blur-dir", "B", "--sharp-dir", "S"],
         "--root R: has no effect with --data paired, which reads --blur-dir and --sharp-dir; leave it out"),
        (["--data", "levin09", "--blur-dir", "B"],
         "--blur-dir B: has no effect with --data levin09, which reads --root; leave it out"),
        (["--data", "synthetic", "--sharp-dir", "S"],
         "--sharp-dir S: has no effect with --data synthetic, which reads --root and --seed; leave it out"),
        (["--data", "gopro", "--root", "R", "--blur-dir", "B", "--sharp-dir", "S"],
         "--blur-dir B: has no effect with --data gopro, which reads --root and --gopro-variant; leave it out"),
        (["--data", "levin09", "--seed", "3"], "--seed 3: has no effect with --data levin09, which reads --root"),
        (["--data", "paired", "--blur-dir", "B", "--sharp-dir", "S", "--gopro-variant", "blur_gamma"],
         "--gopro-variant blur_gamma: has no effect with --data paired"),
        (["--data", "paired", "--blur-dir", "B"], "--data paired needs --blur-dir and --sharp-dir"),
        (["--data", "gopro"], "--data gopro needs --root (the GoPro folder holding test/)"),
    ],
)  # fmt: skip
def test_a_data_option_the_data_kind_ignores_or_needs_is_said_before_any_work(tmp_path, monkeypatch, capsys, flags,
                                                                              message):  # fmt: skip
    """`--root` with paired, `--blur-dir` with levin09 and the like were ignored without a word."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["eval", *flags, "--weights", "missing.safetensors", "--out", "e", *FAST]) == 2
    assert one_error_line(capsys).startswith(f"golfdeblur: error: {message}")
    assert not (tmp_path / "e").exists()


def test_a_pair_smaller_than_ssim_s_window_is_refused_naming_its_file_before_any_scoring(tmp_path, capsys, weights,
                                                                                        monkeypatch):  # fmt: skip
    """It failed after every earlier pair was scored, naming no file: 'ssim_gaussian: images must be at least
    11x11 pixels, got 10x8'."""
    blur, sharp = pair_folders(tmp_path / "data", {"a": (24, 32), "b": (10, 8), "c": (24, 32)})
    scored = []
    score = evaluate.evaluate_pairs
    monkeypatch.setattr(evaluate, "evaluate_pairs", lambda *a, **kw: scored.append(1) or score(*a, **kw))
    assert cli.main(paired(blur, sharp, tmp_path / "out", weights)) == 2
    assert one_error_line(capsys) == (
        f"golfdeblur: error: {blur / 'b.png'}: 8x10 pixels, smaller than SSIM's 11x11 window (the smallest image eval "
        "scores); leave the pair out"
    )
    assert scored == [] and not (tmp_path / "out").exists()
    assert cli.main([*paired(blur, sharp, tmp_path / "out", weights), "--limit", "1"]) == 0  # b is not scored


def test_gopro_scores_the_blur_variant_unless_told_and_the_report_says_which(tmp_path: Path, capsys, weights):
    root = tmp_path / "GOPRO_Large"
    write_image(root / "test" / "SEQ" / "sharp" / "000.png", 0)
    write_image(root / "test" / "SEQ" / "blur" / "000.png", 0, scale=0.9)
    write_image(root / "test" / "SEQ" / "blur_gamma" / "000.png", 0)  # identical to sharp: an exact match
    common = ["eval", "--data", "gopro", "--root", str(root), "--weights", str(weights), *FAST]
    assert cli.main([*common, "--out", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["info"]["gopro_variant"] == "blur" and summary["mean"][0]["exact_matches"] == {}
    assert "- gopro_variant: blur\n" in (tmp_path / "a" / "report.md").read_text()
    assert cli.main([*common, "--gopro-variant", "blur_gamma", "--out", str(tmp_path / "b")]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["info"]["gopro_variant"] == "blur_gamma" and summary["mean"][0]["exact_matches"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--gopro-variant {blur,blur_gamma}" in help_text and "(default blur)" in help_text


def test_the_report_records_both_pair_folders_and_the_data_folder_a_default_found(tmp_path, capsys, weights,
                                                                                 monkeypatch, data_root):  # fmt: skip
    """It recorded `root: <--blur-dir>` for paired (the sharp folder nowhere) and `root: ` (empty) for a default."""
    blur, sharp = pair_folders(tmp_path / "data", {"a": (24, 32)})
    monkeypatch.chdir(tmp_path)
    assert cli.main(paired(Path("data/blur"), sharp, tmp_path / "p", weights)) == 0
    info = json.loads((tmp_path / "p" / "summary.json").read_text())["info"]
    assert (info["blur_dir"], info["sharp_dir"]) == (f"data/blur ({blur})", str(sharp)) and "root" not in info
    assert f"- blur_dir: data/blur ({blur})\n- sharp_dir: {sharp}\n" in (tmp_path / "p" / "report.md").read_text()
    monkeypatch.setenv("GOLFDEBLUR_DATA", str(data_root))
    common = ["eval", "--data", "synthetic", "--weights", str(weights), "--limit", "1", *FAST]
    assert cli.main([*common, "--out", str(tmp_path / "s")]) == 0
    assert f"- root: {data_root.resolve()} (from $GOLFDEBLUR_DATA)\n" in (tmp_path / "s" / "report.md").read_text()
    assert cli.main([*common, "--root", str(data_root), "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["info"]["root"] == str(data_root)


def test_a_column_of_exact_matches_reads_inf_not_nan_and_one_folder_twice_is_noted(tmp_path, capsys, weights):
    """blurry == sharp on every image printed `nan`, which docs/METRICS.md says is a model that diverged."""
    blur, _sharp = pair_folders(tmp_path / "data", {"a": (24, 32), "b": (24, 32)})
    assert cli.main(paired(blur, blur, tmp_path / "out", weights)) == 0
    captured = capsys.readouterr()
    blurry_row = next(line.split() for line in captured.out.splitlines() if line.split()[:1] == ["blurry"])
    assert blurry_row[1] == "inf" and "nan" not in captured.out
    assert "blurry PSNR-RGB-8bit: all 2 images are exact matches (+inf), so the mean is inf" in captured.out
    assert captured.err.startswith(f"golfdeblur: note: --blur-dir and --sharp-dir are the same folder ({blur})")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| blurry | -1 | 2 | inf (all 2 images exact matches) |" in report
    assert "- data_note: --blur-dir and --sharp-dir are one folder: each image scored against itself" in report
    # strict JSON holds no inf: null, which exact_matches counting every image tells from a diverged model's NaN
    blurry = json.loads((tmp_path / "out" / "summary.json").read_text())["mean"][0]
    assert blurry["PSNR-RGB-8bit"] is None and blurry["exact_matches"] == {"PSNR-RGB-8bit": blurry["images"]}


def test_blur_gamma_on_a_flattened_gopro_layout_names_the_option(tmp_path: Path, capsys, weights):
    """The refusal named the folder and the variant, not --gopro-variant nor what to pass (training names its key)."""
    root = tmp_path / "gopro"
    write_image(root / "test" / "target" / "000.png", 0)
    write_image(root / "test" / "input" / "000.png", 0, scale=0.9)
    command = ["eval", "--data", "gopro", "--root", str(root), "--weights", str(weights), *FAST]
    assert cli.main([*command, "--gopro-variant", "blur_gamma", "--out", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys) == (
        f"golfdeblur: error: --gopro-variant blur_gamma: {root / 'test'}: flattened GoPro layout has no 'blur_gamma' "
        "variant; pass --gopro-variant blur"
    )
    assert cli.main([*command, "--out", str(tmp_path / "out")]) == 0  # blur: the layout's one variant
