"""GoPro-protocol pairs from frames that the test renders itself (a square moving over a textured background)."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.atomic import temporary_affixes
from golfdeblur.data.datasets import GoPro
from golfdeblur.data.frames import average_frames, list_frames, make_pairs, window_sizes
from golfdeblur.data.image_data import ImageData
from golfdeblur.data.image_writing import write_image
from golfdeblur.data.imageio import read_image
from golfdeblur.errors import GolfdeblurError
from golfdeblur.folder_lock import folder_locked, held_by_another_process

SIZE = (24, 40)  # height, width


def render_frames(folder, count, step=1.0):
    """A bright square moving right by ``step`` px per frame over a fixed texture, 8-bit PNGs frame1.png ...
    (natural order matters: frame10 comes after frame9)."""
    folder.mkdir(parents=True, exist_ok=True)
    background = np.random.default_rng(0).integers(30, 120, (*SIZE, 3)).astype(np.uint8)
    frames = []
    for t in range(count):
        frame = background.copy()
        left = int(round(4 + t * step))
        frame[8:16, left : left + 8] = (250, 240, 230)
        Image.fromarray(frame).save(folder / f"frame{t + 1}.png")
        frames.append(frame)
    return np.stack(frames).astype(np.float64) / 255


def test_make_pairs_protocol(tmp_path):
    frames = render_frames(tmp_path / "seq", 16)
    records = make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert [r.name for r in records] == ["frame4.png", "frame11.png"]  # 2 windows of 7; 2 frames left over
    assert [(r.first, r.last, r.frames) for r in records] == [
        ("frame1.png", "frame7.png", 7),
        ("frame8.png", "frame14.png", 7),
    ]
    out = tmp_path / "out" / "seq"
    read = lambda path: np.asarray(Image.open(path), dtype=np.float64) / 255  # noqa: E731
    expected_gamma = np.round((frames[:7] ** 2.2).mean(0) ** (1 / 2.2) * 255) / 255
    expected_plain = np.round(frames[:7].mean(0) * 255) / 255
    np.testing.assert_allclose(read(out / "blur_gamma" / "frame4.png"), expected_gamma, atol=1e-9)
    np.testing.assert_allclose(read(out / "blur" / "frame4.png"), expected_plain, atol=1e-9)
    np.testing.assert_array_equal(read(out / "sharp" / "frame11.png"), frames[10])  # the middle frame, exactly
    # linear light makes the moving bright square's trail brighter than a plain mean
    assert read(out / "blur_gamma" / "frame4.png")[12, 12].mean() > read(out / "blur" / "frame4.png")[12, 12].mean()
    with open(out / "pairs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["name"] == "frame11.png" and float(rows[1]["psnr_blur_gamma"]) == records[1].psnr_blur_gamma
    data = GoPro(tmp_path, "out", variant="blur_gamma")  # the layout is GOPRO_Large's
    assert len(data) == 2 and data[0][0].shape == (3, *SIZE)


def test_an_even_window_keeps_the_later_of_its_two_central_frames(tmp_path):
    """N = 8: the sharp frame is frame N // 2 = 4 of the window (0-based), frame5.png here, and names the pair."""
    frames = render_frames(tmp_path / "seq", 8)
    (record,) = make_pairs(tmp_path / "seq", tmp_path / "out", frames=8)
    assert (record.name, record.first, record.last, record.frames) == ("frame5.png", "frame1.png", "frame8.png", 8)
    sharp = np.asarray(Image.open(tmp_path / "out" / "seq" / "sharp" / "frame5.png"), dtype=np.float64) / 255
    np.testing.assert_array_equal(sharp, frames[4])


def test_more_frames_blur_more(tmp_path):
    render_frames(tmp_path / "seq", 26, step=1.5)
    strengths = [make_pairs(tmp_path / "seq", tmp_path / f"n{n}", frames=n)[0].psnr_blur_gamma for n in (7, 13)]
    assert strengths[0] > strengths[1] + 1.0


