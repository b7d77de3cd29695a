"""Path options: a '~' the shell left (quoted, or after '=') is the home folder, and an empty one is refused, in every
command."""

import argparse
from pathlib import Path

import pytest

from golfdeblur.cli import build_parser
from golfdeblur.user_path import path_argument, user_path


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


def test_no_path_option_reads_a_tilde_literally_or_takes_an_empty_path():
    """Every option typed as a path goes through path_argument (a plain Path would name './~'; user_path alone reads
    '' as '.', the current folder)."""
    typed = [action for action in all_actions(build_parser()) if action.type in (Path, user_path)]
    assert typed == [], [action.option_strings or action.dest for action in typed]


@pytest.mark.parametrize(
    ("argv", "command", "name"),
    [
        (["eval", "--data", "paired", "--blur-dir", "B", "--sharp-dir", "S", "--out", "", "--runtime-repeats", "0"],
         "eval", "-o/--out"),
        (["eval", "--data", "synthetic", "--root", "", "--out", "e"], "eval", "--root"),
        (["eval", "--data", "paired", "--blur-dir", "", "--sharp-dir", "S", "--out", "e"], "eval", "--blur-dir"),
        (["paper", "tables", "--out", ""], "paper tables", "-o/--out"),
        (["paper", "toy", "--out", ""], "paper toy", "-o/--out"),
        (["paper", "convergence", "--weights", "w", "--data-root", ""], "paper convergence", "--root/--data-root"),
        (["paper", "forgetting", "--save-weights", ""], "paper forgetting", "--save-weights"),
        (["paper", "forgetting", "--sharp-dir", ""], "paper forgetting", "--sharp-dir"),
        (["demo", "--out", ""], "demo", "-o/--out"),
        (["demo", "--real", ""], "demo", "--real"),
        (["results", "--out", ""], "results", "-o/--out"),
        (["make-pairs", "FRAMES", "", "--frames", "7"], "make-pairs", "OUT_DIR"),
        (["make-pairs", "", "out"], "make-pairs", "FRAMES_DIR"),
        (["show-data", ""], "show-data", "OUT.png"),
        (["pack-data", "", "--sharp", "d"], "pack-data", "OUT.npz"),
        (["pack-data", "p.npz", "--sharp", ""], "pack-data", "--sharp"),
        (["pack-data", "p.npz", "--pairs", "b", ""], "pack-data", "--pairs"),
        (["release", "w.safetensors", "--results", ""], "release", "--results"),
        (["release", "w.safetensors", "--results", "r", "--dest", ""], "release", "--dest"),
        (["export", ""], "export", "OUT.onnx"),
    ],
)  # fmt: skip
def test_an_empty_path_is_refused_in_one_line_naming_the_option(tmp_path, monkeypatch, capsys, argv, command, name):
    """`eval --out ''` (an unset "$OUT" in a script) wrote report.md into the current folder with exit 0: Path('') is
    '.'. Refused now as deblur -o '' and train --out '' are, before any work, exit 2."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err == (
        f"golfdeblur {command}: error: argument {name}: is empty; name a file or folder ('.' for the current folder) "
        f"(see golfdeblur {command} --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_path_argument_is_user_path_but_refuses_an_empty_text(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert path_argument("~/data") == tmp_path / "data" and path_argument(".") == Path(".")
    with pytest.raises(argparse.ArgumentTypeError, match="is empty"):
        path_argument("")
    assert user_path("") == Path(".")  # the library's reading is unchanged
