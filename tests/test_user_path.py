"""Path options: a '~' the shell left (quoted, or after '=') is the home folder, in every command."""

import argparse
from pathlib import Path

import pytest

from golfdeblur.cli import build_parser
from golfdeblur.user_path import user_path


def all_actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_actions(sub)


def test_user_path_expands_a_leading_tilde_only(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/data") == tmp_path / "data"
    assert user_path("~") == tmp_path
    assert user_path("data/~x") == Path("data/~x") and user_path("x") == Path("x")
    # a ~name that names no user stays as typed, as the shell leaves it (Path.expanduser raised a RuntimeError,
    # a traceback while the arguments were parsed: make-pairs ~frames out, with a folder ./~frames)
    assert user_path("~no_such_user_golfdeblur/frames") == Path("~no_such_user_golfdeblur/frames")


@pytest.mark.parametrize(
    ("argv", "dest"),
    [
        (["results", "--root=~/data"], "root"),
        (["eval", "--data", "levin09", "--root", "~/data", "--out", "x"], "root"),
        (["eval", "--data", "paired", "--sharp-dir=~/data", "--out", "x"], "sharp_dir"),
        (["make-pairs", "~/data", "out"], "frames_dir"),
        (["pack-data", "out.npz", "--sharp=~/data"], "sharp"),
        (["paper", "convergence", "--weights", "w", "--data-root=~/data"], "data_root"),
        (["release", "w.safetensors", "--results=~/data"], "results"),
        (["demo", "--real=~/data"], "real"),
    ],
)
def test_a_path_option_with_a_tilde_names_the_home_folder(monkeypatch, tmp_path: Path, argv, dest):
    monkeypatch.setenv("HOME", str(tmp_path))
    value = getattr(build_parser().parse_args(argv), dest)
    assert (value[0] if isinstance(value, list) else value) == tmp_path / "data"


def test_no_path_option_reads_a_tilde_literally():
    """Every option typed as a path goes through user_path (a plain Path would name './~')."""
    typed = [action for action in all_actions(build_parser()) if action.type is Path]
    assert typed == [], [action.option_strings or action.dest for action in typed]
