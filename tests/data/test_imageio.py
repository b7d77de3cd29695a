"""Reading and writing images: formats, bit depths, modes, orientation, alpha, and every bad input's message."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import PIL
import pytest
import tifffile
from PIL import Image, ImageFile, ImageOps, features

from golfdeblur.data import image_formats, image_writing, imageio, tiff_reading
from golfdeblur.data.image_data import ImageData, ImageReadError, ImageWriteError
from golfdeblur.data.image_formats import AVIF_AVAILABLE, HEIF_AVAILABLE, unreadable_reason
from golfdeblur.data.image_metadata import apply_orientation, colour_description_lost
from golfdeblur.data.image_writing import check_writable, write_image
from golfdeblur.data.imageio import read_image
from golfdeblur.errors import DeblurSettingsError

RNG = np.random.default_rng(0)
H, W = 13, 17  # odd and unequal so that transposes and flips show


def random_samples(channels: int, bit_depth: int, shape=(H, W)) -> np.ndarray:
    top = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return RNG.integers(0, top + 1, size=(*shape, channels), dtype=np.int64).astype(dtype)


def image_data(channels: int, bit_depth: int, fmt: str = "PNG") -> tuple[ImageData, np.ndarray]:
    """An ImageData holding exactly representable samples, and those samples ((H, W, C) integers)."""
    samples = random_samples(channels, bit_depth)
    top = np.float32(65535 if bit_depth == 16 else 255)
    greyscale = channels in (1, 2)
    colour = samples[..., :1] if greyscale else samples[..., :3]
    rgb = np.repeat(colour, 3, axis=2) if greyscale else colour
    alpha = samples[..., -1].copy() if channels in (2, 4) else None
    return ImageData(rgb.astype(np.float32) / top, alpha, greyscale, bit_depth, fmt), samples


def decoded_samples(image: ImageData) -> np.ndarray:
    top = 65535 if image.bit_depth == 16 else 255
    dtype = np.uint16 if image.bit_depth == 16 else np.uint8
    colour = image.rgb[..., :1] if image.greyscale else image.rgb
    out = np.rint(colour * top).astype(dtype)
    return out if image.alpha is None else np.concatenate([out, image.alpha[..., None]], axis=2)


# -------------------------------------------------------------------------------------------------- round trips

LOSSLESS_CASES = [
    (fmt, ext, channels, depth)
    for fmt, ext, depths in (
        ("PNG", ".png", (8, 16)),
        ("TIFF", ".tif", (8, 16)),
        ("WEBP", ".webp", (8,)),
        ("BMP", ".bmp", (8,)),
    )
    for depth in depths
    for channels in (1, 2, 3, 4)
    if not (fmt == "WEBP" and channels in (1, 2))  # WebP has no greyscale mode
    and not (fmt == "BMP" and channels in (2, 4))  # BMP keeps no alpha (refused below)
]


@pytest.mark.parametrize("fmt, ext, channels, depth", LOSSLESS_CASES)
def test_lossless_round_trip_keeps_samples_mode_and_depth(tmp_path, fmt, ext, channels, depth):
    image, samples = image_data(channels, depth, fmt)
    if fmt == "WEBP":
        image = ImageData(image.rgb, image.alpha, False, 8, "WEBP", lossless=True)
    path = write_image(tmp_path / f"x{ext}", image)
    back = read_image(path)
    assert back.format == fmt
    assert back.bit_depth == depth
    assert back.greyscale == (channels in (1, 2))
    assert back.rgb.dtype == np.float32 and back.rgb.shape == (H, W, 3)
    assert (back.alpha is not None) == (channels in (2, 4))
    if back.alpha is not None:
        assert back.alpha.dtype == (np.uint16 if depth == 16 else np.uint8)
    np.testing.assert_array_equal(decoded_samples(back), samples)
    assert list(tmp_path.iterdir()) == [path]  # the temporary file was renamed, nothing left behind


needs_webp = pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP")


@needs_webp
@pytest.mark.parametrize("icc_length", [None, 131], ids=["no-profile", "odd-length-profile"])
def test_lossless_webp_from_another_program_is_read_and_written_back_lossless(tmp_path, icc_length):
    """A lossless WebP (VP8L) stays lossless, also behind an ICCP chunk of odd length, which RIFF pads to even."""
    samples = random_samples(3, 8, shape=(5, 6))
    icc = None if icc_length is None else fake_icc(b"RGB ")[:icc_length]
    Image.fromarray(samples).save(tmp_path / "in.webp", lossless=True, icc_profile=icc)
    image = read_image(tmp_path / "in.webp")
    assert image.lossless and image.icc_profile == icc
    back = read_image(write_image(tmp_path / "out.webp", image))
    assert back.lossless and np.array_equal(decoded_samples(back), samples)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip_is_close(tmp_path, channels):
    smooth = np.linspace(0, 1, H * W * 3, dtype=np.float32).reshape(H, W, 3)
    greyscale = channels == 1
    rgb = np.repeat(smooth[..., :1], 3, axis=2) if greyscale else smooth
    back = read_image(write_image(tmp_path / "x.jpg", ImageData(rgb, None, greyscale, 8, "JPEG")))
    assert back.format == "JPEG" and back.greyscale == greyscale and back.bit_depth == 8
    assert np.abs(back.rgb - rgb).max() < 0.05
    with Image.open(tmp_path / "x.jpg") as im:
        assert im.mode == ("L" if greyscale else "RGB")


@pytest.mark.parametrize("ext, fmt", [(".jpg", "JPEG"), (".bmp", "BMP")])
def test_alpha_is_refused_by_formats_without_it_and_nothing_is_written(tmp_path, ext, fmt):
    image, _ = image_data(4, 8, fmt)
    with pytest.raises(
        ImageWriteError, match=rf"x{ext}: {fmt} cannot store the alpha channel; write PNG, TIFF or WebP"
    ):
        write_image(tmp_path / f"x{ext}", image)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext, depth", [(".jpg", 8), (".bmp", 8), (".jpg", 16)])
def test_an_alpha_opaque_everywhere_is_left_out_where_the_format_has_none(tmp_path, ext, depth):
    image, _ = image_data(3, depth, "JPEG")  # RGB
    opaque = np.full(image.rgb.shape[:2], np.iinfo(np.uint16 if depth == 16 else np.uint8).max)
    image = replace(image, alpha=opaque.astype(np.uint16 if depth == 16 else np.uint8))
    assert check_writable(tmp_path / f"x{ext}", image) in ("JPEG", "BMP")
    back = read_image(write_image(tmp_path / f"x{ext}", image))
    without = read_image(write_image(tmp_path / f"without{ext}", replace(image, alpha=None)))
    assert back.alpha is None and np.array_equal(back.rgb, without.rgb)  # as if the image had had no alpha


@pytest.mark.parametrize(
    "alpha, depth, expected",
    [(np.array([[0, 255]], np.uint8), 16, [[0, 65535]]), (np.array([[255, 65535]], np.uint16), 8, [[1, 255]])],
    ids=["8-bit-to-16", "16-bit-to-8"],
)
def test_alpha_of_another_depth_is_rescaled_to_the_full_range_rounded(tmp_path, alpha, depth, expected):
    """x 257 widens 255 to 65535 (a shift by 8 would give 65280); narrowing rounds, so 255 / 257 is 1, not 0."""
    image = ImageData(np.zeros((1, 2, 3), np.float32), alpha=alpha, bit_depth=depth)
    back = read_image(write_image(tmp_path / "a.png", image))
    assert back.bit_depth == depth and back.alpha.tolist() == expected


def test_greyscale_is_written_as_the_channel_mean(tmp_path):
    rgb = np.zeros((4, 5, 3), np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0.1, 0.3, 0.95  # mean 114.75 levels: none of the channels (nor BT.601's 80)
    back = read_image(write_image(tmp_path / "g.png", ImageData(rgb, None, True, 8, "PNG")))
    np.testing.assert_allclose(back.rgb, np.full((4, 5, 3), 115 / 255, np.float32))
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L"


@pytest.mark.parametrize("depth", [8, 16])
def test_values_outside_zero_to_one_are_clipped_not_wrapped(tmp_path, depth):
    rgb = np.full((2, 3, 3), 0.5, np.float32)
    rgb[0], rgb[1] = 1.2, -0.2
    back = read_image(write_image(tmp_path / "c.png", ImageData(rgb, bit_depth=depth)))
    assert (
        back.bit_depth == depth and back.rgb[0].tolist() == [[1.0] * 3] * 3 and back.rgb[1].tolist() == [[0.0] * 3] * 3
    )


def test_sixteen_bit_image_to_jpeg_is_written_at_eight_bits(tmp_path):
    image, _ = image_data(3, 16)
    back = read_image(write_image(tmp_path / "x.jpg", image))
    assert back.bit_depth == 8


# ------------------------------------------------------------------- 16-bit PNG from an independent encoder


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _filtered_rows(raw: np.ndarray, bpp: int, first_kind: int) -> bytearray:
    out = bytearray()
    for y in range(raw.shape[0]):
        kind = (first_kind + y) % 5
        row, prev = raw[y], raw[y - 1] if y else np.zeros_like(raw[0])
        out.append(kind)
        for i in range(row.size):
            a = int(row[i - bpp]) if i >= bpp else 0
            b = int(prev[i])
            c = int(prev[i - bpp]) if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            out.append((int(row[i]) - predictor) % 256)
    return out


def png16_with_every_filter(samples: np.ndarray, interlaced: bool = False) -> bytes:
    """Encode a 16-bit PNG the slow, textbook way, cycling the five filter types over the rows (optionally
    Adam7-interlaced), so that the reader is checked on data Pillow must unfilter with the right bytes-per-pixel."""
    height, width, channels = samples.shape
    bpp = 2 * channels

    def raw_rows(image: np.ndarray) -> np.ndarray:
        return image.astype(">u2").reshape(image.shape[0], -1).view(np.uint8).astype(np.int64)

    if interlaced:
        passes = [samples[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
        data = b"".join(bytes(_filtered_rows(raw_rows(p), bpp, i)) for i, p in enumerate(passes) if p.size)
    else:
        data = bytes(_filtered_rows(raw_rows(samples), bpp, 0))

    def chunk(name: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body) & 0xFFFFFFFF)

    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, int(interlaced))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("interlaced", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_sixteen_bit_png_with_all_filters_reads_exactly(tmp_path, channels, interlaced):
    samples = random_samples(channels, 16, shape=(11, 7))
    path = tmp_path / "f.png"
    path.write_bytes(png16_with_every_filter(samples, interlaced))
    image = read_image(path)
    assert image.bit_depth == 16 and image.greyscale == (channels in (1, 2))
    np.testing.assert_array_equal(decoded_samples(image), samples)


# AVIF (when this Pillow has it) and HEIC/HEIF (with the optional pillow-heif): lossy, 8-bit, written at quality 95.
PHONE_FORMATS = [
    pytest.param("AVIF", ".avif", marks=pytest.mark.skipif(not AVIF_AVAILABLE, reason="this Pillow has no AVIF")),
    pytest.param("HEIF", ".heic", marks=pytest.mark.skipif(not HEIF_AVAILABLE, reason="pillow-heif not installed")),
]


def smooth_photo(channels: int) -> np.ndarray:
    """A smooth uint8 (H, W, channels) picture: lossy codecs keep it close, unlike noise."""
    y, x = np.mgrid[0:H, 0:W] / max(H, W)
    planes = [0.5 + 0.4 * np.sin(3 * x + 2 * y + c) for c in range(channels)]
    return np.rint(np.stack(planes, axis=2) * 255).astype(np.uint8)


@pytest.mark.parametrize("fmt, ext", PHONE_FORMATS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_avif_and_heic_round_trip_is_close(tmp_path, fmt, ext, channels):
    samples = smooth_photo(channels)
    rgb = np.repeat(samples[..., :1], 3, axis=2) if channels == 1 else samples[..., :3]
    alpha = samples[..., 3] if channels == 4 else None
    image = ImageData(rgb.astype(np.float32) / 255, alpha, greyscale=channels == 1)
    back = read_image(write_image(tmp_path / f"photo{ext}", image))
    assert (back.format, back.bit_depth, back.greyscale, back.rgb.shape) == (fmt, 8, channels == 1, (H, W, 3))
    assert np.abs(back.rgb - image.rgb).mean() < 3 / 255
    if alpha is None:
        assert back.alpha is None
    else:
        assert np.abs(back.alpha.astype(int) - alpha.astype(int)).mean() < 3


@pytest.mark.parametrize("fmt, ext", PHONE_FORMATS)
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_avif_and_heic_are_turned_upright_once(tmp_path, fmt, ext, orientation):
    """AVIF keeps the EXIF orientation for us to apply; pillow-heif applies HEIF's and resets it: either way once."""
    pixels = smooth_photo(3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{ext}"
    Image.fromarray(pixels).save(path, format=fmt, quality=95, exif=exif.tobytes())
    expected = apply_orientation(pixels.astype(np.float32) / 255, orientation)
    image = read_image(path)
    # Pillow's default 4:2:0 chroma here, as phones save; a wrong turn is off by 0.19-0.35 on this picture
    assert image.rgb.shape == expected.shape and np.abs(image.rgb - expected).mean() < 8 / 255
    assert read_image(write_image(tmp_path / f"again{ext}", image)).rgb.shape == expected.shape


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="pillow-heif not installed")
def test_heif_colour_description_is_written_back(tmp_path):
    """A Display P3 HEIC (nclx primaries 12, transfer 13) stays P3: pillow-heif alone would retag it BT.709."""
    path = tmp_path / "p3.heic"
    Image.fromarray(smooth_photo(3)).save(path, quality=95, color_primaries=12, transfer_characteristics=13)
    image = read_image(path)
    assert image.heif_colour == (12, 13)
    back = write_image(tmp_path / "out.heic", image.with_rgb(image.rgb * 0.9))
    assert read_image(back).heif_colour == (12, 13)
    with Image.open(back) as written:
        assert written.info["nclx_profile"]["color_primaries"] == 12
    assert read_image(write_image(tmp_path / "plain.heic", ImageData(image.rgb))).heif_colour != (12, 13)
    assert read_image(write_image(tmp_path / "p3.png", image)).heif_colour is None  # PNG describes colour by ICC


