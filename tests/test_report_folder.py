"""The report folder: replacing an earlier report whole, and never through a link out of the folder; a report another
run wrote meanwhile replaced only with --overwrite; two runs, or a signal, never leaving parts of two reports."""

import errno
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from golfdeblur import atomic, cli, folder_lock, report_folder
from golfdeblur.errors import GolfdeblurError
from golfdeblur.report_folder import building_report, claim_report_folder

NAMES = ["per_image.csv", "results", "report.md"]  # a file, a folder, and the file that says the report is whole


def write_report_into(folder, run):
    """Write the report of ``run`` (its name in each file) into ``folder``, in the order of ``NAMES``."""
    (folder / "per_image.csv").write_text(run)
    (folder / "results").mkdir()
    (folder / "results" / "table.csv").write_text(run)
    (folder / "report.md").write_text(run)


def report_in(folder):
    """{file: its text} of what ``folder`` holds, hidden files and folders included."""
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()}


def whole(run):
    return {"per_image.csv": run, "report.md": run, f"results{os.sep}table.csv": run}


def test_a_report_part_that_is_a_link_to_a_folder_is_replaced_and_its_target_kept(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "kept.csv").write_text("not this report's to remove")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results").symlink_to(target, target_is_directory=True)
    with building_report(out, ["results", "RESULTS.md"], overwrite=True) as building:
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


def test_a_report_part_that_is_a_link_to_nothing_counts_as_held_at_the_claim(tmp_path):
    """It passed the claim, and publishing (which sees the link) then failed the run after all its work with
    "appeared meanwhile"."""
    (tmp_path / "toy.md").symlink_to(tmp_path / "missing")
    with pytest.raises(GolfdeblurError, match=r"already holds toy\.md; pass --overwrite"):
        claim_report_folder(tmp_path, ["toy.md"], overwrite=False)
    with building_report(claim_report_folder(tmp_path, ["toy.md"], overwrite=True), ["toy.md"], overwrite=True) as b:
        (b / "toy.md").write_text("new", encoding="utf-8")
    assert not (tmp_path / "toy.md").is_symlink() and (tmp_path / "toy.md").read_text(encoding="utf-8") == "new"


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


def test_a_report_another_run_wrote_meanwhile_is_kept_whole_without_overwrite(tmp_path):
    """Two eval runs into one --out, the second started while the first ran: both found it empty at the claim, and the
    one publishing last replaced the other's report (or, with its files moved in as the other's were, mixed the two)
    and exited 0."""
    out = claim_report_folder(tmp_path / "out", NAMES, overwrite=False)
    with pytest.raises(FileExistsError) as refusal, building_report(out, NAMES, overwrite=False) as building:
        write_report_into(building, "this run")
        write_report_into(out, "another run")  # which was quicker, and published first
    assert refusal.value.filename == str(out / "per_image.csv")
    assert refusal.value.strerror == report_folder.APPEARED
    assert report_in(out) == whole("another run")  # and no hidden folder left
    with building_report(out, NAMES, overwrite=True) as building:  # what --overwrite is for
        write_report_into(building, "this run")
    assert report_in(out) == whole("this run")


def test_a_report_part_that_appears_while_the_report_is_moved_in_takes_this_report_out_again(tmp_path, monkeypatch):
    """A writer that takes no lock creates report.md between the check and the move: per_image.csv and results/ of
    this report, moved in by then, are taken out again, and that writer's report.md is left as it is."""
    link = os.link

    def another_writer_first(source, target, *args, **kwargs):
        if os.path.basename(target) == "report.md":
            (tmp_path / "report.md").write_text("another writer's")
        return link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", another_writer_first)
    with pytest.raises(FileExistsError) as refusal, building_report(tmp_path, NAMES, overwrite=False) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(tmp_path / "report.md")
    assert report_in(tmp_path) == {"report.md": "another writer's"}


def test_a_report_folder_that_appeared_meanwhile_holding_files_is_not_replaced(tmp_path):
    with pytest.raises(FileExistsError) as refusal, building_report(tmp_path, ["results"], overwrite=False) as building:
        (building / "results").mkdir()
        (building / "results" / "table.csv").write_text("this run")
        (tmp_path / "results").mkdir()
        (tmp_path / "results" / "table.csv").write_text("another run")
    assert refusal.value.filename == str(tmp_path / "results")
    assert report_in(tmp_path) == {f"results{os.sep}table.csv": "another run"}


