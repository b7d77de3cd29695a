"""`golfdeblur deblur`: formats in and out, folders and globs, bad inputs, weights errors, never overwriting."""

from __future__ import annotations

import json
import os
import signal
import sys
import weakref
from pathlib import Path

import numpy as np
import PIL
import pytest
import torch
import tqdm
from PIL import Image

from golfdeblur import cli, infer
from golfdeblur.commands import deblur as deblur_command
from golfdeblur.data import image_formats
from golfdeblur.data.image_data import ImageData
from golfdeblur.data.image_formats import HEIF_AVAILABLE, IMAGE_SUFFIXES
from golfdeblur.data.image_writing import write_image
from golfdeblur.data.imageio import read_image
from golfdeblur.infer import deblur
from golfdeblur.models import GolfConfig, GolfOptimizer, load_golf, save_golf
from golfdeblur.models.weights_io import NO_WEIGHTS_HINT, sha256_of

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A tiny random (not identity) Golf Optimizer saved with its model card."""
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1), zero_init_last=False)
    return save_golf(model, tmp_path_factory.mktemp("weights") / "tiny.safetensors", {"note": "random, for tests"})


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["deblur", *map(str, argv)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("golfdeblur: error: ")]


def save_rgb(path: Path, height: int = 12, width: int = 15) -> Path:
    Image.fromarray(RNG.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(path)
    return path


def photo_tree(root: Path, names: tuple[str, ...]) -> Path:
    """A small RGB image at each relative path in ``names`` under ``root``, folders made as needed."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        save_rgb(root / name)
    return root


