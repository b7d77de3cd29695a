"""An image file's header: the upright size read_image would give, and its refusals, said before any decoding."""

import errno
import re
import struct

import numpy as np
import pytest
from PIL import Image

from golfdeblur.data import image_header
from golfdeblur.data.image_data import ImageReadError
from golfdeblur.data.image_header import header_size
from golfdeblur.data.imageio import read_image
from golfdeblur.data.sources import ImageFolder
from golfdeblur.errors import GolfdeblurError


def write(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def test_header_size_is_the_upright_size_and_refuses_what_reading_would(tmp_path):

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: stored 48 wide and 64 high, shown 64 wide and 48 high
    write(tmp_path / "turned.jpg", np.zeros((64, 48, 3), np.uint8), exif=exif.tobytes())
    assert header_size(tmp_path / "turned.jpg") == (48, 64)
    # a PNG may carry its eXIf chunk after the image data, where read_image still finds it and turns the image
    # upright: the size from the header must be the upright one too
    write(tmp_path / "turned.png", np.zeros((64, 48, 3), np.uint8), exif=exif.tobytes())
    late = move_png_chunk_last(tmp_path / "turned.png", b"eXIf")
    assert header_size(late) == (48, 64) == read_image(late).rgb.shape[:2]
    write(tmp_path / "float.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(GolfdeblurError, match="float.tif: 32-bit samples are not supported"):
        header_size(tmp_path / "float.tif")
    # a PNG whose header states 20000 x 6000 pixels: refused from the header, before a training epoch reads it
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 6000, 8, 2, 0, 0, 0))
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    with pytest.raises(GolfdeblurError, match="huge.png: 20000x6000 is over 100 megapixels"):
        ImageFolder(tmp_path / "big")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_header_size_is_read_image_s_size_for_every_exif_orientation(tmp_path, orientation):

    exif = Image.Exif()
    exif[0x0112] = orientation
    write(tmp_path / "photo.jpg", np.zeros((6, 10, 3), np.uint8), exif=exif.tobytes())
    expected = (10, 6) if orientation >= 5 else (6, 10)  # 5 to 8 turn the image a quarter
    assert header_size(tmp_path / "photo.jpg") == expected == read_image(tmp_path / "photo.jpg").rgb.shape[:2]


def test_header_size_agrees_with_read_image_and_says_why_not_in_one_line(tmp_path):
    """The size of the page read_image reads (not a thumbnail stored first, whichever library reads the TIFF), the
    pixel limit's own line for a header over Pillow's bomb limit, and one line for any decoder's exception."""
    import tifffile

    from golfdeblur.data.image_formats import AVIF_AVAILABLE

    rng = np.random.default_rng(0)
    for name, photometric, channels in (("rgb.tif", "rgb", 3), ("cmyk.tif", "separated", 4)):  # tifffile, Pillow
        with tifffile.TiffWriter(tmp_path / name) as tif:
            tif.write(rng.integers(0, 256, (5, 7, channels), dtype=np.uint8), photometric=photometric, subfiletype=1)
            tif.write(rng.integers(0, 256, (20, 30, channels), dtype=np.uint8), photometric=photometric)
        assert header_size(tmp_path / name) == (20, 30) == read_image(tmp_path / name).size, name
    ihdr = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)  # 200 megapixels: over Pillow's 179 too
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b""))
    with pytest.raises(
        GolfdeblurError,
        match=f"^{re.escape(str(tmp_path / 'huge.png'))}: 20000x10000 is over 100 megapixels; scale it down",
    ):
        header_size(tmp_path / "huge.png")
    if AVIF_AVAILABLE:  # a damaged AVIF: Pillow's decoder raises RuntimeError
        write(tmp_path / "photo.avif", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        damaged = tmp_path / "damaged.avif"
        damaged.write_bytes((tmp_path / "photo.avif").read_bytes().replace(b"av1C", b"av1X", 1))
        with pytest.raises(GolfdeblurError) as info:
            header_size(damaged)
        message = str(info.value)
        assert message.startswith(f"{damaged}: not a readable image (") and "\n" not in message


def test_a_file_pillow_cannot_identify_that_cannot_be_read_again_is_one_line(tmp_path, monkeypatch):
    """Its first bytes are read again to name a missing codec: a file locked or removed meanwhile is still said in
    one line, as not an image, never a traceback."""
    path = tmp_path / "junk.png"
    path.write_bytes(b"not an image at all, just some bytes")

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(image_header, "open", unreadable, raising=False)  # the module's own reads only, not Pillow's
    with pytest.raises(GolfdeblurError) as refusal:
        image_header.header_size(path)
    assert str(refusal.value) == f"{path}: not an image file (or a format Pillow does not know)"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def move_png_chunk_last(path, kind: bytes):
    """Rewrite the PNG at ``path`` with its ``kind`` chunk moved to just before IEND; returns ``path``."""
    data, chunks, pos = path.read_bytes(), [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    moved = [c for c in chunks if c[4:8] == kind]
    kept = [c for c in chunks if c[4:8] != kind]
    assert moved and kept[-1][4:8] == b"IEND"
    path.write_bytes(data[:8] + b"".join(kept[:-1] + moved + kept[-1:]))
    return path


def test_header_size_of_a_turned_tiff_and_of_multi_frame_files_agrees_with_read_image(tmp_path):
    """Pillow opens a TIFF whose orientation tag is 5-8 with its size already upright (it must not be swapped
    twice), on either library's path; a file read_image refuses for its frames is refused from the header too."""
    import tifffile

    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)  # 20 high, 30 wide; shown 30 high, 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "turned8.tif", exif=exif)
    tifffile.imwrite(
        tmp_path / "turned16.tif", stored.astype(np.uint16) * 257, photometric="rgb", extratags=[(274, 3, 1, 6, False)]
    )
    for name in ("turned8.tif", "turned16.tif"):
        assert header_size(tmp_path / name) == (30, 20) == read_image(tmp_path / name).rgb.shape[:2], name
    frames = [Image.fromarray(stored), Image.fromarray(255 - stored)]
    frames[0].save(tmp_path / "moving.png", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name, what in (("moving.png", "2 frames"), ("pages.tif", "2 pages")):
        with pytest.raises(ImageReadError, match=f"{name}: has .*; multi-frame images are not supported"):
            read_image(tmp_path / name)
        with pytest.raises(
            GolfdeblurError,
            match=f"^{re.escape(str(tmp_path / name))}: has {what}; multi-frame images are not supported$",
        ):
            header_size(tmp_path / name)


def test_a_tiff_pillow_cannot_open_over_the_pixel_limit_is_refused_in_a_folders_words(tmp_path):
    """read_image's own message names deblur's --max-pixels, which training folders and show-data have not."""
    import tifffile

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((4, 4, 2), np.uint16), photometric="minisblack", extrasamples=("unassalpha",))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages.first.tags["ImageWidth"].overwrite(20000)
        tif.pages.first.tags["ImageLength"].overwrite(20000)
    with pytest.raises(GolfdeblurError) as refusal:
        header_size(path)
    assert (
        str(refusal.value) == f"{path}: 20000x20000 is over 100 megapixels; scale it down or leave it out of the folder"
    )
