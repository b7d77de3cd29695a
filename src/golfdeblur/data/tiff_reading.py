"""TIFF reading: :func:`read_tiff` decodes 8- and 16-bit greyscale, grey + alpha, RGB and RGBA TIFF with tifffile
(samples of fewer bits stretched to the depth that holds them, min-is-white inverted, associated alpha divided out,
orientation applied), and says when Pillow must read a file instead (:class:`TiffCodecMissing`, or None for palette,
CMYK and YCbCr). Whichever library decodes it, the page read is chosen by one rule (:func:`tiff_page_to_read`: the full
image, not a thumbnail or mask; a multi-page file is refused; a chain of pages that loops is refused before it is
walked), and the checks that Pillow's reading of a TIFF needs (:func:`check_pillow_tiff_depth`,
:func:`pillow_oriented_tiff`) live here too.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from golfdeblur.data.image_data import (
    ImageData,
    ImageReadError,
    OverPixelLimit,
    check_pixels,
    decode_failure,
    to_float_rgb,
)
from golfdeblur.data.image_formats import (
    PILLOW_8_BIT_MODES,
    TIFF_BITS_PER_SAMPLE,
    TIFF_ICC,
    TIFF_ORIENTATION,
    TIFF_PHOTOMETRIC,
    TIFF_RESOLUTION_UNIT,
    TIFF_X_RESOLUTION,
    TIFF_XMP,
    TIFF_Y_RESOLUTION,
)
from golfdeblur.data.image_metadata import (
    EXIF_ORIENTATION,
    apply_orientation,
    kept_icc,
    tiff_dpi,
    upright_dpi,
    upright_xmp,
)

if TYPE_CHECKING:
    import tifffile
    from PIL.TiffImagePlugin import TiffImageFile


# The tags kept from a TIFF page: orientation, XMP, ICC profile and resolution.
_TIFF_KEPT_TAGS = (TIFF_ORIENTATION, TIFF_XMP, TIFF_ICC, TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION, TIFF_RESOLUTION_UNIT)
# What reads the TIFFs that tifffile alone cannot, for the end of a refusal ("... needs <this>").
IMAGECODECS_HINT = "the optional imagecodecs package (pip install 'golfdeblur[tiff]')"


class TiffCodecMissing(Exception):
    """tifffile cannot decode this TIFF's compression here (imagecodecs, or the standard library's zstd, is
    missing): Pillow is asked instead, and if it cannot read it either, the error names the package that would."""

    def __init__(self, compression: str) -> None:
        super().__init__(compression)
        self.compression = compression


def tiff_page_to_read(path: Path) -> tuple[int, int, int]:
    """The top-level page of a TIFF that :func:`~golfdeblur.data.imageio.read_image` reads, as (its index, how many
    pages hold a full image, counting to 2 at most, how many pages there are), by one rule whichever library decodes
    it: the first page not marked (NewSubfileType) as a reduced-resolution copy (thumbnail, pyramid level) or a
    transparency mask, else the first page. The pages' tags are parsed by tifffile, which also parses the pages
    (masks) Pillow cannot."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        full = _tiff_full_pages(path, tif)
        return (full[0] if full else 0), len(full), len(tif.pages)


_TIFF_SUPPORTED = "8- and 16-bit greyscale, RGB and RGBA, and 8-bit palette, CMYK and YCbCr TIFF are supported"
_PHOTOMETRIC_NAMES = {0: "min-is-white", 1: "greyscale", 2: "RGB", 3: "palette", 5: "CMYK", 6: "YCbCr", 8: "CIELab"}


def check_pillow_tiff_depth(path: Path, im: TiffImageFile) -> None:
    """Refuse a TIFF of more than 8 bits a sample that Pillow would read at 8 (16-bit CMYK, palette, YCbCr or Lab;
    16-bit colour with a compression tifffile cannot decode, had it reached Pillow): never lose bit depth silently.
    Pillow keeps 16-bit greyscale ("I;16")."""
    bits = im.tag_v2.get(TIFF_BITS_PER_SAMPLE, (1,))
    depth = max(cast("tuple[int, ...]", bits if isinstance(bits, tuple) else (bits,)), default=1)
    if depth > 8 and im.mode in PILLOW_8_BIT_MODES:
        kind = _PHOTOMETRIC_NAMES.get(int(cast("int", im.tag_v2.get(TIFF_PHOTOMETRIC, -1))), "")
        raise ImageReadError(
            f"{path}: {depth}-bit {kind + ' ' if kind else ''}TIFF is not supported: Pillow, which reads it, would "
            f"give 8 bits ({_TIFF_SUPPORTED})"
        )


