import ast
import sys
from pathlib import Path

from tqdm import tqdm

import golfdeblur
from golfdeblur.notes import error_line, error_text_line, note, notes_also_to, os_error_reason, out_of_memory_reason


def test_a_note_is_one_prefixed_line_with_its_control_characters_escaped(capsys):
    note("new\nline.png: its XMP is not UTF-8\x1b[2J")
    assert capsys.readouterr() == ("", "golfdeblur: note: new\\nline.png: its XMP is not UTF-8\\x1b[2J\n")


def test_a_listener_gets_each_note_s_line_within_its_block(capsys):
    # training keeps its notes in train.log: stderr alone lost them when its terminal closed
    kept: list[str] = []
    with notes_also_to(kept.append):
        note("resumed\nrun")
    note("after the block")
    assert kept == ["golfdeblur: note: resumed\\nrun"]
    assert capsys.readouterr().err.splitlines() == kept + ["golfdeblur: note: after the block"]


def test_a_note_during_a_progress_bar_gets_a_line_of_its_own(capsys):
    with tqdm(total=2, file=sys.stderr, ascii=True) as bar:
        bar.update(1)
        note("written without its EXIF")
        bar.update(1)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "golfdeblur: note: written without its EXIF" in lines  # not glued to the bar's text


def _opening_text(node: ast.AST) -> str | None:
    """The literal text a string or f-string starts with; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def test_every_note_in_the_package_goes_through_note():
    # "note: ..." printed directly lost the prefix (train, imageio) or the escaping of control characters in names
    package = Path(golfdeblur.__file__).parent
    direct = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "notes.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (_opening_text(node) or "").startswith(("note: ", "golfdeblur: note: "))
    ]
    assert direct == []


def test_the_out_of_memory_hint_names_no_command_s_options():
    # every command prints this line (show-data has no tile, deblur no widths): an option named there may not exist
    for failure in (MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")):
        line = error_line(failure)
        assert line is not None and line.endswith("); try smaller settings"), line


def test_the_error_line_s_parts_are_what_deblur_s_line_for_one_input_is_made_of():
    # deblur copied the prefix and stripped it off error_line's line again, and printed an OSError as str(exc)
    denied = PermissionError(13, "Permission denied", "out/a.png")
    assert (
        error_line(denied)
        == error_text_line(os_error_reason(denied))
        == "golfdeblur: error: out/a.png: Permission denied"
    )
    assert os_error_reason(denied, named="out/a.png") == "Permission denied"  # the line names that file already
    assert os_error_reason(denied, named="a.png") == "out/a.png: Permission denied"
    shortage = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nIf reserved but unallocated...")
    assert (
        out_of_memory_reason(shortage)
        == "out of memory (CUDA out of memory. Tried to allocate 2.00 GiB); try smaller settings"
    )
    assert error_line(shortage) == error_text_line(out_of_memory_reason(shortage) or "")
    for other in (RuntimeError("a bug"), ValueError("out of memory"), denied):  # a ValueError is no allocator's
        assert out_of_memory_reason(other) is None
    assert error_text_line("evil\nname.png: no such file") == "golfdeblur: error: evil\\nname.png: no such file"
