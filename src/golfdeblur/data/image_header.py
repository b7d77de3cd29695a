"""What an image file's header says, without decoding its pixels: the upright size of the image ``read_image``
would read, and whether it would refuse the file (several frames, 32-bit samples, over the pixel limit, unreadable).
Folders of training images and GoPro-protocol frames check every file this way before an epoch starts."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from golfdeblur.data.image_formats import TIFF_SIGNATURES, unreadable_reason
from golfdeblur.data.image_metadata import EXIF_ORIENTATION
from golfdeblur.data.imageio import (
    DEFAULT_MAX_PIXELS,
    check_regular_file,
    pillow_limit_disabled,
    read_image,
    seek_the_one_frame,
)
from golfdeblur.data.tiff_reading import tiff_page_to_read
from golfdeblur.errors import GolfdeblurError


def _header_orientation(image: Image.Image, path: Path) -> int:
    """The EXIF orientation of an opened image, without decoding its pixels (JPEG and TIFF state it in the header;
    a PNG's eXIf chunk may come after the image data, where Pillow would decode the whole image to reach it)."""
    if image.format in ("JPEG", "MPO", "TIFF"):
        exif = image.getexif()
    else:
        exif = Image.Exif()
        raw = image.info.get("exif") or (_late_png_exif(path) if image.format == "PNG" else None)
        if raw:
            exif.load(raw)
    value = exif.get(EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _late_png_exif(path: Path) -> bytes | None:
    """The data of a PNG's eXIf chunk, reached by seeking from chunk header to chunk header (nothing decoded);
    None if there is none."""
    with open(path, "rb") as handle:
        handle.seek(8)  # the signature
        while len(head := handle.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                return handle.read(length)
            if kind == b"IEND":
                break
            handle.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


def header_size(path: Path) -> tuple[int, int]:
    """(height, width) of the upright image (EXIF orientations 5 to 8 swap them, as ``read_image`` does), from an
    image file's header, without decoding the pixels. For a TIFF, that of the page ``read_image`` reads: the full
    image, not a thumbnail or pyramid level stored before it.

    A GolfdeblurError, one line, names the file now, not when it is read in the middle of an epoch, when it is
    unreadable (as ``read_image`` says it: a HEIC without pillow-heif names what to install), holds several frames or
    pages, holds 32-bit samples (all of which ``read_image`` refuses) or has more pixels than ``read_image`` reads
    (``DEFAULT_MAX_PIXELS``), or is no regular file (a named pipe, which Image.open would wait on for good, a device
    or a folder named like an image: refused before any open).
    """
    check_regular_file(path)
    try:
        # Pillow's own decompression-bomb limit off (as read_image has it): the limit is ours, checked below.
        with pillow_limit_disabled(), Image.open(path) as image:
            seek_the_one_frame(path, image)  # as read_image: refuses several frames
            width, height = image.size
            mode, fmt = image.mode, image.format
            # Pillow opens a TIFF whose orientation is 5-8 with its size already swapped to the upright one
            orientation = 1 if fmt == "TIFF" else _header_orientation(image, path)
    except GolfdeblurError:
        raise
    except UnidentifiedImageError as exc:  # said as read_image says it: a codec not installed here is named
        head = _head(path)
        if head.startswith(TIFF_SIGNATURES):  # 16-bit grey + alpha, extra samples: read_image reads (tifffile) what
            _check_tiff_pixels(path)  # Pillow cannot open; decoded once here, such files being rare
            return read_image(path).rgb.shape[:2]
        raise GolfdeblurError(f"{path}: {unreadable_reason(head)}") from exc
    except Exception as exc:  # decoders raise anything on a damaged header (AVIF: RuntimeError); one line
        detail = (str(exc).splitlines() or [""])[0]
        raise GolfdeblurError(f"{path}: not a readable image ({exc.__class__.__name__}: {detail})") from exc
    if mode == "F" or (mode in ("I", "I;32") and fmt != "PNG"):  # Pillow opens an old 16-bit PNG as "I"
        raise GolfdeblurError(f"{path}: 32-bit samples are not supported (8- or 16-bit integers are)")
    _refuse_over_limit(path, width, height)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def _check_tiff_pixels(path: Path) -> None:
    """Refuse, as ``header_size`` words it, a TIFF whose page ``read_image`` reads has more pixels than it reads
    (its own message names deblur's --max-pixels, which folders of images have not)."""
    import tifffile

    try:
        index = tiff_page_to_read(path)[0]
        with tifffile.TiffFile(path) as tif:
            height, width = int(tif.pages[index].imagelength), int(tif.pages[index].imagewidth)
    except Exception:  # a damaged file: read_image, next, says so in its words
        return
    _refuse_over_limit(path, width, height)


def _refuse_over_limit(path: Path, width: int, height: int) -> None:
    """Refuse an image of more pixels than ``read_image`` reads, in words for a folder of images (no --max-pixels)."""
    if width * height > DEFAULT_MAX_PIXELS:
        raise GolfdeblurError(
            f"{path}: {width}x{height} is over {DEFAULT_MAX_PIXELS // 1_000_000} megapixels; scale it down or leave it "
            "out of the folder"
        )


def _head(path: Path) -> bytes:
    """The first 64 bytes of a file (fewer if it is shorter, none if it cannot be read now)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(64)
    except OSError:
        return b""
