"""What image values deblur takes (torch-free, so that writing an image checks its values without importing torch):
a float image in [0, 1], with a resize's overshoot allowed (``INPUT_VALUE_RANGE``), finite."""

from __future__ import annotations

import math

from golfdeblur.errors import DeblurSettingsError

# Float inputs a little outside [0, 1] (a resize's overshoot, a few percent) are fine: the result is clamped. Beyond
# this they are not an image in [0, 1] at all, most often a [-1, 1] float image (half of it would come back black) or a
# 0-255 one (white).
INPUT_VALUE_RANGE = (-0.5, 1.5)


def check_value_span(low: float, high: float) -> None:
    """Raise ``DeblurSettingsError`` (one line) unless an image's values, which span [``low``, ``high``] (NaN or
    infinite when any is), are finite and within ``INPUT_VALUE_RANGE``. An end outside it is printed with as many
    digits as show it outside.

    Example:
        >>> try:
        ...     check_value_span(-0.5000001, 1.0)
        ... except DeblurSettingsError as error:
        ...     print(error)
        image values span [-0.5000001, 1]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it to [0, 1])
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise DeblurSettingsError("image values include NaN or infinity: expected finite values in [0, 1]")
    bottom, top = INPUT_VALUE_RANGE
    if bottom <= low and high <= top:
        return

    def shown(value: float) -> str:
        for digits in range(6, 18):  # :g's 6, more where those would round an end outside onto the window
            text = f"{value:.{digits}g}"
            if (bottom <= float(text) <= top) == (bottom <= value <= top):
                return text
        return repr(value)

    raise DeblurSettingsError(
        f"image values span [{shown(low)}, {shown(high)}]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it "
        "to [0, 1])"
    )
