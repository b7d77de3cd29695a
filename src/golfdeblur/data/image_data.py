"""What a read image is: :class:`ImageData` (the decoded pixels and what is needed to write them back the same way),
the one-line errors that reading and writing raise, and the steps that both readers (Pillow's, in
:mod:`golfdeblur.data.imageio`, and tifffile's, in :mod:`golfdeblur.data.tiff_reading`) share: checking the pixel
count, turning a decoder's exception into one line, and turning samples into float RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from golfdeblur.errors import GolfdeblurError


class ImageReadError(GolfdeblurError):
    """A file that cannot be read as an image. The message is ``<file>: <reason>`` on one line."""


class ImageWriteError(GolfdeblurError):
    """An image that cannot be written. The message is ``<file>: <reason>`` on one line."""


class OverPixelLimit(ImageReadError):
    """A file over :func:`~golfdeblur.data.imageio.read_image`'s pixel limit; read_image adds how to raise the limit,
    in its caller's words, when its caller names the setting."""


@dataclass(frozen=True)
class ImageData:
    """A decoded image and what is needed to write it back the same way.

    Attributes:
        rgb: (H, W, 3) float32 in [0, 1], upright (EXIF orientation applied). Greyscale images are repeated
            over the three channels. :func:`~golfdeblur.data.image_writing.write_image` also takes float of any
            width in [0, 1], and uint8 or uint16, which it reads by their range (as ``deblur`` returns such images).
        alpha: (H, W) alpha channel in its original dtype (uint8 or uint16), untouched; None without alpha.
        greyscale: the file was single-channel (L, I;16, LA); it is written back as greyscale.
        bit_depth: 8 or 16 bits per sample (of the file read; of the file written where its format holds 16).
        format: the format read, one of ``image_formats.SUPPORTED_FORMATS`` ("PNG", "JPEG", "TIFF", ...).
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
        """The same image description with new (H, W, 3) pixels, e.g. the deblurred ones: float in [0, 1] (made
        float32), or uint8 or uint16 kept as they are, which ``write_image`` reads by their range (``deblur`` returns
        uint8 for uint8 input; as float32 they would be 0-255 values, which ``write_image`` refuses)."""
        if rgb.shape != self.rgb.shape:
            raise ValueError(f"new pixels have shape {rgb.shape}, expected {self.rgb.shape}")
        if isinstance(rgb, np.ndarray) and rgb.dtype.type in (np.uint8, np.uint16):  # big-endian ones too
            return replace(self, rgb=rgb)
        return replace(self, rgb=np.asarray(rgb, dtype=np.float32))


def check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse, before decoding, an image of ``width`` x ``height`` pixels (from its header) that has no pixels
    (ImageReadError) or more than ``max_pixels`` (OverPixelLimit; None: no limit), in one line naming ``path``."""
    if width < 1 or height < 1:
        raise ImageReadError(f"{path}: image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise OverPixelLimit(
            f"{path}: {width}x{height} = {width * height:,} pixels is over the limit of {max_pixels:,}"
        )


def decode_failure(path: Path, exc: BaseException) -> ImageReadError:
    """The one-line ImageReadError for a decoder's exception ``exc`` (any type, any text) on ``path``: out of memory,
    or truncated or corrupt data, with the first line of the decoder's message."""
    detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    if isinstance(exc, MemoryError):  # an allowed but large image on a small machine: not the file's fault
        return ImageReadError(f"{path}: out of memory decoding the image ({detail})")
    return ImageReadError(f"{path}: truncated or corrupt image data ({detail})")


def to_float_rgb(pixels: np.ndarray, greyscale: bool, bit_depth: int) -> np.ndarray:
    """Decoded samples as ImageData's rgb: ``pixels`` (H, W) grey or (H, W, 3) colour integers of ``bit_depth`` bits
    (8 or 16) to a contiguous (H, W, 3) float32 in [0, 1], grey repeated over the three channels."""
    scale = np.float32(1.0 / (65535.0 if bit_depth == 16 else 255.0))
    values = pixels.astype(np.float32) * scale
    if greyscale:
        values = np.repeat(values[..., None], 3, axis=2)
    return np.ascontiguousarray(values)