def pillow_oriented_tiff(
    im: TiffImageFile, orientation: int, stored: tuple[int | None, int | None] | None, loaded: tuple[int, ...]
) -> bool:
    """Whether Pillow already turned this loaded TIFF upright. Pillow (10.1 and later) removes the orientation tag
    once it has applied it; a 90-degree orientation also shows in the shape: (stored width, stored height) rows and
    columns when applied, (stored height, stored width) when not."""
    if orientation in (0, 1) or orientation > 8:
        return True
    if orientation >= 5 and stored is not None and None not in stored and stored[0] != stored[1]:
        return tuple(loaded) == (stored[1], stored[0])
    return EXIF_ORIENTATION not in im.tag_v2


def _check_decoded_size(
    path: Path, width: int, height: int, samples: int, itemsize: int, max_pixels: int | None
) -> None:
    """Refuse a TIFF whose samples decode to more bytes than ``max_pixels`` pixels of RGBA at 16 bits (8 bytes a
    pixel, the most of any image we keep): a TIFF may add any number of extra samples to each pixel (we drop those
    that are not alpha), and a few MB of zlib made 8000 x 8000 pixels of 200 samples, 12 GB decoded."""
    decoded = width * height * samples * itemsize
    if max_pixels is not None and decoded > max_pixels * 8:
        raise OverPixelLimit(
            f"{path}: {width}x{height} pixels of {samples} {8 * itemsize}-bit samples decode to {decoded:,} bytes, "
            f"over the {max_pixels * 8:,} that the limit of {max_pixels:,} pixels allows at 4 16-bit samples a pixel"
        )


