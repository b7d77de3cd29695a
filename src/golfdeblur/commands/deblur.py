"""`golfdeblur deblur INPUT... -o OUTDIR`: deblur image files, folders and glob patterns
(`golfdeblur deblur photo.jpg -o sharp.png`: one image into one named file).

Inputs:
- a file is always tried, whatever its extension (the reader says if it is not an image);
- a folder contributes its image files (.png .jpg .jpeg .jpe .jfif .tif .tiff .webp .bmp .avif .heic .heif; any case),
  skipping hidden files, and with --recursive those of its subfolders too
  (hidden ones and OUTDIR left out), whose results keep their subfolder under OUTDIR; the images an OUTDIR inside
  the folder holds are counted in one line, and with --overwrite it may hold only this run's outputs of its inputs,
  else the run is refused before any work: the others (photos of the user's own, or results of another run) would
  be neither inputs nor safe from being replaced;
- a pattern (``*``, ``?``, ``[...]``, ``**``) is expanded here, so quoted patterns work on every shell, and
  contributes the image files it matches;
- a folder or pattern leaves out the files at the output paths of its other inputs: the results of an earlier run
  into the same folder (``deblur photos -o photos --suffix _sharp``), so that --skip-existing finishes that batch too;
  with --overwrite such a file is a bad setting instead (it may be a photo that bears a result's name, and
  --overwrite never replaces an input; taken as an input, the earlier result would be deblurred again);
- an argument that cannot be read (a folder without permission, a name too long) is an error for that argument, and
  so is each folder a --recursive walk cannot read; an empty INPUT or OUTDIR is a bad setting (``Path("")`` would be
  the current folder).

Each result is written to OUTDIR/<stem><suffix><extension> in the input's format, bit depth and mode, atomically;
``--format`` chooses the output format instead (e.g. lossless PNG for JPEG inputs; 16-bit images stay 16-bit only
in PNG and TIFF). An output that would replace any input file, or where a folder stands, is an error for that
file; an existing output is left alone: an error, unless --overwrite replaces it or --skip-existing skips its input
(one ``golfdeblur: skipped`` line), so that a long batch stopped part-way can be run again to finish it. Without
--format, an input whose extension names no format we write (e.g. a GIF), or one whose codec is not installed (a
HEIC without the optional pillow-heif, ``golfdeblur[heif]``; an AVIF where Pillow has no AVIF), is an error for that
file, found before it is read or deblurred; an output file or --format in such a format is a bad setting. A file
that fails gets one line ``golfdeblur: error: <file>: <reason>`` on stderr and the others are still processed; the
exit code is then 1. Missing or unusable weights and bad settings stop the run before any file with exit code 2.
When results were written, a last line on stderr says how many, where, and with which weights (name, sha256, T), so
that a result can be traced to what made it.

An OUTDIR whose extension is one golfdeblur writes (``sharp.png``), and which is not an existing folder, names the
output file of a single input instead, in the format its extension names: users type ``-o photo_sharp.jpg`` and
expect a file, not a folder of that name. It takes exactly one input image, and neither --suffix nor --format. An
image extension golfdeblur does not write (``sharp.gif``) is a bad setting rather than the name of a new folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from golfdeblur.atomic import probe_writable
from golfdeblur.data.image_data import ImageWriteError
from golfdeblur.data.image_formats import IMAGE_SUFFIXES, format_for_path, is_image_name, missing_codec
from golfdeblur.data.image_metadata import colour_description_lost
from golfdeblur.data.image_writing import check_writable, write_image
from golfdeblur.data.imageio import DEFAULT_MAX_PIXELS, check_exists, read_image
from golfdeblur.data.patterns import has_magic, match_pattern
from golfdeblur.deblur_defaults import DEFAULT_TILE, DEFAULT_WEIGHTS, MAX_ITERATIONS, PRECISION_NAMES
from golfdeblur.errors import DeblurSettingsError, GolfdeblurError, os_reason, printable
from golfdeblur.notes import error_text_line, os_error_reason, out_of_memory_reason
from golfdeblur.output_guard import OutputGuard, real_path
from golfdeblur.user_path import user_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deblur",
        help="deblur image files",
        description="Deblur image files (PNG, JPEG, TIFF, WebP, BMP, AVIF, HEIC; 8- or 16-bit; RGB, RGBA or greyscale) "
        "with the Golf Optimizer. Folders are read without their subfolders unless --recursive; quoted glob patterns "
        "are expanded. Each result's path is printed on stdout, one per line; progress, notes and errors go to "
        "stderr.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument(
        "-o",
        "--output-dir",
        required=True,
        metavar="OUTDIR",  # a str: run() needs to see a trailing separator, which Path drops
        help="folder for results; for one input, a file name with an image extension (sharp.png) names the result",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"packaged weights name or .safetensors file (default: the packaged {DEFAULT_WEIGHTS}, if installed)",
    )
    parser.add_argument("--iterations", type=int, default=None, help="applications of D (default: the weights' T)")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps; default: auto",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=list(PRECISION_NAMES),
        help="bf16 and fp16 speed up GPUs; on a CPU bf16 is faster only with AVX-512 BF16 or AMX, fp16 is slower "
        "(default: fp32)",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help=f"largest tile side in pixels; 0 = never tile (default: {DEFAULT_TILE} px tiles for larger images, or "
        "twice the tile overlap when that is larger)",
    )
    parser.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        help="tile overlap in pixels (default: the one measured for the weights at their T, which `golfdeblur "
        "weights` shows, else the receptive field, exact)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default: {DEFAULT_MAX_PIXELS:,}; a TIFF's samples, extra ones included, may "
        "decode to no more than this many pixels of 16-bit RGBA)",
    )
    parser.add_argument(
        "--suffix", default="", help="added to each output file's stem, e.g. _deblurred (default: none)"
    )
    parser.add_argument(
        "--recursive",
        action="store_true",
        help="read folders with their subfolders; results keep the subfolders under OUTDIR",
    )
    parser.add_argument(
        "--format",
        type=str.lower,  # --format PNG works too
        choices=sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES),
        default=None,
        metavar="EXT",
        help="write every result with this extension, in its format: png, jpg, tif, webp, bmp, ... (default: each "
        "input's own)",
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave inputs whose output file exists (from an earlier run) alone, without an error",
    )
    parser.set_defaults(run=run)


def collect_inputs(
    arguments: list[str],
    recursive: bool = False,
    output_dir: Path | None = None,
    output_of: Callable[[Path, Path], Path] | None = None,
    leave_out_results: bool = True,
    refuse_foreign: bool = False,
) -> tuple[list[tuple[Path, Path]], list[str], list[tuple[Path, str]], set[Path]]:
    """Files to process (in order, without duplicates), each with the folder under OUTDIR its result goes to; one
    error line per argument that named nothing or could not be read (and per folder a recursive walk or a pattern
    could not read); the images under ``output_dir`` a recursive walk left out, each with the folder argument it
    walked; and the resolved paths of the earlier results a folder or pattern left out (below).

    A result goes straight into OUTDIR (folder ``.``), except with ``recursive``, where a file found in a
    subfolder of a folder argument keeps that subfolder (``photos/2024/a.jpg`` -> ``OUTDIR/2024/a.jpg``).
    Results are never inputs again: a recursive walk leaves ``output_dir`` out when it lies inside the folder, and
    a folder or pattern leaves out the files at the output paths of its other inputs (``output_of(file, folder)``:
    this run's output of an input), which is what an earlier run put there when OUTDIR is the input folder; without
    ``leave_out_results`` (--overwrite, which must not replace them) such a file is a ``DeblurSettingsError``. A file
    named as an argument is always taken.

    With ``refuse_foreign`` (--overwrite), an ``output_dir`` inside a walked folder that holds an image which is no
    output of an input (a photo of its own, say ``photos/2024`` of ``photos``, or a result of a run with another
    --suffix or --format) is a ``DeblurSettingsError``: left out of the inputs, it is not protected from being
    replaced. Without it only --skip-existing or an error meets an existing output, so the run goes on.
    """
    from golfdeblur.data.sources import list_images  # imports torch; see run

    here = Path(".")
    listed: list[tuple[Path, Path, bool]] = []  # (file, its folder under OUTDIR, found in a listing)
    errors: list[str] = []
    skip = real_path(output_dir) if output_dir is not None else None
    left_out: dict[Path, tuple[Path, str]] = {}  # images under OUTDIR a walk left out -> (as listed, its argument)
    for argument in arguments:
        path = user_path(argument)
        reported = len(errors)
        try:
            if path.is_dir():
                if recursive:
                    walk = list_images(path, on_error=lambda exc: errors.append(_unreadable_folder(exc)))
                    # Only an OUTDIR below the folder is a tree of results; one that is the folder (or holds it) puts
                    # results beside the images, which the output paths leave out below.
                    root = real_path(path)
                    inner = skip if skip is not None and skip != root and skip.is_relative_to(root) else None
                    walked = []
                    for p in walk:
                        if inner is not None and real_path(p).is_relative_to(inner):
                            left_out.setdefault(real_path(p), (p, argument))
                        else:
                            walked.append(p)
                    found = [(p, p.parent.relative_to(path), True) for p in walked]
                else:
                    found = [(p, here, True) for p in sorted(path.iterdir()) if _listed_image(p)]
                if not found and len(errors) == reported:  # an unreadable folder was the reason
                    where = "folder and its subfolders hold" if recursive else "folder holds"
                    errors.append(f"{argument}: {where} no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            elif path.exists() or not has_magic(argument):
                found = [(path, here, False)]  # a missing plain path is reported by the reader, with the others
            else:
                matches = match_pattern(os.path.expanduser(argument), lambda e: errors.append(_unreadable_folder(e)))
                found = [(p, here, True) for p in matches if _listed_image(p)]
                if not found and len(errors) == reported:  # an unreadable folder was the reason
                    errors.append(f"{argument}: no image files match this pattern")
        except OSError as exc:  # an unreadable folder, a parent that may not be searched, a name too long
            errors.append(f"{argument}: cannot read it ({os_reason(exc)})")
            continue
        listed.extend(found)
    unique: dict[Path, tuple[Path, Path, bool]] = {}
    for file, folder, from_listing in listed:
        first = unique.setdefault(real_path(file), (file, folder, from_listing))
        if not from_listing:  # named as an argument too: taken, wherever it was listed first
            unique[real_path(file)] = (*first[:2], False)
    results: dict[Path, set[Path]] = {}  # planned output -> the inputs it is the result of
    if output_of is not None:
        for resolved, (file, folder, _) in unique.items():
            results.setdefault(real_path(output_of(file, folder)), set()).add(resolved)
        for resolved in unique:  # also an input (named, or listed by another argument): not left out
            left_out.pop(resolved, None)
        foreign = [(file, argument) for resolved, (file, argument) in left_out.items() if resolved not in results]
        if foreign and refuse_foreign:
            file, argument = foreign[0]
            raise DeblurSettingsError(
                f"-o {output_dir} lies inside the input folder {argument} and holds images that are no outputs of "
                f"this run's inputs ({file}): photos of your own, or results of another run (another --suffix or "
                "--format, inputs since removed); with --overwrite this run could replace photos there: name an "
                f"output folder outside {argument}, or move them"
            )
    if not leave_out_results:  # --overwrite: an earlier result listed as an input can be neither replaced nor left out
        for output, sources in sorted(results.items()):
            listed_input = unique.get(output)
            if listed_input is not None and listed_input[2] and sources - {output}:
                source = unique[min(sources - {output})][0]
                raise DeblurSettingsError(
                    f"{listed_input[0]} is this run's output of {source} and was listed as an input (a result of an "
                    "earlier run?): --overwrite never replaces an input, which may be a photo of your own; move "
                    "earlier results out of the input folder, or name another output folder"
                )
    leave_out = results if leave_out_results else {}
    earlier = {
        resolved
        for resolved, (_, _, listed) in unique.items()
        if listed and leave_out.get(resolved, set()) - {resolved}
    }
    return (
        [(file, folder) for resolved, (file, folder, _) in unique.items() if resolved not in earlier],
        errors,
        list(left_out.values()),
        earlier,
    )


def _unreadable_folder(exc: OSError) -> str:
    return f"{exc.filename}: cannot read this folder ({os_reason(exc)}); its images are left out"


#: Image extensions golfdeblur neither writes nor takes for a folder name in ``-o`` (those it writes are
#: IMAGE_SUFFIXES, .avif and .heic included whether or not their codecs are installed).
OTHER_IMAGE_SUFFIXES = frozenset(
    ".gif .apng .ppm .pgm .pbm .pnm .pfm .ico .icns .jp2 .j2k .jpf .jpx .jxl .psd .svg .tga .pcx .qoi .exr .hdr "
    ".dng .raw .cr2 .cr3 .nef .arw .orf .rw2 .raf".split()
)


def named_output_file(output: str) -> Path | None:
    """The output file ``-o`` names for a single input, or None when it names a folder: a file when its extension is
    one we write (any case), it does not end in a path separator and no folder of that name exists. An image
    extension we do not write (``sharp.gif``), or whose codec is not installed (``sharp.heic`` without pillow-heif),
    is an error rather than the name of a new folder or a failure after the deblurring.

    Example:
        >>> named_output_file("sharp.PNG"), named_output_file("sharp.png/"), named_output_file("results")
        (PosixPath('sharp.PNG'), None, None)
    """
    path = user_path(output)
    if output.endswith(("/", os.sep)) or _is_folder(path, "-o"):
        return None
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        missing = missing_codec(IMAGE_SUFFIXES[suffix])
        if missing:
            raise DeblurSettingsError(f"-o {output}: {missing}")
        return path
    if suffix in OTHER_IMAGE_SUFFIXES:
        raise DeblurSettingsError(
            f"-o {output}: golfdeblur does not write {suffix[1:].upper()} files; name a file it writes "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a folder"
        )
    return None


def _validate_settings(args: argparse.Namespace, output_file: Path | None) -> None:
    if args.iterations is not None and not 0 <= args.iterations <= MAX_ITERATIONS:
        raise DeblurSettingsError(f"--iterations {args.iterations}: must be 0 to {MAX_ITERATIONS}")
    if args.tile is not None and args.tile < 0:
        raise DeblurSettingsError(f"--tile {args.tile}: must be 0 (no tiling) or a positive size")
    if args.tile_overlap is not None and args.tile_overlap < 0:
        raise DeblurSettingsError(f"--tile-overlap {args.tile_overlap}: must be 0 or more")
    if args.tile and args.tile_overlap is not None and args.tile <= args.tile_overlap:
        raise DeblurSettingsError(f"--tile {args.tile} must be larger than --tile-overlap {args.tile_overlap}")
    if args.max_pixels < 1:
        raise DeblurSettingsError(f"--max-pixels {args.max_pixels}: must be positive")
    if "/" in args.suffix or os.sep in args.suffix:
        raise DeblurSettingsError(f"--suffix {args.suffix!r}: must not contain a path separator")
    if output_file is not None:
        for option, value in (("--suffix", args.suffix), ("--format", args.format)):
            if value:
                raise DeblurSettingsError(
                    f"{option} {value}: -o {args.output_dir} names the output file itself (its extension gives the "
                    f"format); drop {option}, or name a folder"
                )
    elif not _is_folder(args.output_dir, "-o") and _exists(args.output_dir, "-o"):
        raise GolfdeblurError(f"{args.output_dir}: output folder exists and is not a folder")
    missing = missing_codec(IMAGE_SUFFIXES[f".{args.format}"]) if args.format else None
    if missing:
        raise DeblurSettingsError(f"--format {args.format}: {missing}")


def _listed_image(path: Path) -> bool:
    """Whether a file a folder or pattern lists is an input: an image file, or a link of an image's name that leads to
    nothing (the reader reports it, as a recursive walk does, so that a partial batch does not pass for a whole)."""
    return is_image_name(path) and (path.is_file() or (path.is_symlink() and not path.exists()))


def _appeared_meanwhile(exc: ImageWriteError, output: Path) -> bool:
    """Whether ``write_image(output, ..., replace_existing=False)`` failed because a file named ``output`` appeared
    since the caller's check (atomic_path's FileExistsError naming the output; one naming a folder on its way, a file
    where a folder must be made, is another failure)."""
    cause = exc.__cause__
    return isinstance(cause, FileExistsError) and cause.filename == str(output)


def _make_output_folder(output: Path, folder: Path) -> None:
    """Make ``folder``, where the results of ``-o output`` go, with its parents, and check that it takes a file, before
    any work: one that cannot be made or written is one line at once rather than an error per image after its
    deblurring."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # a file, or a link to nothing, where a folder must be
        on_path = [p for p in (folder, *folder.parents) if (p.exists() or p.is_symlink()) and not p.is_dir()]
        blocking = on_path[-1] if on_path else folder  # the outermost: what stops the folders below it
        what = "a file" if blocking.exists() else "a link to nothing"
        raise DeblurSettingsError(f"-o {output}: cannot make the folder {folder} ({blocking} is {what})") from exc
    except OSError as exc:
        raise DeblurSettingsError(f"-o {output}: cannot make the folder {folder} ({os_reason(exc)})") from exc
    try:  # one that exists but takes no file (read-only): also said now, not after each image's deblurring
        probe_writable(folder, output.name if output.suffix else "result.png")
    except OSError as exc:
        raise DeblurSettingsError(f"-o {output}: cannot write in the folder {folder} ({os_reason(exc)})") from exc


