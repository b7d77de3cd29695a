"""The report folder: replacing an earlier report whole, and never through a link out of the folder."""

import errno

import pytest

from golfdeblur import atomic
from golfdeblur.errors import GolfdeblurError
from golfdeblur.report_folder import building_report, claim_report_folder


def test_a_report_part_that_is_a_link_to_a_folder_is_replaced_and_its_target_kept(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "kept.csv").write_text("not this report's to remove")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results").symlink_to(target, target_is_directory=True)
    with building_report(out, ["results", "RESULTS.md"]) as building:
        (building / "results").mkdir()
        (building / "results" / "new.csv").write_text("new")
        (building / "RESULTS.md").write_text("new report")
    assert not (out / "results").is_symlink() and [p.name for p in (out / "results").iterdir()] == ["new.csv"]
    assert [p.name for p in target.iterdir()] == ["kept.csv"]  # the link was removed, not what it pointed to


def test_a_report_folder_that_is_or_lies_behind_a_link_to_nothing_is_refused_at_the_claim(tmp_path):
    """mkdir said "File exists" (exit 1) once the report was written, after all the work."""
    (tmp_path / "gone").symlink_to(tmp_path / "missing")
    with pytest.raises(GolfdeblurError) as refusal:
        claim_report_folder(tmp_path / "gone", ["report.md"], overwrite=True)
    assert str(refusal.value) == f"--out {tmp_path / 'gone'}: is a link to nothing, not a folder"
    with pytest.raises(GolfdeblurError) as refusal:
        claim_report_folder(tmp_path / "gone" / "eval", ["report.md"], overwrite=False)
    assert str(refusal.value) == (
        f"--out {tmp_path / 'gone' / 'eval'}: cannot create the folder ({tmp_path / 'gone'} is a link to nothing)"
    )


def test_a_report_folder_on_a_read_only_file_system_says_so(tmp_path, monkeypatch):
    """os.access said "no permission" on a read-only mount (and lets root through where a write fails): the claim tries
    what the write will do, and words the reason as the system gives it."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".eval.x1y2z3.tmp"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(GolfdeblurError) as refusal:
        claim_report_folder(tmp_path / "eval", ["report.md"], overwrite=False)
    assert (
        str(refusal.value)
        == f"--out {tmp_path / 'eval'}: cannot write in the folder {tmp_path} (read-only file system)"
    )
    assert list(tmp_path.iterdir()) == []
