"""`golfdeblur make-pairs` (GoPro-protocol pairs from high-frame-rate frames), `golfdeblur show-data` (a picture of
the training pairs and kernels) and `golfdeblur pack-data` (training data as one .npz that travels to a GPU)."""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import shutil
import statistics
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from golfdeblur.errors import GolfdeblurError
from golfdeblur.user_path import path_argument, user_path

if TYPE_CHECKING:
    from golfdeblur.data.frames import PairRecord

SOURCES_HELP = "'default' (scikit-image photos + dead leaves), 'skimage' or 'dead-leaves'"
# The smallest kernel show-data draws (SyntheticBlur's kernel_min_size): --kernel-max may not be below it.
KERNEL_MIN = 7
# show-data's largest --crop: each grid cell shows about 220 px, and 64 samples of 1024 px take about 2 GB to draw.
CROP_MAX = 1024
#: The folders make-pairs writes into OUT_DIR/SEQUENCE beside pairs.csv (golfdeblur.data.frames' layout).
PAIR_FOLDERS = ("blur_gamma", "blur", "sharp")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    pairs = subparsers.add_parser(
        "make-pairs",
        help="make GoPro-style blurry/sharp pairs from high-frame-rate video frames",
        description="Average N consecutive frames in linear light (inverse gamma 2.2, mean, gamma 2.2) and keep the "
        "middle frame as ground truth, as the GoPro dataset was made. Writes OUT_DIR/SEQUENCE/{blur_gamma,blur,sharp}"
        "/*.png (blur = plain mean, as GOPRO_Large) and pairs.csv. See docs/DATA.md.",
    )
    pairs.add_argument(
        "frames_dir", type=path_argument, metavar="FRAMES_DIR", help="folder of consecutive frames (one size)"
    )
    pairs.add_argument("out_dir", type=path_argument, metavar="OUT_DIR", help="output folder (e.g. .../train)")
    pairs.add_argument(
        "--frames",
        default="7-13",
        metavar="N|LOW-HIGH",
        help="frames averaged per blur, fixed or drawn per pair; N must be 7 to 13, as in GoPro (default 7-13)",
    )
    pairs.add_argument("--stride", type=int, help="frames between window starts, 1 or more (default: N, no overlap)")
    pairs.add_argument("--seed", type=int, default=0, help="seed for drawing N per pair (default 0)")
    pairs.add_argument("--sequence", help="sequence folder name (default: the frames folder's name)")
    pairs.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the pairs an earlier make-pairs wrote into OUT_DIR/SEQUENCE, all of them (refused if the folder "
        "holds anything its pairs.csv does not list)",
    )
    pairs.set_defaults(run=run_make_pairs)

    show = subparsers.add_parser(
        "show-data",
        help="save a picture of training pairs and their kernels",
        description="Draw synthetic (kernel, blurry, sharp) training samples from a source of sharp images and save "
        "them as one PNG grid.",
    )
    show.add_argument("out", type=path_argument, metavar="OUT.png", help="picture to write")
    show.add_argument(
        "--source",
        default="default",
        help=f"{SOURCES_HELP}, or a folder of sharp images (default: default)",
    )
    show.add_argument("--count", type=int, default=6, help="samples to draw (default 6)")
    show.add_argument("--crop", type=int, default=192, help=f"crop size in pixels, 1 to {CROP_MAX} (default 192)")
    show.add_argument(
        "--kernel-max", type=int, default=51, help=f"largest kernel size, {KERNEL_MIN} or more (default 51)"
    )
    show.add_argument("--linear-light", action="store_true", help="blur in linear light")
    show.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    show.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    show.set_defaults(run=run_show_data)

    pack = subparsers.add_parser(
        "pack-data",
        help="pack sharp images and real pairs into one .npz (train with --set data.root=PACK.npz)",
        description="Pack image files into one .npz that travels as one piece: JPEG files keep their own "
        "bytes, other images take the shortest exact encoding (their own PNG, a PNG or a lossless WebP). "
        "Train on it with --set data.root=PACK.npz; with --set data.pairs_fraction=F the real pairs are mixed in. "
        "See docs/TRAINING_CAMPAIGN.md.",
    )
    pack.add_argument(
        "out", type=path_argument, metavar="OUT.npz", help="pack to write (refused if it exists, unless --overwrite)"
    )
    pack.add_argument(
        "--sharp",
        type=path_argument,
        action="append",
        default=[],
        metavar="DIR",
        help="sharp images (repeatable; at least one --sharp or --pairs)",
    )
    pack.add_argument(
        "--pairs", type=path_argument, nargs=2, action="append", default=[], metavar=("BLUR_DIR", "SHARP_DIR"),
        help="real pairs matched by file name, e.g. make-pairs' blur_gamma and sharp folders (repeatable)",
    )  # fmt: skip
    pack.add_argument(
        "--max-mib",
        type=float,
        default=56.0,
        help="refuse to write a larger pack (default 56; and never one whose images take over 1 GiB once loaded)",
    )
    pack.add_argument("--overwrite", action="store_true", help="replace OUT.npz if it exists")
    pack.set_defaults(run=run_pack_data)


