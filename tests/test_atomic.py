import errno
import os
import stat
from pathlib import Path

import pytest

from golfdeblur import atomic
from golfdeblur.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from golfdeblur.errors import GolfdeblurError


def test_write_lands_whole_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_writer_that_replaces_the_temporary_still_gets_ordinary_permissions(tmp_path):
    # safetensors' save_file writes a new 0600 file over the path it is given (the shipped weights came out 0600)
    target = tmp_path / "w.safetensors"
    with atomic_path(target) as tmp:
        tmp.unlink()
        tmp.touch(mode=0o600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_failure_leaves_old_target_and_no_temporary(tmp_path):
    target = tmp_path / "out.png"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_data_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = atomic._fsync, os.replace
    monkeypatch.setattr(atomic, "_fsync", lambda path: events.append(("fsync", path)) or real_fsync(path))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", Path(b))) or real_replace(a, b))
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].parent == tmp_path and events[0][1] != target  # the temporary file, before its rename
    assert events[1][1] == target and events[2][1] == tmp_path  # then the folder that holds the new name


def test_a_write_succeeds_where_fsync_needs_write_access(tmp_path, monkeypatch):
    """Windows' fsync (FlushFileBuffers) fails with EBADF on a read-only descriptor: emulated here."""
    fcntl = pytest.importorskip("fcntl")
    real_fsync = os.fsync

    def windows_fsync(descriptor):
        if fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", windows_fsync)
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_temporary_its_mode_keeps_from_writing_is_still_flushed(tmp_path, monkeypatch):
    """Under a umask such as 0o277 the chmod before the fsync leaves the temporary read-only: opened so instead."""
    real_open, flushed = os.open, []

    def open_as_a_user(path, flags, *args, **kwargs):  # the tests may run as root, whom no mode refuses
        if flags & os.O_ACCMODE != os.O_RDONLY and os.path.isfile(path) and not os.stat(path).st_mode & stat.S_IWUSR:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_as_a_user)
    monkeypatch.setattr(atomic, "current_umask", lambda: 0o277)
    monkeypatch.setattr(os, "fsync", lambda descriptor: flushed.append(descriptor))
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello" and stat.S_IMODE(target.stat().st_mode) == 0o400
    assert len(flushed) == 2  # the file, then its folder


@pytest.mark.parametrize(
    "name, ending",
    [
        ("a" * 251 + ".png", ".tmp.png"),  # 255 bytes, the longest name the file system takes
        ("é" * 125 + ".png", ".tmp.png"),  # 254 bytes in 129 characters: the stem is cut by bytes
        ("b" * 255, ".tmp"),  # no suffix
        ("c." + "d" * 253, ".tmp"),  # a "suffix" too long to keep
    ],
)
def test_a_name_at_the_length_limit_can_be_written(tmp_path, name, ending):
    target = tmp_path / name
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.name.endswith(ending)
        assert len(os.fsencode(tmp.name)) <= 255
        assert atomic.is_temporary_of(tmp.name, name)  # what a resume recognises as a killed write's leftover
        os.fsencode(tmp.name).decode("utf-8")  # cut between characters, never inside one
        with atomic_path(target) as second:  # another writer at the same time gets its own temporary name
            assert second != tmp
            second.write_text("second")
        tmp.write_text("first")
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == [name]


def test_prepare_folder_makes_the_folder_and_leaves_no_file(tmp_path):
    target = tmp_path / "a" / "b" / "out.npz"
    atomic.prepare_folder(target)
    assert target.parent.is_dir() and list(target.parent.iterdir()) == []


def test_prepare_folder_names_a_file_in_the_way_and_a_folder_that_takes_no_file(tmp_path, monkeypatch):
    blocking = tmp_path / "afile"
    blocking.write_text("a file where the folder would go")
    with pytest.raises(GolfdeblurError) as refusal:
        atomic.prepare_folder(blocking / "sub" / "e5.npz")
    assert str(refusal.value) == f"{blocking}/sub/e5.npz: cannot make its folder {blocking}/sub ({blocking} is a file)"
    names = []

    def refused(*args, prefix, suffix, dir):  # as in a read-only or immutable folder, which root cannot write either
        names.append(prefix + "x1y2z3" + suffix)
        raise PermissionError(13, "Permission denied", os.path.join(dir, names[-1]))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    with pytest.raises(GolfdeblurError) as refusal:
        atomic.prepare_folder(tmp_path / "e5.npz")
    assert str(refusal.value) == f"{tmp_path}/e5.npz: cannot write in its folder {tmp_path} (permission denied)"
    assert names == [".e5.x1y2z3.tmp.npz"]  # probed under the name atomic_path writes under


def test_a_failure_removes_every_folder_it_made_deepest_first(tmp_path):
    folder = tmp_path / "a" / "b" / "c"
    with pytest.raises(RuntimeError), atomic.made_folders_removed_on_failure(folder):
        folder.mkdir(parents=True)
        raise RuntimeError("the write failed")
    assert list(tmp_path.iterdir()) == []  # c, then b, then a: a parent is empty only once its child is gone