def test_frame_ranges_strides_and_seeds():
    assert window_sizes(20, 7, None, 0) == [(0, 7), (7, 7)]
    assert window_sizes(20, 7, 3, 0) == [(0, 7), (3, 7), (6, 7), (9, 7), (12, 7)]
    drawn = window_sizes(200, (7, 13), None, seed=1)
    assert {n for _, n in drawn} <= set(range(7, 14)) and len({n for _, n in drawn}) > 3
    assert all(start + n <= 200 for start, n in drawn)
    assert drawn == window_sizes(200, (7, 13), None, seed=1) != window_sizes(200, (7, 13), None, seed=2)
    for bad in (6, 14, (7, 14)):
        with pytest.raises(GolfdeblurError, match="7..13"):
            window_sizes(20, bad, None, 0)
    with pytest.raises(GolfdeblurError, match=r"^frames per blur 9\.\.8: the low end is above the high one"):
        window_sizes(20, (9, 8), None, 0)  # it said "must lie in 7..13, got 9..8", of numbers within 7..13
    with pytest.raises(GolfdeblurError, match=r"^stride must be 1 or more, got 0$"):
        window_sizes(20, 7, 0, 0)


def test_average_frames():
    frames = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])
    torch.testing.assert_close(average_frames(frames, linear_light=False), torch.full((3, 2, 2), 0.5))
    torch.testing.assert_close(average_frames(frames), torch.full((3, 2, 2), 0.5 ** (1 / 2.2)))


def test_make_pairs_bad_input(tmp_path):
    with pytest.raises(GolfdeblurError, match="not found"):
        make_pairs(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GolfdeblurError, match="no frames found"):
        make_pairs(tmp_path / "empty", tmp_path / "out")
    render_frames(tmp_path / "short", 5)
    with pytest.raises(
        GolfdeblurError, match=r"5 frames, fewer than the 7 averaged for one blur; add frames, or average fewer"
    ):
        make_pairs(tmp_path / "short", tmp_path / "out")
    render_frames(tmp_path / "mixed", 8)
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(tmp_path / "mixed" / "frame5.png")
    with pytest.raises(GolfdeblurError, match=r"frame5\.png: frame is 40x20 but frame1\.png is 40x24"):
        list_frames(tmp_path / "mixed")
    render_frames(tmp_path / "broken", 8)
    (tmp_path / "broken" / "frame3.png").write_bytes(b"not a png")
    with pytest.raises(GolfdeblurError, match="frame3.png"):
        make_pairs(tmp_path / "broken", tmp_path / "out", frames=7)


def _truncate(path, keep=60):
    """Keep the first ``keep`` bytes: the PNG header (size) still reads, the pixels do not."""
    path.write_bytes(path.read_bytes()[:keep])


def test_an_unreadable_frame_leaves_nothing_behind_and_a_rerun_works(tmp_path):
    render_frames(tmp_path / "seq", 14)
    _truncate(tmp_path / "seq" / "frame10.png")  # in the second window: the first pair is made before it fails
    with pytest.raises(GolfdeblurError, match=r"frame10\.png"):
        make_pairs(tmp_path / "seq", tmp_path / "new" / "out", frames=7)
    assert not (tmp_path / "new").exists()  # no pairs, no pairs.csv-less sequence, no folder made for them
    (tmp_path / "out" / "other").mkdir(parents=True)  # an OUT_DIR that exists keeps only what it held
    (tmp_path / "out" / "seq").mkdir()  # an empty sequence folder is no earlier run
    with pytest.raises(GolfdeblurError, match=r"frame10\.png"):
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other", "seq"]
    assert not any((tmp_path / "out" / "seq").iterdir())
    render_frames(tmp_path / "seq", 14)  # the frame repaired: the rerun is not refused
    assert [r.name for r in make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)] == ["frame4.png", "frame11.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other", "seq"]
    assert sorted(p.name for p in (tmp_path / "out" / "seq").iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]


