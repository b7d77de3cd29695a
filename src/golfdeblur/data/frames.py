"""GoPro-protocol pairs from high-frame-rate video (Nah et al. 2017): average N consecutive sharp frames, keep the
middle one as ground truth.

Layout written (the GOPRO_Large one, so that ``GoPro(parent_of_out_dir, out_dir.name)`` reads it)::

    OUT_DIR/SEQUENCE/blur_gamma/NAME.png  mean in linear light: frames ** 2.2, mean, ** (1 / 2.2) (Nah et al.'s paper)
    OUT_DIR/SEQUENCE/blur/NAME.png        plain mean of the stored (gamma-encoded) frames (GOPRO_Large's blur/)
    OUT_DIR/SEQUENCE/sharp/NAME.png       the middle frame
    OUT_DIR/SEQUENCE/pairs.csv            which frames made each pair, and its blur strength (PSNR blurry vs sharp)

NAME is the middle frame's file name; the PNGs have the frames' bit depth (8 or 16) and mode (greyscale frames give
greyscale pairs, colour frames colour ones). Rules: frames are the image files directly in FRAMES_DIR, in natural order
(``frame2`` before ``frame10``); windows are consecutive and do not overlap unless a stride is given; frames left at
the end that cannot fill a window are not used; for an even N the middle frame is frame N // 2 of the window
(0-based, the later of the two central frames); an alpha channel is dropped. Frames of different sizes, of different
bit depths (8 and 16) or colour modes (a greyscale frame among colour ones), fewer frames than N, an empty or missing
folder, unreadable frames, a seed torch cannot take, frames that fit no window (the N drawn for the first pair
is more than the frames there are) and a frame pairs.csv names whose file name is not valid UTF-8 are errors naming
the folder, the file or the value.

OUT_DIR/SEQUENCE appears whole or not at all: the pairs are written into a hidden temporary folder beside it (inside
it when it is an existing empty folder), which is moved into place once pairs.csv is written and removed on any
error; one a killed run left is ignored and removed by the next run, while a running one holds its folder locked
(where folders cannot be locked, the refusal names such a folder, to remove by hand): a second run into the
sequence is refused before any work; an existing SEQUENCE that holds files is never written into or replaced.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from golfdeblur.atomic import (
    atomic_write_text,
    current_umask,
    fsync_folder,
    is_temporary_of,
    made_folders_removed_on_failure,
    temporary_affixes,
)
from golfdeblur.data.image_data import ImageData, ImageWriteError
from golfdeblur.data.image_formats import PNG_SIGNATURE, TIFF_SIGNATURES, is_image_name
from golfdeblur.data.image_header import header_size
from golfdeblur.data.image_writing import write_image
from golfdeblur.data.imageio import check_regular_file, read_image
from golfdeblur.errors import GolfdeblurError, os_reason
from golfdeblur.folder_lock import folder_locked, held_by_another_process

GAMMA = 2.2
#: The frame counts of the GoPro protocol.
MIN_FRAMES, MAX_FRAMES = 7, 13
#: The PNG colour types of greyscale images (grey, grey + alpha); 2, 3 and 6 are colour (RGB, palette, RGBA).
_PNG_GREY_TYPES = (0, 4)


@dataclass(frozen=True)
class PairRecord:
    """One written pair: its name, the frames averaged (first and last file names, count) and the PSNR of each
    blurry image against the sharp one (RGB, dB): the blur strength. Measured on both images rounded to 8 bits, as
    the GoPro papers score: the files' values for 8-bit frames, and for 16-bit frames the images the 16-bit files
    hold, rounded to 8 bits."""

    name: str
    frames: int
    first: str
    last: str
    psnr_blur_gamma: float
    psnr_blur: float


#: The columns of the pairs.csv make-pairs writes, in order (its header line).
PAIRS_COLUMNS = tuple(PairRecord.__dataclass_fields__)


def natural_key(path: Path) -> list:
    """Sort key that orders embedded numbers by value: frame2 < frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frames(frames_dir: str | Path) -> list[Path]:
    """The image files directly inside ``frames_dir`` in natural order, after checking they all have one size, one
    bit depth and one colour mode (grey or colour; read from the headers, nothing decoded), and that no two share a
    name without its extension (``f2.png`` and ``f2.bmp``), which names their pairs. An entry named like an image that
    is no regular file (a named pipe, a device, a folder, a link to nothing) is refused, not skipped: the frames
    either side of it would pass for consecutive ones."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise GolfdeblurError(f"{frames_dir}: frames folder not found")
    frames = sorted((p for p in frames_dir.iterdir() if is_image_name(p)), key=natural_key)
    if not frames:
        raise GolfdeblurError(f"{frames_dir}: no frames found (image files directly in the folder)")
    by_stem: dict[str, Path] = {}
    for frame in frames:  # a pair is named after its middle frame's stem: one name must not stand for two frames
        try:
            check_regular_file(frame)
        except GolfdeblurError as exc:
            raise GolfdeblurError(f"{exc}; remove it or move it out of the frames folder") from exc
        if frame.stem in by_stem:
            raise GolfdeblurError(
                f"{by_stem[frame.stem]} and {frame}: two frames of one name (pairs are named by it); rename or "
                "remove one"
            )
        by_stem[frame.stem] = frame
    expected = header_size(frames[0])
    for frame in frames[1:]:
        size = header_size(frame)
        if size != expected:
            raise GolfdeblurError(
                f"{frame}: frame is {size[1]}x{size[0]} but {frames[0].name} is {expected[1]}x{expected[0]}; "
                "all frames must have one size"
            )
    _refuse_mixed_samples(frames)
    return frames


def _sample_kind(path: Path) -> tuple[int, bool] | None:
    """(bit depth, 8 or 16; greyscale) of the image ``read_image`` would read from ``path``, from its header alone
    (nothing decoded); None where the header does not tell (a file Pillow cannot open: ``read_image`` says why)."""
    from PIL import Image

    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
        if head.startswith(PNG_SIGNATURE) and len(head) >= 26:  # IHDR: bit depth, colour type
            return (16 if head[24] == 16 else 8), head[25] in _PNG_GREY_TYPES
        if head.startswith(TIFF_SIGNATURES):  # a TIFF: the page read_image reads, as tifffile describes it
            import tifffile

            from golfdeblur.data.tiff_reading import tiff_page_to_read

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[tiff_page_to_read(path)[0]]
                grey = int(page.photometric) in (0, 1)  # min-is-white, min-is-black
                return (16 if int(page.bitspersample) > 8 else 8), grey
        with Image.open(path) as image:
            mode = image.mode
    except Exception:  # an unreadable header: header_size said nothing, read_image will say why when it reads it
        return None
    if mode.startswith("I;16") or mode == "I":
        return 16, True
    return 8, mode in ("L", "1", "LA", "La")


def _refuse_mixed_samples(frames: list[Path]) -> None:
    """Refuse, in one line naming a frame of each, frames of two bit depths (8 and 16: each pair would take its
    middle frame's, one sequence holding both) or a greyscale frame among colour ones (a video's frames share one
    mode; it would be averaged in as grey). Frames whose header does not tell are left to ``read_image``."""
    known = [(frame, kind) for frame in frames if (kind := _sample_kind(frame)) is not None]
    if not known:
        return
    first, (depth, grey) = known[0]
    modes = {True: "greyscale", False: "colour"}
    for frame, (frame_depth, frame_grey) in known[1:]:
        if frame_depth != depth:
            raise GolfdeblurError(
                f"{frame}: frame is {frame_depth}-bit but {first.name} is {depth}-bit; all frames must have one "
                "bit depth: convert them to one, or move the odd ones out"
            )
        if frame_grey != grey:
            raise GolfdeblurError(
                f"{frame}: frame is {modes[frame_grey]} but {first.name} is {modes[grey]}; the frames of a video "
                "share one colour mode: convert them to one, or move the odd ones out"
            )


def average_frames(frames: torch.Tensor, linear_light: bool = True) -> torch.Tensor:
    """The mean of N frames, in linear light (``** 2.2``, mean, ``** (1 / 2.2)``) or of the stored values.

    Shape:
        (N, 3, H, W) in [0, 1] -> (3, H, W) in [0, 1] (not rounded).
    """
    if linear_light:
        return frames.clamp(0, 1).pow(GAMMA).mean(0).pow(1 / GAMMA)
    return frames.mean(0)


def _psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.round(a * 255) - np.round(b * 255)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def window_sizes(count: int, frames: int | tuple[int, int], stride: int | None, seed: int) -> list[tuple[int, int]]:
    """(start, N) of every window over ``count`` frames: N fixed, or drawn per window uniformly from the (low, high)
    range with ``seed``; each window starts ``stride`` frames after the previous one (default: right after it)."""
    low, high = (frames, frames) if isinstance(frames, int) else frames
    if low > high:
        raise GolfdeblurError(f"frames per blur {low}..{high}: the low end is above the high one; give low <= high")
    if not MIN_FRAMES <= low <= high <= MAX_FRAMES:
        raise GolfdeblurError(f"frames per blur must lie in {MIN_FRAMES}..{MAX_FRAMES}, got {low}..{high}")
    if stride is not None and stride < 1:
        raise GolfdeblurError(f"stride must be 1 or more, got {stride}")
    if not -(2**63) <= seed < 2**64:  # what torch's manual_seed takes (beyond, an overflow deep inside torch)
        raise GolfdeblurError(f"seed {seed}: must be -2**63 to 2**64 - 1")
    generator = torch.Generator().manual_seed(seed)
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        n = low if low == high else int(torch.randint(low, high + 1, (), generator=generator))
        if start + n > count:
            return windows
        windows.append((start, n))
        start += n if stride is None else stride


def check_sequence_name(sequence: str) -> None:
    """Refuse, in one line, a sequence name (given, or the frames folder's) that is not one visible folder name: a
    path (``a/b``, ``..``) would put the pairs outside the output folder, an empty one (the frames folder ``/``)
    into it, and a hidden name (``.x``) would be skipped by the GoPro reader."""
    if not sequence or sequence in (".", "..") or "/" in sequence or os.sep in sequence or sequence.startswith("."):
        raise GolfdeblurError(
            f"sequence {sequence!r}: give one folder name (no '/', not '.' or '..', not starting with '.'), "
            "which goes inside the output folder (--sequence; by default the frames folder's name)"
        )


def make_pairs(
    frames_dir: str | Path,
    out_dir: str | Path,
    frames: int | tuple[int, int] = (MIN_FRAMES, MAX_FRAMES),
    stride: int | None = None,
    seed: int = 0,
    sequence: str | None = None,
) -> list[PairRecord]:
    """Write GoPro-protocol pairs from the frames in ``frames_dir`` to ``out_dir/sequence`` (see the module doc).

    Args:
        frames: N, the frames averaged per blurry image, or a (low, high) range to draw N from per pair (7..13).
        stride: frames between the starts of consecutive windows; default N (no overlap).
        seed: seeds the draw of N.
        sequence: the sequence folder's name; default the frames folder's name.

    Returns:
        one ``PairRecord`` per pair written, in order.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for i in range(16):  # a bright bar moving one pixel per frame
        ...         rgb = np.zeros((8, 16, 3), dtype=np.float32)
        ...         rgb[:, i] = 1.0
        ...         _ = write_image(Path(tmp) / "clip" / f"frame{i}.png", ImageData(rgb=rgb))
        ...     records = make_pairs(Path(tmp) / "clip", Path(tmp) / "gopro" / "train", frames=7)
        ...     print(sorted(p.name for p in (Path(tmp) / "gopro" / "train" / "clip").iterdir()))
        ['blur', 'blur_gamma', 'pairs.csv', 'sharp']
        >>> [(r.name, r.first, r.last) for r in records]  # two windows of 7; the last 2 frames cannot fill a third
        [('frame3.png', 'frame0.png', 'frame6.png'), ('frame10.png', 'frame7.png', 'frame13.png')]
        >>> records[0].frames, round(records[0].psnr_blur, 1), round(records[0].psnr_blur_gamma, 1)
        (7, 12.7, 10.7)
    """
    check_sequence_name(sequence if sequence is not None else Path(frames_dir).resolve().name)
    paths = list_frames(frames_dir)
    windows = window_sizes(len(paths), frames, stride, seed)  # checks N's range and the seed first
    low, high = (frames, frames) if isinstance(frames, int) else frames
    if len(paths) < low:
        raise GolfdeblurError(
            f"{frames_dir}: {len(paths)} frames, fewer than the {low} averaged for one blur; add frames, or average "
            f"fewer (N, --frames, down to {MIN_FRAMES})"
        )
    if not windows:  # a drawn N larger than the frames there are: refused before anything is written
        raise GolfdeblurError(
            f"{frames_dir}: no pair could be made: the first pair drew more than its {len(paths)} frames "
            f"(N in {low}..{high}, seed {seed}); try another seed or a smaller N"
        )
    for start, n in windows:  # the names pairs.csv records (UTF-8): refused now, not once the pairs are made
        for frame in (paths[start], paths[start + n // 2], paths[start + n - 1]):
            _check_utf8_name(frame)
    target = Path(out_dir) / (sequence or Path(frames_dir).resolve().name)
    _refuse_if_filled(target)
    _refuse_if_building_beside(target)
    # An existing empty folder (a link to one, a mount point) is filled in place from a hidden folder inside it;
    # otherwise the hidden folder is made beside it and renamed to it.
    in_place = target.is_dir()
    home = target if in_place else target.parent
    prefix, suffix = temporary_affixes(target.name)
    with made_folders_removed_on_failure(home):
        try:
            home.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=home))
        except OSError as exc:  # a file (or a link to nothing) where a folder goes, no permission, ...
            reason = _folder_reason(home, exc)
            raise GolfdeblurError(f"{home}: cannot make the sequence folder there ({reason})") from exc
        try:
            with folder_locked(building):  # in use: another make-pairs of target takes it for no leftover
                records = _write_pairs(paths, windows, building)
                if in_place:
                    _move_contents(building, target)
                else:
                    os.chmod(building, 0o777 & ~current_umask())  # mkdtemp makes a 0700 folder: as mkdir would
                    _move_into_place(building, target)
        except BaseException as exc:
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, (ImageWriteError, OSError)):  # a full disk, say: named as the user will look for it
                raise _named_in_sequence(exc, building, target) from exc
            raise
    _remove_leftovers(target)
    return records


def _is_leftover(entry: Path, target: Path) -> bool:
    """Whether ``entry`` is a hidden folder in which a make-pairs of ``target`` built its pairs (mkdtemp, named as
    ``atomic_path`` names the temporary of ``target``), inside ``target`` or beside it, left by a run that was
    killed (kill -9) before its move: one that a run still going holds locked is not (nor, where locks cannot be
    told, any: ``held_by_another_process``)."""
    return (
        is_temporary_of(entry.name, target.name)
        and entry.is_dir()
        and not entry.is_symlink()
        and not held_by_another_process(entry)
    )


def _remove_leftovers(target: Path) -> None:
    """Remove, as far as it can, the hidden folders that killed make-pairs of ``target`` left inside it or beside
    it; called once ``target`` holds this run's pairs. A folder that cannot be listed (a drop box: writable, not
    readable) is left as it is: the pairs are in place, and this tidying is no part of them."""
    for folder in (target, target.parent):
        with contextlib.suppress(OSError):
            for entry in list(folder.iterdir()):
                if _is_leftover(entry, target):
                    shutil.rmtree(entry, ignore_errors=True)


def _folder_reason(home: Path, exc: OSError) -> str:
    """Why the folder ``home`` could not be made or written in: the outermost file (or link to nothing) on its path
    that stands where a folder must be, else the reason ``exc`` gives ("permission denied")."""
    on_path = [p for p in (home, *home.parents) if (p.exists() or p.is_symlink()) and not p.is_dir()]
    if not on_path:
        return os_reason(exc)
    return f"{on_path[-1]} is {'a file' if on_path[-1].exists() else 'a link to nothing'}"


def _named_in_sequence(exc: ImageWriteError | OSError, building: Path, target: Path) -> BaseException:
    """A failed write of a file in the hidden folder ``building`` as one line naming that file where it was going, in
    the sequence folder ``target`` (``out/seq/blur/f4.png``, not ``out/.seq.k2j9x0aq.tmp/blur/f4.png``); an error
    naming no file in ``building`` is returned as it is."""
    if isinstance(exc, ImageWriteError):
        text = str(exc)
    elif exc.filename is not None:
        text = f"{os.fsdecode(exc.filename)}: cannot write ({exc.strerror or exc})"
    else:
        return exc
    hidden = f"{building}{os.sep}"
    return GolfdeblurError(f"{target}{os.sep}{text[len(hidden) :]}") if text.startswith(hidden) else exc


def _check_utf8_name(frame: Path) -> None:
    """Refuse a frame whose file name is not valid UTF-8 (undecodable bytes, held as surrogates): pairs.csv, a UTF-8
    file, records it."""
    try:
        frame.name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise GolfdeblurError(
            f"{frame}: file name is not valid UTF-8, which the names pairs.csv records must be"
        ) from exc


def _refuse_if_filled(target: Path) -> None:
    """Refuse a ``target`` that exists, unless it is an empty folder (or a link to one); the hidden folder a killed
    make-pairs of ``target`` left in it does not count (removed once this run's pairs are in place)."""
    if target.is_dir():
        # Pairs of two runs in one folder would mix, same names replaced.
        held = [entry for entry in target.iterdir() if not _is_leftover(entry, target)]
        building = [e.name for e in held if is_temporary_of(e.name, target.name) and e.is_dir() and not e.is_symlink()]
        if held and len(building) == len(held):  # a running make-pairs', or, where locks cannot be told, a killed one's
            raise GolfdeblurError(
                f"{target}: holds {building[0]}, the folder of a make-pairs still running, or of one killed where "
                "folder locks cannot be told (no flock); remove it if no make-pairs of this sequence runs"
            )
        if held:
            raise GolfdeblurError(
                f"{target}: already holds files (an earlier make-pairs?); remove it first or choose another --sequence"
            )
    elif target.exists() or target.is_symlink():
        raise GolfdeblurError(f"{target}: already exists and is not a folder; remove it or choose another --sequence")


def _refuse_if_building_beside(target: Path) -> None:
    """Refuse, in one line, a ``target`` another make-pairs is making now: beside it stands the hidden folder that
    run builds in, locked (where folders cannot be locked, one a killed run left looks the same, and is named, to
    remove by hand). Refused before any work: else this run did it all, then found ``target`` made at its move."""
    with contextlib.suppress(OSError):  # a parent that cannot be listed (a drop box), or none yet: no run there
        for entry in sorted(target.parent.iterdir()):
            if is_temporary_of(entry.name, target.name) and entry.is_dir() and not entry.is_symlink():
                if held_by_another_process(entry):
                    raise GolfdeblurError(
                        f"{target}: another make-pairs is writing it (its folder {entry.name} beside it is in use; "
                        "where folder locks cannot be told (no flock), a killed run's looks the same: remove it if "
                        "none runs); let that run end, or choose another --sequence"
                    )


def _move_into_place(building: Path, target: Path) -> None:
    """Rename the finished folder ``building`` to ``target``, which was absent. ``rename`` never replaces a folder
    that holds files, so one made and filled meanwhile is refused, not replaced."""
    try:
        os.rename(building, target)
    except OSError as exc:
        if target.exists() or target.is_symlink():
            raise GolfdeblurError(
                f"{target}: appeared while make-pairs ran (another make-pairs, or another program, made it), and is "
                "kept as it is; check what it holds, or rerun with another --sequence"
            ) from exc
        raise GolfdeblurError(f"{target}: cannot move the finished pairs into place ({exc})") from exc
    fsync_folder(target.parent)


def _move_contents(building: Path, target: Path) -> None:
    """Move what the finished folder ``building`` (inside ``target``) holds into ``target``, pairs.csv last, then
    remove ``building``; a failure part-way takes back what was moved, so ``target`` is left as it was."""
    children = sorted(building.iterdir(), key=lambda child: child.name == "pairs.csv")
    moved = []
    try:
        for child in children:
            os.rename(child, target / child.name)
            moved.append(target / child.name)
    except OSError as exc:
        for path in moved:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise GolfdeblurError(f"{target}: cannot move the finished pairs into place ({exc})") from exc
    building.rmdir()
    fsync_folder(target)


def _write_pairs(paths: list[Path], windows: list[tuple[int, int]], target: Path) -> list[PairRecord]:
    """Write the pairs of ``windows`` over the frames ``paths`` and pairs.csv into ``target``; their records."""
    cache: dict[int, ImageData] = {}
    records = []
    for start, n in windows:
        for index in list(cache):
            if index < start:
                del cache[index]
        for index in range(start, start + n):
            if index not in cache:
                cache[index] = read_image(paths[index])
        images = [cache[i] for i in range(start, start + n)]
        stack = torch.from_numpy(np.stack([image.rgb for image in images])).permute(0, 3, 1, 2)
        middle = images[n // 2]
        name = Path(paths[start + n // 2].name).with_suffix(".png").name
        outputs = {
            "blur_gamma": average_frames(stack, linear_light=True).permute(1, 2, 0).numpy(),
            "blur": average_frames(stack, linear_light=False).permute(1, 2, 0).numpy(),
            "sharp": middle.rgb,
        }
        # the middle frame's mode and depth are every frame's: list_frames refused frames of two
        for folder, rgb in outputs.items():
            written = ImageData(rgb=rgb, greyscale=middle.greyscale, bit_depth=middle.bit_depth, format="PNG")
            write_image(target / folder / name, written)
        records.append(
            PairRecord(
                name=name,
                frames=n,
                first=paths[start].name,
                last=paths[start + n - 1].name,
                psnr_blur_gamma=round(_psnr_8bit(outputs["blur_gamma"], middle.rgb), 3),
                psnr_blur=round(_psnr_8bit(outputs["blur"], middle.rgb), 3),
            )
        )
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(PAIRS_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(record) for record in records)
    atomic_write_text(target / "pairs.csv", table.getvalue())
    return records
