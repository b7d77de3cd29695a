"""Safe image reading (:func:`read_image`) of PNG, JPEG, TIFF, WebP, BMP, AVIF and HEIC (8- and 16-bit; RGB, RGBA,
greyscale), and the choices every image module follows.

``read_image`` checks the pixel count from the header before decoding anything, honours EXIF orientation and turns
every failure (empty, truncated or non-image files, unsupported modes, images over the pixel limit) into an
``ImageReadError`` whose message is one line naming the file and the reason.
:func:`~golfdeblur.data.image_writing.write_image` writes the same bit depth and mode back (greyscale stays greyscale,
alpha is re-attached untouched), atomically.

This file holds ``read_image`` and its Pillow path; the rest of the image I/O lives beside it:
:mod:`~golfdeblur.data.image_data` (``ImageData`` and the errors), :mod:`~golfdeblur.data.image_formats` (formats,
extensions, codecs), :mod:`~golfdeblur.data.image_metadata` (orientation, ICC, EXIF, XMP, dpi),
:mod:`~golfdeblur.data.tiff_reading` (TIFF through tifffile) and :mod:`~golfdeblur.data.image_writing` (``write_image``
and the encoders). The choices below hold for all of them.

Choices where the formats leave room (see also docs):
- Palette images are expanded to RGB (RGBA when they have transparency) and written back as RGB(A): re-quantising
  a restored photo to a palette would undo the restoration. CMYK and YCbCr are converted to RGB and written as RGB.
  Bilevel ("1") images are read as 8-bit greyscale.
- 32-bit float or integer samples (Pillow modes "F" and "I" other than 16-bit PNG) are refused: the model works on
  display-referred images in [0, 1] and a float image has no agreed range.
- Multi-frame files (animated PNG or WebP, multi-page TIFF, whatever its pages' sizes) are refused rather than
  silently cut to one frame. The exceptions are a JPEG with an embedded preview (MPO, common on phones), whose
  primary image is read, and a TIFF's reduced-resolution pages (thumbnails, pyramid levels) and transparency masks
  (NewSubfileType bits 0 and 2), before or after the full page, which is read.
- PNG transparency given as a key colour (tRNS for greyscale or RGB, 8- or 16-bit) becomes an alpha channel: pixels
  of exactly that colour are transparent, the others opaque, as in viewers.
- Min-is-white greyscale TIFF (8- or 16-bit) is inverted to ordinary greyscale and written back min-is-black.
- A TIFF's associated (premultiplied) alpha is divided out of the colours when reading; alpha is always written as
  unassociated alpha, with straight colours. An extra sample of unspecified meaning is not alpha: it is dropped. A
  TIFF's samples, extra ones included, may decode to no more bytes than the pixel limit's worth of 16-bit RGBA.
- JPEG and lossy WebP are written at quality 95 (JPEG with 4:4:4 chroma); lossless WebP input is written lossless.
  The ICC profile, EXIF (with the orientation reset, since the pixels are already upright), XMP (its tiff:Orientation
  reset likewise) and resolution (dpi) are kept, in every output format that can hold them (16-bit PNG included, as
  eXIf, iTXt and pHYs chunks; TIFF keeps all but EXIF; WebP, AVIF and HEIF have no dpi). JPEG holds at most 65,533
  bytes of EXIF and of XMP: a larger block is left out with a note on stderr rather than failing the image. A profile
  whose colour space (ICC header bytes 16-20) is not that of the pixels we hold (RGB, or grey for greyscale) is
  dropped: a CMYK image's CMYK profile would make colour-managed viewers mis-render the RGB it is converted to. So is
  a greyscale image's profile in a format that stores it as RGB (WebP; AVIF and HEIF with alpha), which
  :func:`~golfdeblur.data.image_metadata.colour_description_lost` says, for a note.
- AVIF (when this Pillow has it) and HEIC/HEIF (with the optional pillow-heif, ``golfdeblur[heif]``) are read and
  written at 8 bits, quality 95, 4:4:4 chroma. A HEIF file's colour description (its nclx box: primaries and
  transfer, e.g. Display P3) is written back with it. pillow-heif applies a HEIF file's own rotation when decoding and
  resets the EXIF orientation; an AVIF's EXIF orientation is applied here as a JPEG's is. Without the codec, such a
  file is refused, when read or written, with a line naming what to install; its extension stays known
  (``image_formats.IMAGE_SUFFIXES`` is the same whatever is installed), so that folder listings take it rather than
  leave it out.
- BMP is read and written as 8-bit RGB or greyscale. Alpha is refused when writing BMP (as for JPEG): Pillow writes
  a 32-bit BMP that readers, Pillow included, open without its alpha.
- Pillow cannot decode or encode 16-bit colour PNG; we let Pillow's zlib decoder unfilter the data and read the
  high and low bytes in two passes, and write 16-bit PNG with a small encoder of our own. TIFF is read with
  tifffile (Pillow only for compressions that need the optional imagecodecs package, ``golfdeblur[tiff]``, such as
  LZW and JPEG, and for palette, CMYK and YCbCr TIFF) and written with tifffile (zlib compression). Pillow would
  read 16-bit colour at 8 bits: without imagecodecs a 16-bit colour or grey + alpha TIFF so compressed is refused
  with a line naming the package, as is one Pillow cannot read at all (a big-endian 16-bit min-is-white LZW TIFF),
  and a 16-bit palette, CMYK or YCbCr TIFF is refused. TIFF orientation is applied
  exactly once, whether Pillow turned the image upright while loading or not.
- WebP is written only up to 16,383 pixels a side and JPEG up to 65,500 (their encoders' limits); a larger image is
  refused before any computing (:func:`~golfdeblur.data.image_writing.check_writable`). Any other encoder failure is
  an ``ImageWriteError``.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from golfdeblur.data.image_data import (
    ImageData,
    ImageReadError,
    OverPixelLimit,
    check_pixels,
    decode_failure,
    to_float_rgb,
)
from golfdeblur.data.image_formats import (
    PNG_SIGNATURE,
    SUPPORTED_FORMATS,
    TIFF_HEIGHT,
    TIFF_ICC,
    TIFF_PHOTOMETRIC,
    TIFF_SIGNATURES,
    TIFF_WIDTH,
    unreadable_reason,
)
from golfdeblur.data.image_metadata import (
    apply_orientation,
    heif_colour_from_nclx,
    kept_icc,
    orientation_and_exif,
    tiff_dpi,
    upright_dpi,
    upright_xmp,
    valid_dpi,
)
from golfdeblur.data.tiff_reading import (
    IMAGECODECS_HINT,
    TiffCodecMissing,
    check_pillow_tiff_depth,
    pillow_oriented_tiff,
    read_tiff,
    tiff_page_to_read,
)
from golfdeblur.errors import not_a_regular_file
from golfdeblur.input_values import whole_number

if TYPE_CHECKING:
    from PIL.TiffImagePlugin import TiffImageFile


DEFAULT_MAX_PIXELS = 100_000_000


def check_exists(path: Path) -> None:
    """Raise ImageReadError, one line naming ``path``, when nothing is there: no such file, or a link to nothing."""
    if not path.exists():
        if path.is_symlink():  # exists() follows the link: it leads nowhere, or round in a loop
            raise ImageReadError(f"{path}: a link to no file (what it names is missing, or links lead round in a loop)")
        raise ImageReadError(f"{path}: no such file")


def check_regular_file(path: Path) -> None:
    """Raise ImageReadError, one line naming ``path``, unless it is a regular file (or a link to one): nothing there
    (as :func:`check_exists`), a folder, or a pipe, socket or device. Checked before any open: opening a named pipe
    with no writer blocks for good, and a device such as /dev/zero reads for ever."""
    check_exists(path)
    what = not_a_regular_file(path)
    if what is not None:
        raise ImageReadError(f"{path}: {what}, not an image file")


def read_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, max_pixels_name: str | None = None
) -> ImageData:
    """Read an image file safely into an :class:`ImageData`.

    The width and height come from the header and are checked against ``max_pixels`` (a whole number >= 1) before
    any pixel is decoded (Pillow's own decompression-bomb limit is replaced by this one). ``max_pixels=None`` means
    no limit. ``max_pixels_name`` names, in the over-limit error, the setting that raises the limit ("raise it with
    NAME"), for a caller whose user has one: deblur passes its ``--max-pixels``. Without it the error only states
    the limit (other commands read with the default, which their users cannot change).

    Shape:
        returns ``rgb`` (H, W, 3) float32 in [0, 1] and ``alpha`` (H, W) or None.

    Raises:
        ImageReadError: one line ``<path>: <reason>`` for a missing, empty, truncated, non-image, multi-frame or
            over-limit file, or an unsupported mode or sample format.
        DeblurSettingsError: ``max_pixels`` is not None nor a whole number >= 1 (0 and -1 included), before the
            file is opened.

    Example:
        >>> import tempfile
        >>> from golfdeblur.data.image_writing import write_image
        >>> grey = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1).repeat(3, axis=2)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(Path(tmp) / "grey16.png", ImageData(rgb=grey, greyscale=True, bit_depth=16))
        ...     image = read_image(path)
        ...     try:
        ...         read_image(path, max_pixels=10)  # refused from the header, before decoding
        ...     except ImageReadError as error:
        ...         print(str(error).split(": ", 1)[1])
        4x3 = 12 pixels is over the limit of 10
        >>> image.size, image.rgb.shape, image.greyscale, image.bit_depth, image.format, image.alpha is None
        ((3, 4), (3, 4, 3), True, 16, 'PNG', True)
    """
    if max_pixels is not None:  # 0 or -1 would refuse every image, as "over the limit of -1"
        whole_number(max_pixels, 1, "max_pixels", unit="pixels", note="(None: no limit)")
    try:
        return _read_image(Path(path), max_pixels)
    except OverPixelLimit as exc:
        hint = f" (raise it with {max_pixels_name})" if max_pixels_name else ""
        raise ImageReadError(f"{exc}{hint}") from exc


def _read_image(path: Path, max_pixels: int | None) -> ImageData:
    check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if not head:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if head.startswith(TIFF_SIGNATURES):
        try:
            image = read_tiff(path, max_pixels)
        except TiffCodecMissing as missing:
            try:
                return _read_with_pillow(path, head, max_pixels)
            except OverPixelLimit:  # the limit is the reason, whichever reader: read_image says how to raise it
                raise
            except ImageReadError as exc:  # "not an image file" would hide what reads it: imagecodecs
                reason = str(exc).removeprefix(f"{path}: ")
                raise ImageReadError(
                    f"{path}: this {missing.compression}-compressed TIFF needs {IMAGECODECS_HINT} (Pillow: {reason})"
                ) from exc
        if image is not None:
            return image
    return _read_with_pillow(path, head, max_pixels)


@contextlib.contextmanager
def pillow_limit_disabled() -> Iterator[None]:
    """Within it, Pillow opens images of any pixel count without its decompression-bomb warning or error, and refuses
    truncated files (``ImageFile.LOAD_TRUNCATED_IMAGES`` forced to False); both settings are restored after.

    We check the pixel count ourselves (with the user's limit) before decoding: Pillow's fixed limit would turn a
    large but allowed image into a warning or an exception. A truncated file must fail loudly, never decode to a
    half-grey picture, whatever another library set.
    """
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _read_with_pillow(path: Path, head: bytes, max_pixels: int | None) -> ImageData:
    with pillow_limit_disabled(), contextlib.ExitStack() as stack:
        source: Path | BinaryIO = path
        if head.startswith(TIFF_SIGNATURES):
            # Opened from a handle, not a name: given a file name, Pillow memory-maps uncompressed CMYK, palette
            # and greyscale TIFFs with the width and height of the rotated image, scrambling any TIFF whose
            # orientation is 5-8 (Pillow 13). Without a name it decodes them the ordinary way.
            try:
                source = stack.enter_context(open(path, "rb"))
            except OSError as exc:
                raise ImageReadError(f"{path}: cannot open ({exc.strerror or exc})") from exc
        try:
            im = Image.open(source)
        except UnidentifiedImageError as exc:
            raise ImageReadError(f"{path}: {unreadable_reason(head)}") from exc
        except Exception as exc:  # decoders raise anything on garbage headers; the user needs one line
            raise decode_failure(path, exc) from exc
        with im:
            try:
                return _pillow_image(path, im, head, max_pixels)
            except ImageReadError:
                raise
            except Exception as exc:  # reading a damaged file's later pages or tags raises anything: one line
                raise decode_failure(path, exc) from exc


def _pillow_image(path: Path, im: Image.Image, head: bytes, max_pixels: int | None) -> ImageData:
    """The image that an opened Pillow image holds (its full page, for a TIFF), checked and decoded."""
    # MPO: a JPEG with embedded previews (phones), whose first frame is the photo
    fmt = "JPEG" if im.format == "MPO" else im.format
    if fmt not in SUPPORTED_FORMATS:
        raise ImageReadError(f"{path}: {fmt} images are not supported ({', '.join(SUPPORTED_FORMATS)} are)")
    tiff = cast("TiffImageFile", im) if fmt == "TIFF" else None
    seek_the_one_frame(path, im)
    check_pixels(path, im.width, im.height, max_pixels)
    if tiff is not None:
        check_pillow_tiff_depth(path, tiff)
    orientation, exif_bytes = orientation_and_exif(im, fmt)
    stored = (tiff.tag_v2.get(TIFF_HEIGHT), tiff.tag_v2.get(TIFF_WIDTH)) if tiff is not None else None
    # A TIFF's from the page's own tag: Pillow keeps an earlier page's profile in im.info when this one has none.
    icc = tiff.tag_v2.get(TIFF_ICC) if tiff is not None else im.info.get("icc_profile")
    icc = bytes(icc) if isinstance(icc, bytes | bytearray) and icc else None
    # A TIFF's from its tags: Pillow calls one without resolution tags 1 dpi.
    dpi = tiff_dpi(tiff.tag_v2) if tiff is not None else valid_dpi(im.info.get("dpi"))
    dpi = upright_dpi(dpi, orientation)
    xmp = upright_xmp(im.info.get("xmp"))
    lossless = fmt == "WEBP" and _webp_is_lossless(path)
    heif_colour = heif_colour_from_nclx(im.info.get("nclx_profile")) if fmt == "HEIF" else None
    pixels, alpha, greyscale, bit_depth = _pillow_pixels(path, im, head)
    if tiff is not None and pillow_oriented_tiff(tiff, orientation, stored, pixels.shape[:2]):
        orientation = 1
    rgb = to_float_rgb(pixels, greyscale, bit_depth)
    rgb, alpha = apply_orientation(rgb, orientation), apply_orientation(alpha, orientation)
    return ImageData(
        rgb, alpha, greyscale, bit_depth, fmt, kept_icc(icc, greyscale), exif_bytes, lossless, heif_colour, dpi, xmp
    )


def seek_the_one_frame(path: Path, im: Image.Image) -> None:
    """Put an opened Pillow image on the frame :func:`read_image` reads (a TIFF's full page, after any thumbnail),
    or raise ``ImageReadError`` (one line) for a file holding several: an animation, a multi-page TIFF. An MPO's
    extra frames are its previews, not frames."""
    if im.format == "TIFF":
        page, full_pages, pages = tiff_page_to_read(path)
        if full_pages > 1:
            raise ImageReadError(f"{path}: has {pages} pages; multi-frame images are not supported")
        im.seek(page)
    elif im.format != "MPO" and (frames := getattr(im, "n_frames", 1)) > 1:
        raise ImageReadError(f"{path}: has {frames} frames; multi-frame images are not supported")


def _webp_is_lossless(path: Path) -> bool:
    """Whether a WebP file's image chunk is VP8L (lossless), walking the RIFF chunk headers."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WEBP":
                return False
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return False
                fourcc, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if fourcc in (b"VP8L", b"VP8 "):
                    return fourcc == b"VP8L"
                handle.seek(size + (size & 1), 1)
    except OSError:
        return False


def _pillow_pixels(path: Path, im: Image.Image, head: bytes) -> tuple[np.ndarray, np.ndarray | None, bool, int]:
    """(pixels (H, W) or (H, W, 3), alpha or None, greyscale, bit depth) from an opened, unloaded Pillow image."""
    key = _key_colour(im, head)
    if head.startswith(PNG_SIGNATURE) and len(head) >= 26 and head[24] == 16:
        return _png16_pixels(path, head[25], key)
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N") or (mode == "I" and im.format == "PNG"):  # older Pillow: "I"
        data = np.asarray(im).astype(np.uint16)
        if im.format == "TIFF" and cast("TiffImageFile", im).tag_v2.get(TIFF_PHOTOMETRIC) == 0:
            data = 65535 - data  # min-is-white: Pillow inverts 8-bit samples ("L;I") but not 16-bit ones
        return data, key_alpha(data, key, 16), True, 16
    if mode in ("L", "1"):
        data = np.asarray(im.convert("L"))
        return data, key_alpha(data, key, 8), True, 8
    if mode in ("LA", "La"):
        data = np.asarray(im.convert("LA"))
        return data[..., 0], data[..., 1].copy(), True, 8
    if mode in ("RGB", "CMYK", "YCbCr", "RGBX"):
        data = np.asarray(im.convert("RGB"))
        return data, key_alpha(data, key, 8) if mode == "RGB" else None, False, 8
    if mode in ("RGBA", "RGBa"):
        data = np.asarray(im.convert("RGBA"))
        return data[..., :3], data[..., 3].copy(), False, 8
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        data = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        return (data[..., :3], data[..., 3].copy(), False, 8) if has_alpha else (data, None, False, 8)
    raise ImageReadError(f"{path}: unsupported image mode {mode} (8- or 16-bit greyscale, RGB or RGBA are supported)")


def _key_colour(im: Image.Image, head: bytes) -> int | tuple[int, ...] | None:
    """A PNG's tRNS key colour (greyscale or RGB images; palettes are Pillow's), on the scale of the samples we decode:
    an int for greyscale, (r, g, b) for colour. None without one."""
    key = im.info.get("transparency")
    if im.format != "PNG" or im.mode in ("P", "PA") or not isinstance(key, int | tuple):
        return None
    if isinstance(key, int) and len(head) >= 26 and head[25] == 0 and head[24] in (2, 4):
        key *= 255 // (2 ** head[24] - 1)  # Pillow scales 2- and 4-bit samples to 8 bits, but not the key
    return key


def key_alpha(pixels: np.ndarray, key: int | tuple[int, ...] | None, bit_depth: int) -> np.ndarray | None:
    """(H, W) alpha for a tRNS key colour: 0 where a pixel of ``pixels`` ((H, W) grey or (H, W, 3) colour samples)
    equals the key, fully opaque elsewhere, at ``bit_depth``. None without a key, or when no pixel matches (an
    alpha channel of opaque pixels would only stop JPEG output)."""
    if key is None:
        return None
    if pixels.ndim == 2 and isinstance(key, int):
        transparent = pixels == key
    elif pixels.ndim == 3 and isinstance(key, tuple) and len(key) == pixels.shape[2]:
        transparent = np.all(pixels == np.asarray(key, dtype=np.int64), axis=2)
    else:
        return None
    if not transparent.any():
        return None
    top, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    return np.where(transparent, 0, top).astype(dtype)


def _decode_png_pass(path: Path, mode: str, rawmode: str) -> np.ndarray:
    with Image.open(path) as im:
        tile = im.tile[0]  # a named tuple from Pillow 11, a plain one before
        im.tile = [tile._replace(args=rawmode) if hasattr(tile, "_replace") else (*tile[:3], rawmode)]
        if im.mode != mode:
            im._mode = mode
        im.load()
        return np.asarray(im)


def _png16_pixels(
    path: Path, colour_type: int, key: int | tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray | None, bool, int]:
    """16-bit PNG. Pillow unfilters the zlib stream correctly but keeps only the high byte of colour samples, so we
    decode twice with big- and little-endian raw modes (high byte, then low byte) and combine them. ``key``: the
    tRNS key colour (16-bit samples), which becomes an alpha channel."""
    if colour_type == 0:
        with Image.open(path) as im:
            grey = np.asarray(im).astype(np.uint16)
        return grey, key_alpha(grey, key, 16), True, 16
    if colour_type == 4:  # grey + alpha, 4 bytes per pixel: read the bytes as if they were 8-bit RGBA
        raw = _decode_png_pass(path, "RGBA", "RGBA").astype(np.uint16)
        return raw[..., 0] << 8 | raw[..., 1], raw[..., 2] << 8 | raw[..., 3], True, 16
    if colour_type in (2, 6):
        mode = "RGB" if colour_type == 2 else "RGBA"
        high = _decode_png_pass(path, mode, f"{mode};16B").astype(np.uint16)
        low = _decode_png_pass(path, mode, f"{mode};16L").astype(np.uint16)
        data = high << 8 | low
        if colour_type == 2:
            return data, key_alpha(data, key, 16), False, 16
        return data[..., :3], data[..., 3].copy(), False, 16
    raise ImageReadError(f"{path}: unsupported 16-bit PNG colour type {colour_type}")
