"""Image sets packed into one ``.npz`` file, so training data travels as one piece (e.g. to a borrowed GPU machine).

A pack holds sharp images (for synthetic blur) and, optionally, real (blurry, sharp) pairs such as GoPro-protocol pairs
made by ``golfdeblur make-pairs``. Each entry is either a raw (H, W, 3) uint8 array or a 1-D uint8 array holding an
encoded JPEG, PNG or lossless WebP file: encoded entries keep a pack of photographs at the size of their files
(BSDS500's 400 JPEGs: 29 MB, against 185 MB as raw arrays). Entry names carry the role: ``sharp:NAME``,
``pair-blurry:NAME``, ``pair-sharp:NAME``; a name without a role (packs written by older versions) is a sharp image.
``pack-data`` names sharp images FOLDER/FILE and pairs SEQUENCE/FILE (SEQUENCE: the folder holding the blurry
folder, as in GoPro's names; packs written before name pairs FILE alone and load alike), ``/`` stored as ``__``;
a name must be valid UTF-8 (a zip's member names are), so a file name of other bytes is refused before any encoding.
An encoded entry decodes as ``read_image`` reads the file: a JPEG's EXIF orientation is applied (a phone's portrait
photo keeps its own bytes and loads upright). Loading uses ``allow_pickle=False``.

A pack may come from anyone, so loading refuses, in one line and before decompressing or decoding what it refuses:
an entry that is not uint8, not (H, W, 3) or 1-D, or has no pixels; an image over ``read_image``'s pixel limit; an
encoded entry of a format, mode or frame count ``pack-data`` never writes (a GIF, a TIFF, an animation, a 16-bit PNG);
two entries of one name; and images that would take more than ``MAX_PACK_BYTES`` in all.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, features

from golfdeblur.atomic import atomic_path, made_folders_removed_on_failure
from golfdeblur.data.image_formats import IMAGE_SUFFIXES, PILLOW_8_BIT_MODES
from golfdeblur.data.image_metadata import apply_orientation, exif_orientation
from golfdeblur.data.imageio import DEFAULT_MAX_PIXELS, pillow_limit_disabled, read_image
from golfdeblur.errors import GolfdeblurError, not_a_regular_file, os_reason

SHARP, PAIR_BLURRY, PAIR_SHARP = "sharp:", "pair-blurry:", "pair-sharp:"
_WEBP_MAX_SIDE = 16383  # the WebP format's limit
#: The formats of encoded entries: what ``pack-data`` writes (a JPEG's own bytes, which Pillow may open as an MPO, a
#: PNG's own bytes, or a PNG or lossless WebP made here). Pillow is asked to recognise no other.
_ENCODED_FORMATS = ("JPEG", "PNG", "WEBP")
#: The most a pack's images may take in all once loaded (H x W x 3 bytes each, raw or decoded): 1 GiB. A pack is
#: loaded whole (and training holds its sharp images again as float32, 4 times as large), while a few megabytes of
#: zip-compressed zeros, or of PNGs of one colour, can claim gigabytes. The campaign's pack takes 240 MiB (38.5 MiB
#: on disk); a pack within pack-data's default of 56 MiB reaches the limit only if its images compress by more than
#: 18 to 1 (BSDS500's JPEGs: 6.4 to 1). Larger image sets can be given as a folder (``data.root=FOLDER``).
MAX_PACK_BYTES = 2**30


@dataclass
class PackedImages:
    """The content of a pack: images as (3, H, W) uint8 tensors with their names."""

    sharp: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    pairs: list[tuple[str, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (name, blurry, sharp)


def _entry_name(name: str) -> str:
    return name.replace("/", "__")


def _check_utf8(entry: str, what: object) -> None:
    """Refuse an entry name that is not valid UTF-8 (a file name of undecodable bytes, held as surrogates), which a
    zip member's name, and so a pack's entry name, must be; ``what`` (the file, or the name given) is named."""
    try:
        entry.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise GolfdeblurError(f"{what}: name is not valid UTF-8, which a pack's entry names must be") from exc


def as_uint8_rgb(path: str | Path) -> np.ndarray:
    """Any image file ``read_image`` accepts (16-bit, greyscale, EXIF-rotated ...) as (H, W, 3) uint8."""
    pixels = read_image(path).rgb
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def encode_image_file(path: str | Path) -> np.ndarray:
    """``path`` as a 1-D uint8 array of an encoded file that decodes to exactly what ``read_image`` gives: the file's
    own bytes when it is an 8-bit JPEG (re-encoding a JPEG without loss makes it larger; an EXIF orientation is
    applied on decoding, as ``read_image`` applies it), otherwise the smallest of the file's own bytes (an 8-bit PNG
    that decodes exactly), a PNG and a lossless WebP of its pixels. A JPEG that does not decode exactly so (a CMYK
    one, say) is stored as a PNG or WebP of its pixels."""
    path = Path(path)
    pixels = as_uint8_rgb(path)
    raw = np.frombuffer(path.read_bytes(), np.uint8)
    kind = IMAGE_SUFFIXES.get(path.suffix.lower())  # .jpg, .jpeg, .jpe, .jfif: JPEG
    exact_raw = kind in ("PNG", "JPEG") and _decodes_to(raw, str(path), pixels)
    if exact_raw and kind == "JPEG":
        return raw.copy()
    return smallest_lossless_encoding(pixels, [raw] if exact_raw else [])


def smallest_lossless_encoding(pixels: np.ndarray, candidates: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The shortest of ``candidates`` (encodings already known to decode to ``pixels``; without any, a PNG made here)
    and, where Pillow has WebP, a lossless WebP of ``pixels`` ((H, W, 3) uint8), as a 1-D uint8 array.

    Lossless WebP makes the GoPro-protocol pairs of the campaign's pack 31 % smaller than PNG, which keeps the
    device machine's 64 MiB working tree within reach (docs/TRAINING_CAMPAIGN.md).
    """
    encodings = list(candidates)
    formats: list[tuple[str, dict[str, bool]]] = [] if encodings else [("PNG", {})]
    height, width = pixels.shape[:2]
    if features.check("webp") and max(height, width) <= _WEBP_MAX_SIDE:
        formats.append(("WEBP", {"lossless": True, "exact": True}))
    for name, options in formats:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=name, **options)
        encoded = np.frombuffer(buffer.getvalue(), np.uint8).copy()
        if name == "PNG" or np.array_equal(_decode(encoded, name), pixels):  # PNG is exact by construction
            encodings.append(encoded)
    return min(encodings, key=len)