def test_a_missing_codec_is_named_rather_than_called_not_an_image(monkeypatch):
    box = b"\x00\x00\x00\x1cftyp"
    monkeypatch.setattr(image_formats, "AVIF_AVAILABLE", False)
    monkeypatch.setattr(image_formats, "HEIF_AVAILABLE", False)
    assert "need the optional pillow-heif" in unreadable_reason(box + b"heic" + bytes(16))
    assert "cannot read or write AVIF" in unreadable_reason(box + b"avif" + bytes(16))
    # an AVIF whose major brand is the generic "mif1" names "avif" among its compatible brands
    assert "cannot read or write AVIF" in unreadable_reason(box + b"mif1" + bytes(4) + b"mif1avif" + bytes(8))
    # ... also as the last brand of its box (24 bytes: the brand at 20-24), not only followed by more
    last = b"\x00\x00\x00\x18ftypmif1" + bytes(4) + b"mif1avif" + bytes(40)
    assert "cannot read or write AVIF" in unreadable_reason(last)
    assert unreadable_reason(b"just text, not an image") == "not an image file (or a format Pillow does not know)"


HEIF_MISSING = "HEIC/HEIF images need the optional pillow-heif package (pip install 'golfdeblur[heif]')"
AVIF_MISSING = (
    f"this Pillow ({PIL.__version__}) cannot read or write AVIF images (the wheels of Pillow 11.3 and newer can: "
    "pip install -U pillow)"
)
# Run in a fresh interpreter: pillow-heif cannot be imported and Pillow has no AVIF, as on a wheel install without
# golfdeblur[heif] and with a Pillow older than 11.3 (IMAGE_SUFFIXES and the flags are set when image_formats is
# imported).
WITHOUT_CODECS = """
import json, sys
from pathlib import Path
sys.modules["pillow_heif"] = None  # import pillow_heif: ImportError
from PIL import Image, features
Image.init()
Image.ID.remove("AVIF"), Image.SAVE.pop("AVIF")
check_module = features.check_module
features.check_module = lambda name: name != "avif" and check_module(name)
import numpy as np
from golfdeblur.data import image_data, image_formats, image_writing, imageio
said = {
    "flags": [image_formats.AVIF_AVAILABLE, image_formats.HEIF_AVAILABLE],
    "suffixes": sorted(image_formats.IMAGE_SUFFIXES),
}
said["listed"] = [image_formats.is_image_name(name) for name in ("IMG_0001.HEIC", "x.heif", "x.AVIF")]
for name in sys.argv[1:]:
    try:
        imageio.read_image(name)
    except image_data.ImageReadError as error:
        said[name] = str(error)
    try:
        image_writing.write_image(Path(name).with_stem("out"), image_data.ImageData(np.zeros((2, 2, 3), np.float32)))
    except image_data.ImageWriteError as error:
        said["out" + Path(name).suffix] = str(error)
print(json.dumps(said))
"""


