"""The values deblur, evaluate_pairs and write_image take (finite, within INPUT_VALUE_RANGE; integer images by their
range), and the whole numbers their settings are."""

from __future__ import annotations

import math

import numpy as np
import pytest

from golfdeblur.errors import DeblurSettingsError
from golfdeblur.input_values import (
    INPUT_VALUE_RANGE,
    check_value_span,
    is_uint8_or_16,
    shown_value,
    unit_float,
    whole_iterations,
    whole_number,
    within_input_range,
)


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


@pytest.mark.parametrize(
    ("low", "high", "taken"),
    [
        (*INPUT_VALUE_RANGE, True),
        (-0.02, 1.03, True),
        (INPUT_VALUE_RANGE[0] - 1e-9, 1.0, False),
        (0.0, INPUT_VALUE_RANGE[1] + 1e-9, False),
        (0.0, math.nan, False),
        (math.nan, 1.0, False),
        (-math.inf, 1.0, False),
        (0.0, math.inf, False),
    ],
)
def test_within_input_range_is_the_predicate_check_value_span_refuses_by(low, high, taken):
    # the metrics' target check asks it rather than catching check_value_span's error as its answer
    assert within_input_range(low, high) is taken
    if taken:
        check_value_span(low, high)
    else:
        with pytest.raises(DeblurSettingsError):
            check_value_span(low, high)


@pytest.mark.parametrize(
    ("value", "scale", "shown"),
    [
        (255.0, 1.0, "255"),
        (1.0, 1.0, "1"),
        (1.5000002, 1.0, "1.5000002"),  # :g's '1.5' is taken: the printed span must be outside
        (-0.50000001, 1.0, "-0.50000001"),
        (1.5, 1.0, "1.5"),  # an end on the edge, inside: as :g prints it
        (1.2345678, 1.0, "1.23457"),  # inside, and :g keeps it inside: 6 digits
        (382.50001, 255.0, "382.50001"),  # the edge is 1.5 times the scale
        (1.5000002, 255.0, "1.5"),  # far inside [-127.5, 382.5]: 6 digits
    ],
)
def test_an_end_is_shown_with_the_digits_that_keep_it_on_its_side_of_the_edge(value, scale, shown):
    assert shown_value(value, scale) == shown


@pytest.mark.parametrize("value", [-1, 2.5, True, "3", None, np.float64(3.0)])
def test_a_whole_number_is_an_integer_of_at_least_the_minimum_and_nothing_else(value):
    with pytest.raises(DeblurSettingsError) as refusal:
        whole_number(value, 0, "tile", unit="pixels", note="(0: never)")
    assert str(refusal.value) == f"tile {value!r}: must be a whole number of pixels, 0 or more (0: never)"


def test_a_numpy_integer_is_a_whole_number_and_comes_back_an_int():
    for value in (np.int64(5), np.uint8(5), 5):
        assert whole_number(value, 5, "batch") == 5 and type(whole_number(value, 5, "batch")) is int
    with pytest.raises(DeblurSettingsError, match=r"^batch 4: must be a whole number, 5 or more$"):
        whole_number(4, 5, "batch")
    assert whole_iterations(np.int32(0)) == 0
    with pytest.raises(DeblurSettingsError, match=r"^T -1: must be a whole number, 0 or more \(applications of D\)$"):
        whole_iterations(-1, "T")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, ">u2", "<u2"])
def test_an_integer_image_is_read_by_its_range_in_either_byte_order(dtype):
    top = np.iinfo(np.dtype(dtype)).max
    image = np.array([[0, top // 5, top]], dtype)
    values = unit_float(image)
    assert values.dtype == np.float32 and values[0, 2] == 1.0 and values[0, 1] == pytest.approx(0.2)
    # exactly as deblur has scaled them (times the float32 reciprocal): the same values as before in each caller
    np.testing.assert_array_equal(values, image.astype(np.float32) * np.float32(1.0 / top))


def test_a_float_image_is_checked_in_its_own_dtype_and_comes_back_float32():
    image = np.array([0.25, 1.5], np.float64)
    values = unit_float(image)
    assert values.dtype == np.float32 and values.tolist() == [0.25, 1.5] and values is not image
    with pytest.raises(DeblurSettingsError, match=r"^image values span \[0, 1e\+39\]"):  # float32 would make it inf
        unit_float(np.array([0.0, 1e39]))
    assert unit_float(np.zeros((0, 3), np.float64)).shape == (0, 3)  # nothing to check


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, bool, object, np.complex64])
def test_another_dtype_is_refused_naming_what_it_is(dtype):
    with pytest.raises(DeblurSettingsError) as refusal:
        unit_float(np.zeros((2, 2), dtype), "array")
    assert str(refusal.value) == f"array dtype {np.dtype(dtype)}: use uint8, uint16 or float in [0, 1]"
    assert not is_uint8_or_16(np.dtype(dtype))
