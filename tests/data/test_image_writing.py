"""What write_image is given: integer pixels written by their range, deblur's results, and every ImageData it cannot
write refused in one line before anything is written (formats, modes and metadata: test_imageio.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch

from golfdeblur.data.image_data import ImageData, ImageWriteError
from golfdeblur.data.image_writing import check_writable, write_image
from golfdeblur.data.imageio import read_image

RNG = np.random.default_rng(0)
H, W = 13, 17  # odd and unequal, as in test_imageio.py


def random_samples(channels: int, bit_depth: int) -> np.ndarray:
    """(H, W, channels) random samples of ``bit_depth`` bits, as uint8 or uint16."""
    top, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    return RNG.integers(0, top + 1, size=(H, W, channels), dtype=np.int64).astype(dtype)


def decoded_samples(image: ImageData) -> np.ndarray:
    """A read image's samples as the integers of its bit depth, (H, W, C): grey, or RGB, then any alpha."""
    top, dtype = (65535, np.uint16) if image.bit_depth == 16 else (255, np.uint8)
    colour = image.rgb[..., :1] if image.greyscale else image.rgb
    out = np.rint(colour * top).astype(dtype)
    return out if image.alpha is None else np.concatenate([out, image.alpha[..., None]], axis=2)


@pytest.mark.parametrize("bit_depth, greyscale", [(8, False), (16, False), (16, True)])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_integer_pixels_are_written_by_their_range(tmp_path, ext, bit_depth, greyscale):
    """deblur returns uint8 for uint8 input; written as [0, 1] floats they came out nearly white (255 * 255 clipped)."""
    samples = random_samples(1 if greyscale else 3, bit_depth)
    rgb = np.repeat(samples, 3, axis=2) if greyscale else samples
    back = read_image(write_image(tmp_path / f"x{ext}", ImageData(rgb=rgb, greyscale=greyscale, bit_depth=bit_depth)))
    assert back.bit_depth == bit_depth and back.greyscale == greyscale
    np.testing.assert_array_equal(decoded_samples(back), samples)


def test_big_endian_uint16_pixels_and_alpha_are_written_as_their_values(tmp_path):
    samples = random_samples(4, 16)
    image = ImageData(rgb=samples[..., :3].astype(">u2"), alpha=samples[..., 3].astype(">u2"), bit_depth=16)
    np.testing.assert_array_equal(decoded_samples(read_image(write_image(tmp_path / "be.png", image))), samples)


def test_uint16_pixels_written_at_8_bits_round_to_the_nearest_8_bit_value(tmp_path):
    samples = np.array([[[0, 257, 65535], [128, 32896, 65407]]], np.uint16)  # 32896 = 128 * 257
    back = read_image(write_image(tmp_path / "x.png", ImageData(rgb=samples)))
    assert decoded_samples(back).tolist() == [[[0, 1, 255], [0, 128, 255]]]


def test_deblurs_uint8_result_and_a_files_round_trip_write_as_they_read(tmp_path):
    from golfdeblur import deblur
    from golfdeblur.models import GolfConfig, GolfOptimizer

    identity = GolfOptimizer(GolfConfig(g_width=4, d_width=2, iterations=1))  # zero-initialised: returns its input
    samples = random_samples(3, 8)
    out = deblur(samples, model=identity, device="cpu")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(
        decoded_samples(read_image(write_image(tmp_path / "u8.png", ImageData(out)))), samples
    )
    image = read_image(tmp_path / "u8.png")
    again = write_image(tmp_path / "again.png", image.with_rgb(deblur(image.rgb, model=identity, device="cpu")))
    np.testing.assert_array_equal(decoded_samples(read_image(again)), samples)


@pytest.mark.parametrize("dtype, bit_depth", [("u1", 8), ("u2", 16), (">u2", 16)])
def test_with_rgb_keeps_integer_pixels_which_are_written_by_their_range(tmp_path, dtype, bit_depth):
    """image.with_rgb(deblur's uint8 result) made 0-255 float32 values, which write_image refuses, while
    ImageData(result) was written."""
    samples = random_samples(3, bit_depth)
    image = ImageData(np.zeros((H, W, 3), np.float32), bit_depth=bit_depth).with_rgb(samples.astype(dtype))
    np.testing.assert_array_equal(decoded_samples(read_image(write_image(tmp_path / "x.png", image))), samples)
    assert image.rgb.dtype == np.dtype(dtype)
    assert image.with_rgb(np.full((H, W, 3), 0.5)).rgb.dtype == np.float32  # other dtypes as before


def _nan_rgb() -> np.ndarray:
    rgb = np.full((H, W, 3), 0.5, np.float32)
    rgb[1, 2, 0] = np.nan
    return rgb


GREY = np.full((H, W, 3), 0.5, np.float32)