def read_tiff(path: Path, max_pixels: int | None) -> ImageData | None:
    """8- and 16-bit greyscale (min-is-black or min-is-white), grey + alpha, RGB and RGBA TIFF through tifffile,
    orientation applied here; samples of fewer bits (2, 4, 12, 14) are scaled to the 8 or 16 bits that hold them.
    Associated alpha is divided out of the colours; extra samples that are not alpha are dropped.

    Refuses a file of more than one page (other than reduced-resolution pages and masks), whatever their sizes.
    Returns None for TIFFs that need a colour conversion (palette, CMYK, YCbCr), and raises ``TiffCodecMissing``
    for those it cannot decompress without the optional imagecodecs package (LZW, JPEG, ...): Pillow reads both
    kinds, but a 16-bit colour or grey + alpha one of the second kind is refused here, as Pillow would read it at 8
    bits or not at all.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            # Counted before tif.series, which parses and groups every page: 20,000 pages of varying sizes took half a
            # minute. Pages of different sizes make series of their own, pages of one size one with a frame axis.
            if len(_tiff_full_pages(path, tif)) > 1:
                raise ImageReadError(f"{path}: has {len(tif.pages)} pages; multi-frame images are not supported")
            if not tif.series:
                raise ImageReadError(f"{path}: TIFF holds no image")
            # The full image, not a thumbnail that some writers store first (tifffile makes it a series of its own).
            series = next((s for s in tif.series if not _tiff_auxiliary(s.keyframe.subfiletype)), tif.series[0])
            page = series.keyframe  # its first page, always read whole (a TiffPage, never a TiffFrame)
            axes, shape, dtype = series.axes, series.shape, np.dtype(series.dtype)
            if "Y" not in axes or "X" not in axes:
                raise ImageReadError(f"{path}: TIFF has image axes {axes}, not an image")
            height, width = shape[axes.index("Y")], shape[axes.index("X")]
            check_pixels(path, width, height, max_pixels)
            frames = math.prod(n for a, n in zip(axes, shape, strict=True) if a not in "YXS")
            image_axes = "".join(a for a in axes if a in "YXS")  # extra axes of length 1 are dropped
            if frames > 1:  # frames not stored as pages of their own: a volume in one page, ImageJ metadata's images
                raise ImageReadError(f"{path}: has {frames} pages; multi-frame images are not supported")
            if image_axes not in ("YX", "YXS", "SYX"):
                raise ImageReadError(f"{path}: has image axes {axes}; multi-frame images are not supported")
            if dtype.kind not in "ub" or dtype.itemsize > 2:  # floats, signed integers, 32 bits
                raise ImageReadError(f"{path}: {dtype} samples are not supported (8- or 16-bit unsigned integers are)")
            samples = 1 if image_axes == "YX" else shape[axes.index("S")]
            _check_decoded_size(path, width, height, samples, dtype.itemsize, max_pixels)
            photometric = int(page.photometric)  # 0 min-is-white, 1 min-is-black, 2 RGB
            if photometric == 3 and dtype.itemsize > 1:  # Pillow cannot read it at all: say why here
                raise ImageReadError(f"{path}: 16-bit palette TIFF is not supported ({_TIFF_SUPPORTED})")
            colours = {0: 1, 1: 1, 2: 3}.get(photometric, 0)
            if dtype not in (np.uint8, np.uint16) or not colours or samples < colours:
                return None
            # The samples after the colours: 1 associated (premultiplied) alpha, 2 unassociated alpha, 0 unspecified
            # (not alpha: dropped, as Pillow does); the first alpha is the alpha channel.
            extras = [int(kind) for kind in page.extrasamples][: samples - colours]
            extras += [0] * (samples - colours - len(extras))
            alpha_at = next((colours + i for i, kind in enumerate(extras) if kind in (1, 2)), None)
            premultiplied = alpha_at is not None and extras[alpha_at - colours] == 1
            bits = int(page.bitspersample)  # 2, 4, 12, 14: unpacked into uint8 or uint16 at their own range
            if not _tiff_codec_available(int(page.compression)):
                if _imagecodecs_installed() or _compression_name(int(page.compression)).isdigit():
                    return None  # a compression imagecodecs would not add: Pillow's, or its "not an image file"
                _check_pillow_keeps_depth(path, dtype, samples, int(page.compression), bits)
                raise TiffCodecMissing(_compression_name(int(page.compression)))  # LZW, JPEG, ...: Pillow's
            tags = {code: page.tags[code].value for code in _TIFF_KEPT_TAGS if code in page.tags}
            orientation = int(tags.get(TIFF_ORIENTATION, 1))
            icc = bytes(tags[TIFF_ICC]) if TIFF_ICC in tags else None
            dpi = tiff_dpi(tags)
            xmp = upright_xmp(tags.get(TIFF_XMP))
            try:
                data = series.asarray()
            except (KeyError, ValueError, ImportError) as exc:
                # another codec tifffile lacks without imagecodecs; or Zstandard, which it takes from the standard
                # library's compression.zstd where imagecodecs is missing (Python 3.14 and later)
                if isinstance(exc, ImportError) or "imagecodecs" in str(exc):
                    _check_pillow_keeps_depth(path, dtype, samples, int(page.compression), bits)
                    raise TiffCodecMissing(_compression_name(int(page.compression))) from exc
                raise
    except (ImageReadError, TiffCodecMissing):
        raise
    except Exception as exc:
        raise decode_failure(path, exc) from exc
    data = data.reshape([n for a, n in zip(axes, shape, strict=True) if a in "YXS"])
    if image_axes == "SYX":
        data = np.moveaxis(data, 0, -1)
    if data.ndim == 2:
        data = data[..., None]
    bit_depth = 16 if dtype == np.uint16 else 8
    data = _stretched_to_depth(data, bits, bit_depth)
    greyscale = colours == 1
    pixels = data[..., 0] if greyscale else data[..., :3]
    if photometric == 0 and not premultiplied:
        pixels = np.invert(pixels)  # min-is-white (0 is white): top - value; the alpha (extra sample) stays
    alpha = data[..., alpha_at].copy() if alpha_at is not None else None
    rgb = to_float_rgb(pixels, greyscale, bit_depth)
    if premultiplied and alpha is not None:
        rgb = _unpremultiplied(rgb, alpha, bit_depth)
        if photometric == 0:  # the samples as stored were premultiplied: inverted after dividing
            rgb = np.subtract(1, rgb, out=rgb)
    rgb, alpha = apply_orientation(rgb, orientation), apply_orientation(alpha, orientation)
    dpi = upright_dpi(dpi, orientation)
    return ImageData(rgb, alpha, greyscale, bit_depth, "TIFF", kept_icc(icc, greyscale), None, False, None, dpi, xmp)


def _stretched_to_depth(data: np.ndarray, bits: int, bit_depth: int) -> np.ndarray:
    """Samples of ``bits`` bits (a 4-bit or 12-bit TIFF) held in integers of ``bit_depth`` bits, scaled to that
    depth's full range (white 15 becomes 255, 4095 becomes 65535), so that they read as the picture they are rather
    than nearly black. 8- and 16-bit samples are returned as they are."""
    if bits == bit_depth or not 0 < bits < bit_depth:
        return data
    top = (1 << bit_depth) - 1
    stretched = np.rint(data.astype(np.float64) * (top / ((1 << bits) - 1)))
    return np.minimum(stretched, top).astype(data.dtype)


def _tiff_codec_available(compression: int) -> bool:
    """Whether tifffile decodes a TIFF compression: LZW, JPEG and most others need the optional imagecodecs package
    (``golfdeblur[tiff]``); none, Deflate, PackBits, LZMA and Zstandard do not."""
    import tifffile

    return compression in tifffile.TIFF.DECOMPRESSORS


def _imagecodecs_installed() -> bool:
    """Whether tifffile decodes with the imagecodecs package (else with its own fallback of a few codecs)."""
    import tifffile.tifffile

    return getattr(tifffile.tifffile.imagecodecs, "__name__", "") == "imagecodecs"


def _check_pillow_keeps_depth(path: Path, dtype: np.dtype, samples: int, compression: int, bits: int) -> None:
    """Refuse a TIFF that tifffile cannot decode without imagecodecs and that Pillow would not read as it is: Pillow
    keeps 8-bit samples and 16-bit greyscale, but reads 16-bit colour at 8 bits, 16-bit grey + alpha not at all, and
    9- to 15-bit samples (a 12-bit scan) at their own range, nearly black. The message names the package that reads
    them."""
    if dtype == np.uint16 and (samples > 1 or bits != 16):
        name = _compression_name(compression)
        raise ImageReadError(
            f"{path}: reading this {bits}-bit {name}-compressed TIFF at 16 bits needs {IMAGECODECS_HINT}"
        )


def _compression_name(compression: int) -> str:
    """A TIFF compression code as tifffile names it ("LZW", "ZSTD"), or the number when tifffile does not know it."""
    import tifffile

    try:
        return tifffile.COMPRESSION(compression).name
    except ValueError:
        return str(compression)


def _unpremultiplied(rgb: np.ndarray, alpha: np.ndarray, bit_depth: int) -> np.ndarray:
    """``rgb`` (H, W, 3) in [0, 1], stored multiplied by ``alpha`` (TIFF's associated alpha), divided back into the
    straight colours that ImageData holds and every format is written with. A fully transparent pixel has no colour
    (black). Works in place."""
    coverage = alpha.astype(np.float32)[..., None] / np.float32(65535 if bit_depth == 16 else 255)
    np.divide(rgb, coverage, out=rgb, where=coverage > 0)
    rgb[alpha == 0] = 0
    return np.minimum(rgb, 1, out=rgb)


def _tiff_full_pages(path: Path, tif: tifffile.TiffFile) -> list[int]:
    """The indices of the top-level pages that hold a full image, the first two at most: pages marked (NewSubfileType)
    as reduced-resolution copies (thumbnails, pyramid levels) or transparency masks belong to a full image. A file
    whose chain of pages loops is refused first (:func:`_check_tiff_page_chain`)."""
    _check_tiff_page_chain(path, tif)
    len(tif.pages)  # indexes the chain first (a loop ended where it closes): iterating would yield a looped page again
    full = []
    for index, page in enumerate(tif.pages):
        if not _tiff_auxiliary(getattr(page, "subfiletype", 0)):
            full.append(index)
            if len(full) > 1:
                break
    return full


# tifffile checks the chain of pages for a loop once, when it reaches this many pages.
_TIFFFILE_LOOP_CHECK = 100


def _check_tiff_page_chain(path: Path, tif: tifffile.TiffFile) -> None:
    """Refuse a TIFF whose chain of pages (each IFD ends with the offset of the next) loops back to an earlier page
    after 100 of them, before tifffile walks it: tifffile looks for a loop once, at the 100th page, and walks one
    that closes after it for ever, its list of offsets growing (a shorter loop, such as a single page pointing to
    itself, it ends where it closes, and so is read as before). Reads each IFD's tag count and next offset only,
    stopping where tifffile does: at offset 0, an offset past the end of the file, more than 4,096 tags or a short
    read."""
    if not tif.pages:  # no first page (its offset is 0): "TIFF holds no image" is said by the caller
        return
    tiff, handle = tif.tiff, tif.filehandle
    seen: set[int] = set()
    offset = int(tif.pages.first.offset)
    while 0 < offset < handle.size:
        if offset in seen:
            if len(seen) < _TIFFFILE_LOOP_CHECK:  # tifffile finds this loop itself and ends the chain there
                return
            raise ImageReadError(
                f"{path}: truncated or corrupt image data (its TIFF pages loop back to an earlier one)"
            )
        seen.add(offset)
        handle.seek(offset)
        try:
            (tags,) = struct.unpack(tiff.tagnoformat, handle.read(tiff.tagnosize))
            if tags > 4096:
                return
            handle.seek(offset + tiff.tagnosize + tags * tiff.tagsize)
            (offset,) = struct.unpack(tiff.offsetformat, handle.read(tiff.offsetsize))
        except struct.error:
            return


def _tiff_auxiliary(subfiletype: object) -> bool:
    """Whether a TIFF page's NewSubfileType marks it a reduced-resolution copy or a transparency mask (bits 0, 2)."""
    return bool(int(cast("int", subfiletype or 0)) & 0b101)
