"""Safe image reading and writing: PNG, JPEG, TIFF, WebP, BMP, AVIF and HEIC; 8- and 16-bit; RGB, RGBA, greyscale.

``read_image`` checks the pixel count from the header before decoding anything, honours EXIF orientation and turns
every failure (empty, truncated or non-image files, unsupported modes, images over the pixel limit) into an
``ImageReadError`` whose message is one line naming the file and the reason. ``write_image`` writes the same bit
depth and mode back (greyscale stays greyscale, alpha is re-attached untouched), atomically.

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
  :func:`colour_description_lost` says, for a note.
- AVIF (when this Pillow has it) and HEIC/HEIF (with the optional pillow-heif, ``golfdeblur[heif]``) are read and
  written at 8 bits, quality 95, 4:4:4 chroma. A HEIF file's colour description (its nclx box: primaries and
  transfer, e.g. Display P3) is written back with it. pillow-heif applies a HEIF file's own rotation when decoding and
  resets the EXIF orientation; an AVIF's EXIF orientation is applied here as a JPEG's is. Without the codec, such a
  file is refused, when read or written, with a line naming what to install; its extension stays known
  (``IMAGE_SUFFIXES`` is the same whatever is installed), so that folder listings take it rather than leave it out.
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
  refused before any computing (:func:`check_writable`). Any other encoder failure is an ``ImageWriteError``.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import re
import struct
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast, overload

import numpy as np
import PIL
from PIL import Image, ImageFile, UnidentifiedImageError, features
from PIL.PngImagePlugin import PngInfo

from golfdeblur.atomic import atomic_path
from golfdeblur.errors import DeblurSettingsError, GolfdeblurError, not_a_regular_file
from golfdeblur.notes import note

if TYPE_CHECKING:
    import tifffile
    from PIL.TiffImagePlugin import TiffImageFile

DEFAULT_MAX_PIXELS = 100_000_000


def _pillow_reads_avif() -> bool:
    """Whether this Pillow was built with AVIF (recent releases' wheels are; older ones lack the module)."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # "Unknown module": a Pillow from before AVIF support
        return False


def _heif_plugin_registered() -> bool:
    """Register pillow-heif's opener and saver when the optional package is installed (``golfdeblur[heif]``)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()  # applies HEIF's own rotation on decode and resets the EXIF orientation to 1
    return True


AVIF_AVAILABLE = _pillow_reads_avif()
HEIF_AVAILABLE = _heif_plugin_registered()
#: Every extension golfdeblur reads and writes, the same whatever is installed: a folder's HEIC photos are listed, and
#: then fail with a line naming what to install (:func:`missing_codec`), rather than being left out as non-images.
IMAGE_SUFFIXES = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",  # what browsers and messaging apps often name a downloaded JPEG
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".avif": "AVIF",
    ".heic": "HEIF",  # iPhones' photos
    ".heif": "HEIF",
}
SUPPORTED_FORMATS = tuple(dict.fromkeys(IMAGE_SUFFIXES.values()))


def missing_codec(fmt: str) -> str | None:
    """Why this installation can neither read nor write images of ``fmt`` (a format of ``SUPPORTED_FORMATS``), naming
    what would, as one clause; None when it can. AVIF needs a Pillow built with it, HEIC/HEIF the optional pillow-heif.
    Read when called, not at import: tests simulate a missing codec by setting ``AVIF_AVAILABLE`` or ``HEIF_AVAILABLE``.

    Example:
        >>> missing_codec("PNG") is None
        True
    """
    if fmt == "AVIF" and not AVIF_AVAILABLE:
        return (
            f"this Pillow ({PIL.__version__}) cannot read or write AVIF images (the wheels of Pillow 11.3 and newer "
            "can: pip install -U pillow)"
        )
    if fmt == "HEIF" and not HEIF_AVAILABLE:
        return "HEIC/HEIF images need the optional pillow-heif package (pip install 'golfdeblur[heif]')"
    return None


def is_image_name(path: str | Path) -> bool:
    """Whether a file name is one that folder listings take: an image suffix (any case), not hidden (".name").

    Example:
        >>> is_image_name("a/IMG_1.JPG"), is_image_name(".thumb.png"), is_image_name("notes.txt")
        (True, False, False)
    """
    name = Path(path).name
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")


JPEG_QUALITY = 95
WEBP_QUALITY = 95
AVIF_HEIF_QUALITY = 95
# ISO base media "ftyp" brands (bytes 8-12) of files that a missing codec would otherwise call "not an image".
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
EXIF_ORIENTATION = 0x0112  # the EXIF tag of the orientation
_TIFF_NEW_SUBFILE_TYPE, _TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_BITS_PER_SAMPLE = 254, 256, 257, 258
_TIFF_PHOTOMETRIC, _TIFF_ORIENTATION, _TIFF_XMP, _TIFF_ICC = 262, 274, 700, 34675
_TIFF_X_RESOLUTION, _TIFF_Y_RESOLUTION, _TIFF_RESOLUTION_UNIT = 282, 283, 296
_TIFF_KEPT_TAGS = (274, 700, 34675, 282, 283, 296)  # the above but photometric
_JPEG_MAX_MARKER = 65533  # bytes of data one JPEG APPn marker holds (Pillow's limit for EXIF)
_JPEG_XMP_HEADER = len(b"http://ns.adobe.com/xap/1.0/\x00")  # shares the marker with the XMP
_MAX_SIDE = {"WEBP": ("WebP", 16383), "JPEG": ("JPEG", 65500)}  # the encoders' limits (libwebp, libjpeg), per side
_PNG_XMP_KEY = "XML:com.adobe.xmp"
_IMAGECODECS = "the optional imagecodecs package (pip install 'golfdeblur[tiff]')"


class ImageReadError(GolfdeblurError):
    """A file that cannot be read as an image. The message is ``<file>: <reason>`` on one line."""


class ImageWriteError(GolfdeblurError):
    """An image that cannot be written. The message is ``<file>: <reason>`` on one line."""


class _OverPixelLimit(ImageReadError):
    """A file over ``read_image``'s pixel limit; read_image adds how to raise the limit, in its caller's words."""


@dataclass(frozen=True)
class ImageData:
    """A decoded image and what is needed to write it back the same way.

    Attributes:
        rgb: (H, W, 3) float32 in [0, 1], upright (EXIF orientation applied). Greyscale images are repeated
            over the three channels. :func:`write_image` also takes float of any width in [0, 1], and uint8 or
            uint16, which it reads by their range (as ``deblur`` returns such images).
        alpha: (H, W) alpha channel in its original dtype (uint8 or uint16), untouched; None without alpha.
        greyscale: the file was single-channel (L, I;16, LA); it is written back as greyscale.
        bit_depth: 8 or 16 bits per sample (of the file read; of the file written where its format holds 16).
        format: "PNG", "JPEG", "TIFF", "WEBP" or "BMP".
        icc_profile: the embedded ICC profile, kept when writing; None when its colour space is not the pixels'
            (RGB, or grey for greyscale images).
        exif: EXIF bytes with the orientation reset to 1 (the pixels are upright), kept when writing.
        lossless: True for lossless WebP, written back lossless.
        heif_colour: a HEIF file's colour description (its nclx box) as (colour primaries, transfer
            characteristics), ITU-T H.273 code points, e.g. (12, 13) for Display P3; kept when writing HEIF, whose
            encoder would otherwise tag the pixels BT.709 (sRGB). None for other formats, which describe colour by
            the ICC profile alone.
        dpi: (horizontal, vertical) resolution in pixels per inch, both > 0, of the upright image; None when the
            file states none. Kept when writing JPEG, PNG, TIFF and BMP.
        xmp: the XMP packet (UTF-8 XML) with any tiff:Orientation reset to 1; kept when writing JPEG, PNG, TIFF,
            WebP, AVIF and HEIF.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    greyscale: bool = False
    bit_depth: int = 8
    format: str = "PNG"
    icc_profile: bytes | None = None
    exif: bytes | None = None
    lossless: bool = False
    heif_colour: tuple[int, int] | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.rgb.shape[0], self.rgb.shape[1]

    def with_rgb(self, rgb: np.ndarray) -> ImageData:
        """The same image description with new (H, W, 3) pixels in [0, 1], e.g. the deblurred ones."""
        if rgb.shape != self.rgb.shape:
            raise ValueError(f"new pixels have shape {rgb.shape}, expected {self.rgb.shape}")
        return replace(self, rgb=np.asarray(rgb, dtype=np.float32))


