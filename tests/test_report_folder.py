"""The report folder: replacing an earlier report whole, and never through a link out of the folder."""

from golfdeblur.report_folder import building_report


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