def copy_compact(source: str | Path, folder: str | Path) -> Path:
    """Copy an image file into ``folder`` as its smallest exact encoding (``encode_image_file``), keeping its stem:
    ``photo.png`` becomes ``folder/photo.webp`` when lossless WebP is shorter. Written atomically; returns the path."""
    source = Path(source)
    encoded = encode_image_file(source)
    with Image.open(io.BytesIO(encoded.tobytes())) as image:
        suffix = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}[str(image.format)]
    target = Path(folder) / (source.stem + suffix)
    with atomic_path(target) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return target


def _check_pixels(name: str, width: int, height: int) -> None:
    """Refuse an image of no pixels, or of more than ``read_image`` reads (``DEFAULT_MAX_PIXELS``)."""
    if width < 1 or height < 1:
        raise GolfdeblurError(f"packed image {name}: image has no pixels ({width}x{height})")
    if width * height > DEFAULT_MAX_PIXELS:
        raise GolfdeblurError(
            f"packed image {name}: {width}x{height} = {width * height:,} pixels is over the limit of "
            f"{DEFAULT_MAX_PIXELS:,} (as for image files)"
        )


@contextlib.contextmanager
def _opened(entry: np.ndarray, name: str) -> Iterator[Image.Image]:
    """A 1-D encoded entry opened by Pillow, not yet decoded, once checked: a JPEG, PNG or WebP of one frame (an MPO's
    further frames are previews) holding 8-bit samples, with pixels within ``_check_pixels``. Anything else is
    refused in one line: ``pack-data`` never writes it, and it would not decode as ``read_image`` reads it (a 16-bit
    PNG's samples would be clipped or cut to their high bytes, an animation cut to its first frame). Pillow's own
    pixel limit is off meanwhile: the limit is checked here, before decoding, in one line."""
    with pillow_limit_disabled():
        try:
            with Image.open(io.BytesIO(entry.tobytes()), formats=_ENCODED_FORMATS) as image:
                frames = getattr(image, "n_frames", 1)
                if image.format != "MPO" and frames > 1:
                    raise GolfdeblurError(f"packed image {name}: has {frames} frames; a packed image has one")
                sixteen_bit = image.format == "PNG" and entry[24] == 16  # IHDR's bit depth, as read_image reads it
                if sixteen_bit or image.mode not in PILLOW_8_BIT_MODES:
                    kind = "16-bit PNG" if sixteen_bit else f"{image.format} of mode {image.mode}"
                    raise GolfdeblurError(
                        f"packed image {name}: a {kind}, which pack-data never packs as it is (8-bit images only)"
                    )
                _check_pixels(name, image.width, image.height)
                yield image
        except (OSError, ValueError) as exc:
            raise GolfdeblurError(f"packed image {name}: not a decodable JPEG, PNG or WebP ({exc})") from exc


