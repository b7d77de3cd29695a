"""Strict JSON for reports: non-finite numbers become null and read back as NaN."""

import json
import math
import os

import numpy as np

from golfdeblur.json_text import finite_or_null, null_as_nan, strict_json_text


def test_non_finite_numbers_at_any_depth_become_null_and_the_rest_is_unchanged():
    value = {"a": [1.0, math.nan, (math.inf, -math.inf)], "b": {"c": np.float64("nan"), "d": 2}, "e": "NaN", "f": True}
    assert finite_or_null(value) == {"a": [1.0, None, [None, None]], "b": {"c": None, "d": 2}, "e": "NaN", "f": True}
    text = strict_json_text(value)
    assert text.endswith("}\n") and "NaN," not in text and "Infinity" not in text
    assert json.loads(text)["a"] == [1.0, None, [None, None]]


def test_null_reads_back_as_nan():
    assert math.isnan(null_as_nan(None)) and null_as_nan(21.5) == 21.5


def test_reports_are_indented_two_spaces_one_key_a_line_and_end_in_a_newline():
    # summary.json and metrics.json are read by people and diffed between runs, not only parsed
    assert strict_json_text({"a": 1, "b": [2.5, math.nan]}) == '{\n  "a": 1,\n  "b": [\n    2.5,\n    null\n  ]\n}\n'


def test_file_names_that_are_not_utf8_read_as_their_bytes_in_keys_and_values_at_any_depth():
    # a lone surrogate escape (\udcff) is refused by strict parsers (serde_json) or read as U+FFFD (Go, jq)
    name = os.fsdecode(b"caf\xe9 \xff.png")
    text = strict_json_text({name: [{"image": name, "ok": "é日本"}]})
    assert "\\ud" not in text and text.isascii()
    assert json.loads(text) == {"caf\\xe9 \\xff.png": [{"image": "caf\\xe9 \\xff.png", "ok": "é日本"}]}