def test_a_sequence_filled_while_make_pairs_runs_is_not_replaced(tmp_path, monkeypatch):
    from golfdeblur.data import frames

    render_frames(tmp_path / "seq", 7)
    write_pairs = frames._write_pairs

    def racing(*args):
        records = write_pairs(*args)
        (tmp_path / "out" / "seq").mkdir()
        (tmp_path / "out" / "seq" / "mine.txt").write_text("someone else's")
        return records

    monkeypatch.setattr(frames, "_write_pairs", racing)
    with pytest.raises(GolfdeblurError) as refusal:  # it said "remove it first", of what may be another run's pairs
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == (
        f"{tmp_path}/out/seq: appeared while make-pairs ran (another make-pairs, or another program, made it), and is "
        "kept as it is; check what it holds, or rerun with another --sequence"
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["seq"]  # the temporary folder is gone
    assert [p.name for p in (tmp_path / "out" / "seq").iterdir()] == ["mine.txt"]
    (tmp_path / "out" / "seq2").write_text("a file")
    with pytest.raises(GolfdeblurError, match="seq2: already exists and is not a folder"):
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7, sequence="seq2")


def test_an_empty_sequence_folder_or_a_link_to_one_is_filled_in_place(tmp_path):
    render_frames(tmp_path / "seq", 7)
    (tmp_path / "out" / "seq").mkdir(parents=True)  # e.g. a mount point, which cannot be renamed over
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "linked").symlink_to(tmp_path / "elsewhere")
    for sequence, folder in (("seq", tmp_path / "out" / "seq"), ("linked", tmp_path / "elsewhere")):
        assert len(make_pairs(tmp_path / "seq", tmp_path / "out", frames=7, sequence=sequence)) == 1
        assert sorted(p.name for p in folder.iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]
    assert (tmp_path / "out" / "linked").is_symlink()


@pytest.mark.parametrize("where", ["inside", "beside"])
def test_the_hidden_folder_a_killed_make_pairs_left_is_no_earlier_run_and_is_removed(tmp_path, where):
    """A run killed (kill -9) while building its pairs leaves its hidden folder in an existing empty sequence folder
    (filled in place) or beside it. The rerun was refused with "already holds files" though `ls` showed nothing (or
    left the folder there); it is not refused now, and removes them once its pairs are in place."""
    render_frames(tmp_path / "seq", 7)
    target = tmp_path / "out" / "seq"
    home = target if where == "inside" else target.parent
    home.mkdir(parents=True)
    prefix, suffix = temporary_affixes("seq")
    leftover = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=home))  # as make_pairs names its own
    (leftover / "blur").mkdir()
    (leftover / "blur" / "frame4.png").write_bytes(b"half a pair")
    assert len(make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)) == 1
    assert sorted(p.name for p in target.iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]
    assert [p.name for p in target.parent.iterdir()] == ["seq"]
    (tmp_path / "out" / "other" / ".other.notmine.tmp").mkdir(parents=True)  # not named as ours: someone else's
    with pytest.raises(GolfdeblurError, match="other: already holds files"):
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7, sequence="other")


def test_the_hidden_folder_of_a_make_pairs_still_running_is_neither_ignored_nor_removed(tmp_path):
    """Taken for a killed run's leftover, it let a second run into the same empty folder work alongside the first,
    delete the first's folder, and fail at its end with 'No such file or directory'. A running make-pairs holds
    its folder locked: the second run is refused at once, as before leftovers were ignored."""
    render_frames(tmp_path / "seq", 7)
    target = tmp_path / "out" / "seq"
    target.mkdir(parents=True)
    prefix, suffix = temporary_affixes("seq")
    running = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target))
    with folder_locked(running):  # as the run building in it holds it
        with pytest.raises(GolfdeblurError, match=rf"seq: holds {running.name}, the folder of a make-pairs still"):
            make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
        assert len(make_pairs(tmp_path / "seq", tmp_path / "out", frames=7, sequence="next")) == 1
        assert running.is_dir()  # beside another sequence's folder: not that run's to remove