# ---------------------------------------------------------------------------------------------------------- reading


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
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, max_pixels_name: str = "max_pixels"
) -> ImageData:
    """Read an image file safely into an :class:`ImageData`.

    The width and height come from the header and are checked against ``max_pixels`` (a whole number >= 1) before
    any pixel is decoded (Pillow's own decompression-bomb limit is replaced by this one). ``max_pixels=None`` means
    no limit. ``max_pixels_name`` is how the over-limit error names the setting that raises the limit: a command
    passes its option (deblur's ``--max-pixels``).

    Shape:
        returns ``rgb`` (H, W, 3) float32 in [0, 1] and ``alpha`` (H, W) or None.

    Raises:
        ImageReadError: one line ``<path>: <reason>`` for a missing, empty, truncated, non-image, multi-frame or
            over-limit file, or an unsupported mode or sample format.
        DeblurSettingsError: ``max_pixels`` is not None nor a whole number >= 1 (0 and -1 included), before the
            file is opened.

    Example:
        >>> import tempfile
        >>> grey = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1).repeat(3, axis=2)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(Path(tmp) / "grey16.png", ImageData(rgb=grey, greyscale=True, bit_depth=16))
        ...     image = read_image(path)
        ...     try:
        ...         read_image(path, max_pixels=10)  # refused from the header, before decoding
        ...     except ImageReadError as error:
        ...         print(str(error).split(": ", 1)[1])
        4x3 = 12 pixels is over the limit of 10 (raise it with max_pixels)
        >>> image.size, image.rgb.shape, image.greyscale, image.bit_depth, image.format, image.alpha is None
        ((3, 4), (3, 4, 3), True, 16, 'PNG', True)
    """
    if max_pixels is not None and (
        isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1
    ):  # 0 or -1 would refuse every image, as "over the limit of -1"
        raise DeblurSettingsError(
            f"max_pixels {max_pixels!r}: must be a whole number of pixels, 1 or more (None: no limit)"
        )
    try:
        return _read_image(Path(path), max_pixels)
    except _OverPixelLimit as exc:
        raise ImageReadError(f"{exc} (raise it with {max_pixels_name})") from exc


def _read_image(path: Path, max_pixels: int | None) -> ImageData:
    check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if not head:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if head.startswith(_TIFF_SIGNATURES):
        try:
            image = _read_tiff(path, max_pixels)
        except _TiffCodecMissing as missing:
            try:
                return _read_with_pillow(path, head, max_pixels)
            except _OverPixelLimit:  # the limit is the reason, whichever reader: read_image says how to raise it
                raise
            except ImageReadError as exc:  # "not an image file" would hide what reads it: imagecodecs
                reason = str(exc).removeprefix(f"{path}: ")
                raise ImageReadError(
                    f"{path}: this {missing.compression}-compressed TIFF needs {_IMAGECODECS} (Pillow: {reason})"
                ) from exc
        if image is not None:
            return image
    return _read_with_pillow(path, head, max_pixels)


class _TiffCodecMissing(Exception):
    """tifffile cannot decode this TIFF's compression here (imagecodecs, or the standard library's zstd, is
    missing): Pillow is asked instead, and if it cannot read it either, the error names the package that would."""

    def __init__(self, compression: str) -> None:
        super().__init__(compression)
        self.compression = compression


@contextlib.contextmanager
def _pillow_limit_disabled() -> Iterator[None]:
    # We check the pixel count ourselves (with the user's limit) before decoding; Pillow's fixed limit would turn
    # a large but allowed image into a warning or an exception.
    # Truncated files must fail loudly, never decode to a half-grey picture, whatever another library set.
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    if width < 1 or height < 1:
        raise ImageReadError(f"{path}: image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise _OverPixelLimit(
            f"{path}: {width}x{height} = {width * height:,} pixels is over the limit of {max_pixels:,}"
        )