@pytest.mark.skipif(not (AVIF_AVAILABLE and HEIF_AVAILABLE), reason="the photos are made with both codecs")
def test_heic_and_avif_are_known_without_their_codecs_and_fail_naming_what_to_install(tmp_path):
    """Without pillow-heif (or a Pillow with AVIF), .heic and .avif stay image extensions: folders list such photos
    and each fails with one line naming what to install, rather than being left out as if they were not images (a
    partial batch passing for a whole one) or called an unknown extension."""
    import json
    import subprocess
    import sys

    photos = [tmp_path / "IMG_0001.HEIC", tmp_path / "photo.avif"]
    for path, fmt in zip(photos, ("HEIF", "AVIF"), strict=True):
        Image.fromarray(smooth_photo(3)).save(path, format=fmt)
    run = [sys.executable, "-c", WITHOUT_CODECS, *map(str, photos)]
    said = json.loads(subprocess.run(run, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert said["flags"] == [False, False]
    assert {".avif", ".heic", ".heif"} <= set(said["suffixes"]) and said["listed"] == [True, True, True]
    assert said[str(photos[0])] == f"{photos[0]}: {HEIF_MISSING}"
    assert said[str(photos[1])] == f"{photos[1]}: {AVIF_MISSING}"
    assert said["out.HEIC"] == f"{tmp_path / 'out.HEIC'}: {HEIF_MISSING}"
    assert said["out.avif"] == f"{tmp_path / 'out.avif'}: {AVIF_MISSING}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.HEIC", "photo.avif"]  # nothing half-written


@pytest.mark.parametrize(
    "flag, ext, reason", [("HEIF_AVAILABLE", ".heic", HEIF_MISSING), ("AVIF_AVAILABLE", ".avif", AVIF_MISSING)]
)
def test_writing_a_format_whose_codec_is_missing_is_refused_before_any_work(tmp_path, monkeypatch, flag, ext, reason):
    """check_writable, which callers ask before computing the pixels, says what to install: not an unknown
    extension, and not the encoder's KeyError after the work."""
    monkeypatch.setattr(image_formats, flag, False)
    image = ImageData(np.zeros((2, 2, 3), np.float32))
    for path in (tmp_path / f"x{ext}", tmp_path / f"X{ext.upper()}"):
        with pytest.raises(ImageWriteError) as info:
            check_writable(path, image)
        assert str(info.value) == f"{path}: {reason}"
        with pytest.raises(ImageWriteError, match="install"):
            write_image(path, image)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_file_of_a_format_we_have_is_not_blamed_on_a_missing_codec(monkeypatch):
    box = b"\x00\x00\x00\x1cftyp"
    monkeypatch.setattr(image_formats, "AVIF_AVAILABLE", True)
    monkeypatch.setattr(image_formats, "HEIF_AVAILABLE", True)
    assert unreadable_reason(box + b"avif" + bytes(16)).startswith("truncated or corrupt AVIF")
    assert unreadable_reason(box + b"heic" + bytes(16)).startswith("truncated or corrupt HEIC")


@pytest.mark.parametrize(
    "fmt, ext, available",
    [("AVIF", ".avif", AVIF_AVAILABLE), ("HEIF", ".heic", HEIF_AVAILABLE)],
)
def test_truncated_avif_and_heic_are_called_truncated(tmp_path, fmt, ext, available):
    if not available:
        pytest.skip(f"no {fmt} codec here")
    whole = write_image(tmp_path / f"whole{ext}", ImageData(RNG.random((H, W, 3), dtype=np.float32)))
    cut = write(tmp_path / f"cut{ext}", whole.read_bytes()[:60])
    with pytest.raises(ImageReadError) as info:
        read_image(cut)
    assert str(info.value).startswith(f"{cut}: truncated or corrupt") and "install" not in str(info.value)


# ------------------------------------------------------------------------------------------ modes and metadata


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    pixels = random_samples(3, 8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    image = read_image(path)
    np.testing.assert_array_equal(np.rint(image.rgb * 255).astype(np.uint8), expected)
    assert image.exif is not None and Image.Exif().load(image.exif) is None  # parses
    rewritten = read_image(write_image(tmp_path / "again.jpg", image))
    assert rewritten.rgb.shape == image.rgb.shape  # orientation reset to 1: no second rotation


@pytest.mark.parametrize("orientation", [2, 5, 6, 7, 8])
def test_jpeg_dpi_follows_the_orientation(tmp_path, orientation):
    """Orientations 5-8 swap rows and columns, and with them the horizontal and vertical resolution."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(random_samples(3, 8, shape=(4, 6))).save(tmp_path / "o.jpg", dpi=(72, 300), exif=exif.tobytes())
    assert read_image(tmp_path / "o.jpg").dpi == ((300.0, 72.0) if orientation >= 5 else (72.0, 300.0))


def test_an_mpo_phone_photo_is_read_as_its_primary_jpeg(tmp_path):
    """MPO: a JPEG with an embedded preview as a second frame (phones); the first frame is the photo."""
    photo, preview = random_samples(3, 8, shape=(8, 12)), random_samples(3, 8, shape=(4, 6))
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo).save(path, format="MPO", save_all=True, append_images=[Image.fromarray(preview)])
    with Image.open(path) as im:
        assert im.format == "MPO" and im.n_frames == 2  # what the reader is given
    image = read_image(path)
    assert image.format == "JPEG" and image.size == (8, 12)
    with Image.open(path) as im:
        np.testing.assert_array_equal(decoded_samples(image), np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_a_bilevel_image_is_read_as_eight_bit_greyscale(tmp_path, ext):
    black_white = random_samples(1, 8, shape=(5, 6))[..., 0] > 127
    Image.fromarray(black_white.astype(np.uint8) * 255).convert("1").save(tmp_path / f"b{ext}")
    with Image.open(tmp_path / f"b{ext}") as im:
        assert im.mode == "1"
    image = read_image(tmp_path / f"b{ext}")
    assert image.greyscale and image.bit_depth == 8 and image.alpha is None
    np.testing.assert_array_equal(decoded_samples(image)[..., 0], np.where(black_white, 255, 0))


@pytest.mark.parametrize("orientation", [2, 3, 6, 7])
@pytest.mark.parametrize("channels, depth", [(1, 8), (3, 8), (1, 16), (3, 16), (4, 16)])
def test_orientation_of_tiff_is_honoured(tmp_path, orientation, channels, depth):
    samples = random_samples(channels, depth)
    path = tmp_path / "o.tif"
    photometric = "minisblack" if channels == 1 else "rgb"
    extrasamples = ("unassalpha",) if channels == 4 else None
    tifffile.imwrite(path, samples, photometric=photometric, extrasamples=extrasamples,
                     extratags=[(274, "H", 1, orientation, True)])  # fmt: skip
    image = read_image(path)
    np.testing.assert_array_equal(decoded_samples(image), apply_orientation(samples, orientation))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_lzw_tiff_read_by_pillow_is_turned_upright_once(tmp_path, orientation):
    samples = random_samples(3, 8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(samples).save(tmp_path / "lzw.tif", compression="tiff_lzw", exif=exif)
    np.testing.assert_array_equal(
        decoded_samples(read_image(tmp_path / "lzw.tif")), apply_orientation(samples, orientation)
    )


def test_palette_png_is_expanded_with_its_transparency(tmp_path):
    indices = RNG.integers(0, 4, size=(H, W), dtype=np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]
    im = Image.fromarray(indices, mode="P")
    im.putpalette(palette)
    im.save(tmp_path / "p.png", transparency=3)
    image = read_image(tmp_path / "p.png")
    assert not image.greyscale and image.alpha is not None
    np.testing.assert_array_equal(image.alpha, np.where(indices == 3, 0, 255))
    np.testing.assert_array_equal(
        np.rint(image.rgb[indices == 0] * 255), np.tile([255, 0, 0], ((indices == 0).sum(), 1))
    )


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    image = read_image(tmp_path / "c.jpg")
    assert not image.greyscale and image.alpha is None
    assert np.abs(image.rgb.mean(axis=(0, 1)) - [1, 0, 0]).max() < 0.05


def fake_icc(colour_space: bytes) -> bytes:
    """Bytes with an ICC header's data colour space (bytes 16-20) set; the rest is not a real profile."""
    return bytes(16) + colour_space + bytes(108) + b"not really a profile but bytes are bytes"


def test_icc_profile_is_kept(tmp_path):
    profile = fake_icc(b"RGB ")
    Image.fromarray(random_samples(3, 8)).save(tmp_path / "i.png", icc_profile=profile)
    image = read_image(tmp_path / "i.png")
    assert image.icc_profile == profile
    for ext in (".png", ".jpg", ".tif"):
        assert read_image(write_image(tmp_path / f"out{ext}", image)).icc_profile == profile
    sixteen = ImageData(image.rgb, None, False, 16, "PNG", icc_profile=profile)
    assert read_image(write_image(tmp_path / "out16.png", sixteen)).icc_profile == profile
    grey = ImageData(image.rgb, greyscale=True, icc_profile=fake_icc(b"GRAY"))
    for ext in (".png", ".tif"):
        assert read_image(write_image(tmp_path / f"grey{ext}", grey)).icc_profile == fake_icc(b"GRAY")


@pytest.mark.parametrize("mode", ["CMYK", "LAB"])
def test_profile_of_another_colour_space_is_dropped_after_conversion_to_rgb(tmp_path, mode):
    """A CMYK JPEG's CMYK profile must not be attached to the RGB pixels it is converted to."""
    space = {"CMYK": b"CMYK", "LAB": b"Lab "}[mode]
    im = Image.new("CMYK", (W, H), (0, 255, 255, 0))
    if mode == "CMYK":
        im.save(tmp_path / "c.jpg", icc_profile=fake_icc(space))
    else:
        Image.fromarray(random_samples(3, 8)).save(tmp_path / "c.jpg", icc_profile=fake_icc(space))
    image = read_image(tmp_path / "c.jpg")
    assert image.icc_profile is None
    for ext in (".jpg", ".png", ".tif"):
        with Image.open(write_image(tmp_path / f"out{ext}", image)) as written:
            assert "icc_profile" not in written.info or not written.info["icc_profile"]


def test_write_leaves_out_a_profile_that_does_not_describe_the_pixels(tmp_path):
    rgb = RNG.random((H, W, 3), dtype=np.float32)
    for image, name in (
        (ImageData(rgb, icc_profile=fake_icc(b"CMYK")), "cmyk.png"),
        (ImageData(rgb, icc_profile=fake_icc(b"GRAY")), "grey-profile-on-colour.png"),
        (ImageData(rgb, greyscale=True, icc_profile=fake_icc(b"RGB ")), "rgb-profile-on-grey.png"),
        (ImageData(rgb, bit_depth=16, icc_profile=fake_icc(b"CMYK")), "cmyk16.png"),
    ):
        assert read_image(write_image(tmp_path / name, image)).icc_profile is None, name


def test_a_greyscale_profile_is_left_out_where_the_format_stores_rgb(tmp_path):
    """WebP has no greyscale mode, and AVIF and HEIF write grey + alpha as RGBA: a GRAY profile on their RGB pixels
    would mis-render in colour-managed viewers. It is left out, and colour_description_lost says so (for a note)."""
    grey = ImageData(RNG.random((H, W, 3), dtype=np.float32), greyscale=True, icc_profile=fake_icc(b"GRAY"))
    grey_alpha = replace(grey, alpha=random_samples(1, 8)[..., 0])
    cases = [(grey, ".webp", "WEBP"), (grey_alpha, ".webp", "WEBP")]
    cases += [(grey_alpha, ".avif", "AVIF")] if AVIF_AVAILABLE else []
    cases += [(grey_alpha, ".heic", "HEIF")] if HEIF_AVAILABLE else []
    for image, ext, fmt in cases:
        path = write_image(tmp_path / f"x{image.alpha is not None}{ext}", image)
        with Image.open(path) as written:
            assert written.mode in ("RGB", "RGBA") and not written.info.get("icc_profile"), path.name
        lost = colour_description_lost(image, fmt)
        assert lost is not None and "greyscale ICC profile is left out" in lost and fmt in lost
    for image, ext, fmt in [(grey, ".png", "PNG"), (grey_alpha, ".tif", "TIFF"), (grey, ".jpg", "JPEG")]:
        assert colour_description_lost(image, fmt) is None
        assert read_image(write_image(tmp_path / f"kept{ext}", image)).icc_profile == fake_icc(b"GRAY")


def test_sixteen_bit_png_keeps_exif(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Golf Camera Co"  # Make
    exif[0x0112] = 1
    image = ImageData(RNG.random((H, W, 3), dtype=np.float32), bit_depth=16, exif=exif.tobytes())
    path = write_image(tmp_path / "e16.png", image)
    with Image.open(path) as im:
        assert im.getexif().get(0x010F) == "Golf Camera Co"
    back = read_image(path)
    assert back.bit_depth == 16 and back.exif is not None
    parsed = Image.Exif()
    parsed.load(back.exif)
    assert parsed.get(0x010F) == "Golf Camera Co"


XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/'
    b'tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="1" dc:format="image/x-golf"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


@pytest.mark.parametrize("ext, depth", [(".jpg", 8), (".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".bmp", 8)])
def test_dpi_is_carried_from_read_to_write(tmp_path, ext, depth):
    Image.fromarray(random_samples(3, 8)).save(tmp_path / "in.jpg", dpi=(300, 150))
    image = read_image(tmp_path / "in.jpg")
    assert image.dpi == (300, 150)
    out = write_image(tmp_path / f"out{ext}", replace(image, bit_depth=depth))
    back = read_image(out)
    assert back.dpi is not None and np.allclose(back.dpi, (300, 150), rtol=1e-3)
    with Image.open(out) as written:  # what other programs see (a TIFF's as Pillow's rationals)
        assert np.allclose([float(v) for v in written.info["dpi"]], (300, 150), rtol=1e-3)


def test_eight_and_sixteen_bit_png_round_the_dpi_alike(tmp_path):
    """72 dpi is 2834.65 pixels a metre: both writers store 2835 (72.009 dpi), as Pillow rounds."""
    image = ImageData(np.zeros((2, 3, 3), np.float32), dpi=(72, 72))
    for depth in (8, 16):
        back = read_image(write_image(tmp_path / f"d{depth}.png", replace(image, bit_depth=depth)))
        assert back.bit_depth == depth and back.dpi == pytest.approx((2835 * 0.0254, 2835 * 0.0254), abs=1e-9)


def test_dpi_of_tiff_follows_its_unit_and_the_orientation(tmp_path):
    samples = random_samples(3, 8)
    tifffile.imwrite(tmp_path / "cm.tif", samples, photometric="rgb", resolution=(100, 50), resolutionunit="CENTIMETER")
    assert np.allclose(read_image(tmp_path / "cm.tif").dpi, (254, 127))
    tifffile.imwrite(tmp_path / "none.tif", samples, photometric="rgb")  # 1 x 1, no unit: an aspect ratio, not dpi
    assert read_image(tmp_path / "none.tif").dpi is None
    with Image.open(write_image(tmp_path / "none-out.tif", read_image(tmp_path / "none.tif"))) as written:
        assert written.tag_v2.get(296) == 1  # still states no unit rather than 1 dpi
    tifffile.imwrite(tmp_path / "turned.tif", samples, photometric="rgb", resolution=(300, 150),
                     resolutionunit="INCH", extratags=[(274, "H", 1, 6, True)])  # fmt: skip
    assert read_image(tmp_path / "turned.tif").dpi == (150, 300)  # rows and columns swapped, so is the dpi
    tifffile.imwrite(
        tmp_path / "absurd.tif", samples, photometric="rgb", resolution=(10**6, 10**6), resolutionunit="INCH"
    )
    absurd = read_image(tmp_path / "absurd.tif")
    assert absurd.dpi is None  # JPEG's header could not hold it, and the write of the image must not fail for it
    assert read_image(write_image(tmp_path / "absurd.jpg", absurd)).dpi is None


def test_tiff_resolution_without_a_unit_tag_is_in_inches(tmp_path):
    """ResolutionUnit absent means inch, the TIFF default (Pillow writes X/YResolution alone when asked to)."""
    Image.fromarray(random_samples(3, 8, shape=(4, 6))).save(tmp_path / "r.tif", x_resolution=300, y_resolution=150)
    with Image.open(tmp_path / "r.tif") as written:
        assert 296 not in written.tag_v2 and 282 in written.tag_v2
    assert read_image(tmp_path / "r.tif").dpi == (300.0, 150.0)


def test_a_palette_tiff_read_by_pillow_has_no_dpi_or_exif_it_does_not_state(tmp_path):
    """Pillow's info calls a TIFF without resolution tags 1 dpi, and its getexif() holds the TIFF's own tags."""
    Image.fromarray(random_samples(3, 8, shape=(4, 6))).quantize(8).save(tmp_path / "p.tif")
    with Image.open(tmp_path / "p.tif") as im:
        assert im.mode == "P" and 282 not in im.tag_v2  # read by Pillow, and states no resolution
    image = read_image(tmp_path / "p.tif")
    assert image.dpi is None and image.exif is None


def test_a_tiff_profile_is_the_full_page_s_not_a_thumbnail_s_before_it(tmp_path):
    """Pillow keeps the first page's ICC profile in its info after seeking to a page without one."""
    palette = np.zeros((3, 256), np.uint16)
    palette[:, :8] = RNG.integers(0, 65536, size=(3, 8))
    with tifffile.TiffWriter(tmp_path / "t.tif") as tif:
        tif.write(random_samples(3, 8, shape=(3, 4)), photometric="rgb", subfiletype=1, iccprofile=fake_icc(b"RGB "))
        tif.write(RNG.integers(0, 8, size=(6, 7), dtype=np.uint8), photometric="palette", colormap=palette)
    image = read_image(tmp_path / "t.tif")
    assert image.size == (6, 7) and image.icc_profile is None


def test_xmp_is_kept_with_its_orientation_reset(tmp_path):
    turned = XMP.replace(b'tiff:Orientation="1"', b'tiff:Orientation="6"')
    Image.fromarray(random_samples(3, 8)).save(tmp_path / "in.jpg", xmp=turned)
    image = read_image(tmp_path / "in.jpg")
    assert image.xmp == XMP  # the pixels are upright now; a viewer must not turn them again
    cases = [(".jpg", 8), (".png", 8), (".png", 16), (".tif", 8), (".webp", 8)]
    cases += [(".avif", 8)] * AVIF_AVAILABLE + [(".heic", 8)] * HEIF_AVAILABLE
    for ext, depth in cases:
        out = write_image(tmp_path / f"out{depth}{ext}", replace(image, bit_depth=depth))
        assert read_image(out).xmp == XMP, (ext, depth)
        with Image.open(out) as written:
            xmp = written.info.get("xmp")
            assert (xmp.encode() if isinstance(xmp, str) else xmp) == XMP, (ext, depth)


def test_xmp_orientation_written_as_an_element_is_reset_too(tmp_path):
    """XMP may state the orientation as an element, <tiff:Orientation>6</tiff:Orientation>, not an attribute."""
    element = b"><tiff:Orientation>6</tiff:Orientation></rdf:Description>"
    as_element = XMP.replace(b' tiff:Orientation="1"', b"").replace(b'"image/x-golf"/>', b'"image/x-golf"' + element)
    assert b"<tiff:Orientation>6</tiff:Orientation>" in as_element and b'tiff:Orientation="' not in as_element
    Image.fromarray(random_samples(3, 8, shape=(4, 6))).save(tmp_path / "in.jpg", xmp=as_element)
    xmp = read_image(tmp_path / "in.jpg").xmp
    assert xmp == as_element.replace(b"<tiff:Orientation>6<", b"<tiff:Orientation>1<")


@pytest.mark.parametrize("depth", [8, 16])
def test_xmp_that_is_not_utf8_is_left_out_of_png_with_a_note(tmp_path, capsys, depth):
    image = ImageData(RNG.random((H, W, 3), dtype=np.float32), bit_depth=depth, xmp=XMP.decode().encode("utf-16"))
    out = write_image(tmp_path / "out.png", image)
    assert read_image(out).xmp is None and capsys.readouterr().err.startswith(
        f"golfdeblur: note: {out}: its XMP is not UTF-8"
    )
    assert read_image(write_image(tmp_path / "out.jpg", image)).xmp == image.xmp  # JPEG takes any bytes


def test_exif_and_xmp_too_large_for_jpeg_are_left_out_with_a_note(tmp_path, capsys):
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription: over the 64 KB a JPEG marker holds
    Image.fromarray(random_samples(3, 8)).save(tmp_path / "big.png", exif=exif.tobytes())
    image = replace(read_image(tmp_path / "big.png"), xmp=XMP + b" " * 70_000)
    out = write_image(tmp_path / "out.jpg", image)
    back = read_image(out)
    assert back.exif is None and back.xmp is None and np.abs(back.rgb - image.rgb).mean() < 0.02
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == 2 and all(line.startswith(f"golfdeblur: note: {out}: its ") for line in notes)
    assert "EXIF" in notes[0] and "XMP" in notes[1]
    kept = Image.Exif()
    kept.load(read_image(write_image(tmp_path / "out.png", image)).exif)
    assert kept[0x010E] == "x" * 70_000  # PNG holds it whole


def test_xmp_one_byte_over_what_a_jpeg_marker_holds_beside_its_header_is_left_out(tmp_path, capsys):
    """The marker holds the XMP namespace header too: an XMP of 65,505-65,533 bytes made Pillow's encoder fail."""
    limit = image_writing._JPEG_MAX_MARKER - image_writing._JPEG_XMP_HEADER
    image = ImageData(RNG.random((H, W, 3), dtype=np.float32), xmp=XMP + b" " * (limit + 1 - len(XMP)))
    out = write_image(tmp_path / "out.jpg", image)
    assert read_image(out).xmp is None
    assert capsys.readouterr().err == (
        f"golfdeblur: note: {out}: its XMP ({limit + 1:,} bytes) is over JPEG's limit of {limit:,}; "
        "written without it\n"
    )
    at_limit = replace(image, xmp=image.xmp[:-1])
    assert read_image(write_image(tmp_path / "kept.jpg", at_limit)).xmp == at_limit.xmp  # the largest that fits
    # a newline in the file's name is escaped: the note stays one line, as the CLI's errors do
    odd = write_image(tmp_path / "new\nline.jpg", image)
    assert capsys.readouterr().err == (
        f"golfdeblur: note: {tmp_path}/new\\nline.jpg: its XMP ({limit + 1:,} bytes) is over JPEG's limit of "
        f"{limit:,}; "
        "written without it\n"
    )
    assert odd.name == "new\nline.jpg"


@pytest.mark.parametrize("mode, key", [("RGB", (10, 20, 30)), ("L", 40)])
def test_png_key_colour_transparency_becomes_alpha(tmp_path, mode, key):
    samples = random_samples(3 if mode == "RGB" else 1, 8)[..., : 3 if mode == "RGB" else 1]
    samples[::3, ::2] = key
    im = Image.fromarray(samples if mode == "RGB" else samples[..., 0])
    im.save(tmp_path / "key.png", transparency=key)
    image = read_image(tmp_path / "key.png")
    with Image.open(tmp_path / "key.png") as im:  # Pillow's own conversion as the reference
        expected = np.asarray(im.convert("RGBA"))[..., 3]
    keyed = np.all(samples == np.asarray(key), axis=2)  # the pixels set to the key, and any random one equal to it
    assert image.alpha is not None and (image.alpha == 0).sum() == keyed.sum() >= samples[::3, ::2, 0].size
    np.testing.assert_array_equal(image.alpha, expected)
    back = read_image(write_image(tmp_path / "out.png", image))
    np.testing.assert_array_equal(back.alpha, expected)
    assert back.greyscale == (mode == "L")


@pytest.mark.parametrize(
    "bits, row, key, alpha",
    [(2, [0b00_01_10_11], 3, [255, 255, 255, 0]), (4, [0x3F], 15, [255, 0])],  # samples 0 1 2 3; 3 15
)
def test_png_key_colour_of_two_and_four_bit_greyscale_is_scaled_with_the_samples(tmp_path, bits, row, key, alpha):
    # written by hand: Pillow before 12 writes `bits=2` greyscale at 8 bits
    ihdr = struct.pack(">IIBBBBB", len(alpha), 1, bits, 0, 0, 0, 0)  # N x 1 greyscale
    scanline = bytes([0, *row])  # filter 0, then the packed samples
    chunks = [(b"IHDR", ihdr), (b"tRNS", struct.pack(">H", key)), (b"IDAT", zlib.compress(scanline)), (b"IEND", b"")]
    data = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks
    )
    np.testing.assert_array_equal(read_image(write(tmp_path / f"g{bits}.png", data)).alpha, [alpha])


def with_trns(path: Path, payload: bytes) -> Path:
    """``path`` with a tRNS chunk inserted after IHDR (which is 8 + 25 bytes into any PNG)."""
    data = path.read_bytes()
    chunk = struct.pack(">I", len(payload)) + b"tRNS" + payload + struct.pack(">I", zlib.crc32(b"tRNS" + payload))
    return write(path, data[:33] + chunk + data[33:])


@pytest.mark.parametrize("channels", [1, 3])
def test_sixteen_bit_png_key_colour_transparency_becomes_alpha(tmp_path, channels):
    image, samples = image_data(channels, 16)
    key = samples[2, 3]
    path = with_trns(write_image(tmp_path / "k16.png", image), struct.pack(f">{channels}H", *key))
    back = read_image(path)
    expected = np.where(np.all(samples == key, axis=2), 0, 65535)
    assert back.alpha is not None and back.alpha.dtype == np.uint16 and (back.alpha == 0).any()
    np.testing.assert_array_equal(back.alpha, expected)
    np.testing.assert_array_equal(decoded_samples(back)[..., :channels], samples)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "out.png", back)).alpha, expected)


def test_png_key_colour_that_no_pixel_has_adds_no_alpha(tmp_path):
    Image.fromarray(np.full((H, W, 3), 200, np.uint8)).save(tmp_path / "k.png", transparency=(0, 0, 0))
    assert read_image(tmp_path / "k.png").alpha is None  # so it can still be written as JPEG


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("reader", ["tifffile", "pillow"])
def test_min_is_white_tiff_is_inverted(tmp_path, monkeypatch, depth, reader):
    samples = random_samples(1, depth)[..., 0]
    top = 65535 if depth == 16 else 255
    tifffile.imwrite(tmp_path / "mw.tif", samples, photometric="miniswhite")
    if reader == "pillow":  # as for a compression tifffile cannot decode without imagecodecs
        monkeypatch.setattr(imageio, "read_tiff", lambda path, max_pixels: None)
    image = read_image(tmp_path / "mw.tif")
    assert image.greyscale and image.bit_depth == depth
    np.testing.assert_array_equal(decoded_samples(image)[..., 0], top - samples)


def test_min_is_white_grey_and_alpha_tiff_inverts_the_grey_only(tmp_path):
    samples = random_samples(2, 16)
    tifffile.imwrite(tmp_path / "mwa.tif", samples, photometric="miniswhite", extrasamples=("unassalpha",))
    image = read_image(tmp_path / "mwa.tif")
    np.testing.assert_array_equal(decoded_samples(image), np.stack([65535 - samples[..., 0], samples[..., 1]], -1))


def test_tiff_pages_of_different_sizes_are_refused_but_reduced_pages_are_not(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        tif.write(random_samples(3, 8), photometric="rgb")
        tif.write(random_samples(3, 8, shape=(5, 7)), photometric="rgb")
    with pytest.raises(ImageReadError, match="has 2 pages; multi-frame images are not supported"):
        read_image(tmp_path / "pages.tif")
    samples = random_samples(3, 8)
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(samples, photometric="rgb")
        tif.write(random_samples(3, 8, shape=(5, 7)), photometric="rgb", subfiletype=1)  # a reduced copy
        tif.write(random_samples(1, 8)[..., 0] > 127, subfiletype=4)  # a transparency mask
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "thumb.tif")), samples)
    with tifffile.TiffWriter(tmp_path / "thumb-first.tif") as tif:  # some writers store the thumbnail first
        tif.write(random_samples(3, 8, shape=(5, 7)), photometric="rgb", subfiletype=1)
        tif.write(samples, photometric="rgb")
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "thumb-first.tif")), samples)