def _out_of_memory_line(file: Path, exc: BaseException, on_gpu: bool, untiled: bool = False) -> str | None:
    """The error line for ``file``, whose deblurring raised ``exc``, when ``exc`` says memory ran out: the command
    line's own wording (``notes.out_of_memory_reason``: "out of memory (torch's first line); try smaller settings"),
    after the file's name, and naming the settings of deblur's that lower its memory (``untiled``: --tile 0 was
    given, which a smaller --tile cannot mend); None for any other exception (a bug).

    Example:
        >>> print(_out_of_memory_line(Path("a.jpg"), MemoryError(), on_gpu=False))
        golfdeblur: error: a.jpg: out of memory (MemoryError); try smaller settings: a smaller --tile (0 never tiles)
        >>> _out_of_memory_line(Path("big.jpg"), RuntimeError("a bug"), on_gpu=False) is None
        True
    """
    reason = out_of_memory_reason(exc)
    if reason is None:
        return None
    # The peak grows with the largest tile's pixels, about 0.6 GiB per megapixel (deblur_defaults.DEFAULT_TILE); a
    # GPU's memory is often smaller than the machine's.
    tiles = f"--tile {DEFAULT_TILE} or smaller (0 never tiles)" if untiled else "a smaller --tile (0 never tiles)"
    settings = tiles + (", or --device cpu" if on_gpu else "")
    return error_text_line(f"{file}: {reason}: {settings}")


