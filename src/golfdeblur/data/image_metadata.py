"""What travels with an image's pixels, as read and as kept: EXIF orientation (read, applied to the pixels with
:func:`apply_orientation`, reset in the EXIF kept), the ICC profile (kept when its colour space is the pixels':
:func:`icc_matches`), resolution (dpi, from Pillow's info or TIFF tags, turned with the image), XMP (its
tiff:Orientation reset), a HEIF file's colour description, and whether writing to a format loses the colour
description (:func:`colour_description_lost`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import cast, overload

import numpy as np
from PIL import Image

from golfdeblur.data.image_data import ImageData
from golfdeblur.data.image_formats import TIFF_RESOLUTION_UNIT, TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION

EXIF_ORIENTATION = 0x0112  # the EXIF tag of the orientation


def exif_orientation(im: Image.Image) -> int:
    """An opened image's EXIF orientation, 1 to 8 (1 when it has none, or a broken EXIF block, which must not cost
    the user the image)."""
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:
        return 1


def orientation_and_exif(im: Image.Image, fmt: str) -> tuple[int, bytes | None]:
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


def kept_icc(icc_profile: bytes | None, greyscale: bool) -> bytes | None:
    """``icc_profile`` when it describes the pixels held (:func:`icc_matches`), else None: the profile ImageData
    keeps and a writer embeds."""
    return icc_profile if icc_matches(icc_profile, greyscale) else None


def _rational(value: object) -> float:
    """A TIFF rational as Pillow (IFDRational) or tifffile ((numerator, denominator)) gives it."""
    if isinstance(value, tuple):
        numerator, denominator = value[:2]
        return float(numerator) / float(denominator) if denominator else math.nan
    return float(cast("float", value))


_MAX_DPI = 65535.0  # JPEG's JFIF header holds 16 bits; no scanner comes near


def valid_dpi(value: object) -> tuple[float, float] | None:
    """(x, y) dpi as floats when both are in (0, 65535], else None: a file's nonsense is not kept, since a value an
    encoder cannot store would fail the write of the whole image."""
    try:
        x, y = (_rational(v) for v in cast("tuple[object, object]", value))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return (x, y) if all(0 < v <= _MAX_DPI for v in (x, y)) else None


def tiff_dpi(tags: Mapping[int, object]) -> tuple[float, float] | None:
    """dpi from TIFF tags (by code): XResolution, YResolution and ResolutionUnit (1: no unit, only an aspect ratio,
    so no dpi; 2: inch, the default when the tag is absent; 3: centimetre). None without the resolution tags."""
    x, y, unit = (tags.get(code) for code in (TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION, TIFF_RESOLUTION_UNIT))
    try:
        scale = {2: 1.0, 3: 2.54}.get(2 if unit is None else int(cast("int", unit)))
        if scale is None or x is None or y is None:
            return None
        return valid_dpi((_rational(x) * scale, _rational(y) * scale))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def upright_dpi(dpi: tuple[float, float] | None, orientation: int) -> tuple[float, float] | None:
    """The stored image's dpi for the upright one: orientations 5-8 swap its rows and columns."""
    return (dpi[1], dpi[0]) if dpi is not None and orientation in (5, 6, 7, 8) else dpi


_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*=\s*[\"']|<tiff:Orientation>\s*)[0-9]")


def upright_xmp(xmp: object) -> bytes | None:
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
    greyscale ICC profile where ``fmt`` stores the pixels as RGB
    (:func:`~golfdeblur.data.image_writing.write_image` leaves the profile out), or a HEIF tagged with non-sRGB
    primaries (e.g. Display P3) written to a format other than HEIF, without an ICC profile of its own.

        >>> colour_description_lost(ImageData(np.zeros((1, 1, 3), np.float32), heif_colour=(12, 13)), "PNG")
        'its HEIF colour description (primaries 12, such as Display P3) is not sRGB and PNG cannot carry it'
        >>> grey_profile = bytes(16) + b"GRAY" + bytes(108)
        >>> grey = ImageData(np.zeros((1, 1, 3), np.float32), greyscale=True, icc_profile=grey_profile)
        >>> colour_description_lost(grey, "WEBP"), colour_description_lost(grey, "PNG")
        ('its greyscale ICC profile is left out (WEBP stores greyscale as RGB)', None)
    """
    if image.greyscale and icc_matches(image.icc_profile, greyscale=True) and not stores_greyscale(image, fmt):
        stored = "greyscale with alpha as RGBA" if image.alpha is not None else "greyscale as RGB"
        return f"its greyscale ICC profile is left out ({fmt} stores {stored})"
    if image.heif_colour is None or image.heif_colour[0] in _SRGB_PRIMARIES or fmt == "HEIF" or image.icc_profile:
        return None
    primaries = image.heif_colour[0]
    example = {9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}.get(primaries)
    such_as = f", such as {example}" if example else ""
    return f"its HEIF colour description (primaries {primaries}{such_as}) is not sRGB and {fmt} cannot carry it"


def stores_greyscale(image: ImageData, fmt: str) -> bool:
    """Whether ``fmt`` stores ``image`` as greyscale: a greyscale image is, but in WebP (which has no greyscale mode)
    and, with alpha, AVIF and HEIF (whose encoders write grey + alpha as RGBA)."""
    return image.greyscale and fmt != "WEBP" and not (image.alpha is not None and fmt in ("AVIF", "HEIF"))


def heif_colour_from_nclx(nclx: object) -> tuple[int, int] | None:
    """(colour primaries, transfer characteristics) of pillow-heif's ``nclx_profile`` info, or None without one."""
    if not isinstance(nclx, dict):
        return None
    try:
        return int(nclx["color_primaries"]), int(nclx["transfer_characteristics"])
    except (KeyError, TypeError, ValueError):
        return None