def test_a_report_without_one_of_its_optional_parts_is_moved_in_without_overwrite(tmp_path):
    """evaluate writes crops.png and psnr_vs_iteration.png only sometimes: a report without them is still whole."""
    with building_report(tmp_path, ["crops.png", "report.md"], overwrite=False) as building:
        (building / "report.md").write_text("this run")
    assert report_in(tmp_path) == {"report.md": "this run"}


@pytest.mark.parametrize("kind", ["file", "link to nothing"])
def test_a_part_this_report_lacks_that_another_run_wrote_meanwhile_fails_the_report(tmp_path, kind):
    """Another run's crops.png beside this run's report.md would be two runs' files side by side."""
    with (
        pytest.raises(FileExistsError) as refusal,
        building_report(tmp_path, ["crops.png", "report.md"], overwrite=False) as building,
    ):
        (building / "report.md").write_text("this run")
        if kind == "file":
            (tmp_path / "crops.png").write_text("another run")
        else:
            (tmp_path / "crops.png").symlink_to(tmp_path / "missing")
    assert refusal.value.filename == str(tmp_path / "crops.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.png"]  # not this run's report.md beside it


@pytest.mark.parametrize("what", ["file", "folder holding a file"])
def test_a_report_folder_part_that_appears_as_it_is_renamed_in_is_said_to_have_appeared(tmp_path, monkeypatch, what):
    """rename(2) onto a file fails 'Not a directory', onto a folder holding files 'Directory not empty': either is
    another run's report appearing meanwhile, kept as it is, with this report's parts moved in taken out again."""
    rename = os.rename

    def another_writer_first(source, target, *args, **kwargs):
        if os.path.basename(target) == "results":
            if what == "file":
                (tmp_path / "results").write_text("another writer's")
            else:
                (tmp_path / "results").mkdir()
                (tmp_path / "results" / "table.csv").write_text("another writer's")
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", another_writer_first)
    with pytest.raises(FileExistsError) as refusal, building_report(tmp_path, NAMES, overwrite=False) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(tmp_path / "results")
    assert refusal.value.strerror == report_folder.APPEARED
    kept = "results" if what == "file" else f"results{os.sep}table.csv"
    assert report_in(tmp_path) == {kept: "another writer's"}


def no_hard_links(*args, **kwargs):
    """os.link where the file system has no hard links (FAT, some network file systems)."""
    raise OSError(errno.EPERM, "Operation not permitted")


def test_without_hard_links_a_report_is_moved_in_by_renaming(tmp_path, monkeypatch):
    """A report folder on a USB stick (FAT) must still take a report."""
    monkeypatch.setattr(os, "link", no_hard_links)
    with building_report(tmp_path, NAMES, overwrite=False) as building:
        write_report_into(building, "this run")
    assert report_in(tmp_path) == whole("this run")


def test_without_hard_links_a_report_part_that_appears_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    """rename(2) replaces what it finds: without hard links the name is checked at the last moment instead."""

    def another_writer_first(source, target, *args, **kwargs):
        if os.path.basename(target) == "report.md":
            (tmp_path / "report.md").write_text("another writer's")
        no_hard_links()

    monkeypatch.setattr(os, "link", another_writer_first)
    with pytest.raises(FileExistsError) as refusal, building_report(tmp_path, NAMES, overwrite=False) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(tmp_path / "report.md")
    assert report_in(tmp_path) == {"report.md": "another writer's"}


@pytest.mark.parametrize("failing", ["earlier results", "earlier report.md", "new per_image.csv", "new report.md"])
def test_overwrite_that_fails_part_way_leaves_the_earlier_report_whole(tmp_path, monkeypatch, failing):
    """--overwrite whose moving in fails on one part (no permission on a subfolder, a folder that appeared meanwhile
    holding files): the earlier report is back whole, nothing of this one and no hidden folder is left."""
    out = tmp_path / "out"
    out.mkdir()
    write_report_into(out, "earlier run")
    which, name = failing.split(" ")
    rename = os.rename

    def failing_rename(source, target, *args, **kwargs):
        # The earlier part as it is set aside, or the new part as it is moved in from the hidden folder it was built in
        moving = source if which == "earlier" else target
        from_building = str(source).endswith(f".tmp{os.sep}{name}")
        if (
            os.path.dirname(moving) == str(out)
            and os.path.basename(moving) == name
            and (which == "earlier" or from_building)
        ):
            raise PermissionError(errno.EACCES, "Permission denied", str(source))
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(PermissionError), building_report(out, NAMES, overwrite=True) as building:
        write_report_into(building, "this run")
    assert report_in(out) == whole("earlier run")
    assert sorted(os.listdir(out)) == sorted(NAMES)  # no hidden folder either, not even an empty one