def test_many_tiff_pages_of_varying_sizes_are_counted_before_tifffile_groups_them(tmp_path, monkeypatch):
    """tifffile's series parse and group every page: 20,000 pages of 7 sizes took half a minute to refuse, and the
    refusal counted the pages of one size only ("has 2858 pages")."""
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(300):
            tif.write(np.zeros((1, 1 + i % 7, 3), np.uint8), photometric="rgb", metadata=None)

    def grouped(self):
        raise AssertionError("tif.series computed")

    monkeypatch.setattr(tifffile.TiffFile, "series", property(grouped))
    with pytest.raises(ImageReadError) as refusal:
        read_image(path)
    assert str(refusal.value) == f"{path}: has 300 pages; multi-frame images are not supported"


def looping_tiff(path: Path, pages: int, back_to: int) -> Path:
    """A TIFF of ``pages`` pages of varying sizes whose last page's offset to the next points back to ``back_to``."""
    with tifffile.TiffWriter(path) as tif:
        for i in range(pages):
            tif.write(np.zeros((1, 1 + i % 7, 3), np.uint8), photometric="rgb", metadata=None)
    with tifffile.TiffFile(path) as tif:
        offsets = [page.offset for page in tif.pages]
    data = bytearray(path.read_bytes())
    (tags,) = struct.unpack_from("<H", data, offsets[-1])
    struct.pack_into("<I", data, offsets[-1] + 2 + 12 * tags, offsets[back_to])
    return write(path, bytes(data))