def _decode(entry: np.ndarray, name: str) -> np.ndarray:
    """A raw (H, W, 3) uint8 entry as is, or a 1-D encoded entry (checked by ``_opened``) decoded and turned upright
    by its EXIF orientation, as ``read_image`` does (only a file's own JPEG or PNG bytes carry one: the PNGs and
    WebPs made here have none, and a file's own bytes were packed only if they decoded so to what ``read_image``
    gives)."""
    if entry.dtype != np.uint8:
        raise GolfdeblurError(f"packed image {name}: expected uint8, got {entry.dtype}")
    if entry.ndim == 3 and entry.shape[-1] == 3:
        _check_pixels(name, entry.shape[1], entry.shape[0])
        return entry
    if entry.ndim != 1:
        raise GolfdeblurError(f"packed image {name}: expected (H, W, 3) or encoded bytes, got shape {entry.shape}")
    with _opened(entry, name) as image:
        return apply_orientation(np.asarray(image.convert("RGB")), exif_orientation(image))


def _decodes_to(entry: np.ndarray, name: str, pixels: np.ndarray) -> bool:
    """Whether ``entry`` loads from a pack as ``pixels``; False for an entry loading refuses (a 16-bit PNG)."""
    try:
        return np.array_equal(_decode(entry, name), pixels)
    except GolfdeblurError:
        return False


def _loaded_size(entry: np.ndarray, name: str) -> int:
    """The bytes a checked entry takes once loaded: a raw one its own, an encoded one its decoded pixels' (read from
    its header, not decoded)."""
    if entry.ndim != 1:
        return entry.nbytes
    with _opened(entry, name) as image:
        return image.width * image.height * 3


#: What reading a truncated or corrupt ``.npz`` raises (besides OSError and ValueError); RuntimeError: an encrypted
#: member, which zipfile cannot read without a password.
_BROKEN_NPZ = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError)


def _check_npz_name(path: Path) -> None:
    if path.suffix.lower() != ".npz":  # any case, as training's is_pack takes it
        raise GolfdeblurError(f"{path}: packed images are a .npz file")


def _over_limit(path: Path, size: int, max_bytes: int, at_least: bool = False) -> GolfdeblurError:
    least = "at least " if at_least else ""
    return GolfdeblurError(
        f"{path}: the pack would take {least}{size / 2**20:.3f} MiB ({size} bytes), over the limit of "
        f"{max_bytes / 2**20:.3f} MiB ({max_bytes} bytes)"
    )


