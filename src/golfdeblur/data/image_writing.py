"""Image writing: :func:`write_image` writes an :class:`~golfdeblur.data.image_data.ImageData` atomically in the
format its file name's extension names, with the bit depth, greyscale mode, alpha and metadata the format holds (the
choices are listed in :mod:`golfdeblur.data.imageio`'s notes); :func:`check_writable` and :func:`check_image_data`
refuse, before anything is computed or written, what it would refuse. The encoders: Pillow's (in memory, then
written by Python), tifffile's, and a small 16-bit PNG encoder of our own.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from golfdeblur.atomic import atomic_path
from golfdeblur.data.image_data import ImageData, ImageWriteError
from golfdeblur.data.image_formats import PNG_SIGNATURE, TIFF_XMP, format_for_path
from golfdeblur.data.image_metadata import kept_icc, stores_greyscale
from golfdeblur.errors import DeblurSettingsError
from golfdeblur.input_values import check_value_span, is_uint8_or_16, unit_float
from golfdeblur.notes import note

JPEG_QUALITY = 95
WEBP_QUALITY = 95
AVIF_HEIF_QUALITY = 95
_JPEG_MAX_MARKER = 65533  # bytes of data one JPEG APPn marker holds (Pillow's limit for EXIF)
_JPEG_XMP_HEADER = len(b"http://ns.adobe.com/xap/1.0/\x00")  # shares the marker with the XMP
_MAX_SIDE = {"WEBP": ("WebP", 16383), "JPEG": ("JPEG", 65500)}  # the encoders' limits (libwebp, libjpeg), per side
_PNG_XMP_KEY = "XML:com.adobe.xmp"


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
    W >= 1, float in [0, 1] (finite; a resize's overshoot, up to ``input_values.INPUT_VALUE_RANGE``, is clipped, but not
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
        try:
            check_value_span(float(rgb.min()), float(rgb.max()))  # in rgb's own dtype, as deblur checks its input
        except DeblurSettingsError as exc:
            raise ImageWriteError(f"{path}: image.rgb: {exc}") from exc
    elif not is_uint8_or_16(rgb.dtype):
        raise ImageWriteError(f"{path}: image.rgb dtype {rgb.dtype}: use float in [0, 1], uint8 or uint16")
    alpha = image.alpha
    if alpha is not None:
        if not isinstance(alpha, np.ndarray) or not is_uint8_or_16(alpha.dtype):
            what = f"dtype {alpha.dtype}" if isinstance(alpha, np.ndarray) else f"is a {type(alpha).__name__}"
            floats = isinstance(alpha, np.ndarray) and alpha.dtype.kind == "f"
            scale = "; a float alpha in [0, 1]? np.rint(alpha * 255).astype(np.uint8)" if floats else ""
            raise ImageWriteError(f"{path}: image.alpha {what}: use a uint8 or uint16 array (written untouched{scale})")
        if alpha.shape != rgb.shape[:2]:
            raise ImageWriteError(f"{path}: image.alpha shape {alpha.shape}: expected (H, W) = {rgb.shape[:2]}")
    if image.bit_depth not in (8, 16):
        raise ImageWriteError(f"{path}: image.bit_depth {image.bit_depth!r}: use 8 or 16")


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
    mode, alpha, ICC profile, EXIF, XMP and dpi of ``image`` where the format holds them (see imageio's notes). A
    profile whose colour space is not the pixels' (see :func:`~golfdeblur.data.image_metadata.icc_matches`) is left
    out, and so is a greyscale image's profile where the format stores the pixels as RGB (WebP; AVIF and HEIF with
    alpha), which :func:`~golfdeblur.data.image_metadata.colour_description_lost` tells before, and EXIF or XMP too
    large for JPEG (with a note on stderr).

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
            than 8 and 16), an unknown extension or one whose codec is not installed
            (:func:`~golfdeblur.data.image_formats.missing_codec`), alpha (not opaque everywhere) for JPEG or BMP, or a
            side over the format's limit; after, the file cannot be written (any encoder or file system error, as one
            line naming the file).

    Example:
        >>> import tempfile
        >>> from golfdeblur.data.imageio import read_image
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
    # uint8 or uint16 (check_image_data) by its range, float32 keeping every value exact; a float image (checked) is
    # quantised in its own dtype
    if rgb.dtype.kind == "u":
        rgb = unit_float(rgb)
    # a grey image's mean summed in float64: three equal float32 values average back to exactly that value (float32
    # sums miss it by an ulp about one time in six, a level at 16 bits where it lies on a rounding boundary)
    values = rgb.mean(axis=2, dtype=np.float64).astype(rgb.dtype) if image.greyscale else rgb
    samples = _quantise(values, bit_depth)
    # A greyscale image's profile describes grey pixels: left out where the format stores them as RGB.
    icc = kept_icc(image.icc_profile, image.greyscale) if stores_greyscale(image, fmt) == image.greyscale else None
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
        extratags=[(TIFF_XMP, "B", len(image.xmp), image.xmp, True)] if image.xmp else None,
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
        handle.write(PNG_SIGNATURE + _png_chunk(b"IHDR", header))
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
