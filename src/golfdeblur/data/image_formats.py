"""Which image formats golfdeblur reads and writes, and how a file is told to be one: the extensions
(``IMAGE_SUFFIXES``, the same whatever is installed) and formats (``SUPPORTED_FORMATS``), whether this installation
has the optional codecs (``AVIF_AVAILABLE``, ``HEIF_AVAILABLE``; :func:`missing_codec` says what to install), the format
written for a file name (:func:`format_for_path`), the files' signatures and the TIFF tag codes that the readers and
writers use, Pillow's modes of 8-bit samples (``PILLOW_8_BIT_MODES``), and why a file that no reader identifies is
not read (:func:`unreadable_reason`).
"""

from __future__ import annotations

from pathlib import Path

import PIL
from PIL import features

from golfdeblur.data.image_data import ImageWriteError


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


# ISO base media "ftyp" brands (bytes 8-12) of files that a missing codec would otherwise call "not an image".
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")

# Pillow modes of 8 bits a sample (or fewer: "1"), whatever the file stored: a file of more bits read in one of them
# has lost bit depth.
PILLOW_8_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# TIFF tag codes
TIFF_NEW_SUBFILE_TYPE, TIFF_WIDTH, TIFF_HEIGHT, TIFF_BITS_PER_SAMPLE = 254, 256, 257, 258
TIFF_PHOTOMETRIC, TIFF_ORIENTATION, TIFF_XMP, TIFF_ICC = 262, 274, 700, 34675
TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION, TIFF_RESOLUTION_UNIT = 282, 283, 296


def unreadable_reason(head: bytes) -> str:
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