@pytest.mark.parametrize(
    "image, reason",
    [
        (ImageData(GREY * 255), r"image.rgb: image values span \[127.5, 127.5\]: expected \[0, 1\] \(a \[-1, 1\] or "
         r"0-255 float image\? scale it to \[0, 1\]\)"),
        (ImageData(_nan_rgb()), r"image.rgb: image values include NaN or infinity: expected finite values in \[0, 1\]"),
        (ImageData(np.full((H, W, 4), 0.5, np.float32)),
         rf"image.rgb shape \({H}, {W}, 4\): expected \(H, W, 3\) with H, W >= 1 \(alpha goes in image.alpha"),
        (ImageData(GREY[..., 0]), rf"image.rgb shape \({H}, {W}\): expected \(H, W, 3\) .*greyscale=True\)"),
        (ImageData(GREY.transpose(2, 0, 1)), r"image.rgb shape \(3, 13, 17\): expected .*rgb.transpose\(1, 2, 0\)\)"),
        (ImageData(np.zeros((0, W, 3), np.float32)), r"image.rgb shape \(0, 17, 3\): expected \(H, W, 3\) with H, W "),
        (ImageData(np.ones((H, W, 3), np.int64)), r"image.rgb dtype int64: use float in \[0, 1\], uint8 or uint16"),
        (ImageData(GREY, bit_depth=12), r"image.bit_depth 12: use 8 or 16"),
        (ImageData(GREY, alpha=np.ones((H, W), np.float32)),
         r"image.alpha dtype float32: use a uint8 or uint16 array \(written untouched; a float alpha in \[0, 1\]\? "),
        (ImageData(GREY, alpha=np.ones((H, W), np.int64)), r"image.alpha dtype int64: use a uint8 or uint16 array"),
        (ImageData(GREY, alpha=np.ones((4, 4), np.uint8)), r"image.alpha shape \(4, 4\): expected \(H, W\) = \(13, 17"),
        (GREY, r"expected an ImageData to write, got ndarray \(wrap an \(H, W, 3\) array: ImageData\(rgb=array\)\)$"),
        (ImageData(torch.from_numpy(GREY)), r"image.rgb is a Tensor: expected a numpy \(H, W, 3\) array$"),
    ],
    ids=["0-255-floats", "nan", "four-channels", "2-d", "channels-first", "no-pixels", "int64", "12-bit",
         "float-alpha", "int64-alpha", "alpha-shape", "ndarray", "tensor"],
)  # fmt: skip
@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
def test_an_image_write_image_cannot_write_as_it_says_is_refused_before_anything_is_written(
    tmp_path, image, reason, ext
):
    """These were written as something else (nearly white, NaN as 0, a 4th colour as alpha, 12 bits as 8) or failed
    with Pillow's, numpy's or Python's own text (Cannot handle this data type, AttributeError)."""
    target = tmp_path / "new" / f"x{ext}"
    for attempt in (check_writable, write_image):
        with pytest.raises(ImageWriteError, match=rf"^{target}: {reason}") as refusal:
            attempt(target, image)
        assert "\n" not in str(refusal.value)
    assert list(tmp_path.iterdir()) == []  # not even the folder


def test_a_resize_overshoot_is_clipped_and_missing_folders_are_made(tmp_path):
    rgb = np.array([[[-0.01, 0.5, 1.02]]], np.float32)  # within deblur's INPUT_VALUE_RANGE
    back = read_image(write_image(tmp_path / "a" / "b" / "x.png", ImageData(rgb)))
    assert decoded_samples(back).tolist() == [[[0, 128, 255]]]


def test_writing_a_float_image_does_not_import_torch():
    """write_image checks a float image's values (input_values, torch-free): it imported golfdeblur.infer (0.7 s)."""
    code = (
        "import sys\nimport numpy as np\nfrom golfdeblur.data.image_data import ImageData\n"
        "from golfdeblur.data.image_writing import write_image\n"
        "write_image(sys.argv[1], ImageData(np.zeros((4, 4, 3), np.float32)))\nprint('torch' in sys.modules)"
    )
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [sys.executable, "-c", code, f"{folder}/x.png"], capture_output=True, text=True, timeout=120
        )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_a_grey_image_is_written_as_the_values_of_its_equal_channels(tmp_path, bit_depth):
    """A greyscale image is stored as its channels' mean: summed in float32, three equal values missed themselves by an
    ulp about one time in six, which moved a 16-bit sample on a rounding boundary one level off the same image written
    as RGB (2 of these 4096 pixels). Only the 16-bit case guards that: 8-bit levels are too coarse for an ulp to move
    one, and that case passed before the fix too."""
    values = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    rgb = np.repeat(values[..., None], 3, axis=2)
    write_image(tmp_path / "grey.png", ImageData(rgb=rgb, greyscale=True, bit_depth=bit_depth, format="PNG"))
    write_image(tmp_path / "rgb.png", ImageData(rgb=rgb, greyscale=False, bit_depth=bit_depth, format="PNG"))
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png").rgb, read_image(tmp_path / "rgb.png").rgb)