def parse_frames(text: str) -> int | tuple[int, int]:
    """'11' -> 11, '7-13' -> (7, 13)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise GolfdeblurError(f"--frames must be N or LOW-HIGH, got {text!r}")
    return int(match[1]) if match[2] is None else (int(match[1]), int(match[2]))


def check_frames_and_stride(text: str, frames: int | tuple[int, int], stride: int | None) -> None:
    """Refuse, in one line naming the option, a --frames (``text``, parsed as ``frames``) outside the GoPro
    protocol's 7..13 or whose low end is above its high one, and a --stride below 1."""
    from golfdeblur.data.frames import MAX_FRAMES, MIN_FRAMES

    low, high = (frames, frames) if isinstance(frames, int) else frames
    if low > high:
        raise GolfdeblurError(f"--frames {text}: LOW is above HIGH; give LOW-HIGH with LOW <= HIGH, e.g. {high}-{low}")
    if not MIN_FRAMES <= low <= high <= MAX_FRAMES:
        raise GolfdeblurError(
            f"--frames {text}: frames per blur must lie in {MIN_FRAMES}..{MAX_FRAMES} (the GoPro protocol); give N "
            f"or LOW-HIGH within it"
        )
    if stride is not None and stride < 1:
        raise GolfdeblurError(f"--stride {stride}: must be 1 or more; leave it out for windows that do not overlap")


def run_make_pairs(args: argparse.Namespace) -> int:
    from golfdeblur.data.frames import check_sequence_name, make_pairs, window_sizes

    sequence = args.sequence if args.sequence is not None else args.frames_dir.resolve().name
    check_sequence_name(sequence)
    frames = parse_frames(args.frames)
    check_frames_and_stride(args.frames.strip(), frames, args.stride)
    window_sizes(0, frames, args.stride, args.seed)  # the seed (the rest checked above): said before the output
    if not args.frames_dir.is_dir():  # as make_pairs says it, but before the output's "pass --overwrite"
        raise GolfdeblurError(f"{args.frames_dir}: frames folder not found")
    target = args.out_dir / sequence
    earlier = earlier_pairs(target)
    if earlier is None:
        # Nothing of an earlier make-pairs there: make_pairs fills an absent or empty folder, and refuses one that
        # holds other files (or a file there), with nothing written.
        records = make_pairs(args.frames_dir, args.out_dir, frames, args.stride, args.seed, sequence)
    else:
        refuse_if_in_use(target)
        refuse_other_files(target, earlier)  # --overwrite would not help: said without it too
        if not args.overwrite:
            raise GolfdeblurError(
                f"{target}: already holds the pairs of an earlier make-pairs; pass --overwrite to replace them, or "
                "choose another --sequence"
            )
        records = replace_pairs(args, target, frames, sequence)
    by_n = defaultdict(list)
    for record in records:
        by_n[record.frames].append(record)
    plural = "s" if len(records) > 1 else ""
    print(f"wrote {len(records)} pair{plural} to {target} (PSNR blurry vs sharp, RGB, 8-bit):")
    for n in sorted(by_n):
        gamma = [r.psnr_blur_gamma for r in by_n[n]]
        plain = [r.psnr_blur for r in by_n[n]]
        print(
            f"  N={n:2d}: {len(gamma):3d} pair{'s' if len(gamma) > 1 else ''}, "
            f"blur_gamma {statistics.mean(gamma):.2f} dB "
            f"(min {min(gamma):.2f}, max {max(gamma):.2f}), blur {statistics.mean(plain):.2f} dB"
        )
    return 0