@contextlib.contextmanager
def failing_after(seconds: int) -> Iterator[None]:
    """Fail the test if the block runs past ``seconds`` (SIGALRM): a chain of TIFF pages walked for ever fails rather
    than hanging the suite."""

    def too_slow(signum, frame):
        pytest.fail(f"still reading after {seconds} s")  # not an Exception: read_image does not turn it into its line

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_tiff_whose_pages_loop_is_refused_at_once(tmp_path):
    """tifffile looks for a loop in the chain of pages only at the 100th page: one closing after it was walked for
    ever, the list of page offsets growing, whichever library then read the pixels."""
    path = looping_tiff(tmp_path / "loop.tif", 150, back_to=120)
    with failing_after(20):
        for read in (read_image, tiff_reading.tiff_page_to_read):  # tifffile's reading, and the page Pillow is given
            with pytest.raises(ImageReadError) as refusal:
                read(path)
            assert str(refusal.value) == (
                f"{path}: truncated or corrupt image data (its TIFF pages loop back to an earlier one)"
            )


def test_a_loop_of_tiff_pages_closing_at_exactly_the_100th_page_is_refused(tmp_path):
    """100 pages, then the first again: tifffile's one check, at the 100th page, misses it and walks it for ever."""
    path = looping_tiff(tmp_path / "loop.tif", 100, back_to=0)
    with failing_after(20), pytest.raises(ImageReadError, match="its TIFF pages loop back to an earlier one"):
        read_image(path)


def test_a_short_loop_of_tiff_pages_is_read_as_tifffile_ends_it(tmp_path):
    """A single page whose offset to the next points to itself: tifffile ends the chain there, Pillow reads it, and so
    did we before the loop check, which refused it (only a loop closing after 100 pages is walked for ever)."""
    samples = random_samples(3, 8)
    path = tmp_path / "self.tif"
    tifffile.imwrite(path, samples, photometric="rgb", metadata=None)
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.offset
    data = bytearray(path.read_bytes())
    (tags,) = struct.unpack_from("<H", data, offset)
    struct.pack_into("<I", data, offset + 2 + 12 * tags, offset)
    np.testing.assert_array_equal(decoded_samples(read_image(write(path, bytes(data)))), samples)
    many = looping_tiff(tmp_path / "loop.tif", 50, back_to=20)  # 50 pages: multi-frame, said as for any other
    with pytest.raises(ImageReadError, match=r"loop\.tif: has \d+ pages; multi-frame images are not supported$"):
        read_image(many)


def test_a_tiff_whose_first_page_offset_is_0_holds_no_image(tmp_path):
    path = tmp_path / "none.tif"
    tifffile.imwrite(path, random_samples(3, 8), photometric="rgb")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 4, 0)  # the header's offset of the first page
    with pytest.raises(ImageReadError) as refusal:
        read_image(write(path, bytes(data)))
    assert str(refusal.value) == f"{path}: TIFF holds no image"


def one_page_tiff(path: Path) -> tuple[bytearray, int]:
    """The bytes of a one-page 4x6 RGB TIFF written to ``path``, and where in them the offset to the next page is."""
    tifffile.imwrite(path, np.full((4, 6, 3), 9, np.uint8), photometric="rgb", metadata=None)
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.offset
    data = bytearray(path.read_bytes())
    (tags,) = struct.unpack_from("<H", data, offset)
    return data, offset + 2 + 12 * tags


def test_the_loop_check_stops_where_tifffile_does_at_a_page_of_more_than_4096_tags(tmp_path):
    """A next page claiming 5000 tags ends tifffile's chain, so the file is its one page, however the bytes beyond
    would chain on (here into a loop of 120 such pages, which the check would refuse)."""
    path = tmp_path / "bogus.tif"
    data, next_at = one_page_tiff(path)
    base = len(data) + len(data) % 2
    data.extend(bytes(base - len(data) + 4 * 120 + 60010))
    for i in range(120):
        struct.pack_into("<H", data, base + 4 * i, 5000)
        struct.pack_into("<I", data, base + 4 * i + 2 + 5000 * 12, base + 4 * (i + 1 if i < 119 else 10))
    struct.pack_into("<I", data, next_at, base)
    assert read_image(write(path, bytes(data))).rgb.shape == (4, 6, 3)


def test_a_next_page_cut_short_ends_the_chain_as_in_tifffile(tmp_path):
    """A next page whose tag count the file ends in the middle of: tifffile ends the chain there, and so must the
    loop check, not fail on the short read."""
    path = tmp_path / "short.tif"
    data, next_at = one_page_tiff(path)
    struct.pack_into("<I", data, next_at, len(data))
    data.append(0)  # one byte where the next page's tag count (two bytes) would be
    assert read_image(write(path, bytes(data))).rgb.shape == (4, 6, 3)


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("mode", ["CMYK", "P", "L"])
def test_uncompressed_tiff_read_by_pillow_is_turned_upright_once(tmp_path, mode, orientation):
    """Palette and CMYK TIFFs go to Pillow; uncompressed ones must come out as upright as the RGB ones."""
    samples = random_samples(3, 8)
    im = Image.fromarray(samples)
    im = im.quantize(32) if mode == "P" else im.convert(mode)
    expected = np.asarray(im.convert("L" if mode == "L" else "RGB"))
    im.save(tmp_path / "u.tif", tiffinfo={274: orientation})
    image = read_image(tmp_path / "u.tif")
    decoded = decoded_samples(image)
    np.testing.assert_array_equal(decoded[..., 0] if mode == "L" else decoded, apply_orientation(expected, orientation))


def test_tiff_orientation_is_applied_when_pillow_does_not(tmp_path, monkeypatch):
    """A Pillow that leaves TIFFs as stored (simulated): the reader turns them upright itself."""

    def leave_as_stored(image, *, in_place=False):
        if in_place:
            image._size = image.im.size
            return None
        return image.copy()

    samples = random_samples(3, 8)
    Image.fromarray(samples).convert("CMYK").save(tmp_path / "c6.tif", tiffinfo={274: 6})
    expected = np.asarray(Image.fromarray(samples).convert("CMYK").convert("RGB"))
    monkeypatch.setattr(ImageOps, "exif_transpose", leave_as_stored)
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "c6.tif")), apply_orientation(expected, 6))


def lzw_compressed(path: Path) -> Path:
    """Rewrite every page of an uncompressed, one-strip-a-page TIFF with TIFF LZW compression (literal codes, the
    table cleared every 200 bytes so that codes stay 9 bits wide): a common TIFF compression, which tifffile
    decodes and encodes only with the optional imagecodecs package (which may be missing, so not used here)."""

    def encode(data: bytes) -> bytes:
        codes = [code for start in range(0, len(data), 200) for code in (256, *data[start : start + 200])] + [257]
        bits = "".join(f"{code:09b}" for code in codes)
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big")

    with tifffile.TiffFile(path, mode="r+b") as tif:
        handle = tif.filehandle
        for page in tif.pages:
            assert page.compression == 1 and len(page.dataoffsets) == 1
            handle.seek(page.dataoffsets[0])
            data = encode(handle.read(page.databytecounts[0]))
            handle.seek(0, 2)
            offset = handle.tell()
            handle.write(data)
            page.tags["Compression"].overwrite(5)
            page.tags["StripOffsets"].overwrite(offset)
            page.tags["StripByteCounts"].overwrite(len(data))
    return path


@pytest.fixture
def without_imagecodecs(monkeypatch):
    """tifffile as installed without the optional imagecodecs package: LZW, JPEG and the like are not decoded."""
    import tifffile.tifffile as module

    fallback = pytest.importorskip("tifffile._imagecodecs")
    monkeypatch.setattr(module, "imagecodecs", fallback)
    monkeypatch.setattr(module.TIFF.DECOMPRESSORS, "_codecs", {1: module.identityfunc})  # forget resolved codecs


