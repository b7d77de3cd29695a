"""OutputGuard: an output never replaces an input (under any name), a result written earlier in the run, or an
existing file unless asked; an extension we cannot write is refused before any work."""

import os
from pathlib import Path

import pytest

from golfdeblur.errors import GolfdeblurError
from golfdeblur.output_guard import OutputGuard


def test_outputs_that_would_destroy_data_are_refused(tmp_path: Path):
    photo = tmp_path / "a.png"
    photo.write_bytes(b"input")
    linked = tmp_path / "out" / "b.png"
    linked.parent.mkdir()
    os.link(photo, linked)  # the input under another name
    guard = OutputGuard([photo])
    for output in (photo, tmp_path / "out" / ".." / "a.png", linked):
        with pytest.raises(GolfdeblurError, match="would overwrite an input file"):
            guard.check(output, photo)
    with pytest.raises(GolfdeblurError, match="cannot choose a format"):
        guard.check(tmp_path / "out" / "a.gif", photo)
    fresh = tmp_path / "out" / "c.png"
    guard.check(fresh, photo)
    guard.record(fresh, photo)
    with pytest.raises(GolfdeblurError, match="already written from"):
        guard.check(fresh, tmp_path / "other.png")
    existing = tmp_path / "out" / "d.png"
    existing.write_bytes(b"old")
    with pytest.raises(GolfdeblurError, match="exists; pass --overwrite"):
        guard.check(existing, photo)
    assert OutputGuard([photo], overwrite=True).check(existing, photo)  # allowed when asked
    assert photo.read_bytes() == b"input" and existing.read_bytes() == b"old"


def test_skip_existing_skips_outputs_that_exist_and_still_protects_inputs(tmp_path: Path):
    photo = tmp_path / "a.png"
    photo.write_bytes(b"input")
    existing = tmp_path / "out" / "a.png"
    existing.parent.mkdir()
    existing.write_bytes(b"old")
    guard = OutputGuard([photo], skip_existing=True)
    assert guard.check(tmp_path / "out" / "new.png", photo) is True
    assert guard.check(existing, photo) is False  # skip: the file stays as it is
    with pytest.raises(GolfdeblurError, match=f"is also the output of {photo}, kept from an earlier run"):
        guard.check(existing, tmp_path / "b" / "a.png")  # kept for the first input, not free for another
    with pytest.raises(GolfdeblurError, match="would overwrite an input file"):
        guard.check(photo, photo)
    with pytest.raises(GolfdeblurError, match="choose one"):
        OutputGuard([photo], overwrite=True, skip_existing=True)
    assert existing.read_bytes() == b"old"


@pytest.mark.parametrize("mode", [{}, {"skip_existing": True}, {"overwrite": True}])
def test_a_folder_at_the_output_path_is_never_a_result_nor_replaced(tmp_path: Path, mode):
    photo = tmp_path / "a.png"
    photo.write_bytes(b"input")
    (tmp_path / "out" / "a.png").mkdir(parents=True)
    with pytest.raises(GolfdeblurError, match="is a folder; cannot write the result there"):
        OutputGuard([photo], **mode).check(tmp_path / "out" / "a.png", photo)


def test_outputs_are_known_by_their_real_path_under_any_spelling(tmp_path: Path, monkeypatch):
    """A result written or kept under a relative name is the same file under an absolute one, and the other way."""
    monkeypatch.chdir(tmp_path)
    photo, other = tmp_path / "a.png", tmp_path / "b.png"
    (tmp_path / "out").mkdir()
    guard = OutputGuard([photo, other], overwrite=True)
    assert guard.check(Path("out/c.png"), photo)
    guard.record(Path("out/c.png"), photo)
    Path("out/c.png").write_bytes(b"result of a")
    for spelling in (tmp_path / "out" / "c.png", Path("out/../out/c.png")):
        with pytest.raises(GolfdeblurError, match=f"was already written from {photo}"):
            guard.check(spelling, other)  # --overwrite replaces earlier runs' files, not this run's
    (tmp_path / "out" / "d.png").write_bytes(b"old")
    skipping = OutputGuard([photo, other], skip_existing=True)
    assert skipping.check(Path("out/d.png"), photo) is False
    for spelling in (Path("out/d.png"), Path("out/../out/d.png"), tmp_path / "out" / "d.png"):
        with pytest.raises(GolfdeblurError, match=f"is also the output of {photo}, kept from an earlier run"):
            skipping.check(spelling, other)