def test_overwrite_whose_earlier_report_md_cannot_go_back_raises_the_first_error_and_restores_the_rest(
    tmp_path, monkeypatch
):
    """Moving the new report.md in fails, and so does moving the earlier report.md back: the error raised is the one
    that stopped the report (not the restore's), the earlier results/ and per_image.csv are back all the same, and
    the message says where the earlier report.md is kept."""
    out = tmp_path / "out"
    out.mkdir()
    write_report_into(out, "earlier run")
    rename = os.rename

    def failing_rename(source, target, *args, **kwargs):
        if os.path.basename(target) == "report.md" and os.path.dirname(target) == str(out):
            which = "moving in" if str(source).endswith(".tmp" + os.sep + "report.md") else "restoring"
            if which == "moving in" or str(source).endswith(".old" + os.sep + "report.md"):
                raise PermissionError(errno.EACCES, which, str(target))
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(PermissionError) as refusal, building_report(out, NAMES, overwrite=True) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(out / "report.md")
    assert refusal.value.strerror.startswith("moving in; the earlier report's report.md kept in ")
    kept = Path(refusal.value.strerror.rsplit(" kept in ", 1)[1])
    assert (kept / "report.md").read_text() == "earlier run"
    shown = {name: text for name, text in report_in(out).items() if not name.startswith(".report-")}
    assert shown == {"per_image.csv": "earlier run", f"results{os.sep}table.csv": "earlier run"}


def test_overwrite_replaces_an_earlier_part_that_is_a_link_to_nothing(tmp_path):
    """An earlier results that is a link to nothing is set aside as any other part (it exists as a name), not left
    in the way of the new results/ folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results").symlink_to(tmp_path / "missing")
    with building_report(out, NAMES, overwrite=True) as building:
        (building / "results").mkdir()
        (building / "results" / "table.csv").write_text("this run")
        (building / "report.md").write_text("this run")
    assert (out / "results").is_dir() and not (out / "results").is_symlink()
    assert report_in(out) == {"report.md": "this run", f"results{os.sep}table.csv": "this run"}
    assert sorted(os.listdir(out)) == ["report.md", "results"]


def test_overwrite_onto_a_folder_another_run_filled_meanwhile_says_so_and_where_the_earlier_one_is(
    tmp_path, monkeypatch
):
    """The earlier results/ is set aside, then another run (one that takes no lock) writes its own results/ there:
    this report fails as having appeared meanwhile, naming the folder, and the earlier results/, which cannot go back
    under that name, is kept in the hidden folder the error names, not lost."""
    out = tmp_path / "out"
    out.mkdir()
    write_report_into(out, "earlier run")
    rename = os.rename

    def another_run_first(source, target, *args, **kwargs):
        if str(source).endswith(f".tmp{os.sep}results"):
            (out / "results").mkdir()
            (out / "results" / "other.csv").write_text("another run")
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", another_run_first)
    with pytest.raises(FileExistsError) as refusal, building_report(out, NAMES, overwrite=True) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(out / "results")
    assert refusal.value.strerror.startswith(report_folder.APPEARED + "; the earlier report's results kept in ")
    kept = Path(refusal.value.strerror.rsplit(" kept in ", 1)[1])
    assert (kept / "results" / "table.csv").read_text() == "earlier run"
    shown = {name: text for name, text in report_in(out).items() if not name.startswith(".report-")}
    assert shown == {
        "per_image.csv": "earlier run",
        "report.md": "earlier run",
        f"results{os.sep}other.csv": "another run",
    }


@pytest.mark.parametrize("name", ["per_image.csv", "results"], ids=["a folder for a file", "a file for a folder"])
def test_overwrite_onto_a_part_of_the_other_kind_that_appeared_meanwhile_says_it_appeared(tmp_path, monkeypatch, name):
    """rename(2) of a file onto a folder fails 'Is a directory', of a folder onto a file 'Not a directory': another
    run's part written meanwhile, said as such, and the earlier report back whole."""
    out = tmp_path / "out"
    out.mkdir()
    write_report_into(out, "earlier run")
    rename = os.rename

    def another_run_first(source, target, *args, **kwargs):
        if str(source).endswith(f".tmp{os.sep}{name}"):
            if name == "results":
                (out / name).write_text("another run")
            else:
                (out / name).mkdir()
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", another_run_first)
    with pytest.raises(FileExistsError) as refusal, building_report(out, NAMES, overwrite=True) as building:
        write_report_into(building, "this run")
    assert refusal.value.filename == str(out / name) and refusal.value.strerror.startswith(report_folder.APPEARED)