def _write(
    arrays: dict[str, np.ndarray], path: Path, max_bytes: int | None, replace: bool = True, read_back: bool = False
) -> Path:
    """Write ``arrays`` to ``path`` atomically; over ``max_bytes`` (the file's real size, headers included), or
    over ``MAX_PACK_BYTES`` once loaded (which loading refuses), refuse with nothing written and no folder left
    made. ``replace`` False: a file at ``path`` is never replaced, even one written since the caller checked
    (FileExistsError). ``read_back``: the file written is loaded (``load_packed``) before it takes the name
    ``path``, and one that does not load is refused so, leaving an earlier file at ``path`` as it was."""
    _check_npz_name(path)
    total = sum(a.nbytes for a in arrays.values())  # a lower bound of the file's size: a quick first check
    if max_bytes is not None and total > max_bytes:
        raise _over_limit(path, total, max_bytes, at_least=True)
    loaded = sum(_loaded_size(array, f"{path}:{name}") for name, array in arrays.items())
    if loaded > MAX_PACK_BYTES:  # refused now, not when the pack is first loaded (or read back by pack-data)
        raise GolfdeblurError(
            f"{path}: the images would take {loaded / 2**20:.1f} MiB once loaded, over the limit of "
            f"{MAX_PACK_BYTES / 2**20:.0f} MiB for a pack's images; pack fewer, or train on their folder "
            "(data.root=FOLDER)"
        )
    with made_folders_removed_on_failure(path.parent), atomic_path(path, replace=replace) as tmp:
        with open(tmp, "wb") as handle:
            # Every key starts with a prefix (SHARP, PAIR_BLURRY, PAIR_SHARP), so none is savez's allow_pickle.
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        size = tmp.stat().st_size  # each entry adds its npy header and zip records (about 280 bytes)
        if max_bytes is not None and size > max_bytes:
            raise _over_limit(path, size, max_bytes)  # atomic_path removes the temporary file
        if read_back:
            _read_back(tmp, path)
    return path


def _read_back(written: Path, path: Path) -> None:
    """Load the pack ``written`` (the temporary file that is to become ``path``); a refusal is said naming ``path``,
    not the temporary file's hidden name."""
    try:
        load_packed(written)
    except GolfdeblurError as exc:
        reason = str(exc).replace(str(written), str(path))
        raise GolfdeblurError(f"{reason}; the new pack does not load back, so it was not written") from exc


def save_packed_images(images: Sequence[tuple[str, np.ndarray]], path: str | Path) -> Path:
    """Pack named (H, W, 3) uint8 arrays as sharp images into one uncompressed ``.npz``, written atomically.

    Train on it with ``--set data.root=PATH.npz``.
    """
    arrays = {}
    for name, image in images:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
            raise GolfdeblurError(f"packed image {name}: expected (H, W, 3) uint8, got {array.dtype} {array.shape}")
        _check_utf8(name, f"packed image {name}")
        arrays[SHARP + _entry_name(name)] = array
    return _write(arrays, Path(path), None)