@pytest.mark.parametrize("kind", ["file", "link to a folder"])
def test_a_file_or_a_link_named_as_a_killed_run_s_hidden_folder_is_no_leftover(tmp_path, kind):
    """make-pairs builds in a folder of its own: only a folder so named (not a link to one, not a file) can be a
    killed run's, which the rerun may ignore and remove; anything else is someone's file, refused as before."""
    render_frames(tmp_path / "seq", 7)
    target = tmp_path / "out" / "seq"
    target.mkdir(parents=True)
    prefix, suffix = temporary_affixes("seq")
    named = target / f"{prefix}abcdefgh{suffix}"
    if kind == "file":
        named.write_text("someone's file")
    else:
        (tmp_path / "elsewhere").mkdir()
        named.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(GolfdeblurError, match="seq: already holds files"):
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert [p.name for p in target.iterdir()] == [named.name]  # left as it is


def test_make_pairs_holds_its_hidden_folder_locked_while_it_writes_the_pairs(tmp_path, monkeypatch):
    """Unlocked, it looks to another make-pairs like a killed run's leftover, which that run removes."""
    from golfdeblur.data import frames

    render_frames(tmp_path / "seq", 7)
    write_pairs, held = frames._write_pairs, []

    def watched(paths, windows, building):
        held.append(held_by_another_process(building))
        return write_pairs(paths, windows, building)

    monkeypatch.setattr(frames, "_write_pairs", watched)
    assert len(make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)) == 1
    assert held == [True]


def test_pairs_in_place_beside_a_folder_that_cannot_be_listed_are_no_failure(tmp_path, monkeypatch):
    """A write-only drop box as the output's parent: the pairs were written, then tidying up raised 'Permission
    denied' (exit 1, no summary)."""
    render_frames(tmp_path / "seq", 7)
    listed = Path.iterdir

    def drop_box(folder):
        if folder == tmp_path / "out":
            raise PermissionError(13, "Permission denied", str(folder))
        return listed(folder)

    monkeypatch.setattr(Path, "iterdir", drop_box)
    assert len(make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)) == 1
    monkeypatch.setattr(Path, "iterdir", listed)
    assert sorted(p.name for p in (tmp_path / "out" / "seq").iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]


def test_where_folder_locks_cannot_be_told_a_hidden_build_folder_is_named_not_removed(tmp_path, monkeypatch):
    """No flock (Windows): a killed run's folder cannot be told from a running one's, so it is kept, and the refusal
    names it (it said "already holds files" of a folder `ls` showed empty)."""
    from golfdeblur import folder_lock

    monkeypatch.setattr(folder_lock, "fcntl", None)
    render_frames(tmp_path / "seq", 7)
    target = tmp_path / "out" / "seq"
    target.mkdir(parents=True)
    prefix, suffix = temporary_affixes("seq")
    hidden = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target))
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == (
        f"{target}: holds {hidden.name}, the folder of a make-pairs still running, or of one killed where folder "
        "locks cannot be told (no flock); remove it if no make-pairs of this sequence runs"
    )
    assert hidden.is_dir()


def test_no_window_that_fits_is_refused_before_anything_is_written(tmp_path):
    render_frames(tmp_path / "seq", 8)
    assert window_sizes(8, (7, 13), None, 0) == []  # seed 0 draws N > 8 for the first pair
    with pytest.raises(GolfdeblurError, match=r"seq: no pair could be made: the first pair drew more than its 8"):
        make_pairs(tmp_path / "seq", tmp_path / "out", seed=0)
    assert not (tmp_path / "out").exists()
    assert len(make_pairs(tmp_path / "seq", tmp_path / "out", seed=1)) == 1  # and the rerun is not refused


def test_seeds_torch_cannot_take_are_refused_and_others_draw_as_before():
    for seed in (-(2**63) - 1, 2**64, 2**70):
        with pytest.raises(GolfdeblurError, match=rf"seed {seed}: must be -2\*\*63 to 2\*\*64 - 1"):
            window_sizes(20, (7, 13), None, seed)
    for seed in (-1, 2**63, 2**64 - 1):  # torch takes these, so earlier runs may have used them
        assert window_sizes(20, (7, 13), None, seed)
    assert window_sizes(60, (7, 13), None, 1) == [(0, 7), (7, 10), (17, 11), (28, 10), (38, 10)]
    assert window_sizes(60, (7, 13), None, 2**63 - 1) == [(0, 9), (9, 12), (21, 9), (30, 10), (40, 10), (50, 8)]