def earlier_files_cannot_be_removed(monkeypatch) -> None:
    """The hidden folder holding an earlier report set aside (``.report-XXXXXXXX.old``) cannot be removed, as a
    read-only subfolder of it would make it."""
    rmtree = report_folder.shutil.rmtree

    def read_only_earlier(path, *args, **kwargs):
        if not str(path).endswith(".old"):
            rmtree(path, *args, **kwargs)

    monkeypatch.setattr(report_folder.shutil, "rmtree", read_only_earlier)


def test_an_earlier_report_that_cannot_be_removed_once_replaced_is_named_in_a_note(tmp_path, monkeypatch, capsys):
    """A read-only subfolder of the earlier report: the new report is in, and the hidden folder left holding the
    earlier files is named, not left there without a word."""
    write_report_into(tmp_path, "earlier run")
    earlier_files_cannot_be_removed(monkeypatch)
    build_and_publish(tmp_path, "this run")
    [kept] = [path for path in tmp_path.iterdir() if path.name.endswith(".old")]
    assert capsys.readouterr().err == (
        f"golfdeblur: note: the earlier report's files that could not be removed are in {kept}; remove it by hand\n"
    )
    shown = {name: text for name, text in report_in(tmp_path).items() if not name.startswith(".report-")}
    assert shown == whole("this run")


def test_pairs_that_cannot_all_be_removed_once_replaced_are_named_as_pairs(tmp_path, monkeypatch, capsys):
    """make-pairs --overwrite replaces pairs through building_report, whose note spoke of "the earlier report's
    files"; and one part that appeared meanwhile is said without "so this report was not written"."""
    write_report_into(tmp_path, "earlier run")
    earlier_files_cannot_be_removed(monkeypatch)
    with building_report(tmp_path, NAMES, overwrite=True, what="pairs") as building:
        write_report_into(building, "this run")
    [kept] = [path for path in tmp_path.iterdir() if path.name.endswith(".old")]
    assert capsys.readouterr().err == (
        f"golfdeblur: note: the earlier pairs' files that could not be removed are in {kept}; remove it by hand\n"
    )
    (tmp_path / "new").mkdir()
    with (
        pytest.raises(FileExistsError) as refusal,
        building_report(tmp_path / "new", NAMES, overwrite=False, what="pairs") as building,
    ):
        write_report_into(building, "this run")
        (tmp_path / "new" / "report.md").write_text("another run")
    assert refusal.value.strerror == "appeared meanwhile; not replaced, so these pairs were not written"


@pytest.mark.parametrize("overwrite", [False, True], ids=["add", "overwrite"])
def test_the_report_folder_is_synced_once_the_report_is_in(tmp_path, monkeypatch, overwrite):
    """The renames that move a report in are on disk only once the folder is synced: a power cut after the command
    ended could otherwise leave the earlier report, or none."""
    synced = []
    monkeypatch.setattr(report_folder, "fsync_folder", lambda folder: synced.append(sorted(os.listdir(folder))))
    with building_report(tmp_path, NAMES, overwrite=overwrite) as building:
        write_report_into(building, "this run")
    assert synced and set(NAMES) <= set(synced[-1])