def test_each_format_mode_and_depth_comes_back_the_same(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    cases = {
        "rgb.png": ImageData(RNG.random((12, 15, 3), dtype=np.float32), format="PNG"),
        "rgba16.png": ImageData(
            RNG.random((12, 15, 3), dtype=np.float32),
            RNG.integers(0, 65536, size=(12, 15), dtype=np.int64).astype(np.uint16),
            bit_depth=16,
        ),
        "grey.jpg": ImageData(np.repeat(RNG.random((12, 15, 1), dtype=np.float32), 3, axis=2), greyscale=True),
        "grey16.tif": ImageData(np.repeat(RNG.random((12, 15, 1), dtype=np.float32), 3, axis=2), None, True, 16),
        "rgb16.tif": ImageData(RNG.random((12, 15, 3), dtype=np.float32), bit_depth=16),
        "rgba.webp": ImageData(
            RNG.random((12, 15, 3), dtype=np.float32), RNG.integers(0, 256, size=(12, 15), dtype=np.uint8)
        ),
    }
    for name, image in cases.items():
        write_image(src / name, image)
    out = tmp_path / "out"
    code, err = run_cli(capsys, src, "-o", out, "--weights", weights, "--suffix", "_sharp", "--device", "cpu")
    assert code == 0, err
    summary = f"golfdeblur: deblurred 6 of 6 inputs into {out} (weights {weights}, sha256 {sha256_of(weights)[:12]}..."
    assert err.strip().splitlines()[-1] == summary + ", T = 1)"  # what made the results, said once at the end
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{Path(n).stem}_sharp{Path(n).suffix}" for n in cases)
    model = load_golf(weights)
    for name in cases:
        before = read_image(src / name)
        after = read_image(out / f"{Path(name).stem}_sharp{Path(name).suffix}")
        assert (after.format, after.bit_depth, after.greyscale) == (before.format, before.bit_depth, before.greyscale)
        if before.alpha is None:
            assert after.alpha is None
        else:
            assert after.alpha.dtype == before.alpha.dtype
            np.testing.assert_array_equal(after.alpha, before.alpha)
        if name.endswith((".png", ".tif")):  # lossless: the file holds exactly the API's result
            expected = deblur(before.rgb, model=model, device="cpu")
            if before.greyscale:
                expected = np.repeat(expected.mean(axis=2, keepdims=True), 3, axis=2)
            top = 65535 if before.bit_depth == 16 else 255
            np.testing.assert_allclose(after.rgb, np.rint(expected * top) / top, atol=1.5 / top)


def test_folders_are_not_recursive_and_globs_are_expanded(tmp_path, capsys, weights):
    folder = tmp_path / "photos"
    (folder / "deeper").mkdir(parents=True)
    save_rgb(folder / "a.png")
    save_rgb(folder / "B.JPG")
    save_rgb(folder / "deeper" / "c.png")
    save_rgb(folder / ".hidden.png")
    (folder / "notes.txt").write_text("not an image")
    code, err = run_cli(capsys, folder, "-o", tmp_path / "out1", "--weights", weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out1").iterdir()) == ["B.JPG", "a.png"]

    code, err = run_cli(capsys, str(folder / "*.png"), str(folder / "**" / "c.png"), "-o", tmp_path / "out2",
                        "--weights", weights)  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["a.png", "c.png"]

    code, err = run_cli(capsys, str(folder / "*.webp"), "-o", tmp_path / "out3", "--weights", weights)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {folder / '*.webp'}: no image files match this pattern"
    ]


def test_recursive_keeps_subfolders_and_never_reads_its_own_results(tmp_path, capsys, weights):
    photos = photo_tree(
        tmp_path / "photos", ("a.png", "2024/b.jpg", "2024/x/d.png", "2025/x/d.png", "2024/.hidden/c.png", ".e.png")
    )
    out = photos / "sharp"  # inside the folder it reads
    common = [photos, "-o", out, "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, *common, "--recursive")[0] == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["2024/b.jpg", "2024/x/d.png", "2025/x/d.png", "a.png"]  # same names, other subfolders
    code, err = run_cli(capsys, *common, "--recursive", "--skip-existing")
    assert code == 0 and "golfdeblur: 4 of 4 inputs skipped (their outputs exist)" in err  # not 8: results left out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == written
    code, err = run_cli(capsys, *common, "--skip-existing")  # without --recursive: the folder's own files only
    assert code == 0 and "golfdeblur: 1 of 1 inputs skipped" in err


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def truncated_png(path: Path) -> Path:
    save_rgb(path, 64, 64)
    path.write_bytes(path.read_bytes()[:200])
    return path


@pytest.mark.parametrize(
    "make, reason, extra",
    [
        (lambda d: write(d / "empty.png", b""), "empty file (0 bytes)", []),
        (lambda d: truncated_png(d / "cut.png"), "truncated or corrupt image data", []),
        (lambda d: write(d / "text.png", b"just text\n"), "not an image file", []),
        (lambda d: save_rgb(d / "big.png", 30, 40),
         "40x30 = 1,200 pixels is over the limit of 1,000 (raise it with --max-pixels)",
         ["--max-pixels", "1000"]),
        (lambda d: d / "missing.png", "no such file", []),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_the_batch_goes_on(tmp_path, capsys, weights, make, reason, extra):
    good_before = save_rgb(tmp_path / "a_good.png", 10, 12)
    bad = make(tmp_path)
    good_after = save_rgb(tmp_path / "z_good.png", 10, 12)
    out = tmp_path / "out"
    code, err = run_cli(capsys, good_before, bad, good_after, "-o", out, "--weights", weights, *extra)
    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"golfdeblur: error: {bad}: {reason}")
    assert "1 of 3 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_good.png", "z_good.png"]  # no temporary files left


def test_missing_weights_exit_2_with_the_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(infer, "packaged_weights", lambda: [])
    save_rgb(tmp_path / "a.png")
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out")
    assert code == 2 and err.strip() == f"golfdeblur: error: {NO_WEIGHTS_HINT}"
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out", "--weights", tmp_path / "nope.safetensors")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nope.safetensors: no such file" in err
    assert not (tmp_path / "out").exists()


def test_corrupt_weights_and_checksum_mismatch_exit_2(tmp_path, capsys, weights):
    save_rgb(tmp_path / "a.png")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00garbage, not safetensors" * 10)
    card = json.loads(weights.with_suffix(".json").read_text())
    from golfdeblur.models.weights_io import sha256_of

    card["sha256"] = sha256_of(corrupt)
    corrupt.with_suffix(".json").write_text(json.dumps(card))
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out", "--weights", corrupt)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a readable safetensors file" in err

    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.with_suffix(".json").write_text(weights.with_suffix(".json").read_text())
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out", "--weights", tampered)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "checksum mismatch" in err


def test_inputs_are_never_overwritten_and_outputs_only_with_overwrite(tmp_path, capsys, weights):
    image = save_rgb(tmp_path / "a.png")
    original = image.read_bytes()
    for extra in ([], ["--overwrite"]):
        code, err = run_cli(capsys, image, "-o", tmp_path, "--weights", weights, *extra)
        assert code == 1 and "would overwrite an input file" in err
        assert image.read_bytes() == original
    # Another input of the same batch is protected too: b/a.png would land on the input a.png.
    (tmp_path / "b").mkdir()
    save_rgb(tmp_path / "b" / "a.png")
    code, err = run_cli(capsys, tmp_path / "b" / "a.png", image, "-o", tmp_path, "--weights", weights, "--overwrite")
    assert code == 1 and len(error_lines(err)) == 2 and image.read_bytes() == original

    out = tmp_path / "out"
    assert run_cli(capsys, image, "-o", out, "--weights", weights)[0] == 0
    (out / "a.png").write_bytes(b"placeholder")
    code, err = run_cli(capsys, image, "-o", out, "--weights", weights)
    assert code == 1 and "exists; pass --overwrite" in err and (out / "a.png").read_bytes() == b"placeholder"
    assert run_cli(capsys, image, "-o", out, "--weights", weights, "--overwrite")[0] == 0
    assert read_image(out / "a.png").size == (12, 15)
    # Two inputs with one name from different folders: the second is refused rather than replacing the first.
    code, err = run_cli(capsys, image, tmp_path / "b" / "a.png", "-o", tmp_path / "out2", "--weights", weights)
    assert code == 1 and "was already written from" in err


def test_input_with_an_extension_we_cannot_write_fails_before_it_is_read(tmp_path, capsys, weights, monkeypatch):
    """`deblur shot.jpg_large` (a JPEG as some sites name their downloads): one line, and the file is neither read
    nor deblurred first; with --format naming the output's format it is deblurred."""
    from golfdeblur.commands import deblur as deblur_command

    odd = tmp_path / "shot.jpg_large"
    Image.fromarray(RNG.integers(0, 256, size=(12, 15, 3), dtype=np.uint8)).save(odd, format="JPEG")
    good = save_rgb(tmp_path / "z_good.png")
    read = []
    real_read = deblur_command.read_image
    monkeypatch.setattr(deblur_command, "read_image", lambda path, **kw: read.append(path) or real_read(path, **kw))
    out = tmp_path / "out"
    code, err = run_cli(capsys, odd, good, "-o", out, "--weights", weights, "--device", "cpu")
    assert code == 1 and "1 of 2 inputs failed" in err
    assert error_lines(err) == [
        f"golfdeblur: error: {odd}: its extension '.jpg_large' is not one golfdeblur writes "
        f"({', '.join(sorted(IMAGE_SUFFIXES))}); if it holds an image, name the output format with --format"
    ]
    assert read == [good] and sorted(p.name for p in out.iterdir()) == ["z_good.png"]
    code, err = run_cli(capsys, odd, "-o", out, "--weights", weights, "--device", "cpu", "--format", "jpg")
    assert code == 0, err
    assert read == [good, odd] and read_image(out / "shot.jpg").format == "JPEG"


def test_jfif_and_jpe_files_are_jpegs_in_and_out(tmp_path, capsys, weights):
    folder = tmp_path / "downloads"
    folder.mkdir()
    for name in ("shot.jfif", "scan.JPE"):
        Image.fromarray(RNG.integers(0, 256, size=(12, 15, 3), dtype=np.uint8)).save(folder / name, format="JPEG")
    code, err = run_cli(capsys, folder, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scan.JPE", "shot.jfif"]
    assert {read_image(p).format for p in (tmp_path / "out").iterdir()} == {"JPEG"}


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="pillow-heif (golfdeblur[heif]) is not installed")
def test_an_iphone_heic_comes_back_as_heic_or_as_asked(tmp_path, capsys, weights):
    photo = tmp_path / "IMG_0001.HEIC"
    pixels = RNG.integers(0, 256, size=(12, 15, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo, format="HEIF", color_primaries=12, transfer_characteristics=13)  # P3
    common = [photo, "--weights", weights, "--device", "cpu"]
    code, err = run_cli(capsys, *common, "-o", tmp_path / "same")
    assert code == 0 and "note" not in err
    same = read_image(tmp_path / "same" / "IMG_0001.HEIC")
    assert same.format == "HEIF" and same.heif_colour == (12, 13)  # still Display P3
    code, err = run_cli(capsys, *common, "-o", tmp_path / "png", "--format", "png")
    assert code == 0 and read_image(tmp_path / "png" / "IMG_0001.png").rgb.shape == (12, 15, 3)
    assert [line for line in err.splitlines() if line.startswith("golfdeblur: note: ")] == [
        f"golfdeblur: note: {photo}: its HEIF colour description (primaries 12, such as Display P3) is not sRGB and "
        "PNG cannot carry it; viewers will show IMG_0001.png as sRGB"
    ]


HEIF_MISSING = "HEIC/HEIF images need the optional pillow-heif package (pip install 'golfdeblur[heif]')"


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="the photo is made with pillow-heif")
def test_a_heic_without_pillow_heif_fails_by_name_and_the_batch_goes_on(
    tmp_path, capsys, weights, monkeypatch, hide_pillow_heif
):
    """A folder's or a pattern's HEIC photos are inputs that fail, one line each naming what to install, before they
    are read; never left out as if they were not images, which made a partial batch pass for a whole one (exit 0)."""
    folder = tmp_path / "hf"
    folder.mkdir()
    good = save_rgb(folder / "a.png")
    heic = folder / "IMG_0001.heic"
    Image.fromarray(RNG.integers(0, 256, size=(12, 15, 3), dtype=np.uint8)).save(heic, format="HEIF")
    hide_pillow_heif()
    read = []
    real_read = deblur_command.read_image
    monkeypatch.setattr(deblur_command, "read_image", lambda path, **kw: read.append(path) or real_read(path, **kw))
    common = ["--weights", weights, "--device", "cpu"]
    line = f"golfdeblur: error: {heic}: {HEIF_MISSING}"
    code, err = run_cli(capsys, folder, "-o", tmp_path / "out", *common)
    assert code == 1 and error_lines(err) == [line], err
    assert "deblurred 1 of 2 inputs" in err and "1 of 2 inputs failed" in err
    assert read == [good] and [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]
    for argument in (folder / "*.heic", heic):  # a pattern, and the file named
        code, err = run_cli(capsys, argument, "-o", tmp_path / "out2", *common)
        assert code == 1 and error_lines(err) == [line] and "1 of 1 inputs failed" in err
    assert read == [good] and not (tmp_path / "out2").exists()
    code, err = run_cli(capsys, heic, "-o", tmp_path / "png", "--format", "png", *common)  # read, and refused
    assert code == 1 and error_lines(err) == [line] and read == [good, heic]


@pytest.mark.parametrize("ext", [".heic", ".HEIF", ".avif"])
@pytest.mark.parametrize("how", ["-o FILE", "--format"])
def test_an_output_format_whose_codec_is_missing_is_refused_before_any_work(
    tmp_path, capsys, weights, monkeypatch, hide_pillow_heif, ext, how
):
    """`-o x.heic` or `--format heic` without pillow-heif (AVIF: a Pillow without it): one line naming what to install,
    exit 2 before the weights are loaded, not "golfdeblur does not write HEIC files" nor a failed write after the
    deblurring."""
    if ext == ".avif":
        monkeypatch.setattr(image_formats, "AVIF_AVAILABLE", False)
        reason = (
            f"this Pillow ({PIL.__version__}) cannot read or write AVIF images (the wheels of Pillow 11.3 and newer "
            "can: pip install -U pillow)"
        )
    else:
        hide_pillow_heif()
        reason = HEIF_MISSING
    loaded = []
    monkeypatch.setattr(infer, "prepare_model", lambda *a, **kw: loaded.append(a) or pytest.fail("weights loaded"))
    photo = save_rgb(tmp_path / "photo.png")
    out = tmp_path / f"sharp{ext}" if how == "-o FILE" else tmp_path / "out"
    extra = [] if how == "-o FILE" else ["--format", ext[1:]]
    code, err = run_cli(capsys, photo, "-o", out, "--weights", weights, "--device", "cpu", *extra)
    option = f"-o {out}" if how == "-o FILE" else f"--format {ext[1:].lower()}"
    assert code == 2 and err.strip() == f"golfdeblur: error: {option}: {reason}"
    assert loaded == [] and sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_format_converts_and_says_before_deblurring_what_it_cannot_hold(tmp_path, capsys, weights, monkeypatch):
    photo = save_rgb(tmp_path / "photo.jpg")
    deep = write_image(tmp_path / "deep.tif", ImageData(RNG.random((12, 15, 3), dtype=np.float32), bit_depth=16))
    cut_out = write_image(
        tmp_path / "cut_out.png",
        ImageData(RNG.random((12, 15, 3), dtype=np.float32), RNG.integers(0, 256, (12, 15), dtype=np.uint8)),
    )
    deblurred = []
    real_deblur = infer.deblur_tensor
    monkeypatch.setattr(  # the command imports it from golfdeblur.infer when it runs
        infer, "deblur_tensor", lambda batch, *a, **kw: deblurred.append(batch) or real_deblur(batch, *a, **kw)
    )
    common = ["--weights", weights, "--device", "cpu"]
    out = tmp_path / "png"
    assert run_cli(capsys, photo, deep, "-o", out, "--format", "PNG", *common)[0] == 0  # any case
    assert [(read_image(out / n).format, read_image(out / n).bit_depth) for n in ("photo.png", "deep.png")] == [
        ("PNG", 8),
        ("PNG", 16),  # PNG holds 16 bits, so they stay
    ]
    deblurred.clear()
    out = tmp_path / "jpg"
    code, err = run_cli(capsys, deep, cut_out, "-o", out, "--format", "jpg", *common)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {out / 'cut_out.jpg'}: JPEG cannot store the alpha channel; write PNG, TIFF or WebP"
    ]
    assert len(deblurred) == 1  # the image with alpha was refused before it was deblurred
    assert [p.name for p in out.iterdir()] == ["deep.jpg"] and read_image(out / "deep.jpg").bit_depth == 8


def test_each_result_written_is_one_line_on_stdout_for_scripts(tmp_path, capfdbinary, weights):
    """Its path as written, a name that is not UTF-8 as its bytes (a script opens it); a skipped or failed input
    prints nothing there (its line is on stderr)."""
    images = [save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b\udcff.png"), save_rgb(tmp_path / "c.png")]
    out = tmp_path / "out"
    out.mkdir()
    save_rgb(out / "c.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code = cli.main(["deblur", *map(str, images), str(tmp_path / "bad.png"), "-o", str(out), "--weights",
                     str(weights), "--device", "cpu", "--skip-existing"])  # fmt: skip
    captured = capfdbinary.readouterr()
    assert code == 1 and b"inputs skipped" in captured.err and b"1 of 4 inputs failed" in captured.err
    assert captured.out == b"".join(os.fsencode(out / image.name) + b"\n" for image in images[:2])


def test_a_reader_gone_from_stdout_ends_the_run_without_counting_a_result_written_as_failed(
    tmp_path, capsys, weights, monkeypatch
):
    """`golfdeblur deblur ... | head -1`: the print of the second path fails; the run ends as a Unix tool ends
    (exit 141), the second result stays (it was written) and is counted, not reported as a failed input."""
    images = [save_rgb(tmp_path / f"{name}.png") for name in ("a", "b", "c")]
    printed, write_line = [], tqdm.tqdm.write

    def write(text, file=None, **kwargs):
        if file is not sys.stdout:
            return write_line(text, file=file, **kwargs)
        if printed:
            raise BrokenPipeError(32, "Broken pipe")
        printed.append(text)

    monkeypatch.setattr(tqdm.tqdm, "write", staticmethod(write))
    code = cli.main(["deblur", *map(str, images), "-o", str(tmp_path / "out"), "--weights", str(weights),
                     "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 141 and "failed" not in err and "deblurred 2 of 3 inputs" in err, err
    assert printed == [str(tmp_path / "out" / "a.png")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_skip_existing_finishes_a_batch_stopped_part_way(tmp_path, capsys, weights):
    images = [save_rgb(tmp_path / f"{name}.png") for name in ("a", "b", "c")]
    out = tmp_path / "out"
    common = ["-o", out, "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, images[0], *common)[0] == 0  # the earlier run stopped after a.png
    done = (out / "a.png").read_bytes()
    (out / "a.png").touch()
    stamp = (out / "a.png").stat().st_mtime_ns
    code, err = run_cli(capsys, *images, *common, "--skip-existing")
    assert code == 0 and error_lines(err) == [], err
    assert f"golfdeblur: skipped {images[0]}: output {out / 'a.png'} exists" in err
    assert "golfdeblur: 1 of 3 inputs skipped (their outputs exist)" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert (out / "a.png").read_bytes() == done and (out / "a.png").stat().st_mtime_ns == stamp
    # A second input of the same name may not take the skipped output over either.
    (tmp_path / "again").mkdir()
    first, second = save_rgb(tmp_path / "d.png"), save_rgb(tmp_path / "again" / "d.png")
    save_rgb(out / "d.png")
    code, err = run_cli(capsys, first, second, *common, "--skip-existing")
    assert code == 1 and len(error_lines(err)) == 1 and f"is also the output of {first}, kept from an earlier" in err
    with pytest.raises(SystemExit) as stop:
        cli.main(["deblur", str(images[0]), "-o", str(out), "--overwrite", "--skip-existing"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--overwrite"], ["--skip-existing"]])
def test_outputs_whose_names_differ_only_in_case_are_one_file_on_a_case_insensitive_disk(
    tmp_path, capsys, weights, monkeypatch, extra
):
    """macOS APFS: out/photo.png and out/Photo.png name one file. The second input is refused as written from the
    first, not as 'exists', nor does it replace the first's result (--overwrite) or go undeblurred (--skip-existing)."""
    real_write = deblur_command.write_image

    def write_case_insensitively(path: Path, image: ImageData, **kwargs) -> None:
        real_write(path, image, **kwargs)
        other = path.with_name(path.name.swapcase())
        if not other.exists():
            os.link(path, other)  # the other spelling: the same inode, as on APFS

    monkeypatch.setattr(deblur_command, "write_image", write_case_insensitively)
    (tmp_path / "c1").mkdir()
    (tmp_path / "c2").mkdir()
    first, second = save_rgb(tmp_path / "c1" / "photo.png"), save_rgb(tmp_path / "c2" / "PHOTO.PNG")
    out = tmp_path / "out"
    code, err = run_cli(capsys, first, second, "-o", out, "--weights", weights, "--device", "cpu", *extra)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {second}: output {out / 'PHOTO.PNG'} was already written from {first}"
    ], err
    assert read_image(out / "photo.png").size == (12, 15)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tile", "10", "--tile-overlap", "20"], "--tile 10 must be larger than --tile-overlap 20"),
        (["--tile", "20", "--tile-overlap", "20"], "--tile 20 must be larger than --tile-overlap 20"),  # equal too
        (["--iterations", "-1"], "--iterations -1: must be 0 to 64"),
        (["--iterations", "99999999999999999999"], "--iterations 99999999999999999999: must be 0 to 64"),
        (["--max-pixels", "0"], "--max-pixels 0: must be positive"),
        (
            ["--tile", "100"],
            "--tile 100 must be larger than the default overlap, 185 px (the receptive field; or set a smaller "
            "--tile-overlap, which makes seams approximate)",
        ),
        (
            ["--tile", "185"],  # a tile of exactly the overlap: no room left for a step
            "--tile 185 must be larger than the default overlap, 185 px (the receptive field; or set a smaller "
            "--tile-overlap, which makes seams approximate)",
        ),
        (["--suffix", "a/b"], "--suffix 'a/b': must not contain a path separator"),  # would write into a folder a
    ],
)
def test_bad_settings_exit_2_before_any_work(tmp_path, capsys, weights, extra, message):
    save_rgb(tmp_path / "a.png")
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out", "--weights", weights, *extra)
    assert code == 2 and err.strip() == f"golfdeblur: error: {message}"
    assert not (tmp_path / "out").exists()


def test_tiling_precision_and_iterations_options(tmp_path, capsys, weights, monkeypatch):
    save_rgb(tmp_path / "a.png", 24, 31)
    common = [tmp_path / "a.png", "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, *common, "-o", tmp_path / "whole", "--tile", "0")[0] == 0
    assert run_cli(capsys, *common, "-o", tmp_path / "tiled", "--tile", "20", "--tile-overlap", "8")[0] == 0
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    code, err = run_cli(capsys, *common, "-o", tmp_path / "bf16", "--precision", "bf16", "--iterations", "0")
    assert code == 0 and "golfdeblur: note: this CPU has no native bf16" in err
    assert err.strip().splitlines()[-1].endswith(", T = 0)")  # the T it ran at, not the weights' T = 1
    whole, tiled = read_image(tmp_path / "whole" / "a.png").rgb, read_image(tmp_path / "tiled" / "a.png").rgb
    assert whole.shape == tiled.shape == (24, 31, 3)
    assert np.abs(whole - tiled).mean() < 0.1  # overlap far below the receptive field: blended, not exact


def test_the_command_prepares_weights_as_deblur_does_once_for_runs_in_one_process(tmp_path, capsys, monkeypatch):
    """The command loaded the weights (card, sha256, build, fold) on every run, then read the card again for its
    measured overlap; it now takes deblur's prepared model and card (infer.prepared_weights)."""
    card = {"inference": {"iterations": 1, "tile_overlap": 6, "rule": "test"}}
    path = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors", card)
    loads, overlaps = [], []
    real_load, real_deblur = infer.load_golf_and_card, infer.deblur_tensor
    monkeypatch.setattr(
        infer, "load_golf_and_card", lambda name, *a, **kw: loads.append(name) or real_load(name, *a, **kw)
    )
    monkeypatch.setattr(  # the command imports it from golfdeblur.infer when it runs
        infer, "deblur_tensor", lambda *a, **kw: overlaps.append(kw["tile_overlap"]) or real_deblur(*a, **kw)
    )
    infer.clear_prepared_models()
    image = save_rgb(tmp_path / "a.png")
    for _ in range(2):
        assert run_cli(capsys, image, "-o", tmp_path / "out", "--weights", path, "--overwrite")[0] == 0
    infer.clear_prepared_models()
    assert len(loads) == 1 and overlaps == [6, 6]


def test_tiles_overlap_by_what_the_card_measured_at_its_t(tmp_path, capsys, monkeypatch):
    """The card's measured overlap at its own T; the receptive field at any other T; --tile-overlap over both."""
    card = {"inference": {"iterations": 1, "tile_overlap": 48, "rule": "test"}}
    measured = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "measured.safetensors", card)
    used = []
    real = infer.deblur_tensor
    monkeypatch.setattr(  # the command imports it from golfdeblur.infer when it runs
        infer, "deblur_tensor", lambda *a, **kw: used.append(kw["tile_overlap"]) or real(*a, **kw)
    )
    image = save_rgb(tmp_path / "a.png")
    for extra in ([], ["--iterations", "2"], ["--tile-overlap", "20"]):
        assert run_cli(capsys, image, "-o", tmp_path / "out", "--weights", measured, "--overwrite", *extra)[0] == 0
    assert used == [48, 277, 20]  # 277 px: the receptive field of G + 2 D
    code, err = run_cli(capsys, image, "-o", tmp_path / "out", "--weights", measured, "--tile", "40")
    assert code == 2 and "--tile 40 must be larger than the default overlap, 48 px (measured for these weights" in err


def test_an_output_file_name_takes_one_input_in_its_own_format(tmp_path, capsys, weights):
    """`-o sharp.PNG` writes that file (in the format its extension names), as `--format png` would into a folder;
    a trailing separator or an existing folder of that name keeps -o a folder."""
    photo = save_rgb(tmp_path / "photo.jpg")
    common = ["--weights", weights, "--device", "cpu"]
    named = tmp_path / "results" / "sharp.PNG"
    code, err = run_cli(capsys, photo, "-o", named, *common)
    assert code == 0 and f"into {named} " in err
    assert run_cli(capsys, photo, "-o", tmp_path / "folder", "--format", "png", *common)[0] == 0
    as_file, in_folder = read_image(named), read_image(tmp_path / "folder" / "photo.png")
    assert as_file.format == "PNG" and np.array_equal(as_file.rgb, in_folder.rgb)
    assert run_cli(capsys, photo, "-o", f"{tmp_path / 'dir.png'}{os.sep}", *common)[0] == 0
    assert (tmp_path / "dir.png" / "photo.jpg").is_file()  # a trailing separator: a folder
    assert run_cli(capsys, photo, "-o", tmp_path / "dir.png", "--overwrite", *common)[0] == 0
    assert sorted(p.name for p in (tmp_path / "dir.png").iterdir()) == ["photo.jpg"]  # an existing folder: still one


@pytest.mark.parametrize(
    "extra, reason",
    [
        (["second"], "-o {out} names one output file, but the inputs hold 2 images: name a folder for -o"),
        (["--suffix", "_s"], "--suffix _s: -o {out} names the output file itself"),
        (["--format", "jpg"], "--format jpg: -o {out} names the output file itself"),
    ],
)
def test_an_output_file_name_refuses_what_it_cannot_hold(tmp_path, capsys, weights, extra, reason):
    photo = save_rgb(tmp_path / "photo.jpg")
    if extra == ["second"]:
        extra = [str(save_rgb(tmp_path / "second.png"))]
    out = tmp_path / "sharp.png"
    code, err = run_cli(capsys, photo, *extra, "-o", out, "--weights", weights, "--device", "cpu")
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"golfdeblur: error: {reason.format(out=out)}")
    assert not out.exists()


def test_an_output_file_name_never_replaces_its_input(tmp_path, capsys, weights):
    photo = save_rgb(tmp_path / "photo.png")
    before = photo.read_bytes()
    code, err = run_cli(capsys, photo, "-o", photo, "--overwrite", "--weights", weights, "--device", "cpu")
    assert code == 1 and "would overwrite an input file" in err and photo.read_bytes() == before


def refuse(monkeypatch, function_owner, name: str, locked: set[Path]) -> None:
    """Make ``function_owner.name(path)`` raise PermissionError for the paths in ``locked`` (and, for ``stat``, the
    paths inside them): tests run as root here, which chmod does not stop."""
    real = getattr(function_owner, name)

    def refusing(path=".", *args, **kwargs):
        target = Path(os.fspath(path))
        if target in locked or (name == "stat" and target.parent in locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(function_owner, name, refusing)


def test_inputs_that_cannot_be_read_are_one_line_each_and_the_batch_goes_on(tmp_path, capsys, weights, monkeypatch):
    locked, good = tmp_path / "locked", save_rgb(tmp_path / "good.png")
    locked.mkdir()
    save_rgb(locked / "s73.png")
    refuse(monkeypatch, Path, "iterdir", {locked})  # the folder may not be read
    refuse(monkeypatch, Path, "stat", {locked})  # nor searched: what is inside cannot be reached
    long_name = str(tmp_path / ("x" * 300 + ".png"))
    arguments = [locked, locked / "s73.png", str(locked / "*.png"), long_name]
    out = tmp_path / "out"
    code, err = run_cli(capsys, *arguments, good, "-o", out, "--weights", weights, "--device", "cpu")
    assert code == 1 and "4 of 5 inputs failed" in err
    assert error_lines(err) == [
        f"golfdeblur: error: {locked}: cannot read it (permission denied)",
        f"golfdeblur: error: {locked / 's73.png'}: cannot read it (permission denied)",
        f"golfdeblur: error: {locked / '*.png'}: cannot read it (permission denied)",
        f"golfdeblur: error: {long_name}: cannot read it (file name too long)",
    ]
    assert [p.name for p in out.iterdir()] == ["good.png"]


def test_recursive_reports_each_folder_it_cannot_read(tmp_path, capsys, weights, monkeypatch):
    """os.walk skips what it cannot read unless told: a partial batch with exit code 0 would pass for a whole one."""
    photos = photo_tree(tmp_path / "photos", ("a.png", "private/b.png", "public/c.png"))
    refuse(monkeypatch, os, "scandir", {photos / "private"})
    out = tmp_path / "out"
    code, err = run_cli(capsys, photos, "-o", out, "--recursive", "--weights", weights, "--device", "cpu")
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {photos / 'private'}: cannot read this folder (permission denied); its images are left out"
    ]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "public/c.png"]
    refuse(monkeypatch, os, "scandir", {photos})  # the folder itself: that, not "holds no image files"
    code, err = run_cli(capsys, photos, "-o", tmp_path / "out2", "--recursive", "--weights", weights)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {photos}: cannot read this folder (permission denied); its images are left out"
    ]


def test_a_pattern_reports_each_folder_on_its_way_it_cannot_read(tmp_path, capsys, weights, monkeypatch):
    """glob.glob skips a folder it cannot list: photos/*/*.png would deblur the other months and exit 0."""
    photos = photo_tree(tmp_path / "photos", ("2024-01/a.png", "2024-02/b.png", "2024-03/c.png"))
    refuse(monkeypatch, os, "scandir", {photos / "2024-02"})
    out = tmp_path / "out"
    code, err = run_cli(capsys, str(photos / "*" / "*.png"), "-o", out, "--weights", weights, "--device", "cpu")
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {photos / '2024-02'}: cannot read this folder (permission denied); its images are left out"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    code, err = run_cli(capsys, str(photos / "2024-02" / "*.png"), "-o", out, "--weights", weights)
    assert code == 1 and error_lines(err) == [  # that, not "no image files match this pattern"
        f"golfdeblur: error: {photos / '2024-02'}: cannot read this folder (permission denied); its images are left out"
    ]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_a_folder_without_permissions_is_one_line(tmp_path, capsys, weights):
    locked = tmp_path / "locked"
    locked.mkdir()
    save_rgb(locked / "a.png")
    locked.chmod(0)
    try:
        for extra in ([], ["--recursive"]):
            code, err = run_cli(capsys, locked, "-o", tmp_path / "out", "--weights", weights, *extra)
            assert code == 1 and len(error_lines(err)) == 1 and "permission denied" in err
    finally:
        locked.chmod(0o755)


def test_an_empty_argument_is_refused_not_read_as_the_current_folder(tmp_path, capsys, weights, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_rgb(tmp_path / "here.png")
    code, err = run_cli(capsys, "", "-o", tmp_path / "out", "--weights", weights)
    assert code == 2 and err.strip() == "golfdeblur: error: INPUT 1 is empty: name an image file, folder or pattern"
    code, err = run_cli(capsys, "here.png", "-o", "", "--weights", weights)
    assert code == 2 and err.strip() == (
        "golfdeblur: error: -o is empty: name an output folder, or an output file for one input"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.png"]


@pytest.mark.parametrize("extra", [["--suffix", "_sharp"], ["--suffix", "_sharp", "--format", "png"]])
def test_a_batch_into_its_own_folder_can_be_finished_with_skip_existing(tmp_path, capsys, weights, extra):
    """-o the input folder: the first run's results are the other inputs' outputs, not new inputs."""
    same = tmp_path / "same"
    same.mkdir()
    for name in ("a.png", "b.jpg"):
        save_rgb(same / name)
    common = ["-o", same, "--weights", weights, "--device", "cpu", *extra]
    assert run_cli(capsys, same / "a.png", *common)[0] == 0  # the first run stopped after a.png
    made = sorted(p.name for p in same.iterdir())
    code, err = run_cli(capsys, same, *common, "--skip-existing")
    assert code == 0 and error_lines(err) == [], err
    assert "golfdeblur: 1 of 2 inputs skipped" in err and "deblurred 1 of 2" in err
    # without a flag: not "pass --overwrite" (which refuses an earlier result listed as an input) but what works
    code, err = run_cli(capsys, same, *common)
    b_result = "b_sharp.png" if "--format" in extra else "b_sharp.jpg"
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {same / name}: output {same / result} exists, a result of an earlier run left out of "
        "the inputs; pass --skip-existing to keep it, or move the earlier results out of the input folder to redo "
        "them"
        for name, result in (("a.png", "a_sharp.png"), ("b.jpg", b_result))
    ]
    code, err = run_cli(capsys, str(same / "*"), *common, "--skip-existing")  # a pattern too
    assert code == 0 and "golfdeblur: 2 of 2 inputs skipped" in err
    assert not [p for p in same.iterdir() if "_sharp_sharp" in p.name] and len(made) == 3
    # A file named as an argument is still taken, and refused as another input's output.
    code, err = run_cli(capsys, same, same / f"a_sharp{'.png'}", *common)
    assert code == 1 and "would overwrite an input file" in err
    # --overwrite never replaces a file of the folder, which may be a photo that bears a result's name; taken as an
    # input it would be deblurred again (a_sharp_sharp.png): refused before any work, in one line naming both
    before = sorted((p.name, p.read_bytes()) for p in same.iterdir())
    for inputs in ([same], [str(same / "*")]):
        code, err = run_cli(capsys, *inputs, *common, "--overwrite")
        assert code == 2 and error_lines(err) == [
            f"golfdeblur: error: {same / 'a_sharp.png'} is this run's output of {same / 'a.png'} and was listed as an "
            "input (a result of an earlier run?): --overwrite never replaces an input, which may be a photo of your "
            "own; move earlier results out of the input folder, or name another output folder"
        ]
        assert sorted((p.name, p.read_bytes()) for p in same.iterdir()) == before


def test_recursive_into_its_own_folder_reads_the_images_beside_their_results(tmp_path, capsys, weights):
    photos = photo_tree(tmp_path / "photos", ("a.png", "2024/b.png"))
    common = [photos, "-o", photos, "--suffix", "_s", "--recursive", "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, *common)[0] == 0  # not "holds no image files": OUTDIR is the folder, not below it
    code, err = run_cli(capsys, *common, "--skip-existing")
    assert code == 0 and "golfdeblur: 2 of 2 inputs skipped" in err
    assert sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.png")) == [
        "2024/b.png", "2024/b_s.png", "a.png", "a_s.png"
    ]  # fmt: skip


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("extra", [[], ["--format", "png"]])
def test_an_output_folder_inside_a_walked_folder_that_holds_other_images_is_refused_with_overwrite(
    tmp_path, capsys, weights, monkeypatch, extra
):
    """-o photos/2024 of `photos --recursive` leaves photos/2024's own photos out of the inputs and out of the guard:
    with --overwrite one was replaced by the result of photos/a.png. Refused before any image is read."""
    photos = photo_tree(tmp_path / "photos", ("a.png", "2024/a.png", "2024/b.png", "2023/c.png"))
    before = tree_bytes(photos)

    def no_reading(*args, **kwargs):
        raise AssertionError("an image was read")

    monkeypatch.setattr(deblur_command, "read_image", no_reading)
    out = photos / "2024"
    common = [photos, "-o", out, "--recursive", "--overwrite", "--weights", weights, "--device", "cpu"]
    code, err = run_cli(capsys, *common, *extra)
    assert code == 2 and err == (
        f"golfdeblur: error: -o {out} lies inside the input folder {photos} and holds images that are no outputs of "
        f"this run's inputs ({out / 'b.png'}): photos of your own, or results of another run (another --suffix or "
        f"--format, inputs since removed); with --overwrite this run could replace photos there: name an output "
        f"folder outside {photos}, or move them\n"
    )
    assert tree_bytes(photos) == before  # nothing written, not even photos/2024/2023/c.png


@pytest.mark.parametrize("extra", [[], ["--skip-existing"], ["--format", "png"]])
def test_an_output_folder_inside_a_walked_folder_keeps_its_photos_without_overwrite(tmp_path, capsys, weights, extra):
    """Without --overwrite no existing file is replaced (an error, or skipped), so the run goes on and says how many
    images under OUTDIR it left out of the inputs; photos/2024's own photos stay byte for byte."""
    photos = photo_tree(tmp_path / "photos", ("a.png", "2024/a.png", "2024/b.png", "2023/c.png"))
    before = tree_bytes(photos)
    out = photos / "2024"
    code, err = run_cli(capsys, photos, "-o", out, "--recursive", "--weights", weights, "--device", "cpu", *extra)
    note = f"golfdeblur: 2 images under {out} (inside the input folder {photos}) left out of the inputs\n"
    assert err.count(note) == 1 and "deblurred 1 of 2 inputs" in err, err
    if extra == ["--skip-existing"]:
        assert code == 0 and f"golfdeblur: skipped {photos / 'a.png'}: output {out / 'a.png'} exists" in err
    else:
        assert code == 1 and error_lines(err) == [
            f"golfdeblur: error: {photos / 'a.png'}: output {out / 'a.png'} exists; pass --overwrite to replace it"
        ]
    after = tree_bytes(photos)
    assert {name: after[name] for name in before} == before and sorted(set(after) - set(before)) == ["2024/2023/c.png"]


def test_recursive_into_a_folder_inside_says_how_many_images_it_left_out(tmp_path, capsys, weights):
    """Reruns into -o photos/sharp of `photos --recursive` go on as before (the results are not inputs), and say
    how many images under OUTDIR they left out; hidden files and temporaries there are neither counted nor refused."""
    photos = photo_tree(tmp_path / "photos", ("a.png", "2024/b.jpg"))
    out = photos / "sharp"
    common = [photos, "-o", out, "--recursive", "--weights", weights, "--device", "cpu", "--format", "png"]
    code, err = run_cli(capsys, *common)
    assert code == 0 and "left out" not in err, err  # nothing there yet
    save_rgb(out / ".a.k3j2h1g0.tmp.png")  # an interrupted write's temporary, hidden
    photo_tree(out / ".thumbnails", ("a.png",))
    code, err = run_cli(capsys, *common, "--skip-existing")
    assert code == 0 and error_lines(err) == [], err
    note = f"golfdeblur: 2 images under {out} (inside the input folder {photos}) left out of the inputs\n"
    assert err.count(note) == 1 and "golfdeblur: 2 of 2 inputs skipped (their outputs exist)" in err
    code, err = run_cli(capsys, *common, "--overwrite")
    assert code == 0 and err.count(note) == 1 and "deblurred 2 of 2 inputs" in err, err
    # The same results are no output of the inputs in their own format (b.jpg -> sharp/2024/b.jpg): the run goes on
    # (it replaces nothing) and counts them too, but with --overwrite it is refused.
    code, err = run_cli(capsys, *common[:-2], "--skip-existing")
    assert code == 0 and error_lines(err) == [] and "deblurred 1 of 2 inputs" in err, err
    assert err.count(note) == 1 and f"golfdeblur: skipped {photos / 'a.png'}: output {out / 'a.png'} exists" in err
    code, err = run_cli(capsys, *common[:-2], "--overwrite")
    assert code == 2 and f"holds images that are no outputs of this run's inputs ({out / '2024' / 'b.png'})" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".a.k3j2h1g0.tmp.png", ".thumbnails/a.png", "2024/b.jpg", "2024/b.png", "a.png"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "rerun", [["--suffix", "_s"], ["--format", "png"], ["--skip-existing"]], ids=["suffix", "format", "removed"]
)
def test_reruns_into_a_folder_inside_with_other_output_names_go_on(tmp_path, capsys, weights, rerun):
    """`deblur p -o p/deblurred --recursive`, then again with another --suffix or --format, or with --skip-existing
    after an input was removed: the earlier results are no outputs of this run's inputs, which was refused."""
    photos = photo_tree(tmp_path / "p", ("a.jpg", "2024/b.jpg"))
    out = photos / "deblurred"
    common = [photos, "-o", out, "--recursive", "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, *common)[0] == 0
    if rerun == ["--skip-existing"]:
        (photos / "a.jpg").unlink()  # its result, deblurred/a.jpg, is no output of this run's inputs
    before = tree_bytes(photos)
    code, err = run_cli(capsys, *common, *rerun)
    assert code == 0 and error_lines(err) == [], err
    assert f"golfdeblur: 2 images under {out} (inside the input folder {photos}) left out of the inputs\n" in err
    after = tree_bytes(photos)
    assert {name: after[name] for name in before} == before  # the inputs and the earlier results alike
    new = {"suffix": ["deblurred/2024/b_s.jpg", "deblurred/a_s.jpg"], "format": ["deblurred/2024/b.png",
           "deblurred/a.png"], "removed": []}  # fmt: skip
    assert (
        sorted(set(after) - set(before)) == new[{"--suffix": "suffix", "--format": "format"}.get(rerun[0], "removed")]
    )


def test_recursive_with_relative_names_leaves_out_the_results_under_outdir(tmp_path, capsys, weights, monkeypatch):
    """`deblur p -o p/out --recursive` run from p's parent: the walk lists relative names, which are compared with
    OUTDIR by their real paths, so an earlier result under p/out is left out, not deblurred into p/out/out."""
    monkeypatch.chdir(tmp_path)
    photo_tree(tmp_path / "p", ("a.png", "out/old.png"))
    code, err = run_cli(capsys, "p", "-o", "p/out", "--recursive", "--weights", weights, "--device", "cpu")
    assert code == 0 and error_lines(err) == [], err
    assert "golfdeblur: 1 image under p/out (inside the input folder p) left out of the inputs\n" in err
    assert "deblurred 1 of 1 inputs" in err and not (tmp_path / "p" / "out" / "out").exists()


def test_a_file_under_outdir_named_as_an_input_is_taken_not_refused_with_overwrite(tmp_path, capsys, weights):
    """A file the walk of p leaves out (under -o p/out) but named as an argument too is an input: neither counted as
    left out nor refused with --overwrite as an image of its own that could be replaced."""
    photos = photo_tree(tmp_path / "p", ("a.png", "out/b.png"))
    out = photos / "out"
    code, err = run_cli(capsys, photos, out / "b.png", "-o", out, "--recursive", "--suffix", "_s", "--overwrite",
                        "--weights", weights, "--device", "cpu")  # fmt: skip
    assert code == 0 and error_lines(err) == [], err
    assert "left out" not in err and "deblurred 2 of 2 inputs" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_s.png", "b.png", "b_s.png"]


@pytest.mark.parametrize("name", ["sharp.gif", "sharp.GIF", "sharp.ppm"])
def test_an_output_file_in_a_format_golfdeblur_does_not_write_is_refused(tmp_path, capsys, weights, name):
    photo = save_rgb(tmp_path / "photo.png")
    out = tmp_path / name
    code, err = run_cli(capsys, photo, "-o", out, "--weights", weights, "--device", "cpu")
    suffix = Path(name).suffix[1:].upper()
    assert code == 2 and err.strip() == (
        f"golfdeblur: error: -o {out}: golfdeblur does not write {suffix} files; name a file it writes "
        f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a folder"
    )
    assert not out.exists()  # no folder of that name either
    out.mkdir()  # an existing folder of that name stays a folder
    assert run_cli(capsys, photo, "-o", out, "--weights", weights, "--device", "cpu")[0] == 0
    assert (out / "photo.png").is_file()


@pytest.mark.parametrize("extra", [[], ["--skip-existing"], ["--overwrite"]])
def test_a_folder_where_an_output_goes_is_an_error_not_a_result(tmp_path, capsys, weights, extra):
    photos = [save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b.png")]
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)
    code, err = run_cli(capsys, *photos, "-o", out, "--weights", weights, "--device", "cpu", *extra)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {photos[0]}: output {out / 'a.png'} is a folder; cannot write the result there"
    ]
    assert (out / "a.png").is_dir() and (out / "b.png").is_file()


def test_weights_that_are_a_folder_or_of_another_shape_say_so(tmp_path, capsys, weights):
    photo = save_rgb(tmp_path / "a.png")
    code, err = run_cli(capsys, photo, "-o", tmp_path / "out", "--weights", weights.parent)
    assert code == 2 and err.strip() == (
        f"golfdeblur: error: weights {weights.parent}: is a folder; name a .safetensors file (tiny.safetensors in it)"
    )
    other = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "other.safetensors")
    card = json.loads(other.with_suffix(".json").read_text())
    other.with_suffix(".json").write_text(json.dumps({**card, "d_width": 8}))
    code, err = run_cli(capsys, photo, "-o", tmp_path / "out", "--weights", other)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "do not fit the architecture in the card (size mismatch for D." in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "changes, extra, message",
    [
        ({"g_width": 0}, [], "model card's g_width 0 is not a whole number of at least 1"),
        ({"iterations": -2}, [], "model card's iterations -2 is not a whole number of at least 0"),
        ({"inference": {"iterations": 1, "tile_overlap": "abc"}}, [], 'inference.tile_overlap "abc" is not'),
        ({"inference": {"tile_overlap": 48}}, ["--iterations", "2"], "model card has no inference.iterations"),
        ({"sha256": 5}, [], "model card's sha256 5 is not 64 hexadecimal digits"),
    ],
)
def test_a_malformed_card_stops_the_run_in_one_line(tmp_path, capsys, weights, changes, extra, message):
    photo = save_rgb(tmp_path / "a.png")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(weights.read_bytes())
    bad.with_suffix(".json").write_text(json.dumps({**json.loads(weights.with_suffix(".json").read_text()), **changes}))
    code, err = run_cli(capsys, photo, "-o", tmp_path / "out", "--weights", bad, "--device", "cpu", *extra)
    assert code == 2 and err.strip().startswith(f"golfdeblur: error: weights {bad}: ") and message in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_link_loop_is_one_line_and_the_batch_goes_on(tmp_path, capsys, weights):
    photos = photo_tree(tmp_path / "photos", ("a.png",))
    (photos / "loop.png").symlink_to("loop.png")  # Python 3.10-3.12's Path.resolve raises on it
    common = ["--weights", weights, "--device", "cpu"]
    code, err = run_cli(capsys, photos / "loop.png", photos / "a.png", "-o", tmp_path / "out", *common)
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {photos / 'loop.png'}: a link to no file (what it names is missing, or links lead round "
        "in a loop)"
    ]
    assert (tmp_path / "out" / "a.png").is_file()
    run_cli(capsys, photos, "-o", tmp_path / "walked", "--recursive", *common)  # run_cli: no traceback
    assert sorted(p.name for p in (tmp_path / "walked").iterdir()) == ["a.png"]