def _check_decoded_size(
    path: Path, width: int, height: int, samples: int, itemsize: int, max_pixels: int | None
) -> None:
    """Refuse a TIFF whose samples decode to more bytes than ``max_pixels`` pixels of RGBA at 16 bits (8 bytes a
    pixel, the most of any image we keep): a TIFF may add any number of extra samples to each pixel (we drop those
    that are not alpha), and a few MB of zlib made 8000 x 8000 pixels of 200 samples, 12 GB decoded."""
    decoded = width * height * samples * itemsize
    if max_pixels is not None and decoded > max_pixels * 8:
        raise _OverPixelLimit(
            f"{path}: {width}x{height} pixels of {samples} {8 * itemsize}-bit samples decode to {decoded:,} bytes, "
            f"over the {max_pixels * 8:,} that the limit of {max_pixels:,} pixels allows at 4 16-bit samples a pixel"
        )


def _decode_failure(path: Path, exc: BaseException) -> ImageReadError:
    detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    if isinstance(exc, MemoryError):  # an allowed but large image on a small machine: not the file's fault
        return ImageReadError(f"{path}: out of memory decoding the image ({detail})")
    return ImageReadError(f"{path}: truncated or corrupt image data ({detail})")


def icc_matches(icc_profile: bytes | None, greyscale: bool) -> bool:
    """Whether an ICC profile describes the pixels held: its data colour space (header bytes 16-20) is 'RGB ' for
    colour images and 'GRAY' for greyscale ones. A CMYK or Lab profile, or a truncated one, does not match.

    Example:
        >>> header = bytes(16) + b"CMYK" + bytes(108)
        >>> icc_matches(header, greyscale=False), icc_matches(header.replace(b"CMYK", b"RGB "), greyscale=False)
        (False, True)
    """
    if not icc_profile or len(icc_profile) < 20:
        return False
    return icc_profile[16:20] == (b"GRAY" if greyscale else b"RGB ")


def _kept_icc(icc_profile: bytes | None, greyscale: bool) -> bytes | None:
    return icc_profile if icc_matches(icc_profile, greyscale) else None


def _read_with_pillow(path: Path, head: bytes, max_pixels: int | None) -> ImageData:
    with _pillow_limit_disabled(), contextlib.ExitStack() as stack:
        source: Path | BinaryIO = path
        if head.startswith(_TIFF_SIGNATURES):
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
            raise ImageReadError(f"{path}: {_unreadable_reason(head)}") from exc
        except Exception as exc:  # decoders raise anything on garbage headers; the user needs one line
            raise _decode_failure(path, exc) from exc
        with im:
            try:
                return _pillow_image(path, im, head, max_pixels)
            except ImageReadError:
                raise
            except Exception as exc:  # reading a damaged file's later pages or tags raises anything: one line
                raise _decode_failure(path, exc) from exc


