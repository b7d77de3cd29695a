"""The `golfdeblur make-pairs`, `golfdeblur show-data` and `golfdeblur pack-data` commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from golfdeblur import atomic, cli
from golfdeblur.commands import data
from golfdeblur.commands.data import parse_frames
from golfdeblur.errors import GolfdeblurError


def main(argv: list[str]) -> int:
    """Run one of this module's subcommands as ``golfdeblur.cli.main`` does (errors -> exit code 2)."""
    parser = argparse.ArgumentParser(prog="golfdeblur")
    data.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except GolfdeblurError as exc:
        print(f"golfdeblur: error: {exc}", file=sys.stderr)
        return 2


def test_make_pairs_command(tmp_path, capsys):
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for t in range(9):
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(frames / f"{t:06d}.png")
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "9"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 pair to" in printed and "N= 9:   1 pair, blur_gamma" in printed  # not "1 pair , blur_gamma"
    assert (tmp_path / "out" / "clip" / "sharp" / "000004.png").is_file()
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "3"]) == 2
    assert capsys.readouterr().err == (
        "golfdeblur: error: --frames 3: frames per blur must lie in 7..13 (the GoPro protocol); give N or LOW-HIGH "
        "within it\n"
    )
    # a second run into the same sequence folder would mix its pairs with the first's: refused, nothing written
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*"))
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7"]) == 2
    assert "already holds the pairs of an earlier make-pairs; pass --overwrite" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--sequence", "clip7"]) == 0


def _clip(folder, count):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(folder / f"{t:06d}.png")
    return folder


def _earlier_pairs(tmp_path: Path, capsys) -> tuple[Path, Path, Path]:
    """(frames, OUT_DIR, OUT_DIR/SEQUENCE) after an earlier make-pairs of 9 frames at N = 7 (its output read away)."""
    frames = _clip(tmp_path / "clip", 9)
    out = tmp_path / "out"
    assert main(["make-pairs", str(frames), str(out), "--frames", "7"]) == 0
    capsys.readouterr()
    return frames, out, out / "clip"


def test_make_pairs_with_no_pair_to_make_writes_nothing(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 8)
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--seed", "0"]) == 2  # N drawn > 8 frames
    err = capsys.readouterr().err
    assert "no pair could be made" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # no header-only pairs.csv blocking the next run
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7"]) == 0


def test_make_pairs_refuses_a_seed_torch_cannot_take(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 8)
    for seed in (2**64, -(2**63) - 1):
        assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--seed", str(seed)]) == 2
        assert capsys.readouterr().err == f"golfdeblur: error: seed {seed}: must be -2**63 to 2**64 - 1\n"
    assert not (tmp_path / "out").exists()


def test_parse_frames():
    assert parse_frames("11") == 11 and parse_frames("7-13") == (7, 13)
    with pytest.raises(GolfdeblurError):
        parse_frames("seven")


