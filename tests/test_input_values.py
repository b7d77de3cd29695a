"""The values deblur, evaluate_pairs and write_image take: finite, within INPUT_VALUE_RANGE."""

from __future__ import annotations

import math

import pytest

from golfdeblur.errors import DeblurSettingsError
from golfdeblur.input_values import INPUT_VALUE_RANGE, check_value_span


def test_a_resize_overshoot_is_taken_up_to_the_range_and_not_past_it():
    check_value_span(*INPUT_VALUE_RANGE)
    check_value_span(-0.02, 1.03)
    for low, high in ((INPUT_VALUE_RANGE[0] - 1e-6, 1.0), (0.0, INPUT_VALUE_RANGE[1] + 1e-6), (0.0, 255.0)):
        with pytest.raises(DeblurSettingsError, match=r"^image values span \["):
            check_value_span(low, high)


@pytest.mark.parametrize("end", [math.nan, math.inf, -math.inf])
def test_values_that_are_not_finite_are_refused(end):
    with pytest.raises(DeblurSettingsError, match="NaN or infinity"):
        check_value_span(0.0, end)