def _is_folder(path: Path, option: str) -> bool:
    try:
        return path.is_dir()
    except OSError as exc:  # a name too long, a parent that may not be searched: say so rather than a traceback
        raise DeblurSettingsError(f"{option} {path}: cannot use it ({os_reason(exc)})") from exc


def _exists(path: Path, option: str) -> bool:
    try:
        return path.exists()
    except OSError as exc:
        raise DeblurSettingsError(f"{option} {path}: cannot use it ({os_reason(exc)})") from exc


def run(args: argparse.Namespace) -> int:
    # Imported here, not above: they import torch (about 2 s), which `golfdeblur --help` need not wait for.
    import torch
    from tqdm import tqdm

    from golfdeblur.device import slow_precision_note
    from golfdeblur.infer import card_tile_overlap, deblur_tensor, prepared_weights, weights_identity
    from golfdeblur.models.receptive_field import receptive_field
    from golfdeblur.notes import note

    # Path("") is ".": an empty argument (say an unset shell variable) would read or fill the current folder.
    for position, argument in enumerate(args.inputs, 1):
        if not argument:
            raise DeblurSettingsError(f"INPUT {position} is empty: name an image file, folder or pattern")
    if not args.output_dir:
        raise DeblurSettingsError("-o is empty: name an output folder, or an output file for one input")
    output_file = named_output_file(args.output_dir)
    args.output_dir = user_path(args.output_dir)
    _validate_settings(args, output_file)
    # Weights errors stop here: exit code 2. Prepared as deblur() prepares them (kept for a next run in this process),
    # with the model card they were built from, whose measured overlap is then read from it.
    model, card, weights_path = prepared_weights(args.weights, args.device)
    model_device = next(model.parameters()).device
    precision_note = slow_precision_note(model_device, args.precision)
    if precision_note:
        note(precision_note)
    overlap = args.tile_overlap
    if overlap is None:  # the weights' measured overlap at their T, else the receptive field (exact)
        measured = card_tile_overlap(card, args.iterations, weights_path)
        overlap = receptive_field(model, args.iterations) if measured is None else measured
        if args.tile and args.tile <= overlap:
            source = "the receptive field" if measured is None else "measured for these weights"
            raise DeblurSettingsError(
                f"--tile {args.tile} must be larger than the default overlap, {overlap} px ({source}; or set a "
                "smaller --tile-overlap, which makes seams approximate)"
            )

    def output_of(file: Path, folder: Path) -> Path:
        extension = f".{args.format}" if args.format else file.suffix
        return output_file or args.output_dir / folder / f"{file.stem}{args.suffix}{extension}"

    # With --overwrite, a listed file at another input's output path is refused before any work: it may be an earlier
    # result, or a photo that bears that name, and --overwrite never replaces an input. For the same reason it
    # refuses an OUTDIR inside a walked folder that holds images no input's output is (the guard does not see them);
    # without it an existing output is never replaced, so the run goes on.
    inputs, failures, left_out, earlier_results = collect_inputs(
        args.inputs,
        args.recursive,
        args.output_dir,
        output_of,
        leave_out_results=not args.overwrite,
        refuse_foreign=args.overwrite,
    )
    for line in failures:  # first: with an -o file, they may be why the inputs are not the one image meant
        print(error_text_line(line), file=sys.stderr)
    if left_out:
        count = len(left_out)
        print(
            printable(
                f"golfdeblur: {count} image{'s' if count > 1 else ''} under {args.output_dir} (inside the input "
                f"folder {left_out[0][1]}) left out of the inputs"
            ),
            file=sys.stderr,
        )
    if output_file is not None and len(inputs) > 1:
        raise DeblurSettingsError(
            f"-o {output_file} names one output file, but the inputs hold {len(inputs)} images: name a folder for -o"
        )
    files = [file for file, _ in inputs]
    # Made before any deblurring, so that one that cannot be made is one line; removed again below if no result went
    # into it (a run that writes nothing leaves no folder behind, as one refused for its settings or weights), also
    # when the run is stopped (Ctrl-C, SIGTERM: cli.Stopped) or fails part-way.
    out_folder = args.output_dir.parent if output_file else args.output_dir
    made = [path for path in (out_folder, *out_folder.parents) if not path.exists()] if inputs else []
    written = 0
    try:
        if inputs:
            _make_output_folder(output_file or args.output_dir, out_folder)
        guard = OutputGuard(files, args.overwrite, args.skip_existing)
        failed, skipped = len(failures), 0
        progress = tqdm(inputs, desc="deblur", unit="image", file=sys.stderr, dynamic_ncols=True, disable=None)

        # One image's work, in a function so that its arrays (pixels in and out: 137 MiB each for 12 MP) are
        # freed when it returns rather than kept while the next image is read and deblurred. False: skipped, its
        # output exists.
        def deblur_file(file: Path, output: Path) -> bool:
            check_exists(file)  # a mistyped name is said to be missing, not to have the wrong extension
            if output_file is None and not args.format and file.suffix.lower() not in IMAGE_SUFFIXES:
                # Refused before it is read (no compute spent); the extension may be a misnamed image or a format
                # we neither read nor write (GIF, PPM), and --format settles the first.
                raise GolfdeblurError(
                    f"{file}: its extension '{file.suffix}' is not one golfdeblur writes ("
                    f"{', '.join(sorted(IMAGE_SUFFIXES))}); if it holds an image, name the output format with --format"
                )
            # A HEIC written as HEIC without pillow-heif: said now, naming what to install, not after its deblurring
            # as a failed write (-o FILE and --format in such a format were refused before any work).
            missing = missing_codec(IMAGE_SUFFIXES.get(output.suffix.lower(), ""))
            if missing:
                raise GolfdeblurError(f"{file}: {missing}")
            if not args.skip_existing and real_path(output) in earlier_results:  # not "pass --overwrite": it refuses
                raise GolfdeblurError(
                    f"{file}: output {output} exists, a result of an earlier run left out of the inputs; pass "
                    "--skip-existing to keep it, or move the earlier results out of the input folder to redo them"
                )
            if not guard.check(output, file):
                return False
            image = read_image(file, max_pixels=args.max_pixels, max_pixels_name="--max-pixels")
            check_writable(output, image)  # e.g. alpha into --format jpg: say so before the deblurring
            lost = colour_description_lost(image, format_for_path(output))
            if lost:
                note(f"{file}: {lost}; viewers will show {output.name} as sRGB")
            # A view of the (H, W, 3) pixels, no copy: (1, 3, H, W) laid out channels_last, as the network runs, and the
            # result comes back in that layout, so that its (H, W, 3) pixels below are a view too.
            batch = torch.from_numpy(np.ascontiguousarray(image.rgb)).permute(2, 0, 1)[None]

            def show_tile(done: int, total: int) -> None:
                if total > 1:
                    progress.set_postfix_str(f"{file.name} tile {done}/{total}")

            result = deblur_tensor(
                batch,
                model,
                iterations=args.iterations,
                precision=args.precision,
                tile=args.tile,
                tile_overlap=overlap,
                on_tile=show_tile,
            )
            del batch  # with the image's pixels replaced, the input's are freed before the writing
            image = image.with_rgb(np.ascontiguousarray(result[0].permute(1, 2, 0).numpy()))
            # A --recursive result's subfolder is made by the write: removed below too if nothing is written
            made[:0] = [p for p in (output.parent, *output.parent.parents) if p not in made and not p.exists()]
            try:
                write_image(output, image, replace_existing=args.overwrite)  # one written meanwhile is kept
            except ImageWriteError as exc:
                # Another run wrote this output since the guard's check: with --skip-existing a whole earlier result,
                # skipped as one found there at the check (write_image publishes atomically), not a failure.
                if args.skip_existing and _appeared_meanwhile(exc, output) and not guard.check(output, file):
                    return False
                raise
            guard.record(output, file)
            return True

        for file, folder in progress:
            progress.set_postfix_str(file.name)
            output = output_of(file, folder)
            try:
                done = deblur_file(file, output)
            except GolfdeblurError as exc:
                failed += 1
                tqdm.write(error_text_line(str(exc)), file=sys.stderr)
                continue
            except OSError as exc:  # a file or folder that failed where no check foresaw it: report, go on
                failed += 1
                # as the command line words it (out/a.png: Permission denied), after the input; its name once
                tqdm.write(error_text_line(f"{file}: {os_error_reason(exc, named=str(file))}"), file=sys.stderr)
                continue
            except (MemoryError, RuntimeError) as exc:  # torch reports running out of memory as a RuntimeError
                memory_line = _out_of_memory_line(file, exc, model_device.type != "cpu", untiled=args.tile == 0)
                if memory_line is None:  # not out of memory: a bug, whose traceback (cli lets it through) says where
                    raise
                failed += 1  # out of memory on a huge image: said, and the next image may fit
                tqdm.write(memory_line, file=sys.stderr)
                continue
            if done:
                written += 1
                # For scripts, one result's path per line; out of the try above, so that a reader gone (`| head -1`)
                # ends the run (exit 141) rather than counting a result written as failed.
                tqdm.write(printable(str(output)), file=sys.stdout)
            else:
                skipped += 1
                tqdm.write(printable(f"golfdeblur: skipped {file}: output {output} exists"), file=sys.stderr)
        progress.close()
    finally:
        if not written:
            for path in made:  # deepest first; only while empty
                with contextlib.suppress(OSError):
                    path.rmdir()
        total = len(files) + len(failures)
        if written:  # also when stopped part-way: the results written are traced to their weights
            name, sha256 = weights_identity(args.weights, card)  # the weights that ran, hashed as loaded
            iterations = model.config.iterations if args.iterations is None else args.iterations
            print(
                printable(
                    f"golfdeblur: deblurred {written} of {total} inputs into {args.output_dir} (weights {name}, "
                    f"sha256 {sha256[:12]}..., T = {iterations})"
                ),
                file=sys.stderr,
            )
    if skipped:
        print(f"golfdeblur: {skipped} of {total} inputs skipped (their outputs exist)", file=sys.stderr)
    if failed:
        print(f"golfdeblur: {failed} of {total} inputs failed", file=sys.stderr)
    return 1 if failed else 0