def write_tiff(path: Path, pages: list[tuple[np.ndarray, int]], lzw: bool = False, **options) -> Path:
    """A TIFF of (samples, NewSubfileType) pages, one strip each, LZW-compressed if asked."""
    with tifffile.TiffWriter(path) as tif:
        for samples, subfiletype in pages:
            tif.write(samples, subfiletype=subfiletype, rowsperstrip=samples.shape[0], **options)
    return lzw_compressed(path) if lzw else path


def test_a_damaged_page_of_a_tiff_pillow_reads_is_one_line_never_a_traceback(tmp_path):
    """A two-page CMYK TIFF (read by Pillow) cut short anywhere in its second page, as a download cut short: parsing
    that page's tags raised TypeError, SyntaxError, ... inside Pillow. The file is one ImageReadError naming it, so
    that a batch goes on with the next file, or, where what is left holds one whole page, that page."""
    cmyk = random_samples(4, 8)
    expected = np.asarray(Image.fromarray(cmyk, mode="CMYK").convert("RGB"))
    path = write_tiff(tmp_path / "two.tif", [(cmyk, 0), (cmyk[:5, :7], 0)], lzw=True, photometric="separated")
    data = path.read_bytes()
    with tifffile.TiffFile(path) as tif:
        second = tif.pages[1].offset  # where the second page's tags start
    cut, errors = tmp_path / "cut.tif", 0
    for length in range(second, len(data)):
        cut.write_bytes(data[:length])
        try:
            image = read_image(cut)
        except ImageReadError as error:
            errors += 1
            assert str(error).startswith(f"{cut}: ") and "\n" not in str(error), length
        else:
            np.testing.assert_array_equal(decoded_samples(image), expected, err_msg=str(length))
    assert errors


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_sixteen_bit_lzw_tiff_is_refused_without_imagecodecs_rather_than_read_at_eight_bits(
    tmp_path, without_imagecodecs, channels
):
    """Pillow reads 16-bit RGB(A) at 8 bits (and 16-bit grey + alpha not at all): the file is refused, naming the
    package that reads it, rather than written back 8-bit."""
    samples = random_samples(channels, 16)
    extrasamples = ("unassalpha",) if channels in (2, 4) else None
    photometric = "minisblack" if channels == 2 else "rgb"
    path = write_tiff(
        tmp_path / "lzw16.tif", [(samples, 0)], lzw=True, photometric=photometric, extrasamples=extrasamples
    )
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "16 bits" in message and "golfdeblur[tiff]" in message
    assert "imagecodecs" in message and "\n" not in message


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_sixteen_bit_lzw_tiff_is_read_at_sixteen_bits_with_imagecodecs(tmp_path, channels):
    pytest.importorskip("imagecodecs")
    samples = random_samples(channels, 16)
    extrasamples = ("unassalpha",) if channels in (2, 4) else None
    photometric = "minisblack" if channels in (1, 2) else "rgb"
    path = write_tiff(
        tmp_path / "lzw16.tif", [(samples, 0)], lzw=True, photometric=photometric, extrasamples=extrasamples
    )
    image = read_image(path)
    assert image.bit_depth == 16 and image.greyscale == (channels in (1, 2))
    np.testing.assert_array_equal(decoded_samples(image), samples)


def test_sixteen_bit_grey_lzw_tiff_is_read_at_sixteen_bits_without_imagecodecs(tmp_path, without_imagecodecs):
    samples = random_samples(1, 16)
    path = write_tiff(tmp_path / "g16.tif", [(samples[..., 0], 0)], lzw=True, photometric="minisblack")
    image = read_image(path)  # by Pillow, which keeps 16-bit greyscale
    assert image.bit_depth == 16 and image.greyscale
    np.testing.assert_array_equal(decoded_samples(image), samples)


def test_a_tiff_neither_tifffile_nor_pillow_decodes_without_imagecodecs_names_the_package(
    tmp_path, without_imagecodecs
):
    """A big-endian 16-bit min-is-white LZW TIFF: tifffile needs imagecodecs for LZW, Pillow does not know the mode.
    The error said "not an image file", which hid what would read it."""
    path = tmp_path / "white16.tif"
    tifffile.imwrite(path, random_samples(1, 16)[..., 0], byteorder=">", photometric="miniswhite", rowsperstrip=H)
    with pytest.raises(ImageReadError) as info:
        read_image(lzw_compressed(path))
    assert str(info.value) == (
        f"{path}: this LZW-compressed TIFF needs the optional imagecodecs package (pip install 'golfdeblur[tiff]') "
        "(Pillow: not an image file (or a format Pillow does not know))"
    )