def earlier_pairs(target: Path) -> set[str] | None:
    """The pair names (``NAME.png``) the pairs.csv in the sequence folder ``target`` lists, the pairs an earlier
    make-pairs wrote there; None when ``target`` is no folder or holds no pairs.csv. A pairs.csv that is not one
    make-pairs writes is refused in one line: not UTF-8 CSV, a header other than make-pairs' columns
    (``PAIRS_COLUMNS``), or no rows (make-pairs never writes one without; an empty file, notes of the user's)."""
    from golfdeblur.data.frames import PAIRS_COLUMNS

    table = target / "pairs.csv"
    if not target.is_dir() or not os.path.lexists(table):
        return None
    foreign = GolfdeblurError(
        f"{table}: not a pairs.csv make-pairs writes, so the folder holds no pairs of its own to replace; "
        "choose another --sequence"
    )
    try:
        with open(table, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = tuple(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise foreign from exc
    if columns != PAIRS_COLUMNS or not rows:  # --overwrite would replace a file of the user's
        raise foreign
    return {row["name"] for row in rows}


def _hidden_folders(target: Path) -> list[Path]:
    """The hidden folders ``replace_pairs`` (``building_report``) makes in the sequence folder ``target`` that it
    holds: a running make-pairs --overwrite's, or those a killed one (kill -9) left."""
    from golfdeblur.report_folder import is_hidden_folder

    return [
        entry
        for entry in sorted(target.iterdir())
        if is_hidden_folder(entry.name) and entry.is_dir() and not entry.is_symlink()
    ]


def refuse_if_in_use(target: Path, *, remove_leftovers: bool = False) -> None:
    """Refuse, in one line, a sequence folder ``target`` that a make-pairs --overwrite is writing now: it holds the
    hidden folder that run builds its pairs in, locked (where folders cannot be locked, as on Windows, one a killed
    run left cannot be told from it, and is named, to remove by hand). With ``remove_leftovers``, when none is in
    use, remove, as far as it can, those killed runs (kill -9) left."""
    from golfdeblur.folder_lock import folder_locked, held_by_another_process

    with folder_locked(target):  # a run makes and locks its folder under this lock: never seen made but unlocked
        hidden = _hidden_folders(target)
        in_use = [entry for entry in hidden if held_by_another_process(entry)]
        if remove_leftovers and not in_use:
            for entry in hidden:  # what cannot be removed is ignored, as refuse_other_files ignores it
                shutil.rmtree(entry, ignore_errors=True)
    if in_use:
        raise GolfdeblurError(
            f"{target}: another make-pairs is writing it (its folder {in_use[0].name} is in use; where folder locks "
            "cannot be told (no flock), a killed run's looks the same: remove it if none runs); let that run end, "
            "or choose another --sequence"
        )


def refuse_other_files(target: Path, names: set[str]) -> None:
    """Refuse, in one line naming it, anything in the sequence folder ``target`` that make-pairs did not write
    there: anything but pairs.csv, the hidden folders of make-pairs --overwrite (``_hidden_folders``: a killed
    run's is removed by the next --overwrite, a running one's is refused by ``refuse_if_in_use``) and, in
    PAIR_FOLDERS, the files of the pairs ``names`` (what its pairs.csv lists). --overwrite replaces those folders
    whole, and never removes a file of the user's own (or of another program) in them."""
    hidden = set(_hidden_folders(target))
    for entry in sorted(target.iterdir()):
        if entry.name == "pairs.csv" or entry in hidden:
            continue
        if entry.name not in PAIR_FOLDERS or not entry.is_dir():
            _refuse_other_file(target, entry)
        for file in sorted(entry.iterdir()):
            if file.name not in names or not file.is_file():
                _refuse_other_file(target, file)


def _refuse_other_file(target: Path, entry: Path) -> None:
    raise GolfdeblurError(
        f"{target}: holds pairs, and {entry.relative_to(target)}, which is none of those its pairs.csv lists "
        "(--overwrite replaces only pairs make-pairs wrote): move it out, or choose another --sequence"
    )


def replace_pairs(
    args: argparse.Namespace, target: Path, frames: int | tuple[int, int], sequence: str
) -> list[PairRecord]:
    """make-pairs --overwrite into ``target``, which holds an earlier make-pairs' pairs and nothing else: the new
    pairs are made in a hidden folder inside it, and then replace the earlier ones as a whole (``building_report``:
    the earlier folders set aside, the new ones moved in, pairs.csv last, and what was set aside removed; moved back
    if the moving fails), so that the folder never holds the pairs of two runs side by side, of which its pairs.csv
    would list one. The hidden folders killed runs of it left there are removed first; a running one's is refused
    (``refuse_if_in_use``). Returns the records of the new pairs."""
    from golfdeblur.data.frames import make_pairs
    from golfdeblur.output_guard import real_path
    from golfdeblur.report_folder import building_report

    if real_path(args.frames_dir).is_relative_to(real_path(target)):  # e.g. SEQUENCE/sharp: read, then removed
        raise GolfdeblurError(
            f"{args.frames_dir}: the frames lie inside {target}, whose pairs --overwrite replaces; copy them out "
            "first, or choose another --sequence"
        )
    refuse_if_in_use(target, remove_leftovers=True)
    with building_report(target, (*PAIR_FOLDERS, "pairs.csv"), overwrite=True, what="pairs") as building:
        made = building / sequence
        try:
            records = make_pairs(args.frames_dir, building, frames, args.stride, args.seed, sequence)
        except GolfdeblurError as exc:  # a write that failed (a full disk): named where the file was going
            text, hidden = str(exc), str(made)
            if text.startswith(hidden):
                raise GolfdeblurError(f"{target}{text[len(hidden) :]}") from exc
            raise
        for part in os.listdir(made):  # up one level, where building_report moves them in from
            os.rename(made / part, building / part)
        made.rmdir()
    return records


def sources_for(name: str, seed: int) -> list:
    """The image sources ``show-data --source NAME`` names: a name ``SOURCES_HELP`` lists, else a folder of sharp
    images (a name that is neither is refused in one line that lists the names)."""
    from golfdeblur.data.sources import DeadLeaves, ImageFolder, default_sources, skimage_images

    if name == "default":
        return default_sources(seed=seed)
    if name == "skimage":
        return [skimage_images()]
    if name == "dead-leaves":
        return [DeadLeaves(seed=seed)]
    if not name:  # Path("") is the current folder, read recursively
        raise GolfdeblurError(f"--source: is empty; give {SOURCES_HELP}, or a folder of sharp images")
    folder = user_path(name)
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise GolfdeblurError(f"--source {name}: {what}; give {SOURCES_HELP}, or a folder of sharp images")
    return [ImageFolder(folder)]


def draw_grid(samples: list, out: Path) -> None:
    """Save rows of (kernel, blurry, sharp) as the PNG file ``out``, written in place (a caller that publishes it
    makes it atomic: ``atomic_path``); ``samples`` are ``datasets.Sample``s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golfdeblur.metrics import psnr

    columns = 3
    rows = (len(samples) + 1) // 2  # two samples per row: kernel, blurry, sharp, kernel, blurry, sharp
    figure, axes = plt.subplots(rows, 2 * columns, figsize=(2 * columns * 2.2, rows * 2.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for i, (blurry, sharp, kernel, name) in enumerate(samples):
        row, col = divmod(i, 2)
        support = kernel[0].nonzero()
        (top, left), (bottom, right) = support.min(0).values.tolist(), support.max(0).values.tolist()
        size = max(bottom - top, right - left) + 1
        centre_y, centre_x = (top + bottom) // 2, (left + right) // 2
        half = size // 2 + 1  # show the support, square, with a 1 px frame
        k = kernel[0, max(centre_y - half, 0) : centre_y + half + 1, max(centre_x - half, 0) : centre_x + half + 1]
        cells = axes[row, col * columns : (col + 1) * columns]
        cells[0].imshow((k / k.max()).numpy(), cmap="magma", interpolation="nearest")
        cells[0].set_title(f"kernel, {size} px", fontsize=8)
        cells[1].imshow(blurry.permute(1, 2, 0).clamp(0, 1).numpy())
        cells[1].set_title(f"blurry, {psnr(blurry, sharp).item():.1f} dB", fontsize=8)
        cells[2].imshow(sharp.permute(1, 2, 0).numpy())
        cells[2].set_title(name if len(name) <= 24 else "..." + name[-21:], fontsize=8)
    figure.tight_layout()
    try:
        figure.savefig(out, dpi=100, format="png")
    finally:
        plt.close(figure)


def run_show_data(args: argparse.Namespace) -> int:
    from golfdeblur.atomic import atomic_path, made_folders_removed_on_failure, prepare_folder
    from golfdeblur.data.datasets import SyntheticBlur
    from golfdeblur.data.kernels import MAX_KERNEL_SIZE
    from golfdeblur.output_guard import existing_output

    if not 1 <= args.count <= 64:
        raise GolfdeblurError(f"--count must lie in 1..64, got {args.count}")
    if not 1 <= args.crop <= CROP_MAX:  # said by its flag, before drawing (100000 px tried to allocate 120 GB)
        raise GolfdeblurError(f"--crop must lie in 1..{CROP_MAX} pixels, got {args.crop}")
    if not KERNEL_MIN <= args.kernel_max <= MAX_KERNEL_SIZE:  # said by its flag, not as random_kernels' sizes
        raise GolfdeblurError(f"--kernel-max must lie in {KERNEL_MIN}..{MAX_KERNEL_SIZE}, got {args.kernel_max}")
    if args.out.suffix.lower() != ".png":  # the grid is a PNG: another extension would name the wrong format
        raise GolfdeblurError(f"{args.out}: the picture is a PNG; give a name ending in .png")
    if args.out.is_dir():  # --overwrite never replaces a folder
        raise GolfdeblurError(f"{args.out}: is a folder; name the .png file to write")
    existing = existing_output(args.out)  # a link to nothing too: replaced, not followed, with --overwrite only
    if existing is not None and not args.overwrite:
        raise GolfdeblurError(
            f"{args.out}: already exists{existing}; pass --overwrite to replace it, or choose another name"
        )
    with made_folders_removed_on_failure(args.out.parent):  # a refused or failed run leaves no folder it made
        prepare_folder(args.out)  # a folder that takes no file: said before drawing, not after
        sources = sources_for(args.source, args.seed)
        data = SyntheticBlur(
            sources,
            crop_size=args.crop,
            seed=args.seed,
            kernel_max_size=args.kernel_max,
            linear_light=args.linear_light,
            source_weights=[1.0] * len(sources),  # equal share per source, so a small source still shows
            length=args.count,
        )
        samples = [data.sample(i) for i in range(args.count)]
        # Replaced only with --overwrite: a picture another run wrote here since the check above is kept, and this
        # run fails ("appeared meanwhile").
        with atomic_path(args.out, replace=args.overwrite) as tmp:
            draw_grid(samples, tmp)
    print(f"wrote {args.out} ({args.count} sample{'s' if args.count > 1 else ''} from {args.source})")
    return 0


def run_pack_data(args: argparse.Namespace) -> int:
    from golfdeblur.atomic import made_folders_removed_on_failure, prepare_folder
    from golfdeblur.data.datasets import PairedFolders
    from golfdeblur.data.packed import pack_image_files
    from golfdeblur.data.sources import list_images
    from golfdeblur.output_guard import existing_output

    if args.out.is_dir():  # --overwrite never replaces a folder
        raise GolfdeblurError(f"{args.out}: is a folder; name the .npz file to write")
    existing = existing_output(args.out)  # a link to nothing too: replaced, never written through, with --overwrite
    if existing is not None and not args.overwrite:
        raise GolfdeblurError(
            f"{args.out}: already exists{existing}; pass --overwrite to replace it, or choose another name"
        )
    if args.out.suffix.lower() != ".npz":  # any case, as training's is_pack takes it
        raise GolfdeblurError(f"{args.out}: packed images are a .npz file; give a name ending in .npz")
    if not args.sharp and not args.pairs:
        raise GolfdeblurError("pack-data: give at least one --sharp DIR or --pairs BLUR_DIR SHARP_DIR")
    if not (math.isfinite(args.max_mib) and args.max_mib > 0):  # nan fails both; inf has no size in bytes
        raise GolfdeblurError(f"--max-mib must be a finite positive number, got {args.max_mib}")
    sharp_files = []
    for folder in args.sharp:
        files = list_images(folder)
        if not files:
            raise GolfdeblurError(f"{folder}: no images found")
        # Named FOLDER/NAME by the folder's own name, from its absolute path ("." has none), as pairs are below.
        label = Path(os.path.abspath(folder)).name
        prefix = f"{label}/" if label else ""
        sharp_files += [(f"{prefix}{f.relative_to(folder).as_posix()}", f) for f in files]
    pair_files = []
    for blur_dir, sharp_dir in args.pairs:
        pairs = PairedFolders(blur_dir, sharp_dir)
        # Named SEQUENCE/NAME, as GoPro names its pairs (SEQUENCE: the folder holding BLUR_DIR, make-pairs' layout),
        # so that sequences numbering their frames alike go in one pack.
        sequence = Path(os.path.abspath(blur_dir)).parent.name
        pair_files += [
            (f"{sequence}/{name}" if sequence else name, b, s)
            for name, (b, s) in zip(pairs.names, pairs.pairs, strict=True)
        ]
    with made_folders_removed_on_failure(args.out.parent):  # a refused or failed pack leaves no folder it made
        prepare_folder(args.out)  # a folder that takes no file: said before the encoding, not after it
        # Written atomically: a failure leaves an earlier pack whole. Read back before it takes the name: a pack that
        # does not load is never written, nor replaces an earlier one. Replaced only with --overwrite: a pack another
        # process wrote while these images were encoded is kept, and this run fails ("appeared meanwhile").
        max_bytes = int(args.max_mib * 2**20)
        pack_image_files(sharp_files, pair_files, args.out, max_bytes=max_bytes, replace=args.overwrite, read_back=True)
    size = args.out.stat().st_size / 2**20
    # As read back: one sharp image per --sharp file and one pair per BLUR_DIR file (two of one name are refused).
    print(f"wrote {args.out}: {len(sharp_files)} sharp images and {len(pair_files)} real pairs, {size:.1f} MiB")
    return 0
