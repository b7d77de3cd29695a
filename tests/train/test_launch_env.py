"""Which process of a launch this is, from torchrun's environment, without torch."""

import subprocess
import sys

import pytest

from golfdeblur.train.launch_env import environment_int, first_process_by_environment


@pytest.mark.parametrize(
    ("rank", "world_size", "first"),
    [(None, None, True), ("", None, True), ("1", None, True), ("1", "1", True), ("0", "2", True), ("1", "2", False),
     ("", "2", True), ("x", "", True)],
)  # fmt: skip
def test_the_first_process_is_rank_0_under_torchrun_and_any_process_outside_it(monkeypatch, rank, world_size, first):
    for name, value in (("RANK", rank), ("WORLD_SIZE", world_size)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert first_process_by_environment() is first


def test_an_unset_empty_or_non_integer_variable_is_its_default(monkeypatch):
    monkeypatch.setenv("GOLFDEBLUR_TEST_INT", "7")
    assert environment_int("GOLFDEBLUR_TEST_INT", 1) == 7
    for value in ("", "x", "1.5"):
        monkeypatch.setenv("GOLFDEBLUR_TEST_INT", value)
        assert environment_int("GOLFDEBLUR_TEST_INT", 1) == 1


def test_it_imports_without_torch():
    code = "import sys, golfdeblur.train.launch_env, golfdeblur.train.config; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