def test_a_sequence_name_that_is_a_path_or_hidden_is_refused_before_anything_is_written(tmp_path, capsys):
    from golfdeblur import cli

    render_frames(tmp_path / "clip", 8)
    for name in ("../beside", "a/b", "..", ".", "", ".hidden"):
        with pytest.raises(GolfdeblurError, match=r"^sequence .*: give one folder name"):
            make_pairs(tmp_path / "clip", tmp_path / "out" / "train", frames=7, sequence=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]  # no out/, no beside/
    assert cli.main(["make-pairs", str(tmp_path / "clip"), str(tmp_path / "out"), "--sequence", "../beside"]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "beside").exists()
    assert len(make_pairs(tmp_path / "clip", tmp_path / "out", frames=7, sequence="clip-2")) == 1
    (tmp_path / "clip").rename(tmp_path / ".clip")  # the default name, the frames folder's, is checked too
    with pytest.raises(GolfdeblurError, match=r"^sequence '.clip': give one folder name"):
        make_pairs(tmp_path / ".clip", tmp_path / "out", frames=7)
    assert len(make_pairs(tmp_path / ".clip", tmp_path / "out", frames=7, sequence="clip")) == 1


def test_two_frames_of_one_name_are_refused_before_anything_is_written(tmp_path):
    render_frames(tmp_path / "seq", 9)
    Image.open(tmp_path / "seq" / "frame5.png").save(tmp_path / "seq" / "frame5.bmp")  # both would make frame5.png
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=9)
    frames = tmp_path / "seq"
    assert str(refusal.value) == (
        f"{frames}/frame5.bmp and {frames}/frame5.png: two frames of one name (pairs are named by it); rename or "
        "remove one"
    )
    assert not (tmp_path / "out").exists()