def test_show_data_command(tmp_path, capsys):
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(sharp / "a.png")
    out = tmp_path / "grid.png"
    assert (
        main(["show-data", str(out), "--source", str(sharp), "--count", "3", "--crop", "32", "--kernel-max", "9"]) == 0
    )
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size[0] > 300
    assert main(["show-data", str(tmp_path / "other.png"), "--source", str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err
    before = out.read_bytes()
    assert main(["show-data", str(out), "--count", "1", "--crop", "32"]) == 2  # an earlier picture stays
    assert "already exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["show-data", str(out), "--count", "1", "--crop", "32", "--overwrite"]) == 0
    assert main(["show-data", str(tmp_path / "grid.jpg"), "--count", "1"]) == 2
    assert "give a name ending in .png" in capsys.readouterr().err


def test_show_data_count_is_bounded_before_drawing(tmp_path, capsys):
    for count in ("0", "65"):  # (no source folder: a count let through would fail on it instead)
        assert main(["show-data", str(tmp_path / "g.png"), "--source", str(tmp_path / "none"), "--count", count]) == 2
        assert capsys.readouterr().err == f"golfdeblur: error: --count must lie in 1..64, got {count}\n"
    assert not (tmp_path / "g.png").exists()


def test_show_data_crop_is_bounded_before_drawing(tmp_path, capsys):
    """--crop 100000 tried to allocate 120 GB and failed with advice naming options show-data has not; --crop 0
    was said as 'crop_size 0' (SyntheticBlur's name)."""
    for crop in ("0", "1025", "100000"):  # (no source folder: a crop let through would fail on it instead)
        assert main(["show-data", str(tmp_path / "g.png"), "--source", str(tmp_path / "none"), "--crop", crop]) == 2
        assert capsys.readouterr().err == f"golfdeblur: error: --crop must lie in 1..1024 pixels, got {crop}\n"
    assert not (tmp_path / "g.png").exists()


def test_show_data_refuses_a_folder_at_the_output_even_with_overwrite(tmp_path, capsys):
    (tmp_path / "dpng.png").mkdir()
    for overwrite in ([], ["--overwrite"]):
        assert main(["show-data", str(tmp_path / "dpng.png"), "--count", "1", *overwrite]) == 2
        err = capsys.readouterr().err
        assert err == f"golfdeblur: error: {tmp_path}/dpng.png: is a folder; name the .png file to write\n"


def test_show_data_refuses_an_output_folder_that_takes_no_file_before_drawing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(data, "sources_for", lambda *args: pytest.fail("drew all the same"))
    blocking = tmp_path / "afile"
    blocking.write_text("a file where the folder would go")
    assert main(["show-data", str(blocking / "sd.png"), "--count", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"golfdeblur: error: {blocking}/sd.png: cannot make its folder {blocking} ({blocking} is a file)\n"

    def refused(*args, **kwargs):  # as in a read-only or immutable folder, which root cannot write either
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / ".sd.x1y2z3.tmp.png"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    assert main(["show-data", str(tmp_path / "ro" / "sd.png"), "--count", "1"]) == 2
    err = capsys.readouterr().err
    ro = tmp_path / "ro"
    assert err == f"golfdeblur: error: {ro}/sd.png: cannot write in its folder {ro} (permission denied)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the folder it made is removed again


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
def test_show_data_replaces_a_picture_another_run_wrote_meanwhile_only_with_overwrite(
    tmp_path, capsys, monkeypatch, overwrite
):
    """Two runs to one name: the other wrote its picture after this one's check, before its write. It was replaced
    silently (both said they wrote it); without --overwrite it is kept now and this run fails with one line."""
    frames = _clip(tmp_path / "clip", 1)
    out = tmp_path / "sd.png"
    from matplotlib.figure import Figure

    real_save = Figure.savefig

    def save_as_the_other_run_finishes(figure, path, **kwargs):
        real_save(figure, path, **kwargs)
        out.write_bytes(b"the other run's picture")

    monkeypatch.setattr(Figure, "savefig", save_as_the_other_run_finishes)
    argv = ["show-data", str(out), "--source", str(frames), "--count", "1", "--crop", "8"]
    code = cli.main([*argv, "--overwrite"] if overwrite else argv)
    err = capsys.readouterr().err
    if overwrite:
        assert code == 0 and err == ""
        with Image.open(out) as picture:
            assert picture.format == "PNG"
    else:
        assert code == 2 and out.read_bytes() == b"the other run's picture"  # a refusal, as at the check
        assert err == f"golfdeblur: error: {out}: a file of that name appeared meanwhile; not replaced\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "sd.png"]  # no temporary left


@pytest.mark.parametrize("kind", ["missing", "loop"])
def test_an_output_that_is_a_link_to_nothing_counts_as_existing(tmp_path, capsys, monkeypatch, kind):
    """show-data replaced such a link without --overwrite; pack-data said "appeared meanwhile" after the encoding.
    Both refuse it up front now, and show-data --overwrite replaces the link itself, creating nothing it names."""
    monkeypatch.setattr(data, "sources_for", lambda *args: pytest.fail("drew all the same"))
    frames = _clip(tmp_path / "clip", 1)
    for name in ("grid.png", "pack.npz"):
        (tmp_path / name).symlink_to(tmp_path / (f"nowhere-{name}" if kind == "missing" else name))
    assert main(["show-data", str(tmp_path / "grid.png"), "--count", "1", "--crop", "8"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {tmp_path}/grid.png: already exists (a link to nothing); pass --overwrite to replace it, "
        "or choose another name\n"
    )
    assert main(["pack-data", str(tmp_path / "pack.npz"), "--sharp", str(frames)]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {tmp_path}/pack.npz: already exists (a link to nothing); pass --overwrite to replace it, "
        "or choose another name\n"
    )
    monkeypatch.undo()
    argv = ["show-data", str(tmp_path / "grid.png"), "--source", str(frames), "--count", "1", "--crop", "8"]
    assert main([*argv, "--overwrite"]) == 0
    assert not (tmp_path / "grid.png").is_symlink() and (tmp_path / "grid.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "grid.png", "pack.npz"]  # nothing else made


def test_outputs_starting_with_a_tilde_are_in_the_home_folder(tmp_path, monkeypatch):
    """A quoted '~' reaches the command unexpanded: it is the home folder, as deblur -o and export read it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    frames = _clip(tmp_path / "clip", 7)
    assert main(["make-pairs", str(frames), "~/pairs", "--frames", "7"]) == 0
    assert (tmp_path / "home" / "pairs" / "clip" / "pairs.csv").is_file()
    assert main(["pack-data", "~/data.npz", "--sharp", str(frames)]) == 0
    assert (tmp_path / "home" / "data.npz").is_file()
    assert main(["show-data", "~/grid.png", "--source", str(frames), "--count", "1", "--crop", "8"]) == 0
    assert (tmp_path / "home" / "grid.png").is_file()
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("source", ["default", "skimage", "dead-leaves", "~/sharp"])
def test_show_data_draws_from_each_source_it_names_and_a_folder_under_home(tmp_path, capsys, monkeypatch, source):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "sharp").mkdir()
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "sharp" / "a.png")
    out = tmp_path / "grid.png"
    argv = ["show-data", str(out), "--source", source, "--count", "1", "--crop", "16", "--kernel-max", "9"]
    assert main(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"wrote {out} (1 sample from {source})\n" and out.is_file()


def test_show_data_names_the_sources_it_takes_when_the_source_is_no_folder(tmp_path, capsys, monkeypatch):
    """`--source skimag` said only 'skimag: image folder not found', which hid that 'skimage' was meant."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a file")
    for source, what in (("skimag", "no such folder"), ("notes.txt", "not a folder")):
        assert main(["show-data", "s.png", "--source", source, "--count", "1"]) == 2
        assert capsys.readouterr().err == (
            f"golfdeblur: error: --source {source}: {what}; give 'default' (scikit-image photos + dead leaves), "
            "'skimage' or 'dead-leaves', or a folder of sharp images\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    # an empty name (an unset "$SOURCE") read the current folder, recursively
    assert main(["show-data", "s.png", "--source", "", "--count", "1"]) == 2
    assert capsys.readouterr().err.startswith("golfdeblur: error: --source: is empty; give 'default'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("name", ["P.NPZ", "p.Npz"])
def test_pack_data_writes_a_pack_named_in_any_case_of_npz(tmp_path, capsys, name):
    """Training reads data.root=P.NPZ as a pack (is_pack takes any case of .npz); pack-data refused to write one."""
    from golfdeblur.data.packed import load_packed
    from golfdeblur.train.config import is_pack

    frames = _clip(tmp_path / "clip", 2)
    assert main(["pack-data", str(tmp_path / name), "--sharp", str(frames)]) == 0
    assert "wrote" in capsys.readouterr().out and is_pack(str(tmp_path / name))
    assert len(load_packed(tmp_path / name).sharp) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "clip"])


@pytest.mark.parametrize("size", [5, 77])
def test_show_data_says_a_kernel_max_out_of_range_by_its_flag(tmp_path, capsys, size):
    """--kernel-max 5 said 'kernel sizes must satisfy 1 <= min_size <= max_size <= 75, got 7 and 5', naming no flag."""
    assert main(["show-data", str(tmp_path / "s.png"), "--kernel-max", str(size)]) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: --kernel-max must lie in 7..75, got {size}\n"
    assert not (tmp_path / "s.png").exists()
    import inspect

    from golfdeblur.commands.data import KERNEL_MIN
    from golfdeblur.data.datasets import SyntheticBlur

    assert inspect.signature(SyntheticBlur).parameters["kernel_min_size"].default == KERNEL_MIN


def _tree(folder):
    """Every path under ``folder`` (hidden ones too) with the bytes of each file: what a refused run must leave."""
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_pack_data_replaces_an_existing_pack_only_with_overwrite(tmp_path, capsys):
    """pack-data had no --overwrite: an existing pack could only be removed by hand first, unlike show-data's."""
    from golfdeblur.data.packed import load_packed

    frames = _clip(tmp_path / "clip", 3)
    out = tmp_path / "pack.npz"
    assert main(["pack-data", str(out), "--sharp", str(frames)]) == 0
    capsys.readouterr()
    (frames / "000000.png").unlink()
    before = out.read_bytes()
    assert main(["pack-data", str(out), "--sharp", str(frames)]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {out}: already exists; pass --overwrite to replace it, or choose another name\n"
    )
    assert out.read_bytes() == before
    assert main(["pack-data", str(out), "--sharp", str(frames), "--overwrite"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: 2 sharp images")
    assert len(load_packed(out).sharp) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "pack.npz"]  # no temporary left


def test_pack_data_overwrite_that_fails_part_way_leaves_the_earlier_pack(tmp_path, capsys, monkeypatch):
    from golfdeblur.data import packed

    frames = _clip(tmp_path / "clip", 2)
    out = tmp_path / "pack.npz"
    assert main(["pack-data", str(out), "--sharp", str(frames)]) == 0
    before = out.read_bytes()

    def disk_full(handle, **arrays):
        handle.write(b"PK half a pack")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(packed.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        main(["pack-data", str(out), "--sharp", str(frames), "--overwrite"])
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "pack.npz"]


@pytest.mark.parametrize("earlier", [True, False], ids=["over an earlier pack", "new"])
def test_pack_data_reads_the_new_pack_back_before_it_takes_the_name(tmp_path, capsys, monkeypatch, earlier):
    """pack-data read its pack back only once it had taken OUT's name: a pack that did not load had already
    replaced the earlier one (--overwrite), or stayed at OUT though the run failed."""
    from golfdeblur.data import packed

    frames = _clip(tmp_path / "clip", 2)
    out = tmp_path / "pack.npz"
    if earlier:
        assert main(["pack-data", str(out), "--sharp", str(frames)]) == 0
        (frames / "000000.png").unlink()  # the new pack differs from the earlier one
    capsys.readouterr()
    before = _tree(tmp_path)
    read = []

    def does_not_load(path, *args, **kwargs):
        read.append(os.path.basename(path))
        raise GolfdeblurError(f"{path}: holds no images")

    monkeypatch.setattr(packed, "load_packed", does_not_load)
    assert main(["pack-data", str(out), "--sharp", str(frames), "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {out}: holds no images; the new pack does not load back, so it was not written\n"
    )
    assert _tree(tmp_path) == before  # the earlier pack byte-identical (or none), and no temporary left
    assert len(read) == 1 and atomic.is_temporary_of(read[0], out.name)  # read as the temporary, not as OUT


def test_pack_data_refuses_a_folder_at_the_output_even_with_overwrite(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 1)
    (tmp_path / "dnpz.npz").mkdir()
    for overwrite in ([], ["--overwrite"]):
        assert main(["pack-data", str(tmp_path / "dnpz.npz"), "--sharp", str(frames), *overwrite]) == 2
        err = capsys.readouterr().err
        assert err == f"golfdeblur: error: {tmp_path}/dnpz.npz: is a folder; name the .npz file to write\n"
    assert list((tmp_path / "dnpz.npz").iterdir()) == []


def _pair_names(sequence):
    return {part: sorted(p.name for p in (sequence / part).iterdir()) for part in data.PAIR_FOLDERS}


def test_make_pairs_overwrite_replaces_the_earlier_pairs_as_a_whole(tmp_path, capsys):
    """make-pairs had no --overwrite. With it, the sequence holds the new run's pairs only: pairs of the first run
    that the second does not make (another N names pairs after other middle frames) would be read with them by
    GoPro(), which lists the folders, though pairs.csv lists only the new ones."""
    frames = _clip(tmp_path / "clip", 16)
    out = tmp_path / "out"
    sequence = out / "clip"
    assert main(["make-pairs", str(frames), str(out), "--frames", "7"]) == 0
    assert _pair_names(sequence)["sharp"] == ["000003.png", "000010.png"]
    capsys.readouterr()
    before = _tree(out)
    assert main(["make-pairs", str(frames), str(out), "--frames", "8"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {sequence}: already holds the pairs of an earlier make-pairs; pass --overwrite to "
        "replace them, or choose another --sequence\n"
    )
    assert _tree(out) == before
    assert main(["make-pairs", str(frames), str(out), "--frames", "8", "--overwrite"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 2 pairs to {sequence} ")
    assert _pair_names(sequence) == {part: ["000004.png", "000012.png"] for part in data.PAIR_FOLDERS}
    assert (sequence / "pairs.csv").read_text().splitlines()[1].startswith("000004.png,8,000000.png,000007.png,")
    assert sorted(p.name for p in sequence.iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]  # no hidden
    assert sorted(p.name for p in out.iterdir()) == ["clip"]


@pytest.mark.parametrize(
    ("other", "named"),
    [("sharp/mine.png", "sharp/mine.png"), ("notes.txt", "notes.txt"), ("sharp/sub/a.png", "sharp/sub"),
     ("extra/a.png", "extra"), ("sharp/000003.png/mine.png", "sharp/000003.png"),
     (".report-mine.tmp/a.png", ".report-mine.tmp")],
)  # fmt: skip
def test_make_pairs_never_removes_a_file_it_did_not_write(tmp_path, capsys, other, named):
    """Replacing the sequence's folders whole would remove a file the user put in them: anything its pairs.csv does
    not list is refused, with --overwrite or without, before any work: a folder named as a listed pair too, and a
    hidden folder named almost as those of make-pairs --overwrite."""
    frames, out, sequence = _earlier_pairs(tmp_path, capsys)
    if (sequence / other).parent.is_file():  # a pair's file, made a folder of the user's
        (sequence / other).parent.unlink()
    (sequence / other).parent.mkdir(parents=True, exist_ok=True)
    (sequence / other).write_bytes(b"the user's own")
    before = _tree(out)
    for overwrite in ([], ["--overwrite"]):
        assert main(["make-pairs", str(frames), str(out), "--frames", "7", *overwrite]) == 2
        assert capsys.readouterr().err == (
            f"golfdeblur: error: {sequence}: holds pairs, and {named}, which is none of those its pairs.csv lists "
            "(--overwrite replaces only pairs make-pairs wrote): move it out, or choose another --sequence\n"
        )
        assert _tree(out) == before


def test_make_pairs_overwrite_that_fails_part_way_leaves_the_earlier_pairs(tmp_path, capsys, monkeypatch):
    from golfdeblur.data import frames as frames_module

    frames = _clip(tmp_path / "clip", 9)
    out = tmp_path / "out"
    assert main(["make-pairs", str(frames), str(out), "--frames", "7"]) == 0
    before = _tree(out)
    real_write = frames_module.write_image
    written = []

    def disk_full_at_the_second_image(path, image, **kwargs):
        if written:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        return real_write(path, image, **kwargs)

    monkeypatch.setattr(frames_module, "write_image", disk_full_at_the_second_image)
    assert main(["make-pairs", str(frames), str(out), "--frames", "9", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {out}/clip/blur/000004.png: cannot write (No space left on device)\n"
    )
    assert _tree(out) == before  # the earlier pairs whole, and no hidden folder left


def test_make_pairs_overwrite_that_another_program_gets_in_the_way_of_says_pairs(tmp_path, capsys, monkeypatch):
    """Another program fills sharp/ as the new pairs are moved in: the line said "so this report was not written
    (--overwrite replaces it)" (make-pairs writes no report, and had --overwrite) and "the earlier report's sharp
    kept in ..."."""
    frames, out, sequence = _earlier_pairs(tmp_path, capsys)
    rename = os.rename

    def another_program_first(source, target, *args, **kwargs):
        if str(source).endswith(f".tmp{os.sep}sharp"):  # the new sharp/, moved in from the hidden folder
            (sequence / "sharp").mkdir()
            (sequence / "sharp" / "theirs.png").write_bytes(b"another program's")
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", another_program_first)
    assert cli.main(["make-pairs", str(frames), str(out), "--frames", "9", "--overwrite"]) == 2  # a refusal
    [aside] = [p for p in sequence.iterdir() if p.name.endswith(".old")]
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {sequence}/sharp: appeared meanwhile; not replaced, so these pairs were not written; "
        f"the earlier pairs' sharp kept in {aside}\n"
    )
    assert sorted(p.name for p in (aside / "sharp").iterdir()) == ["000003.png"]


def test_make_pairs_overwrite_refuses_frames_inside_the_sequence_it_replaces(tmp_path, capsys):
    """make-pairs OUT/clip/sharp OUT --sequence clip --overwrite read the frames, then removed them with the earlier
    pairs (every file in sharp/ is one its pairs.csv lists)."""
    frames = _clip(tmp_path / "clip", 9)
    out = tmp_path / "out"
    assert main(["make-pairs", str(frames), str(out), "--frames", "7", "--stride", "1"]) == 0
    capsys.readouterr()
    sharp = out / "clip" / "sharp"
    before = _tree(out)
    assert main(["make-pairs", str(sharp), str(out), "--sequence", "clip", "--frames", "7", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {sharp}: the frames lie inside {out}/clip, whose pairs --overwrite replaces; copy them "
        "out first, or choose another --sequence\n"
    )
    assert _tree(out) == before


def test_make_pairs_checks_its_settings_before_the_output(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 9)
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7"]) == 0
    capsys.readouterr()
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--stride", "0"]) == 2
    assert capsys.readouterr().err == (
        "golfdeblur: error: --stride 0: must be 1 or more; leave it out for windows that do not overlap\n"
    )
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "9-7"]) == 2  # it said "must lie in
    assert capsys.readouterr().err == (  # 7..13, got 9..7", of a range within 7..13
        "golfdeblur: error: --frames 9-7: LOW is above HIGH; give LOW-HIGH with LOW <= HIGH, e.g. 7-9\n"
    )
    assert main(["make-pairs", str(tmp_path / "gone" / "clip"), str(tmp_path / "out"), "--frames", "7"]) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: {tmp_path}/gone/clip: frames folder not found\n"


@pytest.mark.parametrize("suffix", [".tmp", ".old"])
def test_make_pairs_overwrite_removes_the_hidden_folder_a_killed_overwrite_left(tmp_path, capsys, suffix):
    """A make-pairs --overwrite killed (kill -9) left its hidden folder (.report-XXXXXXXX.tmp, or .old where it was
    killed while moving its pairs in) in the sequence, and every later make-pairs of it was refused: 'holds pairs,
    and .report-y2x6ujh_.tmp, which is none of those its pairs.csv lists ...: move it out'."""
    frames = _clip(tmp_path / "clip", 9)
    out = tmp_path / "out"
    sequence = out / "clip"
    assert main(["make-pairs", str(frames), str(out), "--frames", "7"]) == 0
    left = sequence / f".report-y2x6ujh_{suffix}"
    (left / "sharp").mkdir(parents=True)
    (left / "sharp" / "000004.png").write_bytes(b"a killed run's")
    capsys.readouterr()
    before = _tree(out)
    assert main(["make-pairs", str(frames), str(out), "--frames", "9"]) == 2
    assert "already holds the pairs of an earlier make-pairs; pass --overwrite" in capsys.readouterr().err
    assert _tree(out) == before
    assert main(["make-pairs", str(frames), str(out), "--frames", "9", "--overwrite"]) == 0
    assert sorted(p.name for p in sequence.iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]
    assert _pair_names(sequence) == {part: ["000004.png"] for part in data.PAIR_FOLDERS}


def test_make_pairs_into_a_sequence_a_running_overwrite_writes_is_refused_as_such(tmp_path, capsys, monkeypatch):
    """Two make-pairs --overwrite at once: the second told the user to move out the first's hidden folder, which
    the first was still building its pairs in."""
    from golfdeblur.data import frames as frames_module

    frames, out, sequence = _earlier_pairs(tmp_path, capsys)
    real_make_pairs = frames_module.make_pairs
    runs, second = [], []

    def another_run_meanwhile(*args, **kwargs):
        runs.append(args)
        if len(runs) == 1:  # the first run, building its pairs
            before = _tree(out)
            for overwrite in (["--overwrite"], []):
                second.append(main(["make-pairs", str(frames), str(out), "--frames", "9", *overwrite]))
                second.append(capsys.readouterr().err)
            assert _tree(out) == before  # the running one's hidden folder is left as it is
        return real_make_pairs(*args, **kwargs)

    monkeypatch.setattr(frames_module, "make_pairs", another_run_meanwhile)
    assert main(["make-pairs", str(frames), str(out), "--frames", "8", "--overwrite"]) == 0
    [hidden] = {line.split("its folder ")[1].split(" ")[0] for line in second[1::2]}
    refused = (
        f"golfdeblur: error: {sequence}: another make-pairs is writing it (its folder {hidden} is in use; where folder "
        "locks cannot be told (no flock), a killed run's looks the same: remove it if none runs); let that run end, "
        "or choose another --sequence\n"
    )
    assert second == [2, refused, 2, refused]
    assert hidden.startswith(".report-") and hidden.endswith(".tmp")
    assert _pair_names(sequence) == {part: ["000004.png"] for part in data.PAIR_FOLDERS}  # N=8: the first run's
    assert sorted(p.name for p in sequence.iterdir()) == ["blur", "blur_gamma", "pairs.csv", "sharp"]


def test_make_pairs_refuses_a_pairs_csv_without_a_name_column_in_one_line(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 9)
    sequence = tmp_path / "out" / "clip"
    sequence.mkdir(parents=True)
    (sequence / "pairs.csv").write_text("a,b\n1,2\n")
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {sequence}/pairs.csv: not a pairs.csv make-pairs writes, so the folder holds no pairs "
        "of its own to replace; choose another --sequence\n"
    )
    assert sorted(p.name for p in sequence.iterdir()) == ["pairs.csv"]


@pytest.mark.parametrize(
    "text", ["my own notes, not a table\n", "", "name,frames,first,last,psnr_blur_gamma,psnr_blur\n"]
)
def test_make_pairs_overwrite_never_replaces_a_pairs_csv_without_rows(tmp_path, capsys, text):
    """A pairs.csv with no data rows (notes of the user's, an empty file) was taken for make-pairs' own and replaced
    with exit 0: only a missing "name" key in a row told a foreign one. make-pairs never writes one without rows."""
    frames = _clip(tmp_path / "clip", 9)
    sequence = tmp_path / "out" / "clip"
    sequence.mkdir(parents=True)
    (sequence / "pairs.csv").write_text(text)
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {sequence}/pairs.csv: not a pairs.csv make-pairs writes, so the folder holds no pairs "
        "of its own to replace; choose another --sequence\n"
    )
    assert sorted(p.name for p in sequence.iterdir()) == ["pairs.csv"]
    assert (sequence / "pairs.csv").read_text() == text


def test_make_pairs_refuses_a_pairs_csv_with_other_columns_than_its_own(tmp_path, capsys):
    frames = _clip(tmp_path / "clip", 9)
    sequence = tmp_path / "out" / "clip"
    sequence.mkdir(parents=True)
    (sequence / "pairs.csv").write_text("name,score\n000003.png,1\n")  # a name column, but not make-pairs' table
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--overwrite"]) == 2
    assert "not a pairs.csv make-pairs writes" in capsys.readouterr().err
    assert (sequence / "pairs.csv").read_text() == "name,score\n000003.png,1\n"


def test_make_pairs_refuses_an_empty_sequence_name(tmp_path, capsys):
    """--sequence '' is no name: refused, not taken for the frames folder's."""
    frames = _clip(tmp_path / "clip", 9)
    assert main(["make-pairs", str(frames), str(tmp_path / "out"), "--frames", "7", "--sequence", ""]) == 2
    assert capsys.readouterr().err.startswith("golfdeblur: error: sequence '': give one folder name")
    assert not (tmp_path / "out").exists()