@pytest.mark.skipif(folder_lock.fcntl is None, reason="no file locks here (Windows): the limit its docs name")
def test_a_report_is_moved_in_only_once_another_process_has_moved_its_own_in(tmp_path):
    """Two runs with --overwrite moving their reports in at once: one's files were removed by the other between its
    removing and its renaming, so the folder held per_image.csv of one run and report.md of the other."""
    write_report_into(tmp_path, "another run")
    built, locked = threading.Event(), threading.Event()

    def build_then_publish():
        with building_report(tmp_path, NAMES, overwrite=True) as building:
            write_report_into(building, "this run")
            built.set()
            locked.wait(10)

    publishing = threading.Thread(target=build_then_publish)
    publishing.start()
    built.wait(10)
    descriptor = os.open(tmp_path, os.O_RDONLY)  # the other run, in the middle of moving its report in
    folder_lock.fcntl.flock(descriptor, folder_lock.fcntl.LOCK_EX)
    locked.set()
    try:
        time.sleep(0.5)
        waiting = {name: text for name, text in report_in(tmp_path).items() if not name.startswith(".report-")}
        assert waiting == whole("another run") and publishing.is_alive()  # its report built, waiting its turn
    finally:
        os.close(descriptor)
        publishing.join(10)
    assert report_in(tmp_path) == whole("this run")


@pytest.mark.skipif(folder_lock.fcntl is None, reason="no file locks here (Windows): the limit its docs name")
def test_the_hidden_folder_of_a_report_is_held_locked_from_its_making_until_it_is_removed(tmp_path, monkeypatch):
    """A run that tidies the folder (make-pairs --overwrite, removing the hidden folders killed runs left) took a
    running one's for a killed one's: the hidden folder was locked by no one while the report was built."""
    made = []
    mkdtemp = report_folder.tempfile.mkdtemp

    def made_while_the_folder_is_locked(*args, **kwargs):
        made.append(folder_lock.held_by_another_process(tmp_path))
        return mkdtemp(*args, **kwargs)

    monkeypatch.setattr(report_folder.tempfile, "mkdtemp", made_while_the_folder_is_locked)
    rmtree = report_folder.shutil.rmtree
    removed = []

    def removed_while_locked(path, *args, **kwargs):
        if report_folder.is_hidden_folder(Path(path).name) and Path(path).suffix == ".tmp":
            removed.append(folder_lock.held_by_another_process(Path(path)))
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(report_folder.shutil, "rmtree", removed_while_locked)
    with building_report(tmp_path, NAMES, overwrite=False) as building:
        assert report_folder.is_hidden_folder(building.name)
        assert folder_lock.held_by_another_process(building)
        write_report_into(building, "this run")
    assert made[0] and removed == [True]
    assert not folder_lock.held_by_another_process(tmp_path)
    assert report_in(tmp_path) == whole("this run")


@pytest.mark.parametrize(
    ("name", "hidden"),
    [(".report-y2x6ujh_.tmp", True), (".report-y2x6ujh_.old", True), (".report-mine.tmp", False),
     ("report-y2x6ujh_.tmp", False), (".report-y2x6ujh_.tmp.png", False)],
)  # fmt: skip
def test_is_hidden_folder_knows_only_the_names_building_report_makes(name, hidden):
    assert report_folder.is_hidden_folder(name) == hidden


def build_and_publish(folder, run):
    with building_report(folder, NAMES, overwrite=True) as building:
        write_report_into(building, run)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_report_is_moved_in_stops_the_command_once_the_report_is_whole(
    tmp_path, monkeypatch, signum
):
    """Ctrl-C or SIGTERM arriving between removing the earlier report and moving the last new file in left only the
    new per_image.csv (exit 130): now the new report goes in whole, then the command stops as the signal says."""
    write_report_into(tmp_path, "earlier run")
    rename = os.rename

    def signalled_on_the_way(source, target, *args, **kwargs):
        os.kill(os.getpid(), signum)
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", signalled_on_the_way)
    stopped = KeyboardInterrupt if signum == signal.SIGINT else cli.Stopped
    with pytest.raises(stopped), cli.stop_signals_raise():  # SIGTERM raises as it does under the command line
        build_and_publish(tmp_path, "this run")
    assert report_in(tmp_path) == whole("this run")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and signal.getsignal(signal.SIGINT) == (
        signal.default_int_handler
    )