def test_remove_temporaries_removes_only_the_leftovers_of_writes_of_the_named_files(tmp_path):
    left = []
    for target in ("a.safetensors", "b.json"):
        with atomic_path(tmp_path / target) as tmp:
            left.append(tmp.name)  # what a write killed here (kill -9, before the rename) leaves behind
            tmp.write_text("done")
    others = [".c.abcdefgh.tmp.json", ".a.abc.tmp.safetensors", "a.tmp.safetensors", ".a.abcdefgh.tmp.json"]
    for name in left + others:
        (tmp_path / name).write_text("half")
    removed = atomic.remove_temporaries(tmp_path, ["a.safetensors", "b.json"])
    assert sorted(path.name for path in removed) == sorted(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.safetensors", "b.json", *others])


@pytest.mark.parametrize(
    "failure, where",
    [
        (OSError(errno.EFBIG, "File too large"), "block"),  # write() past a file size limit names no file
        (OSError(errno.ENOSPC, "No space left on device"), "block"),  # nor does a full disk
        (OSError("encoder error -2"), "block"),  # Pillow's encoders: a message, no errno
        (OSError(errno.EXDEV, "Invalid cross-device link", "TMP", None, "TARGET"), "replace"),  # names both files
        (PermissionError(errno.EACCES, "Permission denied", "TMP"), "mkstemp"),  # the temporary's random name
    ],
)
def test_a_failed_write_names_the_target_not_its_temporary(tmp_path, monkeypatch, failure, where):
    """`golfdeblur train` under `ulimit -f` said only 'golfdeblur: error: File too large', naming no file."""
    target = tmp_path / "checkpoint-g.safetensors"
    reason = failure.strerror or str(failure)

    def fail(*args, **kwargs):
        if failure.filename == "TMP":  # as the system names them: the hidden temporary (and the target)
            temporary = (
                args[0] if args else os.path.join(kwargs["dir"], kwargs["prefix"] + "abcd1234" + kwargs["suffix"])
            )
            failure.filename = str(temporary)
            failure.filename2 = str(target) if failure.filename2 else None
        raise failure

    if where == "replace":
        monkeypatch.setattr(os, "replace", fail)
    if where == "mkstemp":
        monkeypatch.setattr(atomic.tempfile, "mkstemp", fail)
    with pytest.raises(OSError) as raised, atomic_path(target) as tmp:
        tmp.write_text("half")
        if where == "block":
            fail()
    assert raised.value is failure and type(failure) is type(raised.value)  # the same error, named by the target
    assert (failure.filename, failure.filename2, failure.strerror) == (str(target), None, reason)
    assert str(failure).endswith(f"{reason}: {str(target)!r}"), str(failure)  # not "... -> None"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_name_of_another_file(tmp_path):
    failure = FileNotFoundError(errno.ENOENT, "No such file or directory", "fonts/DejaVuSans.ttf")
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "figure.png"):
        raise failure  # a file the writer reads: its name is the one to say
    assert failure.filename == "fonts/DejaVuSans.ttf" and list(tmp_path.iterdir()) == []


def test_a_write_that_must_not_replace_keeps_a_file_that_appeared_meanwhile(tmp_path: Path):
    """Another process wrote the target between a caller's check and this write (two deblur runs into one folder
    without --overwrite): the other file stays, this one is refused, and no temporary is left."""
    target = tmp_path / "out.png"
    with atomic_path(target, replace=False) as tmp:  # nothing there: written as ever
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    target.unlink()
    with pytest.raises(FileExistsError, match="appeared meanwhile") as caught:
        with atomic_path(target, replace=False) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"the other run's")
    assert caught.value.filename == str(target)
    assert target.read_bytes() == b"the other run's" and [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_without_hard_links_a_write_that_must_not_replace_checks_at_the_last_moment(tmp_path: Path, monkeypatch):
    def no_links(source, destination):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "out.png"
    with atomic_path(target, replace=False) as tmp:
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError, match="appeared meanwhile"):
        with atomic_path(target, replace=False) as tmp:
            tmp.write_bytes(b"ours")
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.parametrize("write, data", [(atomic_write_bytes, b"ours"), (atomic_write_text, "ours")])
def test_the_write_helpers_pass_replace_false_on_and_keep_an_existing_file(tmp_path: Path, write, data):
    """A card or report written with replace=False must never land over one already there."""
    target = tmp_path / "out.txt"
    target.write_text("earlier")
    with pytest.raises(FileExistsError):
        write(target, data, replace=False)
    assert target.read_text() == "earlier" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    write(tmp_path / "fresh.txt", data, replace=False)  # nothing there: written as ever
    assert (tmp_path / "fresh.txt").read_text() == "ours"


def test_text_naming_a_file_that_is_not_utf8_is_written_as_utf8_with_the_bytes_escaped(tmp_path):
    # a report page holds the paths it read and wrote: a strict encode failed after the work it reports on
    name = os.fsdecode(b"in\xff/caf\xe9.png")
    target = tmp_path / os.fsdecode(b"report\xff.md")  # the target's own name may be so too
    atomic_write_text(target, f"| {name} | é日本 |\n")
    assert target.read_bytes().decode("utf-8") == "| in\\xff/caf\\xe9.png | é日本 |\n"
    assert os.listdir(tmp_path) == [target.name]
