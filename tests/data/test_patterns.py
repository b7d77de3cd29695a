"""Glob patterns: the same matches as glob.glob, and every folder it would skip unread reported instead."""

import glob
import os
from pathlib import Path

import pytest

from golfdeblur.data.patterns import has_magic, match_pattern

FILES = ("a.png", "b.jpg", ".hidden.png", "d1/x.png", "d1/y.PNG", "d1/sub/z.png", "d1/.h/q.png", "d2/x.png",
         ".hd/x.png", "d3/deep/er/w.png")  # fmt: skip
PATTERNS = ("*.png", "*", "d*/*.png", "**/*.png", "**", "d1/**", "d1/**/*.png", "*/sub/*.png", "d?/x.png", "[ab].*",
            "d1/.h/*", "d1/.*/*", ".*/*", "**/x.png", "d3/**/w.png", "d1/x.png/*", "nope/*", "*/*/*/*", "d1/*/",
            "**/sub/**", "link1/*.png")  # fmt: skip


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "link1").symlink_to(tmp_path / "d1")  # a second way into d1: glob lists both
    monkeypatch.chdir(tmp_path)
    return tmp_path


def never(exc: OSError) -> None:
    raise AssertionError(f"reported {exc} on a readable tree")


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_what_glob_matches(tree, pattern):
    expected = sorted({Path(p) for p in glob.glob(pattern, recursive=True)})
    assert match_pattern(pattern, never) == expected
    absolute = str(tree / pattern) + ("/" if pattern.endswith("/") else "")
    assert match_pattern(absolute, never) == sorted({Path(p) for p in glob.glob(absolute, recursive=True)})


def test_a_link_loop_is_walked_once(tree):
    (tree / "d2" / "back").symlink_to(tree)  # glob would follow it until the names grew too long
    found = match_pattern("d2/**/x.png", never)
    assert found == [Path("d2/back/d1/x.png"), Path("d2/back/link1/x.png"), Path("d2/x.png")]  # not d2/back/d2


def refuse(monkeypatch, name: str, locked: set[Path]) -> None:
    """``os.scandir`` or ``Path.stat`` refuse ``locked`` (tests run as root here, which chmod does not stop)."""
    owner = os if name == "scandir" else Path
    real = getattr(owner, name)

    def refusing(path=".", *args, **kwargs):
        if Path(os.path.abspath(path)) in locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(owner, name, refusing)


@pytest.mark.parametrize("pattern", ["*/*.png", "**/*.png"])
def test_a_folder_that_cannot_be_listed_is_reported_and_the_rest_matched(tree, monkeypatch, pattern):
    reported: list[OSError] = []
    refuse(monkeypatch, "scandir", {tree / "d2"})
    found = match_pattern(pattern, reported.append)
    assert [Path(e.filename) for e in reported] == [Path("d2")] and isinstance(reported[0], PermissionError)
    expected = sorted({Path(p) for p in glob.glob(pattern, recursive=True)})  # glob skips d2 without a word
    assert found == expected and Path("d1/x.png") in found and Path("d2/x.png") not in found
    # a folder that may be searched but not listed still gives up the names a pattern spells out, as in glob
    assert Path("d2/x.png") in match_pattern("d*/x.png", never)


def test_a_name_that_cannot_be_looked_up_is_reported(tree, monkeypatch):
    reported: list[OSError] = []
    refuse(monkeypatch, "stat", {tree / "d1" / "sub"})  # d1/sub may not be searched
    assert match_pattern("d*/sub/z.png", reported.append) == []
    assert [Path(e.filename) for e in reported] == [Path("d1/sub")]
    assert match_pattern("d*/" + "n" * 300 + "/z.png", reported.append) == []  # a name too long
    assert len(reported) == 4 and all("n" * 300 in str(e.filename) for e in reported[1:])  # under d1, d2 and d3


def test_has_magic():
    assert has_magic("photos/*.jpg") and has_magic("IMG_00?.png") and has_magic("[ab].png")
    assert not has_magic("photos/a.jpg")
