"""What an error line says about a path that is no regular file, and how it writes control characters in a name."""

import os
from pathlib import Path

import pytest

from golfdeblur.errors import not_a_regular_file, printable, shell_word, undecodable_escaped


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_regular_files_links_to_them_and_dangling_links_are_not_reported(tmp_path: Path):
    # None lets the open's OSError speak: a dangling link reads "no such file", not "a pipe, socket or device"
    (tmp_path / "photo.png").write_bytes(b"x")
    os.symlink(tmp_path / "photo.png", tmp_path / "link.png")
    os.symlink(tmp_path / "missing.png", tmp_path / "dangling.png")
    for name in ("photo.png", "link.png", "dangling.png", "missing.png"):
        assert not_a_regular_file(tmp_path / name) is None
    os.symlink(tmp_path, tmp_path / "folder-link")
    assert not_a_regular_file(tmp_path / "folder-link") == "is a folder"


def test_c1_controls_and_unicode_line_separators_are_escaped_too():
    # "\x9b" is a one-byte CSI (it acts on some terminals); "\x85", U+2028 and U+2029 end a line (str.splitlines)
    assert printable("a\x9b2Jb\x85c\u2028d\u2029e\x7ff") == "a\\x9b2Jb\\x85c\\u2028d\\u2029e\\x7ff"
    assert printable("évil\tnamé ☃.png") == "évil\\tnamé ☃.png"  # other non-ASCII text stays as it is


def test_undecodable_bytes_of_a_file_name_read_as_the_bytes_and_the_rest_is_unchanged():
    name = os.fsdecode(b"runs/\xff\xfe x\xc3.png")  # 0xc3 starts a two-byte character that never comes
    assert undecodable_escaped(name) == "runs/\\xff\\xfe x\\xc3.png"
    assert undecodable_escaped("sp ace\nnl é日本 -x \\udcff") == "sp ace\nnl é日本 -x \\udcff"  # typed text as it is
    assert undecodable_escaped("\ud800") == "\\ud800"  # a surrogate no file name gives


def test_a_shell_word_names_the_same_bytes_when_bash_reads_it_back(tmp_path):
    """A backslash beside a newline (bash's $'a\\b' is a backspace), an escape character or a line separator (which
    would end the line or drive the terminal in a report) are escaped as the bytes they are."""
    import shutil
    import subprocess

    names = ["a\\b\n", "esc\x1b[31m", "del\x7f", "line\u2028sep", "quote's\t", os.fsdecode(b"caf\xe9 \xff"), "plain"]
    words = [shell_word(name) for name in names]
    assert all("\n" not in word and "\x1b" not in word and "\u2028" not in word for word in words)
    if shutil.which("bash") is None:
        pytest.skip("no bash here to read the words back")
    script = "for w in " + " ".join(words) + '; do printf "%s\\0" "$w"; done'
    printed = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    assert printed.split(b"\0")[:-1] == [os.fsencode(name) for name in names]