def case_insensitive_write(output: Path, data: bytes) -> None:
    """Write ``output`` as on a case-insensitive disk (macOS APFS): its name with another first-letter case names the
    same file from then on (a hard link: the same inode), while real_path keeps each name's case."""
    output.write_bytes(data)
    os.link(output, output.with_name(output.name[0].swapcase() + output.name[1:]))


@pytest.mark.parametrize("mode", [{}, {"overwrite": True}, {"skip_existing": True}])
def test_an_output_written_under_another_case_of_its_name_is_known(tmp_path: Path, mode):
    """deblur c1/photo.png c2/Photo.png -o out: on a case-insensitive disk the second output is the first one's file;
    it is neither 'exists', nor replaced with --overwrite, nor skipped as an earlier result with --skip-existing."""
    first, second = tmp_path / "c1" / "photo.png", tmp_path / "c2" / "Photo.png"
    (tmp_path / "out").mkdir()
    guard = OutputGuard([first, second], **mode)
    assert guard.check(tmp_path / "out" / "photo.png", first)
    case_insensitive_write(tmp_path / "out" / "photo.png", b"result of c1")
    guard.record(tmp_path / "out" / "photo.png", first)
    other_case = tmp_path / "out" / "Photo.png"
    with pytest.raises(GolfdeblurError, match=f"output {other_case} was already written from {first}"):
        guard.check(other_case, second)
    assert (tmp_path / "out" / "photo.png").read_bytes() == b"result of c1"


def test_an_output_kept_under_another_case_of_its_name_is_known(tmp_path: Path):
    first, second = tmp_path / "c1" / "photo.png", tmp_path / "c2" / "Photo.png"
    (tmp_path / "out").mkdir()
    case_insensitive_write(tmp_path / "out" / "photo.png", b"an earlier run's result of c1")
    guard = OutputGuard([first, second], skip_existing=True)
    assert guard.check(tmp_path / "out" / "photo.png", first) is False
    with pytest.raises(GolfdeblurError, match=f"is also the output of {first}, kept from an earlier run"):
        guard.check(tmp_path / "out" / "Photo.png", second)


def test_hard_linked_outputs_under_other_names_are_each_kept(tmp_path: Path):
    """Two identical results a deduplicating tool hard-linked (out/a.png, out/b.png: one file) are two outputs, each
    kept by --skip-existing; only names that differ by case alone are one output."""
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"a result")
    os.link(tmp_path / "out" / "a.png", tmp_path / "out" / "b.png")
    guard = OutputGuard([first, second], skip_existing=True)
    assert guard.check(tmp_path / "out" / "a.png", first) is False
    assert guard.check(tmp_path / "out" / "b.png", second) is False


@pytest.mark.parametrize("second_name", ["b.png", "A.png"])
def test_a_planned_output_replaced_since_is_not_known_by_its_old_file(tmp_path: Path, second_name):
    """An output recorded before its writing (demo plans them all) over an older file: once the atomic write has
    replaced that file, its old inode (which the system may give a new file) no longer stands for the output; also
    when the old file now has another case of the planned name (out/A.png of out/a.png: two files on a
    case-sensitive disk)."""
    first, second = tmp_path / "a.png", tmp_path / second_name
    planned = tmp_path / "out" / "a.png"
    planned.parent.mkdir()
    planned.write_bytes(b"old")
    guard = OutputGuard([first, second], overwrite=True)
    assert guard.check(planned, first)
    guard.record(planned, first)
    old = tmp_path / "out" / second_name
    os.replace(planned, old)  # the old file now under another output's name, the planned one written anew
    planned.write_bytes(b"new")
    assert guard.check(old, second) is True


@pytest.mark.parametrize("kind", ["missing", "loop"])
def test_a_link_to_nothing_at_the_output_counts_as_existing(tmp_path: Path, kind):
    """A broken link (or a loop) takes the output's name: refused up front, not "appeared meanwhile" after the work;
    with overwriting it is replaced as a file would be. Skipping keeps no such "result"."""
    photo = tmp_path / "a.png"
    photo.write_bytes(b"input")
    output = tmp_path / "out.png"
    output.symlink_to(tmp_path / ("nowhere.png" if kind == "missing" else "out.png"))
    for mode in ({}, {"skip_existing": True}):
        with pytest.raises(GolfdeblurError) as refusal:
            OutputGuard([photo], **mode).check(output, photo)
        assert (
            str(refusal.value) == f"{photo}: output {output} exists (a link to nothing); pass --overwrite to replace it"
        )
    assert OutputGuard([photo], overwrite=True).check(output, photo) is True
    assert output.is_symlink() and not (tmp_path / "nowhere.png").exists()  # checking changes nothing