def pack_image_files(
    sharp_files: Sequence[tuple[str, Path]],
    pair_files: Sequence[tuple[str, Path, Path]] = (),
    path: str | Path = "data.npz",
    max_bytes: int | None = None,
    replace: bool = True,
    read_back: bool = False,
) -> Path:
    """Pack image files (encoded, see ``encode_image_file``) into one ``.npz``, written atomically.

    Args:
        sharp_files: (name, file) of sharp images.
        pair_files: (name, blurry file, sharp file) of real pairs; both files must have the same size.
        max_bytes: refuse (one-line error, nothing written) when the pack would be larger.
        replace: False to never replace a file at ``path``, even one written while the images were encoded
            (FileExistsError).
        read_back: load the pack written (``load_packed``) before it takes the name ``path``: a pack that does not
            load is refused (one-line error) with nothing written, an earlier file at ``path`` left as it was.

    Two images under one name (two folders of the same name, two sequences of the same name numbering their frames
    alike) are refused rather than one silently replacing the other.
    """
    _check_npz_name(Path(path))  # before encoding anything
    arrays: dict[str, np.ndarray] = {}
    first_file: dict[str, Path] = {}
    for entry, file in [(SHARP + _entry_name(n), f) for n, f in sharp_files] + [
        (PAIR_BLURRY + _entry_name(n), b) for n, b, _ in pair_files
    ]:
        _check_utf8(entry, file)  # before encoding anything, not when the zip is written
        if entry in first_file:
            earlier = first_file[entry]
            if os.path.abspath(earlier) == os.path.abspath(file):
                advice = "it is given twice; give its folder once"
            elif entry.startswith(SHARP):
                advice = "pack them separately or rename one of their folders"
            else:  # pack-data names a pair SEQUENCE/NAME, SEQUENCE being the folder that holds the blurry folder
                advice = (
                    "pack them separately or put one blurry folder under a folder of another name (pairs are "
                    "named after the folder holding their blurry folder)"
                )
            raise GolfdeblurError(f"{file}: would be packed as {entry!r}, as {earlier} already is; {advice}")
        first_file[entry] = file
    for name, file in sharp_files:
        arrays[SHARP + _entry_name(name)] = encode_image_file(file)
    for name, blurry_file, sharp_file in pair_files:
        blurry, sharp = encode_image_file(blurry_file), encode_image_file(sharp_file)
        shapes = [_decode(e, str(f)).shape for e, f in ((blurry, blurry_file), (sharp, sharp_file))]
        if shapes[0] != shapes[1]:
            raise GolfdeblurError(f"pair {name}: {blurry_file} is {shapes[0][:2]} but {sharp_file} is {shapes[1][:2]}")
        arrays[PAIR_BLURRY + _entry_name(name)] = blurry
        arrays[PAIR_SHARP + _entry_name(name)] = sharp
    if not arrays:
        raise GolfdeblurError(f"{path}: nothing to pack")
    return _write(arrays, Path(path), max_bytes, replace, read_back)


def _check_entry_size(archive: zipfile.ZipFile, member: str, name: str) -> int:
    """Refuse, from its .npy header alone (before it is decompressed), an entry that is not uint8, not (H, W, 3) or
    1-D, or larger than the largest image ``read_image`` reads: a raw (H, W, 3) image of no pixels or over
    ``DEFAULT_MAX_PIXELS``, or encoded bytes over that image's raw size. A few hundred kilobytes of zeros in a pack
    can otherwise hold gigabytes. Returns the entry's size in bytes."""
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
    if dtype != np.uint8:
        raise GolfdeblurError(f"packed image {name}: expected uint8, got {dtype}")
    if len(shape) == 3 and shape[-1] == 3:
        _check_pixels(name, shape[1], shape[0])
    elif len(shape) != 1:
        raise GolfdeblurError(f"packed image {name}: expected (H, W, 3) or encoded bytes, got shape {shape}")
    elif shape[0] > 3 * DEFAULT_MAX_PIXELS:
        raise GolfdeblurError(
            f"packed image {name}: {shape[0]:,} bytes, more than an image of the limit of {DEFAULT_MAX_PIXELS:,} "
            "pixels takes uncompressed"
        )
    return int(np.prod(shape, dtype=np.int64))


def _check_total(path: str | Path, size: int, what: str) -> None:
    if size > MAX_PACK_BYTES:
        raise GolfdeblurError(
            f"{path}: {what} {size / 2**20:.1f} MiB ({size:,} bytes), over the limit of "
            f"{MAX_PACK_BYTES / 2**20:.0f} MiB for a pack's images"
        )