def _pillow_image(path: Path, im: Image.Image, head: bytes, max_pixels: int | None) -> ImageData:
    """The image that an opened Pillow image holds (its full page, for a TIFF), checked and decoded."""
    # MPO: a JPEG with embedded previews (phones), whose first frame is the photo
    fmt = "JPEG" if im.format == "MPO" else im.format
    if fmt not in SUPPORTED_FORMATS:
        raise ImageReadError(f"{path}: {fmt} images are not supported ({', '.join(SUPPORTED_FORMATS)} are)")
    tiff = cast("TiffImageFile", im) if fmt == "TIFF" else None
    seek_the_one_frame(path, im)
    _check_pixels(path, im.width, im.height, max_pixels)
    if tiff is not None:
        _check_pillow_tiff_depth(path, tiff)
    orientation, exif_bytes = _orientation_and_exif(im, fmt)
    stored = (tiff.tag_v2.get(_TIFF_HEIGHT), tiff.tag_v2.get(_TIFF_WIDTH)) if tiff is not None else None
    # A TIFF's from the page's own tag: Pillow keeps an earlier page's profile in im.info when this one has none.
    icc = tiff.tag_v2.get(_TIFF_ICC) if tiff is not None else im.info.get("icc_profile")
    icc = bytes(icc) if isinstance(icc, bytes | bytearray) and icc else None
    # A TIFF's from its tags: Pillow calls one without resolution tags 1 dpi.
    dpi = _tiff_dpi(tiff.tag_v2) if tiff is not None else _valid_dpi(im.info.get("dpi"))
    dpi = _upright_dpi(dpi, orientation)
    xmp = _upright_xmp(im.info.get("xmp"))
    lossless = fmt == "WEBP" and _webp_is_lossless(path)
    heif_colour = _heif_colour(im.info.get("nclx_profile")) if fmt == "HEIF" else None
    pixels, alpha, greyscale, bit_depth = _pillow_pixels(path, im, head)
    if tiff is not None and _pillow_oriented_tiff(tiff, orientation, stored, pixels.shape[:2]):
        orientation = 1
    rgb, alpha = _to_float_rgb(pixels, alpha, greyscale, bit_depth)
    rgb, alpha = apply_orientation(rgb, orientation), apply_orientation(alpha, orientation)
    return ImageData(
        rgb, alpha, greyscale, bit_depth, fmt, _kept_icc(icc, greyscale), exif_bytes, lossless, heif_colour, dpi, xmp
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


def tiff_page_to_read(path: Path) -> tuple[int, int, int]:
    """The top-level page of a TIFF that :func:`read_image` reads, as (its index, how many pages hold a full image,
    counting to 2 at most, how many pages there are), by one rule whichever library decodes it: the first page not
    marked (NewSubfileType) as a reduced-resolution copy (thumbnail, pyramid level) or a transparency mask, else the
    first page. The pages' tags are parsed by tifffile, which also parses the pages (masks) Pillow cannot."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        full = _tiff_full_pages(path, tif)
        return (full[0] if full else 0), len(full), len(tif.pages)


_TIFF_SUPPORTED = "8- and 16-bit greyscale, RGB and RGBA, and 8-bit palette, CMYK and YCbCr TIFF are supported"
_EIGHT_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB")
_PHOTOMETRIC_NAMES = {0: "min-is-white", 1: "greyscale", 2: "RGB", 3: "palette", 5: "CMYK", 6: "YCbCr", 8: "CIELab"}


def _check_pillow_tiff_depth(path: Path, im: TiffImageFile) -> None:
    """Refuse a TIFF of more than 8 bits a sample that Pillow would read at 8 (16-bit CMYK, palette, YCbCr or Lab;
    16-bit colour with a compression tifffile cannot decode, had it reached Pillow): never lose bit depth silently.
    Pillow keeps 16-bit greyscale ("I;16")."""
    bits = im.tag_v2.get(_TIFF_BITS_PER_SAMPLE, (1,))
    depth = max(cast("tuple[int, ...]", bits if isinstance(bits, tuple) else (bits,)), default=1)
    if depth > 8 and im.mode in _EIGHT_BIT_MODES:
        kind = _PHOTOMETRIC_NAMES.get(int(cast("int", im.tag_v2.get(_TIFF_PHOTOMETRIC, -1))), "")
        raise ImageReadError(
            f"{path}: {depth}-bit {kind + ' ' if kind else ''}TIFF is not supported: Pillow, which reads it, would "
            f"give 8 bits ({_TIFF_SUPPORTED})"
        )


def _rational(value: object) -> float:
    """A TIFF rational as Pillow (IFDRational) or tifffile ((numerator, denominator)) gives it."""
    if isinstance(value, tuple):
        numerator, denominator = value[:2]
        return float(numerator) / float(denominator) if denominator else math.nan
    return float(cast("float", value))


_MAX_DPI = 65535.0  # JPEG's JFIF header holds 16 bits; no scanner comes near


def _valid_dpi(value: object) -> tuple[float, float] | None:
    """(x, y) dpi as floats when both are in (0, 65535], else None: a file's nonsense is not kept, since a value an
    encoder cannot store would fail the write of the whole image."""
    try:
        x, y = (_rational(v) for v in cast("tuple[object, object]", value))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return (x, y) if all(0 < v <= _MAX_DPI for v in (x, y)) else None


def _tiff_dpi(tags: Mapping[int, object]) -> tuple[float, float] | None:
    """dpi from TIFF tags (by code): XResolution, YResolution and ResolutionUnit (1: no unit, only an aspect ratio,
    so no dpi; 2: inch, the default when the tag is absent; 3: centimetre). None without the resolution tags."""
    x, y, unit = (tags.get(code) for code in (_TIFF_X_RESOLUTION, _TIFF_Y_RESOLUTION, _TIFF_RESOLUTION_UNIT))
    try:
        scale = {2: 1.0, 3: 2.54}.get(2 if unit is None else int(cast("int", unit)))
        if scale is None or x is None or y is None:
            return None
        return _valid_dpi((_rational(x) * scale, _rational(y) * scale))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _upright_dpi(dpi: tuple[float, float] | None, orientation: int) -> tuple[float, float] | None:
    """The stored image's dpi for the upright one: orientations 5-8 swap its rows and columns."""
    return (dpi[1], dpi[0]) if dpi is not None and orientation in (5, 6, 7, 8) else dpi


_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*=\s*[\"']|<tiff:Orientation>\s*)[0-9]")


def _upright_xmp(xmp: object) -> bytes | None:
    """An XMP packet as bytes (PNG's comes as text), with tiff:Orientation reset to 1: the pixels we hold are
    upright, and a viewer that honours XMP's orientation would turn them again."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if not isinstance(xmp, bytes) or not xmp.strip(b"\x00 \t\r\n"):
        return None
    return _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)


_SRGB_PRIMARIES = (1, 2)  # ITU-T H.273: BT.709 (sRGB's) and "unspecified", which viewers read as sRGB


def colour_description_lost(image: ImageData, fmt: str) -> str | None:
    """Why writing ``image`` as ``fmt`` loses its colour space, or None when it does not: a greyscale image's
    greyscale ICC profile where ``fmt`` stores the pixels as RGB (:func:`write_image` leaves the profile out), or a
    HEIF tagged with non-sRGB primaries (e.g. Display P3) written to a format other than HEIF, without an ICC profile
    of its own.

        >>> colour_description_lost(ImageData(np.zeros((1, 1, 3), np.float32), heif_colour=(12, 13)), "PNG")
        'its HEIF colour description (primaries 12, such as Display P3) is not sRGB and PNG cannot carry it'
        >>> grey_profile = bytes(16) + b"GRAY" + bytes(108)
        >>> grey = ImageData(np.zeros((1, 1, 3), np.float32), greyscale=True, icc_profile=grey_profile)
        >>> colour_description_lost(grey, "WEBP"), colour_description_lost(grey, "PNG")
        ('its greyscale ICC profile is left out (WEBP stores greyscale as RGB)', None)
    """
    if image.greyscale and icc_matches(image.icc_profile, greyscale=True) and not _stores_greyscale(image, fmt):
        stored = "greyscale with alpha as RGBA" if image.alpha is not None else "greyscale as RGB"
        return f"its greyscale ICC profile is left out ({fmt} stores {stored})"
    if image.heif_colour is None or image.heif_colour[0] in _SRGB_PRIMARIES or fmt == "HEIF" or image.icc_profile:
        return None
    primaries = image.heif_colour[0]
    example = {9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}.get(primaries)
    such_as = f", such as {example}" if example else ""
    return f"its HEIF colour description (primaries {primaries}{such_as}) is not sRGB and {fmt} cannot carry it"


def _stores_greyscale(image: ImageData, fmt: str) -> bool:
    """Whether ``fmt`` stores ``image`` as greyscale: a greyscale image is, but in WebP (which has no greyscale mode)
    and, with alpha, AVIF and HEIF (whose encoders write grey + alpha as RGBA)."""
    return image.greyscale and fmt != "WEBP" and not (image.alpha is not None and fmt in ("AVIF", "HEIF"))


def _heif_colour(nclx: object) -> tuple[int, int] | None:
    """(colour primaries, transfer characteristics) of pillow-heif's ``nclx_profile`` info, or None without one."""
    if not isinstance(nclx, dict):
        return None
    try:
        return int(nclx["color_primaries"]), int(nclx["transfer_characteristics"])
    except (KeyError, TypeError, ValueError):
        return None


def _unreadable_reason(head: bytes) -> str:
    """Why Pillow could not identify a file: a codec this installation lacks, a damaged file of a format it has, or
    not an image at all. AVIF and HEIF are told apart by the ftyp box's brands (major, then compatible: an AVIF may
    name the generic "mif1" first)."""
    if head[4:8] != b"ftyp":
        return "not an image file (or a format Pillow does not know)"
    box_end = min(len(head), max(16, int.from_bytes(head[:4], "big")))
    brands = [head[8:12], *(head[i : i + 4] for i in range(16, box_end - 3, 4))]
    if any(brand in _AVIF_BRANDS for brand in brands):
        return missing_codec("AVIF") or "truncated or corrupt AVIF image (Pillow could not decode its header)"
    if any(brand in _HEIF_BRANDS for brand in brands):
        return missing_codec("HEIF") or "truncated or corrupt HEIC/HEIF image (pillow-heif could not decode its header)"
    return "not an image file (or a format Pillow does not know)"


def _pillow_oriented_tiff(
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


def exif_orientation(im: Image.Image) -> int:
    """An opened image's EXIF orientation, 1 to 8 (1 when it has none, or a broken EXIF block, which must not cost
    the user the image)."""
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:
        return 1


def _orientation_and_exif(im: Image.Image, fmt: str) -> tuple[int, bytes | None]:
    """The EXIF orientation, and the EXIF block to keep with the orientation reset to 1 (None for TIFF, whose
    "EXIF" here is its own file structure). A broken EXIF block must not cost the user the image."""
    orientation = exif_orientation(im)
    try:
        exif = im.getexif()
    except Exception:
        return 1, None
    if fmt == "TIFF" or not len(exif):
        return orientation, None
    try:
        exif = Image.Exif()
        exif.load(im.getexif().tobytes())
        if EXIF_ORIENTATION in exif:
            exif[EXIF_ORIENTATION] = 1
        return orientation, exif.tobytes()
    except Exception:
        return orientation, None


def _pillow_pixels(path: Path, im: Image.Image, head: bytes) -> tuple[np.ndarray, np.ndarray | None, bool, int]:
    """(pixels (H, W) or (H, W, 3), alpha or None, greyscale, bit depth) from an opened, unloaded Pillow image."""
    key = _key_colour(im, head)
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 26 and head[24] == 16:
        return _png16_pixels(path, head[25], key)
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N") or (mode == "I" and im.format == "PNG"):  # older Pillow: "I"
        data = np.asarray(im).astype(np.uint16)
        if im.format == "TIFF" and cast("TiffImageFile", im).tag_v2.get(_TIFF_PHOTOMETRIC) == 0:
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


def _read_tiff(path: Path, max_pixels: int | None) -> ImageData | None:
    """8- and 16-bit greyscale (min-is-black or min-is-white), grey + alpha, RGB and RGBA TIFF through tifffile,
    orientation applied here; samples of fewer bits (2, 4, 12, 14) are scaled to the 8 or 16 bits that hold them.
    Associated alpha is divided out of the colours; extra samples that are not alpha are dropped.

    Refuses a file of more than one page (other than reduced-resolution pages and masks), whatever their sizes.
    Returns None for TIFFs that need a colour conversion (palette, CMYK, YCbCr), and raises ``_TiffCodecMissing``
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
            _check_pixels(path, width, height, max_pixels)
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
                raise _TiffCodecMissing(_compression_name(int(page.compression)))  # LZW, JPEG, ...: Pillow's
            tags = {code: page.tags[code].value for code in _TIFF_KEPT_TAGS if code in page.tags}
            orientation = int(tags.get(_TIFF_ORIENTATION, 1))
            icc = bytes(tags[_TIFF_ICC]) if _TIFF_ICC in tags else None
            dpi = _tiff_dpi(tags)
            xmp = _upright_xmp(tags.get(_TIFF_XMP))
            try:
                data = series.asarray()
            except (KeyError, ValueError, ImportError) as exc:
                # another codec tifffile lacks without imagecodecs; or Zstandard, which it takes from the standard
                # library's compression.zstd where imagecodecs is missing (Python 3.14 and later)
                if isinstance(exc, ImportError) or "imagecodecs" in str(exc):
                    _check_pillow_keeps_depth(path, dtype, samples, int(page.compression), bits)
                    raise _TiffCodecMissing(_compression_name(int(page.compression))) from exc
                raise
    except (ImageReadError, _TiffCodecMissing):
        raise
    except Exception as exc:
        raise _decode_failure(path, exc) from exc
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
    rgb, alpha = _to_float_rgb(pixels, alpha, greyscale, bit_depth)
    if premultiplied and alpha is not None:
        rgb = _unpremultiplied(rgb, alpha, bit_depth)
        if photometric == 0:  # the samples as stored were premultiplied: inverted after dividing
            rgb = np.subtract(1, rgb, out=rgb)
    rgb, alpha = apply_orientation(rgb, orientation), apply_orientation(alpha, orientation)
    dpi = _upright_dpi(dpi, orientation)
    return ImageData(rgb, alpha, greyscale, bit_depth, "TIFF", _kept_icc(icc, greyscale), None, False, None, dpi, xmp)


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
        raise ImageReadError(f"{path}: reading this {bits}-bit {name}-compressed TIFF at 16 bits needs {_IMAGECODECS}")


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


def _to_float_rgb(
    pixels: np.ndarray, alpha: np.ndarray | None, greyscale: bool, bit_depth: int
) -> tuple[np.ndarray, np.ndarray | None]:
    scale = np.float32(1.0 / (65535.0 if bit_depth == 16 else 255.0))
    values = pixels.astype(np.float32) * scale
    if greyscale:
        values = np.repeat(values[..., None], 3, axis=2)
    return np.ascontiguousarray(values), alpha


@overload
def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray: ...
@overload
def apply_orientation(array: None, orientation: int) -> None: ...
def apply_orientation(array: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """Turn an (H, W) or (H, W, C) array upright for an EXIF orientation 1-8 (as PIL.ImageOps.exif_transpose)."""
    if array is None or orientation in (0, 1) or orientation > 8:
        return array
    swapped = np.swapaxes(array, 0, 1)
    oriented = {
        2: lambda: array[:, ::-1],
        3: lambda: array[::-1, ::-1],
        4: lambda: array[::-1],
        5: lambda: swapped,
        6: lambda: swapped[:, ::-1],
        7: lambda: swapped[::-1, ::-1],
        8: lambda: swapped[::-1],
    }[orientation]()
    return np.ascontiguousarray(oriented)


# ---------------------------------------------------------------------------------------------------------- writing


def format_for_path(path: str | Path) -> str:
    """The format written for a file name: by its (case-insensitive) extension. An unknown extension, or one whose
    codec this installation lacks (``.heic`` without pillow-heif: :func:`missing_codec`), is an ImageWriteError.

    Example:
        >>> format_for_path("photo.JPG"), format_for_path("scan.tiff"), format_for_path("out/deblurred.png")
        ('JPEG', 'TIFF', 'PNG')
    """
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        known = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ImageWriteError(f"{path}: cannot choose a format for extension '{suffix}' (known: {known})")
    missing = missing_codec(IMAGE_SUFFIXES[suffix])
    if missing:
        raise ImageWriteError(f"{path}: {missing}")
    return IMAGE_SUFFIXES[suffix]


def check_writable(path: str | Path, image: ImageData) -> str:
    """The format ``write_image(path, image)`` would write; raises the ``ImageWriteError`` it would raise for an
    ``image`` it cannot write (:func:`check_image_data`), for the extension (unknown, or its codec not installed), for
    alpha in a format without it, or for a side over the format's limit (WebP 16,383 pixels, JPEG 65,500), so that a
    caller can find out before computing the pixels.

    Example:
        >>> alpha = np.zeros((2, 2), np.uint8)
        >>> check_writable("a.png", ImageData(np.zeros((2, 2, 3), np.float32), alpha))
        'PNG'
    """
    check_image_data(path, image)
    fmt = format_for_path(path)
    if _alpha_to_keep(image, fmt) is not None and fmt in ("JPEG", "BMP"):
        raise ImageWriteError(f"{path}: {fmt} cannot store the alpha channel; write PNG, TIFF or WebP")
    name, limit = _MAX_SIDE.get(fmt, (fmt, math.inf))
    height, width = image.size
    if max(height, width) > limit:
        raise ImageWriteError(
            f"{path}: {width}x{height} is over {name}'s limit of {limit:,} pixels a side; write PNG or TIFF"
        )
    return fmt


def check_image_data(path: str | Path, image: object) -> None:
    """Raise ``ImageWriteError``, one line ``<path>: <reason>`` naming the shape, dtype or values, unless ``image``
    is an :class:`ImageData` that :func:`write_image` writes as it says: ``rgb`` a numpy (H, W, 3) array with H,
    W >= 1, float in [0, 1] (finite; a resize's overshoot, up to ``infer.INPUT_VALUE_RANGE``, is clipped, but not
    a 0-255 or [-1, 1] float image, which would be written white or black) or uint8 / uint16 (read by their range);
    ``alpha`` None or a uint8 / uint16 (H, W) array; ``bit_depth`` 8 or 16. Nothing else is guessed: an (H, W)
    ``rgb`` (greyscale is (H, W, 3) with ``greyscale=True``), a fourth channel (alpha is ``alpha``) and a (3, H, W)
    array are refused, each with what to pass instead.

    Example:
        >>> try:
        ...     check_image_data("out.png", ImageData(rgb=np.zeros((3, 2, 2), np.float32)))
        ... except ImageWriteError as error:
        ...     print(error)
        out.png: image.rgb shape (3, 2, 2): expected (H, W, 3) with H, W >= 1 (channels first? rgb.transpose(1, 2, 0))
    """
    if not isinstance(image, ImageData):
        wrap = " (wrap an (H, W, 3) array: ImageData(rgb=array))" if isinstance(image, np.ndarray) else ""
        raise ImageWriteError(f"{path}: expected an ImageData to write, got {type(image).__name__}{wrap}")
    rgb = image.rgb
    if not isinstance(rgb, np.ndarray):
        raise ImageWriteError(f"{path}: image.rgb is a {type(rgb).__name__}: expected a numpy (H, W, 3) array")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        if rgb.ndim == 2:
            hint = " (greyscale? np.repeat(grey[..., None], 3, axis=2) with greyscale=True)"
        elif rgb.ndim == 3 and rgb.shape[0] == 3:
            hint = " (channels first? rgb.transpose(1, 2, 0))"
        elif rgb.ndim == 3 and rgb.shape[2] in (2, 4):
            hint = " (alpha goes in image.alpha, uint8 or uint16, not in rgb)"
        else:
            hint = ""
        raise ImageWriteError(f"{path}: image.rgb shape {rgb.shape}: expected (H, W, 3) with H, W >= 1{hint}")
    if rgb.dtype.kind == "f":
        from golfdeblur.infer import check_value_span  # here, not above: infer imports this module

        try:
            check_value_span(float(rgb.min()), float(rgb.max()))  # in rgb's own dtype, as deblur checks its input
        except DeblurSettingsError as exc:
            raise ImageWriteError(f"{path}: image.rgb: {exc}") from exc
    elif not _uint8_or_16(rgb.dtype):
        raise ImageWriteError(f"{path}: image.rgb dtype {rgb.dtype}: use float in [0, 1], uint8 or uint16")
    alpha = image.alpha
    if alpha is not None:
        if not isinstance(alpha, np.ndarray) or not _uint8_or_16(alpha.dtype):
            what = f"dtype {alpha.dtype}" if isinstance(alpha, np.ndarray) else f"is a {type(alpha).__name__}"
            floats = isinstance(alpha, np.ndarray) and alpha.dtype.kind == "f"
            scale = "; a float alpha in [0, 1]? np.rint(alpha * 255).astype(np.uint8)" if floats else ""
            raise ImageWriteError(f"{path}: image.alpha {what}: use a uint8 or uint16 array (written untouched{scale})")
        if alpha.shape != rgb.shape[:2]:
            raise ImageWriteError(f"{path}: image.alpha shape {alpha.shape}: expected (H, W) = {rgb.shape[:2]}")
    if image.bit_depth not in (8, 16):
        raise ImageWriteError(f"{path}: image.bit_depth {image.bit_depth!r}: use 8 or 16")


def _uint8_or_16(dtype: np.dtype) -> bool:
    """uint8 or uint16 in either byte order (a big-endian ``>u2`` too, as ``deblur`` takes them)."""
    return dtype.kind == "u" and dtype.itemsize in (1, 2)


def _alpha_to_keep(image: ImageData, fmt: str) -> np.ndarray | None:
    """``image.alpha``, or None where ``fmt`` has no alpha (JPEG, BMP) and the alpha is opaque everywhere: leaving
    out an alpha that covers every pixel loses nothing (a screenshot's RGBA into JPEG)."""
    alpha = image.alpha
    if (
        alpha is not None
        and fmt in ("JPEG", "BMP")
        and alpha.dtype.kind == "u"
        and alpha.min() == np.iinfo(alpha.dtype).max
    ):
        return None
    return alpha


def _quantise(values: np.ndarray, bit_depth: int) -> np.ndarray:
    top = 65535.0 if bit_depth == 16 else 255.0
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.rint(np.clip(values, 0.0, 1.0) * top).astype(dtype)


def _alpha_at_depth(alpha: np.ndarray, bit_depth: int) -> np.ndarray:
    """Alpha as stored (untouched) when the depth matches; rescaled only when the output format cannot hold it."""
    if (alpha.dtype == np.uint16) == (bit_depth == 16):
        return alpha
    if bit_depth == 8:
        return np.rint(alpha.astype(np.float64) / 257.0).astype(np.uint8)
    return alpha.astype(np.uint16) * 257


def write_image(path: str | Path, image: ImageData, replace_existing: bool = True) -> Path:
    """Write ``image`` to ``path`` atomically, in the format its extension names, with the bit depth, greyscale
    mode, alpha, ICC profile, EXIF, XMP and dpi of ``image`` where the format holds them (see the module's notes). A
    profile whose colour space is not the pixels' (see :func:`icc_matches`) is left out, and so is a greyscale image's
    profile where the format stores the pixels as RGB (WebP; AVIF and HEIF with alpha), which
    :func:`colour_description_lost` tells before, and EXIF or XMP too large for JPEG (with a note on stderr).

    JPEG, WebP and BMP hold only 8 bits; a 16-bit image is written to them at 8 bits. Greyscale images are written as
    the mean of the three channels. With ``replace_existing`` False a file already at ``path`` (one that appeared
    since the caller checked, written by another process) is not replaced: an ImageWriteError. Folders missing on
    the way to ``path`` are made (they stay should the write fail). Returns ``path``.

    Shape:
        ``image.rgb`` (H, W, 3): float in [0, 1] (a resize's small overshoot is clipped), or uint8 / uint16 read by
        their range, e.g. ``deblur``'s result for such an image; ``image.alpha`` (H, W) uint8 or uint16, or None.

    Raises:
        ImageWriteError: before anything is written (no folder made), an ``image`` that is not an ImageData as
            above (:func:`check_image_data`: the shape, dtype or values it names, NaN included, or a bit depth other
            than 8 and 16), an unknown extension or one whose codec is not installed (:func:`missing_codec`), alpha
            (not opaque everywhere) for JPEG or BMP, or a side over the format's limit; after, the file cannot be
            written (any encoder or file system error, as one line naming the file).

    Example:
        >>> import tempfile
        >>> rgb = np.linspace(0, 1, 4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(Path(tmp) / "ramp.png", ImageData(rgb=rgb))
        ...     back = read_image(path)
        >>> path.name, back.rgb.shape, str(back.rgb.dtype), back.bit_depth, back.format
        ('ramp.png', (4, 6, 3), 'float32', 8, 'PNG')
        >>> bool(np.abs(back.rgb - rgb).max() <= 0.5 / 255)  # 8-bit rounding is the only change
        True
    """
    path = Path(path)
    fmt = check_writable(path, image)
    if image.alpha is not None and not image.alpha.dtype.isnative:  # >u2: _alpha_at_depth compares with uint16
        image = replace(image, alpha=image.alpha.astype(image.alpha.dtype.newbyteorder("=")))
    bit_depth = 16 if image.bit_depth == 16 and fmt in ("PNG", "TIFF") else 8
    rgb = image.rgb
    if rgb.dtype.kind == "u":  # uint8 or uint16 (check_image_data), by its range; float32 keeps every value exact
        rgb = rgb.astype(np.float32) * np.float32(1.0 / np.iinfo(rgb.dtype).max)
    values = rgb.mean(axis=2) if image.greyscale else rgb
    samples = _quantise(values, bit_depth)
    # A greyscale image's profile describes grey pixels: left out where the format stores them as RGB.
    icc = _kept_icc(image.icc_profile, image.greyscale) if _stores_greyscale(image, fmt) == image.greyscale else None
    image = _fitting_metadata(path, fmt, replace(image, icc_profile=icc, alpha=_alpha_to_keep(image, fmt)))
    if image.alpha is not None:
        alpha = _alpha_at_depth(image.alpha, bit_depth)
        samples = np.concatenate([samples.reshape(*samples.shape[:2], -1), alpha[..., None]], axis=2)
    try:
        with atomic_path(path, replace=replace_existing) as tmp:
            if fmt == "TIFF":
                _write_tiff(tmp, samples, image)
            elif fmt == "PNG" and bit_depth == 16:
                _write_png16(tmp, samples, image.icc_profile, image.exif, image.dpi, image.xmp)
            else:
                _write_with_pillow(tmp, samples, fmt, image)
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except Exception as exc:  # encoders raise ValueError, RuntimeError, ...: still one line naming the file
        detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise ImageWriteError(f"{path}: cannot write as {fmt} ({detail})") from exc
    return path


def _fitting_metadata(path: Path, fmt: str, image: ImageData) -> ImageData:
    """``image`` without the EXIF or XMP that ``fmt`` cannot hold (JPEG: one 64 KB marker each; PNG: XMP that is not
    UTF-8, which its iTXt chunk requires), with a note on stderr: the pixels matter more than the metadata, and
    failing would lose the deblurred image."""
    if fmt == "PNG" and image.xmp:
        try:
            image.xmp.decode("utf-8")
        except UnicodeDecodeError:
            note(f"{path}: its XMP is not UTF-8, which PNG requires; written without it")
            return replace(image, xmp=None)
    if fmt != "JPEG":
        return image
    if image.exif and len(image.exif) > _JPEG_MAX_MARKER:
        note(
            f"{path}: its EXIF ({len(image.exif):,} bytes) is over JPEG's limit of {_JPEG_MAX_MARKER:,}; "
            "written without it"
        )
        image = replace(image, exif=None)
    if image.xmp and len(image.xmp) > _JPEG_MAX_MARKER - _JPEG_XMP_HEADER:
        note(
            f"{path}: its XMP ({len(image.xmp):,} bytes) is over JPEG's limit of "
            f"{_JPEG_MAX_MARKER - _JPEG_XMP_HEADER:,}; written without it"
        )
        image = replace(image, xmp=None)
    return image


def _write_with_pillow(tmp: Path, samples: np.ndarray, fmt: str, image: ImageData) -> None:
    options: dict = {}
    if image.icc_profile:
        options["icc_profile"] = image.icc_profile
    if image.exif:
        options["exif"] = image.exif
    if image.dpi and fmt in ("JPEG", "PNG", "BMP"):
        options["dpi"] = image.dpi
    if image.xmp and fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        options["xmp"] = image.xmp
    elif image.xmp and fmt == "PNG":  # Pillow writes PNG's XMP only as a text chunk under Adobe's key
        options["pnginfo"] = PngInfo()
        options["pnginfo"].add_itxt(_PNG_XMP_KEY, image.xmp.decode("utf-8"))
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, subsampling=0)
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True) if image.lossless else options.update(quality=WEBP_QUALITY)
    elif fmt == "AVIF":  # full-resolution colour, as for JPEG: a restored photo's fine colour detail is kept
        options.update(quality=AVIF_HEIF_QUALITY, subsampling="4:4:4" if not image.greyscale else "4:0:0")
    elif fmt == "HEIF":
        options.update(quality=AVIF_HEIF_QUALITY, chroma=444)
        if image.heif_colour is not None:
            options.update(color_primaries=image.heif_colour[0], transfer_characteristics=image.heif_colour[1])
    if samples.ndim == 3 and samples.shape[2] == 1:
        samples = samples[..., 0]
    # Encoded in memory, then written by Python: Pillow's JPEG and BMP encoders write to a file's descriptor and
    # ignore a short write (a full disk, a file size limit), which would publish a cut-off file; Python's write
    # retries a short write and raises on the failure (ENOSPC, EFBIG), so nothing half-written is ever published.
    encoded = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(samples)).save(encoded, format=fmt, **options)
    with open(tmp, "wb") as handle:
        handle.write(encoded.getbuffer())