def test_a_frame_name_that_is_not_utf8_is_refused_before_anything_is_written(tmp_path):
    render_frames(tmp_path / "seq", 7)
    odd = tmp_path / "seq" / ("frame4" + os.fsdecode(b"\xff") + ".png")  # the middle frame: pairs.csv names it
    (tmp_path / "seq" / "frame4.png").rename(odd)
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == f"{odd}: file name is not valid UTF-8, which the names pairs.csv records must be"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["pipe", "link to nothing", "folder"])
def test_a_frame_that_is_no_regular_file_is_refused_not_skipped(tmp_path, monkeypatch, kind):
    """A named pipe or a link to a missing file among the frames was left out: the pair over its gap averaged 7 frames
    over 8 frame numbers, as if they were consecutive. Image.open is guarded: a regression fails, never hangs."""
    render_frames(tmp_path / "seq", 9)
    gap = tmp_path / "seq" / "frame5.png"
    gap.unlink()
    if kind == "pipe":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(gap)
    elif kind == "link to nothing":
        gap.symlink_to(tmp_path / "missing.png")
    else:
        gap.mkdir()
    opened = Image.open

    def never_the_gap(fp, *args, **kwargs):
        assert str(fp) != str(gap), "Image.open of a named pipe would block for good"
        return opened(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", never_the_gap)
    reason = {
        "pipe": "not a regular file (a pipe, socket or device), not an image file",
        "link to nothing": "a link to no file (what it names is missing, or links lead round in a loop)",
        "folder": "is a folder, not an image file",
    }[kind]
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == f"{gap}: {reason}; remove it or move it out of the frames folder"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("blocking", ["file", "link to nothing"])
def test_a_file_where_the_output_folder_goes_is_named_without_an_errno(tmp_path, blocking):
    """make-pairs frames od/afile said 'cannot make the sequence folder there ([Errno 17] File exists: ...)'."""
    render_frames(tmp_path / "seq", 7)
    afile = tmp_path / "od" / "afile"
    afile.parent.mkdir()
    afile.write_text("a file") if blocking == "file" else afile.symlink_to(tmp_path / "nowhere")
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", afile / "deeper", frames=7)
    what = "a file" if blocking == "file" else "a link to nothing"
    assert str(refusal.value) == f"{afile / 'deeper'}: cannot make the sequence folder there ({afile} is {what})"
    assert sorted(p.name for p in afile.parent.iterdir()) == ["afile"]


_MAKE_PAIRS_UNDER_SIZE_LIMIT = """
import resource, signal, sys
from golfdeblur.data.frames import make_pairs
from golfdeblur.errors import GolfdeblurError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) rather than killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (500, resource.RLIM_INFINITY))
try:
    make_pairs(sys.argv[1], sys.argv[2], frames=7)
except GolfdeblurError as error:
    print(error)
    sys.exit(2)
"""


def test_a_full_disk_names_the_pair_being_written_not_the_hidden_folder(tmp_path, monkeypatch):
    """On a full disk make-pairs named its hidden temporary folder: out/.seq.buu981w4.tmp/blur_gamma/frame4.png. A
    file size limit cuts the writes short as a full disk does."""
    import errno
    import subprocess
    import sys

    from golfdeblur.atomic import atomic_path
    from golfdeblur.data import frames

    render_frames(tmp_path / "seq", 7)
    script = [sys.executable, "-c", _MAKE_PAIRS_UNDER_SIZE_LIMIT, str(tmp_path / "seq"), str(tmp_path / "out")]
    result = subprocess.run(script, capture_output=True, text=True, timeout=120)
    # the first file written that the limit stops, whichever folder of the pair it goes to; never the hidden folder
    pattern = re.escape(str(tmp_path / "out" / "seq")) + r"/[a-z_]+/frame4\.png: cannot write \(File too large\)\n"
    assert result.returncode == 2 and re.fullmatch(pattern, result.stdout), (result.stdout, result.stderr)
    assert not (tmp_path / "out").exists()

    def full_disk(target, text):  # pairs.csv, the last file written, as a full disk fails it
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(frames, "atomic_write_text", full_disk)
    with pytest.raises(GolfdeblurError) as refusal:
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == f"{tmp_path / 'out' / 'seq' / 'pairs.csv'}: cannot write (No space left on device)"
    assert not (tmp_path / "out").exists()


def test_a_second_make_pairs_into_a_new_sequence_another_is_making_is_refused_before_any_work(tmp_path, monkeypatch):
    """It did all the work, then at its move said the folder "already holds files ...; remove it first": advice to
    delete the first run's fresh pairs. The first run's locked hidden folder beside the sequence tells it at once."""
    from golfdeblur.data import frames

    render_frames(tmp_path / "seq", 7)
    (tmp_path / "out").mkdir()
    prefix, suffix = temporary_affixes("seq")
    running = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=tmp_path / "out"))

    def no_work(*args):
        raise AssertionError("pairs written by a run that is refused")

    monkeypatch.setattr(frames, "_write_pairs", no_work)
    with folder_locked(running), pytest.raises(GolfdeblurError) as refusal:  # as the first run holds it
        make_pairs(tmp_path / "seq", tmp_path / "out", frames=7)
    assert str(refusal.value) == (
        f"{tmp_path}/out/seq: another make-pairs is writing it (its folder {running.name} beside it is in use; where "
        "folder locks cannot be told (no flock), a killed run's looks the same: remove it if none runs); let that "
        "run end, or choose another --sequence"
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == [running.name]  # the first run's folder is left


def _frames_of(folder, modes):
    """Frames frame1.png ... of one size, each written as ``modes`` says: "rgb8", "grey8", "rgb16", "rgba8"."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index, mode in enumerate(modes, 1):
        rgb = rng.random((*SIZE, 3), dtype=np.float32)
        alpha = np.full(SIZE, 255, np.uint8) if mode == "rgba8" else None
        grey = mode == "grey8"
        write_image(
            folder / f"frame{index}.png",
            ImageData(rgb=rgb, greyscale=grey, bit_depth=16 if mode == "rgb16" else 8, alpha=alpha),
        )
    return folder


@pytest.mark.parametrize(
    ("odd", "said"),
    [
        ("rgb16", "frame5.png: frame is 16-bit but frame1.png is 8-bit; all frames must have one bit depth"),
        ("grey8", "frame5.png: frame is greyscale but frame1.png is colour; the frames of a video share one colour"),
    ],
)
def test_frames_of_two_bit_depths_or_a_grey_frame_among_colour_ones_are_refused(tmp_path, monkeypatch, odd, said):
    """They were mixed silently: each pair took its middle frame's bit depth (one sequence holding 8- and 16-bit
    pairs), and a grey frame was averaged in among colour ones. Told from the headers: no frame is decoded."""
    from golfdeblur.data import frames

    folder = _frames_of(tmp_path / "seq", ["rgb8"] * 4 + [odd] + ["rgb8"] * 4)
    monkeypatch.setattr(frames, "read_image", lambda path: pytest.fail(f"{path} decoded"))
    with pytest.raises(GolfdeblurError, match=rf"^{re.escape(str(folder))}/{re.escape(said)}"):
        make_pairs(folder, tmp_path / "out", frames=9)
    assert not (tmp_path / "out").exists()


def test_frames_of_one_bit_depth_and_mode_make_pairs_of_it(tmp_path):
    for name, modes in {
        "grey": ["grey8"] * 7,
        "deep": ["rgb16"] * 7,
        "alpha": ["rgba8", "rgb8"] * 3 + ["rgb8"],
    }.items():
        assert len(make_pairs(_frames_of(tmp_path / name, modes), tmp_path / "out", frames=7)) == 1
    assert read_image(tmp_path / "out" / "deep" / "blur_gamma" / "frame4.png").bit_depth == 16


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_greyscale_frames_make_greyscale_pairs_of_the_same_values(tmp_path, bit_depth):
    """Grey frames gave RGB pairs (three channels written where the frames had one), against imageio's "greyscale
    stays greyscale". The values are those the same frames stored as RGB give, in one channel: to the last bit at 16
    bits too, where the float32 channel mean write_image stores of a grey image misses the average by a unit in the
    last place about one time in six: one of these 12,288 pixels then rounded to the next level. Only the 16-bit case
    guards that ulp fix (8-bit levels are too coarse for an ulp to move one); the 8-bit case guards the grey pairs."""
    rng, size = np.random.default_rng(bit_depth), (96, 128)
    for mode in ("grey", "rgb"):
        (tmp_path / mode).mkdir()
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    for index in range(1, 9):  # integer samples: each frame holds the same values written either way
        rgb = np.repeat(rng.integers(0, np.iinfo(dtype).max, (*size, 1), dtype=dtype, endpoint=True), 3, axis=2)
        for mode in ("grey", "rgb"):
            image = ImageData(rgb=rgb, greyscale=mode == "grey", bit_depth=bit_depth)
            write_image(tmp_path / mode / f"frame{index}.png", image)
    records = {mode: make_pairs(tmp_path / mode, tmp_path / "out", frames=7) for mode in ("grey", "rgb")}
    assert records["grey"] == records["rgb"]  # the same pairs.csv, PSNR included
    for folder in ("blur_gamma", "blur", "sharp"):
        grey, rgb = (read_image(tmp_path / "out" / mode / folder / "frame4.png") for mode in ("grey", "rgb"))
        assert (grey.greyscale, grey.bit_depth, rgb.greyscale, rgb.bit_depth) == (True, bit_depth, False, bit_depth)
        with Image.open(tmp_path / "out" / "grey" / folder / "frame4.png") as file:
            assert file.mode == ("L" if bit_depth == 8 else "I;16")  # one channel in the file
        np.testing.assert_array_equal(grey.rgb, rgb.rgb)  # three equal channels, each the RGB pair's value
