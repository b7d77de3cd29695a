"""What inputs and settings deblur takes, checked without importing torch (so that writing an image checks its values
without it): a float image in [0, 1], with a resize's overshoot allowed (``INPUT_VALUE_RANGE``), finite
(:func:`check_value_span`; :func:`within_input_range` and :func:`shown_value` for a check that words its own error,
as the metrics' does), or a uint8 / uint16 one read by its range (:func:`unit_float`); counts and sizes that are whole
numbers (:func:`whole_number`, :func:`whole_iterations`)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from golfdeblur.errors import DeblurSettingsError

# Float inputs a little outside [0, 1] (a resize's overshoot, a few percent) are fine: the result is clamped. Beyond
# this they are not an image in [0, 1] at all, most often a [-1, 1] float image (half of it would come back black) or a
# 0-255 one (white).
INPUT_VALUE_RANGE = (-0.5, 1.5)


def within_input_range(low: float, high: float) -> bool:
    """Whether an image whose values span [``low``, ``high``] (NaN or infinite when any is) is one deblur takes:
    finite and within ``INPUT_VALUE_RANGE``. Scale both ends first for another range (the metrics' ``data_range``).

    Example:
        >>> within_input_range(-0.02, 1.03), within_input_range(0.0, 255.0), within_input_range(0.0, float("nan"))
        (True, False, False)
    """
    bottom, top = INPUT_VALUE_RANGE
    return math.isfinite(low) and math.isfinite(high) and bottom <= low and high <= top


def shown_value(value: float, scale: float = 1.0) -> str:
    """A finite end of an image's values as an error prints it: ``:g``'s 6 digits, more where those would round it
    across the edge of ``INPUT_VALUE_RANGE`` times ``scale`` (1.5000002 shown as 1.5, which is taken, would say
    nothing), else ``repr``.

    Example:
        >>> shown_value(255.0), shown_value(1.5000002), shown_value(382.50001, scale=255)
        ('255', '1.5000002', '382.50001')
    """
    bottom, top = INPUT_VALUE_RANGE

    def inside(end: float) -> bool:  # as within_input_range judges it: the end scaled first
        return bottom <= end / scale <= top

    for digits in range(6, 18):
        text = f"{value:.{digits}g}"
        if inside(float(text)) == inside(value):
            return text
    return repr(value)


def check_value_span(low: float, high: float) -> None:
    """Raise ``DeblurSettingsError`` (one line) unless an image's values, which span [``low``, ``high``] (NaN or
    infinite when any is), are finite and within ``INPUT_VALUE_RANGE`` (:func:`within_input_range`). An end outside
    it is printed with as many digits as show it outside (:func:`shown_value`).

    Example:
        >>> try:
        ...     check_value_span(-0.5000001, 1.0)
        ... except DeblurSettingsError as error:
        ...     print(error)
        image values span [-0.5000001, 1]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it to [0, 1])
    """
    if within_input_range(low, high):
        return
    if not (math.isfinite(low) and math.isfinite(high)):
        raise DeblurSettingsError("image values include NaN or infinity: expected finite values in [0, 1]")
    raise DeblurSettingsError(
        f"image values span [{shown_value(low)}, {shown_value(high)}]: expected [0, 1] (a [-1, 1] or 0-255 float "
        "image? scale it to [0, 1])"
    )


def is_uint8_or_16(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is uint8 or uint16 in either byte order (a big-endian ``>u2`` too): an image read by its
    range."""
    return dtype.kind == "u" and dtype.itemsize in (1, 2)


def check_image_dtype(dtype: np.dtype, what: str = "image") -> None:
    """Raise ``DeblurSettingsError`` (one line, naming ``what``) unless ``dtype`` is uint8, uint16 (either byte order)
    or a float: the image dtypes :func:`unit_float` takes."""
    if not (is_uint8_or_16(dtype) or dtype.kind == "f"):
        raise DeblurSettingsError(f"{what} dtype {dtype}: use uint8, uint16 or float in [0, 1]")


def unit_float(array: np.ndarray, what: str = "image") -> np.ndarray:
    """``array``'s values as float32 in [0, 1] (a float image's overshoot aside), a new array: uint8 and uint16 (either
    byte order) scaled by their range (times float32 1/255 or 1/65535), as deblur reads them; a float image as it
    is, once its values are checked (:func:`check_value_span`, in its own dtype: float32 would make a float64 1e39
    infinity). Another dtype is a ``DeblurSettingsError`` naming ``what`` (:func:`check_image_dtype`).

    Example:
        >>> unit_float(np.array([0, 255], np.uint8)).tolist(), unit_float(np.array([65535], ">u2")).tolist()
        ([0.0, 1.0], [1.0])
        >>> unit_float(np.array([0.5, 1.0])).dtype
        dtype('float32')
        >>> try:
        ...     unit_float(np.array([0, 255.0]))
        ... except DeblurSettingsError as error:
        ...     print(error)
        image values span [0, 255]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it to [0, 1])
    """
    check_image_dtype(array.dtype, what)
    if array.dtype.kind == "f":
        if array.size:
            check_value_span(float(array.min()), float(array.max()))
        return array.astype(np.float32)
    scaled = array.astype(np.float32)
    scaled *= np.float32(1.0 / np.iinfo(array.dtype).max)  # in place: the copy astype made
    return scaled


def whole_number(value: object, minimum: int, what: str, *, unit: str = "", note: str = "") -> int:
    """``value`` as an int when it is a whole number >= ``minimum`` (a numpy integer too), else a one-line
    ``DeblurSettingsError``: ``<what> <value>: must be a whole number[ of <unit>], <minimum> or more[ <note>]``. A
    bool is no count, and 2.5 or "3" is refused rather than rounded or compared as text.

    Example:
        >>> whole_number(np.int64(3), 1, "batch")
        3
        >>> try:
        ...     whole_number(0, 1, "crop_size", unit="pixels", note="(None: whole images)")
        ... except DeblurSettingsError as error:
        ...     print(error)
        crop_size 0: must be a whole number of pixels, 1 or more (None: whole images)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        of, why = f" of {unit}" if unit else "", f" {note}" if note else ""
        raise DeblurSettingsError(f"{what} {value!r}: must be a whole number{of}, {minimum} or more{why}")
    return int(value)


def whole_iterations(iterations: object, what: str = "iterations") -> int:
    """``iterations`` (applications of D) as an int when it is a whole number >= 0 (a numpy integer too), else a
    DeblurSettingsError naming ``what``: a bool is no count, and -1 or 2.5 would give a receptive field of 1 px or a
    float. ``golfdeblur.infer.check_iterations`` caps it at 64 on top.

    Example:
        >>> whole_iterations(3), whole_iterations(0)
        (3, 0)
    """
    return whole_number(iterations, 0, what, note="(applications of D)")