def load_packed(path: str | Path, sharp: bool = True, pairs: bool = True) -> PackedImages:
    """The sharp images and real pairs of a pack, as (3, H, W) uint8 tensors; ``sharp=False`` or ``pairs=False``
    skips reading and decoding that part (the other list stays empty). Every entry's .npy header is checked before
    anything is decompressed (``_check_entry_size``), the entries to load are refused over ``MAX_PACK_BYTES`` in all
    from their headers, and so are their images decoded, from the encoded images' headers, before any is decoded."""
    what = not_a_regular_file(path)  # a pipe would block open() for good, /dev/zero be read until memory runs out
    if what is not None and what != "is a folder":  # a folder: opening it says so below
        raise GolfdeblurError(f"{path}: {what}, not a readable .npz of images")
    try:  # np.load would read a file that is no zip as a pickle (speaking of allow_pickle) or an .npy
        with open(path, "rb") as handle:
            is_zip = zipfile.is_zipfile(handle)
    except OSError as exc:
        raise GolfdeblurError(f"{path}: not a readable .npz of images ({os_reason(exc)})") from exc
    if not is_zip:
        raise GolfdeblurError(f"{path}: not a readable .npz of images (not a zip file, which a .npz is)")
    try:
        with zipfile.ZipFile(path) as archive:
            members: dict[str, str] = {}  # entry name: zip member, as np.load names them
            for member in archive.namelist():
                name = member.removesuffix(".npy")
                if name in members:  # zipfile (and np.load) would read the later one, silently
                    raise GolfdeblurError(f"{path}: holds two entries named {name}; a pack names each image once")
                members[name] = member
            sizes = {name: _check_entry_size(archive, member, f"{path}:{name}") for name, member in members.items()}
            wanted = [name for name in members if (pairs if name.startswith((PAIR_BLURRY, PAIR_SHARP)) else sharp)]
            _check_total(path, sum(sizes[name] for name in wanted), "its entries hold")
            entries = {}
            for name in wanted:
                with archive.open(members[name]) as stream:
                    entries[name] = np.lib.format.read_array(stream, allow_pickle=False)
    except (OSError, ValueError, *_BROKEN_NPZ) as exc:
        raise GolfdeblurError(f"{path}: not a readable .npz of images ({type(exc).__name__}: {exc})") from exc
    _check_total(path, sum(_loaded_size(entries[name], f"{path}:{name}") for name in wanted), "its decoded images take")
    result = PackedImages()

    def tensor_of(name: str) -> torch.Tensor:
        """Entry ``name`` decoded, as a (3, H, W) uint8 tensor of its own made in one copy. The entry and its decoded
        (H, W, 3) array are let go at once, in the thread that decoded it, whose freed memory its next image takes:
        loading peaks at about 1.2 times the images' size (a 220 MiB pack of JPEGs peaked at 2.5 times while all the
        decoded arrays were held beside their tensors, whose copies were made in another thread)."""
        image = _decode(entries.pop(name), f"{path}:{name}")
        return torch.from_numpy(np.array(image.transpose(2, 0, 1), order="C"))

    # Pillow decodes without holding the GIL, so threads decode the photographs in parallel (2.5 -> 1.7 s on 2 cores).
    # Pillow's pixel limit is turned off here, in this thread, for all of them: each thread's own turning off and
    # back then restores what this one set, not what another thread set meanwhile.
    with pillow_limit_disabled(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        loaded = dict(zip(wanted, pool.map(tensor_of, wanted), strict=True))
    tensor = loaded.pop  # each image handed to the result as it is, not copied again

    for name in members:
        if name.startswith(PAIR_BLURRY) and pairs:
            stem = name[len(PAIR_BLURRY) :]
            if PAIR_SHARP + stem not in members:
                raise GolfdeblurError(f"{path}: pair {stem} has a blurry image but no sharp one")
            pair_blurry, pair_sharp = tensor(name), tensor(PAIR_SHARP + stem)
            if pair_blurry.shape != pair_sharp.shape:
                raise GolfdeblurError(
                    f"{path}: pair {stem} has images of sizes {pair_blurry.shape} and {pair_sharp.shape}"
                )
            result.pairs.append((stem, pair_blurry, pair_sharp))
        elif name.startswith(PAIR_SHARP):
            if PAIR_BLURRY + name[len(PAIR_SHARP) :] not in members:
                raise GolfdeblurError(f"{path}: pair {name[len(PAIR_SHARP) :]} has a sharp image but no blurry one")
        elif name.startswith(PAIR_BLURRY) or not sharp:
            continue
        else:
            stem = name[len(SHARP) :] if name.startswith(SHARP) else name
            result.sharp.append((stem, tensor(name)))
    if not members:
        raise GolfdeblurError(f"{path}: holds no images")
    return result