def _write_tiff(tmp: Path, samples: np.ndarray, image: ImageData) -> None:
    import tifffile

    channels = 1 if samples.ndim == 2 else samples.shape[2]
    photometric = "minisblack" if image.greyscale else "rgb"
    extrasamples = ("unassalpha",) if image.alpha is not None else None
    if channels == 1 and samples.ndim == 3:
        samples = samples[..., 0]
    tifffile.imwrite(
        tmp,
        samples,
        photometric=photometric,
        planarconfig="contig",
        extrasamples=extrasamples,
        compression="zlib",
        iccprofile=image.icc_profile,
        resolution=image.dpi,  # None: tifffile's 1 x 1 with no unit, i.e. no dpi stated
        resolutionunit="INCH" if image.dpi else None,
        extratags=[(_TIFF_XMP, "B", len(image.xmp), image.xmp, True)] if image.xmp else None,
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _write_png16(
    tmp: Path,
    samples: np.ndarray,
    icc_profile: bytes | None,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    xmp: bytes | None = None,
) -> None:
    """A 16-bit PNG (greyscale, grey + alpha, RGB or RGBA), each row "Up"-filtered (vectorised, compresses well),
    with the ICC profile (iCCP), the EXIF block (eXIf: the TIFF structure, without the "Exif" prefix), the dpi
    (pHYs, in pixels per metre) and the XMP (iTXt under Adobe's key), before the image data as the PNG
    specification asks."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, width * channels).view(np.uint8)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # Up: each byte minus the byte above it, modulo 256
    filtered[0, 1:] = rows[0]
    filtered[1:, 1:] = rows[1:] - rows[:-1]
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    with open(tmp, "wb") as handle:
        handle.write(_PNG_SIGNATURE + _png_chunk(b"IHDR", header))
        if icc_profile:
            handle.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
        if exif:
            handle.write(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
        if dpi:  # rounded as Pillow rounds, so that 8- and 16-bit PNGs state the same resolution
            handle.write(_png_chunk(b"pHYs", struct.pack(">IIB", *(int(d / 0.0254 + 0.5) for d in dpi), 1)))
        if xmp:  # keyword, no compression (flag, method), empty language and translated keyword, then UTF-8 text
            handle.write(_png_chunk(b"iTXt", _PNG_XMP_KEY.encode("latin-1") + b"\x00\x00\x00\x00\x00" + xmp))
        compressor = zlib.compressobj(6)
        block_rows = max(1, (1 << 22) // filtered.shape[1])
        for start in range(0, height, block_rows):
            data = compressor.compress(filtered[start : start + block_rows].tobytes())
            if data:
                handle.write(_png_chunk(b"IDAT", data))
        handle.write(_png_chunk(b"IDAT", compressor.flush()))
        handle.write(_png_chunk(b"IEND", b""))