def test_a_zstd_tiff_whose_codec_tifffile_cannot_import_goes_to_pillow(tmp_path, monkeypatch):
    """Without imagecodecs, tifffile decodes Zstandard with the standard library's compression.zstd, which Python
    3.13 and older lack: the ModuleNotFoundError read as "truncated or corrupt image data (No module named
    'compression')"."""
    pytest.importorskip("imagecodecs")  # to write it
    import tifffile.tifffile as module

    samples = random_samples(1, 16)[..., 0]
    path = tmp_path / "zstd.tif"
    tifffile.imwrite(path, samples, compression="zstd")

    def no_zstd(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'compression'")

    monkeypatch.setitem(module.TIFF.DECOMPRESSORS._codecs, int(tifffile.COMPRESSION.ZSTD), no_zstd)
    try:
        image = read_image(path)  # by Pillow, where its libtiff has Zstandard (Pillow 13's wheels; not 11.0's)
    except ImageReadError as error:
        assert str(error).startswith(f"{path}: this ZSTD-compressed TIFF needs the optional imagecodecs package")
    else:
        assert image.bit_depth == 16 and image.greyscale
        np.testing.assert_array_equal(decoded_samples(image)[..., 0], samples)


def test_a_zstd_tiff_whose_codec_tifffile_cannot_import_and_pillow_cannot_read_names_imagecodecs(tmp_path, monkeypatch):
    """The ImportError tifffile raises at decoding, as its missing codec at the header: the package that reads it is
    named, not "truncated or corrupt image data"."""
    pytest.importorskip("imagecodecs")  # to write it
    import tifffile.tifffile as module

    path = tmp_path / "white16.tif"
    tifffile.imwrite(path, random_samples(1, 16)[..., 0], byteorder=">", photometric="miniswhite", compression="zstd")

    def no_zstd(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'compression'")

    monkeypatch.setitem(module.TIFF.DECOMPRESSORS._codecs, int(tifffile.COMPRESSION.ZSTD), no_zstd)
    with pytest.raises(ImageReadError) as info:
        read_image(path)  # Pillow does not know big-endian 16-bit min-is-white
    assert str(info.value).startswith(f"{path}: this ZSTD-compressed TIFF needs the optional imagecodecs package")


@pytest.mark.parametrize("photometric", ["minisblack", "miniswhite"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_turned_sixteen_bit_grey_lzw_tiff_is_read_upright_without_imagecodecs(
    tmp_path, without_imagecodecs, orientation, photometric
):
    """Read by Pillow. Such a file with orientation 5-8 was refused ("cannot turn this compressed 16-bit TIFF
    upright") for a Pillow mis-rotation that opening the file by handle avoids (Pillow 11.0 and 13)."""
    samples = random_samples(1, 16)[..., 0]
    path = tmp_path / "turned.tif"
    tags = [(274, 3, 1, orientation, False)]
    tifffile.imwrite(path, samples, photometric=photometric, rowsperstrip=H, extratags=tags)
    image = read_image(lzw_compressed(path))
    stored = samples if photometric == "minisblack" else 65535 - samples
    assert image.bit_depth == 16 and image.greyscale
    np.testing.assert_array_equal(decoded_samples(image)[..., 0], apply_orientation(stored, orientation))


def test_sixteen_bit_cmyk_tiff_is_refused_rather_than_read_at_eight_bits(tmp_path):
    path = write_tiff(tmp_path / "cmyk16.tif", [(random_samples(4, 16), 0)], photometric="separated")
    with pytest.raises(ImageReadError, match=r"cmyk16.tif: 16-bit CMYK TIFF is not supported: .* 8 bits"):
        read_image(path)


@pytest.mark.parametrize("codecs", ["as installed", "missing"])
def test_reduced_tiff_pages_are_left_out_by_pillow_too(tmp_path, request, codecs):
    """Palette, CMYK and (without imagecodecs) LZW TIFFs go to Pillow, which must take the full page as tifffile does:
    a thumbnail or mask before or after it is no reason to refuse the file, and is not the image."""
    if codecs == "missing":
        request.getfixturevalue("without_imagecodecs")
    cmyk = random_samples(4, 8)
    expected = np.asarray(Image.fromarray(cmyk, mode="CMYK").convert("RGB"))
    thumb = random_samples(4, 8, shape=(5, 7))
    mask = random_samples(1, 8)[..., 0] > 127
    for name, pages in {
        "thumb-first": [(thumb, 1), (cmyk, 0)],
        "thumb-after": [(cmyk, 0), (thumb, 1), (mask, 4)],
    }.items():
        path = tmp_path / f"{name}.tif"
        with tifffile.TiffWriter(path) as tif:
            for samples, subfiletype in pages:
                tif.write(samples, subfiletype=subfiletype, photometric="separated" if samples.ndim == 3 else None)
        np.testing.assert_array_equal(decoded_samples(read_image(path)), expected, err_msg=name)
    rgb = random_samples(3, 8)
    write_tiff(tmp_path / "lzw.tif", [(rgb[:5, :7], 1), (rgb, 0)], lzw=True, photometric="rgb")
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "lzw.tif")), rgb)
    write_tiff(tmp_path / "two.tif", [(cmyk, 0), (thumb, 0)], photometric="separated")
    with pytest.raises(ImageReadError, match="two.tif: has 2 pages; multi-frame images are not supported"):
        read_image(tmp_path / "two.tif")


def premultiplied_tiff(path: Path, channels: int, depth: int, lzw: bool = False) -> tuple[Path, np.ndarray]:
    """A TIFF with associated (premultiplied) alpha, and its straight samples, chosen so that the premultiplied ones
    are whole numbers: alpha is top / k for k in 1, 3, 5, 15 (or 0), the straight colours multiples of top / 17
    (255 = 3 * 5 * 17, 65535 = 255 * 257)."""
    top = 65535 if depth == 16 else 255
    dtype = np.uint16 if depth == 16 else np.uint8
    alpha = np.resize(np.array([top, top // 3, top // 5, top // 15, 0], np.int64), (H, W))
    fraction = np.where(alpha[..., None] > 0, RNG.integers(0, 18, size=(H, W, channels - 1)), 0)  # 0..17 of 17
    straight = fraction * (top // 17)
    stored = straight * alpha[..., None] // top
    assert np.array_equal(stored * top // np.maximum(alpha[..., None], 1), straight)
    samples = np.concatenate([stored, alpha[..., None]], axis=2).astype(dtype)
    photometric = "minisblack" if channels == 2 else "rgb"
    write_tiff(path, [(samples, 0)], lzw=lzw, photometric=photometric, extrasamples=("assocalpha",))
    return path, np.concatenate([straight, alpha[..., None]], axis=2).astype(dtype)


@pytest.mark.parametrize(
    "channels, depth, reader", [(2, 8, "tifffile"), (4, 8, "tifffile"), (2, 16, "tifffile"), (4, 16, "tifffile"),
                                (4, 8, "pillow")]  # Pillow 10.1 did not open grey + associated alpha
)  # fmt: skip
def test_associated_alpha_is_divided_out_and_written_back_as_straight_colours(
    tmp_path, request, channels, depth, reader
):
    """Premultiplied colours are divided by alpha when read, and written back straight, tagged unassociated."""
    if reader == "pillow":  # an LZW TIFF without imagecodecs
        request.getfixturevalue("without_imagecodecs")
    path, straight = premultiplied_tiff(tmp_path / "assoc.tif", channels, depth, lzw=reader == "pillow")
    image = read_image(path)
    assert image.greyscale == (channels == 2) and image.bit_depth == depth
    np.testing.assert_array_equal(decoded_samples(image), straight)
    with tifffile.TiffFile(write_image(tmp_path / "out.tif", image)) as written:
        assert written.pages[0].extrasamples == (2,)  # unassociated: the straight colours written
        np.testing.assert_array_equal(written.asarray(), straight)


@pytest.mark.parametrize("channels, depth", [(2, 8), (4, 8), (2, 16), (4, 16)])
def test_an_unspecified_extra_tiff_sample_is_not_alpha(tmp_path, channels, depth):
    samples = random_samples(channels, depth)
    photometric = "minisblack" if channels == 2 else "rgb"
    path = tmp_path / "extra.tif"
    tifffile.imwrite(path, samples, photometric=photometric, extrasamples=("unspecified",))
    image = read_image(path)
    assert image.alpha is None and image.greyscale == (channels == 2) and image.bit_depth == depth
    np.testing.assert_array_equal(decoded_samples(image), samples[..., :-1])


# ------------------------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("depth", [8, 16])
def test_planar_tiff_channels_are_read_in_place(tmp_path, depth):
    """PlanarConfiguration 2 (one plane a channel, axes SYX) gives the same picture as interleaved samples."""
    samples = random_samples(3, depth, shape=(6, 7))
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(samples, -1, 0), photometric="rgb", planarconfig="separate")
    with tifffile.TiffFile(tmp_path / "planar.tif") as tif:
        assert tif.series[0].axes == "SYX"
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "planar.tif")), samples)


def test_tiff_alpha_is_the_alpha_extra_sample_after_an_unspecified_one(tmp_path):
    samples = random_samples(5, 8, shape=(6, 7))  # RGB, an unspecified sample, unassociated alpha
    tifffile.imwrite(tmp_path / "x.tif", samples, photometric="rgb", extrasamples=(0, 2))
    image = read_image(tmp_path / "x.tif")
    np.testing.assert_array_equal(image.alpha, samples[..., 4])
    np.testing.assert_array_equal(decoded_samples(image)[..., :3], samples[..., :3])


def test_min_is_white_grey_with_associated_alpha_is_divided_then_inverted(tmp_path):
    """Stored 50 with alpha 100: the min-is-white value 50 / 100 of full coverage is 0.5, so grey 0.5 (inverting
    before dividing would give 205 / 100, clipped to white, then black)."""
    samples = np.zeros((2, 3, 2), np.uint8)
    samples[..., 0], samples[..., 1] = 50, 100
    tifffile.imwrite(tmp_path / "mwa.tif", samples, photometric="miniswhite", extrasamples=("assocalpha",))
    image = read_image(tmp_path / "mwa.tif")
    np.testing.assert_allclose(image.rgb * 255, 127.5, atol=1e-3)
    np.testing.assert_array_equal(image.alpha, samples[..., 1])


def test_associated_alpha_colours_over_the_alpha_are_clipped_and_transparent_ones_black(tmp_path):
    """A damaged premultiplied file: red 200 under alpha 100 would be 2.0 divided out (clipped to 1), and a colour
    under alpha 0 has no meaning (black)."""
    samples = np.array([[[200, 10, 20, 100], [80, 60, 40, 0]]] * 2, np.uint8)
    tifffile.imwrite(tmp_path / "pm.tif", samples, photometric="rgb", extrasamples=("assocalpha",))
    rgb = read_image(tmp_path / "pm.tif").rgb
    assert rgb.max() == 1.0 and rgb[0, 0].tolist() == pytest.approx([1.0, 0.1, 0.2])
    assert rgb[:, 1].tolist() == [[0.0, 0.0, 0.0]] * 2


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def truncated_png(tmp_path: Path) -> Path:
    path = tmp_path / "cut.png"
    Image.fromarray(random_samples(3, 8, shape=(64, 64))).save(path)
    path.write_bytes(path.read_bytes()[:300])
    return path


def huge_header_png(tmp_path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims a huge size but holds almost no data: decoding it would fail or explode."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(bytes(1000))
    chunks = [(b"IHDR", ihdr), (b"IDAT", data), (b"IEND", b"")]
    body = b"".join(
        struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF) for k, d in chunks
    )
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def link(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: write(d / "empty.png", b""), "empty file (0 bytes)"),
        (truncated_png, "truncated or corrupt image data (image file is truncated"),  # Pillow's own reason
        (lambda d: write(d / "text.png", b"hello, I am text\n"), "not an image file"),
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: link(d / "dangling.png", "missing.png"), "a link to no file"),
        (lambda d: link(d / "loop.png", "loop.png"), "a link to no file"),
        (lambda d: d, "is a folder"),
        (lambda d: huge_header_png(d, 20_000, 20_000), "over the limit of 100,000,000"),
    ],
)
def test_bad_input_gives_one_line_naming_file_and_reason(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_pixel_limit_is_checked_from_the_header_and_is_configurable(tmp_path):
    small = tmp_path / "s.png"
    Image.fromarray(random_samples(3, 8)).save(small)
    with pytest.raises(ImageReadError, match="over the limit of 100"):
        read_image(small, max_pixels=100)
    assert read_image(small, max_pixels=H * W).rgb.shape == (H, W, 3)
    # Over Pillow's own bomb limit (2 x 89 MP) but within ours: no DecompressionBombError, the real reason shows.
    path = huge_header_png(tmp_path, 15_000, 15_000)
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(path, max_pixels=None)


def test_pixel_limit_holds_for_tiff_read_by_tifffile(tmp_path):
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((10, 20), np.uint8), photometric="minisblack")
    with pytest.raises(ImageReadError, match=r"t.tif: 20x10 = 200 pixels is over the limit of 100$"):
        read_image(tmp_path / "t.tif", max_pixels=100)