def test_an_output_file_takes_its_one_image_when_another_argument_names_none(tmp_path, capsys, weights):
    photo = save_rgb(tmp_path / "photo.png")
    out = tmp_path / "sharp.png"
    code, err = run_cli(capsys, photo, tmp_path / "nomatch*.png", "-o", out, "--weights", weights, "--device", "cpu")
    assert code == 1 and error_lines(err) == [f"golfdeblur: error: {tmp_path / 'nomatch*.png'}: no image files match "
                                              "this pattern"]  # fmt: skip
    assert out.is_file()


@pytest.mark.parametrize("output", ["a.png/sub", "a.png/sub/sharp.png"])
def test_an_output_folder_that_cannot_be_made_is_one_line_before_any_work(tmp_path, capsys, weights, output):
    save_rgb(tmp_path / "a.png")
    out = tmp_path / output
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", out, "--weights", weights, "--device", "cpu")
    folder = tmp_path / "a.png" / "sub"
    assert code == 2 and error_lines(err) == [
        f"golfdeblur: error: -o {out}: cannot make the folder {folder} ({tmp_path / 'a.png'} is a file)"
    ]


def test_a_run_that_writes_nothing_leaves_no_output_folder(tmp_path, capsys, weights):
    common = ["--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, tmp_path / "missing.png", "-o", tmp_path / "out" / "sub", *common)[0] == 1
    a, b = save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b.png")
    assert run_cli(capsys, a, b, "-o", tmp_path / "new" / "r.png", *common)[0] == 2  # one -o file, two images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


@pytest.mark.parametrize(
    "stop, code", [(cli.Stopped(signal.SIGTERM), 128 + signal.SIGTERM), (KeyboardInterrupt(), 130)], ids=["TERM", "INT"]
)
def test_a_run_stopped_before_any_result_leaves_no_output_folder(tmp_path, capsys, weights, monkeypatch, stop, code):
    """`deblur big.png -o dout/new/sub`, then kill -TERM during the deblurring: the temporary was removed, but the
    empty folders made for the result were left."""
    save_rgb(tmp_path / "a.png")
    (tmp_path / "dout").mkdir()

    def stopped(*args, **kwargs):
        raise stop

    monkeypatch.setattr(infer, "deblur_tensor", stopped)  # the command imports it from here when it runs
    out = tmp_path / "dout" / "new" / "sub"
    assert run_cli(capsys, tmp_path / "a.png", "-o", out, "--weights", weights, "--device", "cpu")[0] == code
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a.png", "dout"]


OUT_OF_MEMORY = [
    # what `(ulimit -v 6000000; golfdeblur deblur a 4000x3000 JPEG --tile 0)` raised, printed raw
    RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
        "allocate 1536000000 bytes. Error code 12 (Cannot allocate memory)"
    ),
    MemoryError("Unable to allocate 137. MiB for an array with shape (3000, 4000, 3) and data type float32"),
]
if hasattr(torch, "OutOfMemoryError"):  # torch >= 2.5: CUDA's, a RuntimeError, with advice over several lines
    OUT_OF_MEMORY.append(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nIf reserved..."))


@pytest.mark.parametrize("shortage", OUT_OF_MEMORY, ids=lambda exc: type(exc).__name__)
def test_an_image_that_runs_out_of_memory_is_said_as_the_command_line_says_it_naming_tile(
    tmp_path, capsys, weights, monkeypatch, shortage
):
    """Out of memory on one image printed torch's allocator text as the reason; it now reads as every command's
    out-of-memory line (notes.error_line), after the file's name and naming --tile, and the next image is deblurred."""
    big, small = save_rgb(tmp_path / "big.png"), save_rgb(tmp_path / "small.png")
    real_deblur, calls = infer.deblur_tensor, []

    def out_of_memory_on_big(batch, *args, **kwargs):
        calls.append(batch)
        if len(calls) == 1:  # the first input, big
            raise shortage
        return real_deblur(batch, *args, **kwargs)

    monkeypatch.setattr(infer, "deblur_tensor", out_of_memory_on_big)  # the command imports it from here when it runs
    code, err = run_cli(capsys, big, small, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu")
    reason = str(shortage).splitlines()[0]
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {big}: out of memory ({reason}); try smaller settings: a smaller --tile (0 never tiles)"
    ]
    assert "golfdeblur: 1 of 2 inputs failed" in err.splitlines() and (tmp_path / "out" / "small.png").is_file()
    # on a GPU, the CPU's memory is the other way out
    assert deblur_command._out_of_memory_line(big, shortage, on_gpu=True) == (
        f"golfdeblur: error: {big}: out of memory ({reason}); try smaller settings: a smaller --tile (0 never "
        "tiles), or --device cpu"
    )
    # --tile 0 given: "a smaller --tile" would not say what to do
    calls.clear()
    assert run_cli(capsys, big, "-o", tmp_path / "out0", "--weights", weights, "--device", "cpu", "--tile", "0") == (
        1,
        f"golfdeblur: error: {big}: out of memory ({reason}); try smaller settings: --tile 1536 or smaller (0 never "
        f"tiles)\ngolfdeblur: 1 of 1 inputs failed\n",
    )


def test_a_file_error_no_check_foresaw_is_worded_as_the_command_line_words_it(tmp_path, capsys, weights, monkeypatch):
    """One input's OSError printed Python's str(exc), "a.png: [Errno 13] Permission denied: '.../out/a.png'", where
    the command line (notes.error_line) says "out/a.png: Permission denied"; now the input, then that, and a file
    the error names that is the input itself is not named twice."""
    a, b, c = save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b.png"), save_rgb(tmp_path / "c.png")
    out = tmp_path / "out"
    real_read, real_write = deblur_command.read_image, deblur_command.write_image

    def read_refusing_b(file, **kwargs):
        if Path(file) == b:
            raise PermissionError(13, "Permission denied", str(file))
        return real_read(file, **kwargs)

    def write_refusing_a(output, image, **kwargs):
        if output.name == "a.png":
            raise PermissionError(13, "Permission denied", str(output))
        return real_write(output, image, **kwargs)

    monkeypatch.setattr(deblur_command, "read_image", read_refusing_b)
    monkeypatch.setattr(deblur_command, "write_image", write_refusing_a)
    code, err = run_cli(capsys, a, b, c, "-o", out, "--weights", weights, "--device", "cpu")
    assert code == 1 and error_lines(err) == [
        f"golfdeblur: error: {a}: {out / 'a.png'}: Permission denied",
        f"golfdeblur: error: {b}: Permission denied",
    ], err
    assert "golfdeblur: 2 of 3 inputs failed" in err.splitlines() and [p.name for p in out.iterdir()] == ["c.png"]


def test_a_runtime_error_that_is_no_lack_of_memory_keeps_its_traceback(tmp_path, capsys, weights, monkeypatch):
    """Any RuntimeError of one image's deblurring (a bug) was counted as '1 of 1 inputs failed', its traceback lost;
    as the command line does for every command, only running out of memory is one line, the rest is raised."""
    a, b = save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b.png")
    deblurred = []

    def bug(batch, *args, **kwargs):
        deblurred.append(batch)
        raise RuntimeError("bug: a tensor of the wrong shape")

    monkeypatch.setattr(infer, "deblur_tensor", bug)
    with pytest.raises(RuntimeError, match="bug: a tensor of the wrong shape"):
        cli.main(["deblur", str(a), str(b), "-o", str(tmp_path / "out"), "--weights", str(weights), "--device", "cpu"])
    err = capsys.readouterr().err
    assert len(deblurred) == 1 and "inputs failed" not in err and error_lines(err) == []
    assert not (tmp_path / "out").exists()  # made for the results, none written: removed as on any failure


def test_a_recursive_run_stopped_in_its_first_write_leaves_no_subfolder(tmp_path, capsys, weights, monkeypatch):
    """The write makes a --recursive result's subfolder (out/sub): a run stopped there left out/ and out/sub/."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    save_rgb(tmp_path / "in" / "sub" / "a.png")

    def stopped_in_the_write(output, image, **kwargs):
        output.parent.mkdir(parents=True, exist_ok=True)
        raise cli.Stopped(signal.SIGTERM)

    monkeypatch.setattr(deblur_command, "write_image", stopped_in_the_write)
    common = ["--recursive", "--weights", weights, "--device", "cpu"]
    assert run_cli(capsys, tmp_path / "in", "-o", tmp_path / "out", *common)[0] == 128 + signal.SIGTERM
    assert not (tmp_path / "out").exists()


def test_a_run_stopped_after_some_results_names_their_weights(tmp_path, capsys, weights, monkeypatch):
    """The summary line traces results to their weights: a run stopped part-way printed none for those written."""
    a, b = save_rgb(tmp_path / "a.png"), save_rgb(tmp_path / "b.png")
    real_deblur = infer.deblur_tensor

    def stop_at_the_second(batch, *args, **kwargs):
        if (tmp_path / "out" / "a.png").exists():
            raise KeyboardInterrupt
        return real_deblur(batch, *args, **kwargs)

    monkeypatch.setattr(infer, "deblur_tensor", stop_at_the_second)
    code, err = run_cli(capsys, a, b, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu")
    assert code == 130 and (tmp_path / "out" / "a.png").is_file()
    assert [line for line in err.splitlines() if "deblurred" in line][0].startswith(
        f"golfdeblur: deblurred 1 of 2 inputs into {tmp_path / 'out'} (weights"
    )


@pytest.mark.parametrize("flag", [None, "--overwrite", "--skip-existing"], ids=["keep", "overwrite", "skip"])
def test_an_output_another_run_wrote_meanwhile_is_replaced_only_with_overwrite(
    tmp_path, capsys, weights, monkeypatch, flag
):
    """Two runs into one folder: the guard checked before the deblurring, the other run wrote the output since.
    Without --overwrite that result is kept (it was replaced: the write was an os.replace); with --skip-existing it is
    skipped as one found at the check, not a failure (it was 'appeared meanwhile' and exit 1)."""
    a = save_rgb(tmp_path / "a.png")
    output = tmp_path / "out" / "a.png"
    real_deblur = infer.deblur_tensor

    def the_other_run_writes_first(batch, *args, **kwargs):
        output.write_bytes(b"the other run's result")
        return real_deblur(batch, *args, **kwargs)

    monkeypatch.setattr(infer, "deblur_tensor", the_other_run_writes_first)
    flags = [flag] if flag else []
    code, err = run_cli(capsys, a, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu", *flags)
    if flag == "--overwrite":
        assert code == 0 and output.read_bytes() != b"the other run's result"
    elif flag == "--skip-existing":
        assert code == 0 and output.read_bytes() == b"the other run's result" and error_lines(err) == []
        assert f"golfdeblur: skipped {a}: output {output} exists" in err.splitlines()
        assert "golfdeblur: 1 of 1 inputs skipped (their outputs exist)" in err.splitlines()
    else:
        assert code == 1 and output.read_bytes() == b"the other run's result"
        assert error_lines(err) == [
            f"golfdeblur: error: {output}: cannot write (a file of that name appeared meanwhile; not replaced)"
        ]
    assert sorted(p.name for p in output.parent.iterdir()) == ["a.png"]


def test_with_skip_existing_a_folder_that_appears_where_the_output_goes_is_an_error_not_skipped(
    tmp_path, capsys, weights, monkeypatch
):
    """--skip-existing skips an earlier result that another run wrote meanwhile; a folder of that name is none, and
    is said as the guard says it up front, not counted as skipped."""
    a = save_rgb(tmp_path / "a.png")
    output = tmp_path / "out" / "a.png"
    real_deblur = infer.deblur_tensor

    def the_other_run_makes_a_folder_there(batch, *args, **kwargs):
        output.mkdir(parents=True)
        return real_deblur(batch, *args, **kwargs)

    monkeypatch.setattr(infer, "deblur_tensor", the_other_run_makes_a_folder_there)
    code, err = run_cli(capsys, a, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu", "--skip-existing")
    assert code == 1 and "skipped" not in err
    assert error_lines(err) == [f"golfdeblur: error: {a}: output {output} is a folder; cannot write the result there"]


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
def test_an_output_file_that_is_a_link_to_nothing_is_refused_up_front_or_replaced(
    tmp_path, capsys, weights, monkeypatch, overwrite
):
    """Not "appeared meanwhile" after the deblurring: refused before any work; --overwrite replaces the link itself,
    never creating the file it names."""
    a = save_rgb(tmp_path / "a.png")
    output = tmp_path / "dang.png"
    output.symlink_to(tmp_path / "nowhere.png")
    if not overwrite:
        monkeypatch.setattr(infer, "deblur_tensor", lambda *args, **kwargs: pytest.fail("deblurred all the same"))
    flags = ["--overwrite"] if overwrite else []
    code, err = run_cli(capsys, a, "-o", output, "--weights", weights, "--device", "cpu", *flags)
    if overwrite:
        assert code == 0 and not output.is_symlink() and read_image(output).rgb.shape == (12, 15, 3)
    else:
        assert (
            code == 1
            and output.is_symlink()
            and error_lines(err)
            == [f"golfdeblur: error: {a}: output {output} exists (a link to nothing); pass --overwrite to replace it"]
        )
    assert not (tmp_path / "nowhere.png").exists()


def test_an_output_folder_behind_a_link_to_nothing_says_so(tmp_path, capsys, weights):
    save_rgb(tmp_path / "a.png")
    (tmp_path / "gone").symlink_to(tmp_path / "missing")
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "gone", "--weights", weights, "--device", "cpu")
    assert code == 2 and error_lines(err) == [
        f"golfdeblur: error: -o {tmp_path / 'gone'}: cannot make the folder {tmp_path / 'gone'} ({tmp_path / 'gone'} "
        "is a link to nothing)"
    ]


@pytest.mark.parametrize("extra", [[], ["--tile", "12", "--tile-overlap", "4"]], ids=["whole", "tiled"])
def test_pixels_are_not_copied_and_each_image_is_freed_before_the_next(tmp_path, capsys, weights, monkeypatch, extra):
    """The batch deblurred is a view of the pixels read and the pixels written a view of the result (a 12 MP photo's
    float32 pixels are 137 MiB), and nothing of one image outlives it while the next is read and deblurred."""
    pixels: list[weakref.ref] = []  # only weak references: the test must not keep them alive itself
    earlier: list[weakref.ref] = []  # the arrays of the images already written
    real_read, real_deblur, real_write = deblur_command.read_image, infer.deblur_tensor, deblur_command.write_image

    def read_image(path, **kwargs):
        assert [ref() for ref in earlier] == [None] * len(earlier)
        image = real_read(path, **kwargs)
        pixels.append(weakref.ref(image.rgb))
        return image

    def deblur_tensor(batch, *args, **kwargs):
        assert [ref() for ref in earlier] == [None] * len(earlier)
        assert np.shares_memory(batch.numpy(), pixels[-1]())
        result = real_deblur(batch, *args, **kwargs)
        earlier.extend([pixels[-1], weakref.ref(batch), weakref.ref(result)])
        return result

    def write_image(path, image, **kwargs):
        assert np.shares_memory(image.rgb, earlier[-1]().numpy())
        return real_write(path, image, **kwargs)

    monkeypatch.setattr(deblur_command, "read_image", read_image)
    monkeypatch.setattr(infer, "deblur_tensor", deblur_tensor)  # the command imports it from here when it runs
    monkeypatch.setattr(deblur_command, "write_image", write_image)
    images = [save_rgb(tmp_path / name, 20, 27) for name in ("a.png", "b.png", "c.png")]
    code, err = run_cli(capsys, *images, "-o", tmp_path / "out", "--weights", weights, "--device", "cpu", *extra)
    assert code == 0, err
    assert len(earlier) == 9 and [ref() for ref in earlier] == [None] * 9
    monkeypatch.undo()
    model = infer.prepare_model(weights=weights, device="cpu")
    for image in images:  # the same pixels as the API's
        expected = deblur(np.asarray(Image.open(image)), model=model, tile=12 if extra else None, tile_overlap=4)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / image.name)), expected)


@pytest.mark.parametrize("tile", [0, 12], ids=["whole", "tiled"])
def test_deblur_tensor_returns_the_layout_it_is_given(weights, monkeypatch, tile):
    """channels_last in (a view of (H, W, 3) pixels, as the command line and deblur pass them), channels_last out, so
    that the result's (H, W, 3) pixels are a view too; a contiguous batch still comes back contiguous."""
    model = infer.prepare_model(weights=weights, device="cpu")
    hwc = RNG.random((20, 27, 3), dtype=np.float32)
    kept = hwc.copy()
    view = torch.from_numpy(hwc).permute(2, 0, 1)[None]
    out_view = infer.deblur_tensor(view, model, tile=tile, tile_overlap=4)
    out_nchw = infer.deblur_tensor(view.contiguous(), model, tile=tile, tile_overlap=4)
    assert out_view.is_contiguous(memory_format=torch.channels_last) and out_nchw.is_contiguous()
    assert torch.equal(out_view, out_nchw) and np.array_equal(hwc, kept)  # the same pixels; the input left alone
    batches = []
    real = infer.deblur_tensor
    monkeypatch.setattr(infer, "deblur_tensor", lambda x, **kw: batches.append(x) or real(x, **kw))
    deblur((hwc * 255).astype(np.uint8), model=model, tile=tile, tile_overlap=4)  # the API's arrays: no copy either
    assert batches[0].is_contiguous(memory_format=torch.channels_last)


def test_a_mistyped_input_without_an_extension_is_said_to_be_missing(tmp_path, capsys, weights):
    """It was told its extension '' is not one golfdeblur writes, and to name a --format."""
    code, err = run_cli(capsys, tmp_path / "no_such_folder", "-o", tmp_path / "out", "--weights", weights)
    assert code == 1 and f"golfdeblur: error: {tmp_path / 'no_such_folder'}: no such file\n" in err
    assert "extension" not in err


def test_an_output_folder_that_takes_no_file_is_refused_before_any_image(tmp_path, capsys, weights, monkeypatch):
    """A read-only OUTDIR was found only when each image's result was written, after its deblurring."""
    from golfdeblur.commands import deblur as command

    def read_only(folder, name):
        raise PermissionError(13, "Permission denied", str(folder))

    def no_network(*args, **kwargs):
        raise AssertionError("an image was deblurred")

    monkeypatch.setattr(command, "probe_writable", read_only)
    monkeypatch.setattr(infer, "deblur_tensor", no_network)
    save_rgb(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    code, err = run_cli(capsys, tmp_path / "a.png", "-o", tmp_path / "out", "--weights", weights)
    assert code == 2 and err.strip().startswith(f"golfdeblur: error: -o {tmp_path / 'out'}: cannot write in the folder")
    assert err.count("\n") == 1


@pytest.mark.parametrize("as_pattern", [False, True])
def test_a_link_to_nothing_in_a_folder_or_pattern_is_reported(tmp_path, capsys, weights, as_pattern):
    """A dangling or looping link of an image's name was dropped without a word (exit 0, 'deblurred 1 of 1')."""
    (tmp_path / "in").mkdir()
    save_rgb(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "dangling.png").symlink_to(tmp_path / "in" / "nowhere.png")
    (tmp_path / "in" / "loop1.png").symlink_to(tmp_path / "in" / "loop2.png")
    (tmp_path / "in" / "loop2.png").symlink_to(tmp_path / "in" / "loop1.png")
    source = str(tmp_path / "in" / "*.png") if as_pattern else tmp_path / "in"
    code, err = run_cli(capsys, source, "-o", tmp_path / "out", "--weights", weights)
    assert code == 1 and (tmp_path / "out" / "a.png").is_file()
    for name in ("dangling.png", "loop1.png", "loop2.png"):
        assert f"{tmp_path / 'in' / name}: a link to no file" in err


def test_a_newline_in_a_name_splits_no_line_of_a_batch(tmp_path, capsys, weights):
    """deblur prints its per-file errors and its summary itself: a file named "evil\\nname.png" made two lines of
    each; the name is written as Python escapes it, as the CLI's other lines do."""
    folder = tmp_path / "in\nbox"
    folder.mkdir()
    save_rgb(folder / "a.png")
    (folder / "evil\nname.png").write_text("not an image")
    code, err = run_cli(capsys, folder, "-o", tmp_path / "out\nx", "--weights", weights, "--device", "cpu")
    assert code == 1
    lines = err.strip().splitlines()
    assert f"golfdeblur: error: {tmp_path}/in\\nbox/evil\\nname.png: not an image file" in "\n".join(lines)
    assert any(line.startswith(f"golfdeblur: deblurred 1 of 2 inputs into {tmp_path}/out\\nx (") for line in lines)
    assert all(line.startswith("golfdeblur: ") for line in lines), lines