def test_extra_tiff_samples_count_against_the_pixel_limit(tmp_path, monkeypatch):
    """A TIFF's pixels may carry any number of extra samples: 3 MB of zlib made 8000x8000 pixels (within the limit) of
    48 samples, 3 GB decoded. The limit allows what that many RGBA pixels at 16 bits take, and no more."""
    path = tmp_path / "extra.tif"
    tifffile.imwrite(path, np.zeros((64, 32, 16), np.uint8), photometric="rgb", extrasamples=[0] * 13)
    assert read_image(path, max_pixels=64 * 32 * 2).rgb.shape == (64, 32, 3)  # 16 bytes a pixel: 8 for 2 pixels

    def decoded(self, *args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", decoded)
    with pytest.raises(ImageReadError) as refusal:
        read_image(path, max_pixels=64 * 32)
    assert str(refusal.value) == (
        f"{path}: 32x64 pixels of 16 8-bit samples decode to 32,768 bytes, over the 16,384 that the limit of 2,048 "
        "pixels allows at 4 16-bit samples a pixel"
    )
    monkeypatch.undo()
    rgba = random_samples(4, 16, shape=(64, 32))  # the most a pixel holds that we keep: read up to the limit
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    np.testing.assert_array_equal(decoded_samples(read_image(tmp_path / "rgba.tif", max_pixels=64 * 32)), rgba)


def test_extra_tiff_samples_are_read_without_a_pixel_limit(tmp_path):
    # max_pixels None (--max-pixels 0) turns the limit off, the decoded size's too
    path = tmp_path / "extra.tif"
    tifffile.imwrite(path, np.zeros((64, 32, 16), np.uint8), photometric="rgb", extrasamples=[0] * 13)
    assert read_image(path, max_pixels=None).rgb.shape == (64, 32, 3)


def test_sixteen_bit_extra_tiff_samples_count_two_bytes_each_against_the_pixel_limit(tmp_path, monkeypatch):
    # 5 16-bit samples a pixel decode to 10 bytes, over the 8 of 16-bit RGBA: refused before decoding
    path = tmp_path / "extra16.tif"
    tifffile.imwrite(path, np.zeros((64, 32, 5), np.uint16), photometric="rgb", extrasamples=["unassalpha", 0])
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", lambda *args, **kwargs: pytest.fail("decoded"))
    with pytest.raises(ImageReadError) as refusal:
        read_image(path, max_pixels=64 * 32)
    assert str(refusal.value).startswith(
        f"{path}: 32x64 pixels of 5 16-bit samples decode to 20,480 bytes, over the 16,384 that the limit"
    )


@pytest.mark.parametrize("ext", [".tif", ".png"])
def test_running_out_of_memory_while_decoding_is_said_so_not_called_corrupt(tmp_path, monkeypatch, ext):
    path = tmp_path / f"big{ext}"
    write_image(path, ImageData(np.zeros((8, 8, 3), np.float32)))
    shortage = MemoryError("Unable to allocate 11.9 GiB for an array with shape (8000, 8000, 200) and data type uint8")

    def short_of_memory(self, *args, **kwargs):
        raise shortage

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", short_of_memory)  # TIFF: tifffile
    monkeypatch.setattr(ImageFile.ImageFile, "load", short_of_memory)  # PNG: Pillow
    with pytest.raises(ImageReadError) as refusal:
        read_image(path)
    assert str(refusal.value) == f"{path}: out of memory decoding the image ({shortage})"


def test_reading_leaves_pillows_global_settings_as_they_were(tmp_path, monkeypatch):
    """The bomb limit and LOAD_TRUNCATED_IMAGES are set aside while reading only, also when the read fails: other
    users of Pillow in the process keep theirs."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1234)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    Image.fromarray(random_samples(3, 8, shape=(40, 40))).save(tmp_path / "big.png")  # over 1234 pixels
    assert read_image(tmp_path / "big.png").size == (40, 40)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (1234, True)
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(truncated_png(tmp_path))  # decoded as half grey if our False had not been in force
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (1234, True)


def test_float_and_multi_frame_images_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", RNG.random((H, W, 3), dtype=np.float32), photometric="rgb")
    with pytest.raises(ImageReadError, match="float32 samples are not supported"):
        read_image(tmp_path / "f.tif")
    Image.fromarray(RNG.random((H, W), dtype=np.float32), mode="F").save(tmp_path / "f1.tif")
    with pytest.raises(ImageReadError, match="not supported"):
        read_image(tmp_path / "f1.tif")
    frames = [Image.fromarray(random_samples(3, 8)) for _ in range(2)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match="has 2 frames"):
        read_image(tmp_path / "anim.png")
    tifffile.imwrite(tmp_path / "pages.tif", random_samples(3, 16, shape=(2, H, W)), photometric="rgb")
    with pytest.raises(ImageReadError, match="pages.tif: has 2 pages; multi-frame"):
        read_image(tmp_path / "pages.tif")
    frames[0].save(tmp_path / "pillow_pages.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match="pillow_pages.tif: has 2 pages; multi-frame"):
        read_image(tmp_path / "pillow_pages.tif")


def test_signed_and_sixteen_bit_palette_tiff_are_refused_for_what_they_are(tmp_path):
    """Refused with their own reason, not 'unsupported image mode I' or 'not an image file' (Pillow's view)."""
    grey = RNG.integers(0, 256, size=(H, W))
    tifffile.imwrite(tmp_path / "signed.tif", (grey - 128).astype(np.int16), photometric="minisblack")
    with pytest.raises(ImageReadError, match=r"signed.tif: int16 samples are not supported \(8- or 16-bit unsigned"):
        read_image(tmp_path / "signed.tif")
    colormap = np.zeros((3, 65536), np.uint16)
    colormap[:, :256] = np.arange(256) * 257
    tifffile.imwrite(tmp_path / "pal16.tif", grey.astype(np.uint16), photometric="palette", colormap=colormap)
    with pytest.raises(ImageReadError, match=r"pal16.tif: 16-bit palette TIFF is not supported \(8- and 16-bit"):
        read_image(tmp_path / "pal16.tif")


def test_thirty_two_bit_integer_tiff_is_refused_for_what_it_is(tmp_path):
    tifffile.imwrite(tmp_path / "u32.tif", np.zeros((4, 6), np.uint32), photometric="minisblack")
    with pytest.raises(ImageReadError, match=r"u32.tif: uint32 samples are not supported \(8- or 16-bit unsigned"):
        read_image(tmp_path / "u32.tif")


def test_a_gif_is_refused_naming_its_format(tmp_path):
    Image.fromarray(random_samples(3, 8, shape=(4, 6))).quantize(8).save(tmp_path / "a.gif")
    with pytest.raises(ImageReadError, match=r"a.gif: GIF images are not supported \(PNG, JPEG, TIFF"):
        read_image(tmp_path / "a.gif")


@pytest.mark.parametrize("ext, side", [(".webp", 16_384), (".jpg", 65_501)])
def test_a_side_over_the_format_limit_is_refused_before_writing(tmp_path, ext, side):
    image = ImageData(np.zeros((1, side, 3), np.float32))
    with pytest.raises(ImageWriteError, match=f"{side}x1 is over .* limit of {side - 1:,} pixels a side"):
        check_writable(tmp_path / f"wide{ext}", image)  # the deblur command asks before computing
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / f"wide{ext}", image)
    assert list(tmp_path.iterdir()) == []
    check_writable(tmp_path / f"fits{ext}", ImageData(np.zeros((1, side - 1, 3), np.float32)))


@pytest.mark.parametrize("error", [ValueError("encoding error 5: too big\nsecond line"), RuntimeError("x265")])
def test_any_encoder_error_is_one_line_naming_the_file(tmp_path, monkeypatch, error):
    def fail(self, fp, *args, **kwargs):
        fp.write(b"half")  # the encoding, in memory, is cut short
        raise error

    monkeypatch.setattr(Image.Image, "save", fail)
    target = tmp_path / "x.webp"
    with pytest.raises(ImageWriteError) as info:
        write_image(target, image_data(3, 8)[0])
    message = str(info.value)
    assert message.startswith(f"{target}: cannot write as WEBP (") and "\n" not in message
    assert str(error).splitlines()[0] in message
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_unknown_extension_is_refused_when_writing(tmp_path):
    image, _ = image_data(3, 8)
    with pytest.raises(ImageWriteError, match="extension '.gif'"):
        write_image(tmp_path / "a.gif", image)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_neither_a_partial_file_nor_the_old_one_damaged(tmp_path, monkeypatch):
    image, _ = image_data(3, 8)
    target = write_image(tmp_path / "x.png", image)
    original = target.read_bytes()

    def save_half_then_fail(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, ImageData(1 - image.rgb))
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "new.png", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"] and target.read_bytes() == original


def packed_tiff(path: Path, samples: np.ndarray, bits: int) -> Path:
    """An uncompressed TIFF of (H, W, C) integer samples packed at ``bits`` bits each (rows padded to whole bytes, the
    most significant bit first), as scanners write 12-bit files: tifffile writes packed samples only with imagecodecs
    and its newer versions, so the bytes are packed here and the tags set afterwards."""
    height, width, channels = samples.shape
    rows = []
    for row in samples.reshape(height, width * channels).astype(np.int64):
        text = "".join(f"{value:0{bits}b}" for value in row)
        text += "0" * (-len(text) % 8)
        rows.append(np.frombuffer(int(text, 2).to_bytes(len(text) // 8, "big"), np.uint8))
    tifffile.imwrite(path, np.stack(rows), photometric="minisblack", rowsperstrip=height, metadata=None)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tags = tif.pages[0].tags
        tags["ImageWidth"].overwrite(width)
        tags["BitsPerSample"].overwrite((bits,) * channels if channels > 1 else bits)
        tags["SamplesPerPixel"].overwrite(channels)
        tags["PhotometricInterpretation"].overwrite(2 if channels == 3 else 1)
    return path


@pytest.mark.parametrize(("bits", "channels"), [(2, 1), (4, 1), (4, 3), (12, 1), (12, 3), (14, 3)])
def test_tiff_of_fewer_bits_than_its_container_reads_at_full_range(tmp_path, bits, channels):
    """tifffile unpacks 2- and 4-bit samples into uint8 and 12- and 14-bit ones into uint16 at their own range
    (white is 15 or 4095): they read as the picture they are, white as 1.0, not nearly black."""
    top = (1 << bits) - 1
    samples = RNG.integers(0, top + 1, size=(H, W, channels))
    samples[0, 0], samples[0, 1] = 0, top
    image = read_image(packed_tiff(tmp_path / f"b{bits}.tif", samples, bits))
    assert image.bit_depth == (16 if bits > 8 else 8) and image.greyscale == (channels == 1)
    colour = image.rgb[..., :1] if channels == 1 else image.rgb
    np.testing.assert_allclose(colour * top, samples, atol=0.5 * top / (65535 if bits > 8 else 255) + 1e-3)
    assert colour[0, 0].max() == 0 and colour[0, 1].min() == 1


def test_twelve_bit_lzw_tiff_is_refused_without_imagecodecs_rather_than_read_nearly_black(
    tmp_path, without_imagecodecs
):
    path = lzw_compressed(packed_tiff(tmp_path / "b12.tif", RNG.integers(0, 4096, size=(H, W, 1)), 12))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: reading this 12-bit LZW-compressed TIFF") and "golfdeblur[tiff]" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_at_once_not_opened(tmp_path):
    """open() on a FIFO with no writer blocks for good: a batch of photos with one in its folder hung."""
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageReadError, match=r"pipe.png: not a regular file \(a pipe, socket or device\)"):
        read_image(tmp_path / "pipe.png")


_WRITE_UNDER_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from golfdeblur.data.image_data import ImageData, ImageWriteError
from golfdeblur.data.image_writing import write_image
target, limit = Path(sys.argv[1]), int(sys.argv[2])
rgb = np.random.default_rng(0).random((160, 200, 3), dtype=np.float32)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) rather than killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    write_image(target, ImageData(rgb))
except ImageWriteError as error:
    print(error)
    sys.exit(1)
"""


@pytest.mark.parametrize("ext", [".bmp", ".jpg", ".png", ".webp"])
def test_a_write_cut_short_by_a_full_disk_is_an_error_not_a_truncated_file(tmp_path, ext):
    """Pillow's JPEG and BMP encoders wrote to the file's descriptor and ignored a short write: on a full disk (here a
    file size limit, which cuts a write short alike) deblur published a cut-off image, replacing a good one, rc 0."""
    import subprocess
    import sys

    rgb = np.random.default_rng(0).random((160, 200, 3), dtype=np.float32)
    whole = write_image(tmp_path / f"whole{ext}", ImageData(rgb)).stat().st_size
    assert whole > 20_000  # random pixels compress badly: the limit (1,000 bytes short) cuts the last write short
    target = write_image(tmp_path / "out" / f"earlier{ext}", ImageData(1 - rgb))  # a good earlier result
    earlier = target.read_bytes()
    script = [sys.executable, "-c", _WRITE_UNDER_SIZE_LIMIT, str(target), str(whole - 1000)]
    result = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (1, f"{target}: cannot write (File too large)\n"), result.stderr
    assert list(target.parent.iterdir()) == [target] and target.read_bytes() == earlier  # nor a temporary left


@pytest.mark.parametrize("codecs", ["installed", "missing"])
def test_a_compression_no_codec_knows_is_not_blamed_on_imagecodecs(tmp_path, request, codecs):
    """A compression code tifffile does not know (34999): installing imagecodecs, or having it, changes nothing."""
    if codecs == "installed":
        pytest.importorskip("imagecodecs")
    else:
        request.getfixturevalue("without_imagecodecs")
    path = tmp_path / "unknown.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb", compression="zlib", metadata=None)
    with tifffile.TiffFile(path) as tif:
        where = tif.pages.first.tags[259].valueoffset  # the Compression tag's value
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, where, 34999)
    with pytest.raises(ImageReadError) as refusal:
        read_image(write(path, bytes(data)))
    assert str(refusal.value) == f"{path}: not an image file (or a format Pillow does not know)"


# ---------------------------------------------------------------------------------------------- read_image's limit


@pytest.mark.parametrize("limit", [0, -1, True, 1.5e8, "100"])
def test_a_pixel_limit_that_is_no_positive_whole_number_is_refused_before_the_file_is_read(tmp_path, limit):
    with pytest.raises(DeblurSettingsError) as refusal:
        read_image(tmp_path / "missing.png", max_pixels=limit)  # not "no such file": the setting is the error
    assert str(refusal.value) == f"max_pixels {limit!r}: must be a whole number of pixels, 1 or more (None: no limit)"


@pytest.mark.parametrize("name, hint", [(None, ""), ("--max-pixels", " (raise it with --max-pixels)")])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_the_over_limit_error_names_the_setting_only_when_its_caller_names_one(tmp_path, ext, name, hint):
    """The deblur command passes its option's name; eval, demo --real, make-pairs and train read with the default
    limit, which their users have no option to raise: their error ended "(raise it with max_pixels)"."""
    path = write_image(tmp_path / f"x{ext}", ImageData(np.full((H, W, 3), 0.5, np.float32)))
    with pytest.raises(ImageReadError) as refusal:
        read_image(path, 100, **({} if name is None else {"max_pixels_name": name}))
    assert str(refusal.value) == f"{path}: 17x13 = 221 pixels is over the limit of 100{hint}"
