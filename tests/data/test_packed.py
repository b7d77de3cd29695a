"""Packs: raw and encoded entries round-trip exactly, pairs stay paired, size limits and broken packs fail clearly."""

import io
import math
import os
import shutil
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin, features

from golfdeblur import atomic
from golfdeblur.cli import main
from golfdeblur.data import packed
from golfdeblur.data.packed import (
    as_uint8_rgb,
    copy_compact,
    encode_image_file,
    load_packed,
    pack_image_files,
    save_packed_images,
)
from golfdeblur.errors import GolfdeblurError


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _photo_like(height, width):
    """Smooth gradients with mild seeded noise: compresses like a photograph, not like noise."""
    y, x = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(3).integers(0, 3, (height, width, 3))
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (height + width)], axis=-1)
    return (base + noise).clip(0, 255).astype(np.uint8)


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP")
def test_photographs_in_png_travel_as_lossless_webp_and_jpegs_as_themselves(tmp_path):
    array = _photo_like(96, 128)
    png = _png(tmp_path / "photo.png", array)
    entry = encode_image_file(png)
    assert entry[:4].tobytes() == b"RIFF" and len(entry) < png.stat().st_size
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(array).save(jpeg, quality=90)
    assert encode_image_file(jpeg).tobytes() == jpeg.read_bytes()  # decodes exactly as it is; re-encoding grows it
    path = pack_image_files([("photo", png)], [("p", png, png)], tmp_path / "pack.npz")
    packed = load_packed(path)
    assert torch.equal(packed.sharp[0][1], torch.from_numpy(array).permute(2, 0, 1))
    assert torch.equal(packed.pairs[0][1], packed.sharp[0][1]) and torch.equal(packed.pairs[0][2], packed.sharp[0][1])
    copied = copy_compact(png, tmp_path / "eval")
    assert copied == tmp_path / "eval" / "photo.webp"
    assert np.array_equal(np.asarray(Image.open(copied).convert("RGB")), array)


def test_raw_pack_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = [("a/b", rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)), ("c", np.zeros((4, 4, 3), np.uint8))]
    loaded = load_packed(save_packed_images(images, tmp_path / "pack.npz")).sharp
    assert [name for name, _ in loaded] == ["a__b", "c"]
    assert torch.equal(loaded[0][1], torch.from_numpy(images[0][1]).permute(2, 0, 1))
    with pytest.raises(GolfdeblurError, match="uint8"):
        save_packed_images([("x", np.zeros((4, 4, 3), np.float32))], tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(GolfdeblurError, match="not a readable"):
        load_packed(tmp_path / "junk.npz")


def test_loaded_images_are_contiguous_tensors_of_their_own(tmp_path):
    """Loading makes each image a (3, H, W) tensor in one copy and lets its (H, W, 3) array go at once (its peak
    memory): the tensors must still be contiguous and writable, sharing memory with nothing."""
    rng = np.random.default_rng(1)
    raw = [("r", rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))]
    png = _png(tmp_path / "e.png", rng.integers(0, 256, (6, 4, 3), dtype=np.uint8))
    for path, expected in [
        (save_packed_images(raw, tmp_path / "raw.npz"), raw[0][1]),
        (pack_image_files([("e", png)], [("p", png, png)], tmp_path / "encoded.npz"), as_uint8_rgb(png)),
    ]:
        loaded = load_packed(path)
        images = [image for _, image in loaded.sharp] + [image for _, *pair in loaded.pairs for image in pair]
        for image in images:
            assert image.is_contiguous() and torch.equal(image, torch.from_numpy(expected).permute(2, 0, 1))
            image.zero_()  # writable, and its own: no other image changes
        assert len({image.data_ptr() for image in images}) == len(images)


def test_old_packs_without_roles_read_as_sharp(tmp_path):
    np.savez(tmp_path / "old.npz", photo=np.full((3, 4, 3), 7, np.uint8))
    (name, image), *_ = load_packed(tmp_path / "old.npz").sharp
    assert name == "photo" and image.shape == (3, 3, 4) and int(image[0, 0, 0]) == 7


def test_encoded_files_keep_their_bytes_and_pixels(tmp_path):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    png = _png(tmp_path / "x.png", array)
    entry = encode_image_file(png)  # the shortest exact encoding: never longer than the file itself
    assert len(entry) <= png.stat().st_size and np.array_equal(
        np.asarray(Image.open(io.BytesIO(entry.tobytes()))), array
    )
    grey = _png(tmp_path / "grey.png", array[..., 0])  # greyscale becomes 3 equal channels, re-encoded as PNG
    blurry = _png(tmp_path / "pairs" / "b.png", array[::-1].copy())
    path = pack_image_files([("x", png), ("grey", grey)], [("p", blurry, png)], tmp_path / "pack.npz")
    packed = load_packed(path)
    assert [n for n, _ in packed.sharp] == ["x", "grey"]
    assert torch.equal(packed.sharp[0][1], torch.from_numpy(array).permute(2, 0, 1))
    assert torch.equal(packed.sharp[1][1], torch.from_numpy(array[..., 0]).expand(3, -1, -1))
    ((name, pair_blurry, pair_sharp),) = packed.pairs
    assert name == "p" and torch.equal(pair_blurry, torch.from_numpy(array[::-1].copy()).permute(2, 0, 1))
    assert torch.equal(pair_sharp, packed.sharp[0][1])


def test_16_bit_files_round_to_the_nearest_8_bit_level(tmp_path):
    png = _png(tmp_path / "deep.png", np.array([[25900, 25600], [0, 65535]], np.uint16))  # 100.78 and 99.61 of 255
    assert as_uint8_rgb(png)[..., 0].tolist() == [[101, 100], [0, 255]]
    assert (as_uint8_rgb(png) == as_uint8_rgb(png)[..., :1]).all()  # greyscale: 3 equal channels


@pytest.mark.parametrize("webp", [True, False])
def test_a_16_bit_png_is_packed_as_the_8_bit_pixels_it_reads_as(tmp_path, monkeypatch, webp):
    """A 16-bit PNG's own bytes do not decode to its 8-bit pixels (Pillow clips them): it is re-encoded."""
    if not webp:  # Pillow without WebP: the file's own bytes would be the only candidate
        monkeypatch.setattr(packed.features, "check", lambda name: False)
    rng = np.random.default_rng(6)
    png = _png(tmp_path / "deep.png", rng.integers(0, 65536, (4, 5), dtype=np.uint16))
    expected = torch.from_numpy(as_uint8_rgb(png)).permute(2, 0, 1)
    path = pack_image_files([("deep", png)], [("p", png, png)], tmp_path / "pack.npz")
    loaded = load_packed(path)
    assert torch.equal(loaded.sharp[0][1], expected) and torch.equal(loaded.pairs[0][2], expected)


def test_pack_limits_and_mismatched_pairs(tmp_path):
    small = _png(tmp_path / "s.png", np.zeros((8, 8, 3), np.uint8))
    other = _png(tmp_path / "o.png", np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(GolfdeblurError, match="over the limit"):
        pack_image_files([("s", small)], path=tmp_path / "big.npz", max_bytes=10)
    assert not (tmp_path / "big.npz").exists()
    with pytest.raises(GolfdeblurError, match="pair q"):
        pack_image_files([], [("q", small, other)], tmp_path / "q.npz")
    with pytest.raises(GolfdeblurError, match="nothing to pack"):
        pack_image_files([], [], tmp_path / "e.npz")
    np.savez(tmp_path / "half.npz", **{"pair-blurry:z": np.zeros((2, 2, 3), np.uint8)})
    with pytest.raises(GolfdeblurError, match="no sharp one"):
        load_packed(tmp_path / "half.npz")
    np.savez(
        tmp_path / "sizes.npz",
        **{"pair-blurry:z": np.zeros((2, 2, 3), np.uint8), "pair-sharp:z": np.zeros((3, 3, 3), np.uint8)},
    )
    with pytest.raises(GolfdeblurError, match=r"sizes\.npz: pair z has images of sizes"):
        load_packed(tmp_path / "sizes.npz")
    np.savez(tmp_path / "bytes.npz", **{"sharp:z": np.arange(10, dtype=np.uint8)})
    with pytest.raises(GolfdeblurError, match="not a decodable"):
        load_packed(tmp_path / "bytes.npz")


def test_pack_data_command(tmp_path, capsys):
    rng = np.random.default_rng(2)
    for name in ("a", "b"):
        _png(tmp_path / "sharp" / f"{name}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        _png(tmp_path / "pb" / f"{name}.png", rng.integers(0, 256, (12, 14, 3), dtype=np.uint8))
        _png(tmp_path / "ps" / f"{name}.png", rng.integers(0, 256, (12, 14, 3), dtype=np.uint8))
    out = tmp_path / "pack.npz"
    argv = ["pack-data", str(out), "--sharp", str(tmp_path / "sharp"), "--pairs", str(tmp_path / "pb"),
            str(tmp_path / "ps")]  # fmt: skip
    assert main(argv) == 0
    assert "2 sharp images and 2 real pairs" in capsys.readouterr().out
    packed = load_packed(out)
    assert [n for n, _ in packed.sharp] == ["sharp__a.png", "sharp__b.png"] and len(packed.pairs) == 2
    before = out.read_bytes()
    assert main(argv) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["pack-data", str(tmp_path / "x.npz")]) == 2
    assert main(["pack-data", str(tmp_path / "y.npz"), "--sharp", str(tmp_path / "sharp"), "--max-mib", "0.0001"]) == 2
    assert "over the limit" in capsys.readouterr().err
    # two folders named alike (two sequences of make-pairs numbering frames alike): refused, not half-packed
    _png(tmp_path / "two" / "sharp" / "a.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    twice = ["pack-data", str(tmp_path / "z.npz"), "--sharp", str(tmp_path / "sharp"), "--sharp",
             str(tmp_path / "two" / "sharp")]  # fmt: skip
    assert main(twice) == 2 and not (tmp_path / "z.npz").exists()
    assert "would be packed as 'sharp:sharp__a.png', as" in capsys.readouterr().err
    pairs_twice = ["pack-data", str(tmp_path / "w.npz"), "--pairs", str(tmp_path / "pb"), str(tmp_path / "ps"),
                   "--pairs", str(tmp_path / "pb"), str(tmp_path / "ps")]  # fmt: skip
    assert main(pairs_twice) == 2
    assert f"would be packed as 'pair-blurry:{tmp_path.name}__a.png'" in (err := capsys.readouterr().err)
    assert "it is given twice; give its folder once" in err


def test_load_only_one_part(tmp_path):
    image = _png(tmp_path / "s.png", np.full((6, 6, 3), 9, np.uint8))
    path = pack_image_files([("s", image)], [("p", image, image)], tmp_path / "pack.npz")
    only_pairs, only_sharp = load_packed(path, sharp=False), load_packed(path, pairs=False)
    assert (len(only_pairs.sharp), len(only_pairs.pairs)) == (0, 1)
    assert (len(only_sharp.sharp), len(only_sharp.pairs)) == (1, 0)


def test_an_encoded_entry_has_the_pixel_limit_of_image_files_not_pillows(tmp_path, monkeypatch, recwarn):
    """A 13000x13000 PNG of one colour (164 KB in a pack) decoded to 4.8 GB past the limit image files have, with
    Pillow's two-line DecompressionBombWarning. The limit of image files applies, from the image's header."""
    png = _png(tmp_path / "x.png", np.zeros((9, 11, 3), dtype=np.uint8))
    path = pack_image_files([("x", png)], [], tmp_path / "pack.npz")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 99 pixels > twice the limit: a decompression bomb to Pillow
    assert load_packed(path).sharp[0][1].shape == (3, 9, 11)  # Pillow's limit is not ours
    assert Image.MAX_IMAGE_PIXELS == 10 and not recwarn.list  # turned off meanwhile, silently, and back
    monkeypatch.setattr(packed, "DEFAULT_MAX_PIXELS", 98)
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value) == (
        f"packed image {path}:sharp:x: 11x9 = 99 pixels is over the limit of 98 (as for image files)"
    )


def _pack_of_entries(path, entries, version=None):
    """A .npz holding ``entries`` (name: array) as np.savez writes them, built here as an untrusted pack would be;
    ``version``: the .npy format version of their headers ((1, 0) or (2, 0); None: the oldest that holds them)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in entries.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), version=version, allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


def _encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return np.frombuffer(buffer.getvalue(), np.uint8)


def test_encoded_entries_pack_data_never_writes_are_refused_in_one_line(tmp_path):
    """A GIF or TIFF loaded as any image Pillow reads, an animation or a 50-page TIFF as its first frame, a 16-bit
    greyscale PNG with 99.6 % of its pixels at 255 (read_image: mean 127.5). pack-data writes 8-bit JPEG, PNG and
    WebP of one frame only."""
    frames = [Image.fromarray(np.full((6, 7, 3), level, np.uint8)) for level in (10, 200)]
    grey16 = Image.fromarray(np.full((6, 7), 32768, np.uint16))
    refused = {
        "gif": (_encoded(frames[0], "GIF"), "not a decodable JPEG, PNG or WebP (cannot identify image file"),
        "tiff": (_encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]), "not a decodable JPEG,"),
        "apng": (_encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]), "has 2 frames; a packed"),
        "grey16": (_encoded(grey16, "PNG"), "a 16-bit PNG, which pack-data never packs as it is (8-bit images only)"),
    }
    if features.check("webp"):
        animated = _encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
        refused["webp"] = (animated, "has 2 frames; a packed image has one")
    for kind, (entry, reason) in refused.items():
        path = _pack_of_entries(tmp_path / f"{kind}.npz", {"sharp:a": entry})
        with pytest.raises(GolfdeblurError) as refusal:
            load_packed(path)
        assert str(refusal.value).startswith(f"packed image {path}:sharp:a: {reason}"), kind
        assert "\n" not in str(refusal.value)


def test_a_16_bit_png_that_pillow_reads_exactly_is_still_packed_as_8_bits(tmp_path, monkeypatch):
    """A 16-bit colour PNG of 8-bit levels times 257: Pillow's high bytes are its 8-bit pixels, but loading refuses
    any 16-bit PNG, so pack-data re-encodes it rather than keeping its bytes (the only candidate without WebP)."""
    from golfdeblur.data.image_data import ImageData
    from golfdeblur.data.image_writing import write_image

    monkeypatch.setattr(packed.features, "check", lambda name: False)

    levels = np.random.default_rng(7).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    png = write_image(tmp_path / "deep.png", ImageData(rgb=levels.astype(np.float32) / 255, bit_depth=16))
    assert Image.open(png).mode == "RGB" and png.read_bytes()[24] == 16
    assert encode_image_file(png).tobytes() != png.read_bytes()
    loaded = load_packed(pack_image_files([("deep", png)], [], tmp_path / "pack.npz")).sharp[0][1]
    assert torch.equal(loaded, torch.from_numpy(levels).permute(2, 0, 1))


def _no_large_reads(monkeypatch, most=10**6):
    """Make reading an .npy entry over ``most`` bytes fail the test before anything is allocated: a regression that
    decompresses an entry it should refuse from its header fails fast rather than taking gigabytes."""
    real_read_array = np.lib.format.read_array

    def guarded(stream, *args, **kwargs):
        start = stream.tell()
        version = np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = header(stream)
        if math.prod(shape) * dtype.itemsize > most:
            raise AssertionError(f"decompressed an entry of {shape} {dtype}")
        stream.seek(start)
        return real_read_array(stream, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "read_array", guarded)


def _deflated_npz_of_headers(path, entries):
    """A deflated .npz whose entries hold an .npy header declaring (shape, descr) and no data: a zip bomb of zeros
    up to its headers, which is all loading may read of it before refusing it."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, descr) in entries.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", header.getvalue())
    return path


def test_a_pack_over_the_total_limit_is_refused_from_its_headers(tmp_path, monkeypatch):
    """Four deflated entries of 10000x10000x3 zeros (1.17 MB) each passed the limit of one image and took 2.87 GB to
    load; twenty ran training out of memory. Refused from the headers, before anything is decompressed."""
    _no_large_reads(monkeypatch)
    big = ((10000, 10000, 3), "|u1")
    bomb = _deflated_npz_of_headers(tmp_path / "bomb.npz", {f"sharp:z{i}": big for i in range(4)})
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(bomb)
    assert str(refusal.value) == (
        f"{bomb}: its entries hold 1144.4 MiB (1,200,000,000 bytes), over the limit of 1024 MiB for a pack's images"
    )
    # only the entries asked for are read and counted: training's sharp images are not the pairs'
    pairs = {f"pair-{role}:p{i}": big for i in range(2) for role in ("blurry", "sharp")}
    mixed = _pack_of_entries(tmp_path / "mixed.npz", {"sharp:a": np.full((2, 3, 3), 5, np.uint8)})
    with zipfile.ZipFile(mixed, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, descr) in pairs.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", header.getvalue())
    only_sharp = load_packed(mixed, pairs=False)
    assert [name for name, _ in only_sharp.sharp] == ["a"] and int(only_sharp.sharp[0][1][0, 0, 0]) == 5
    for part in ({}, {"sharp": False}):
        with pytest.raises(GolfdeblurError, match=r"mixed\.npz: its entries hold 1144\.4 MiB"):
            load_packed(mixed, **part)


BLANK = np.zeros((10, 10, 3), np.uint8)  # 300 bytes decoded, far fewer as a PNG: the total-limit tests' image


def test_images_over_the_total_limit_once_decoded_are_refused_before_decoding(tmp_path, monkeypatch):
    """PNGs of one colour are small in a pack and large decoded: their sizes are read from their headers."""
    from PIL import ImageFile

    png = _png(tmp_path / "a.png", BLANK)
    path = pack_image_files([(f"a{i}", png) for i in range(3)], [], tmp_path / "pack.npz")
    monkeypatch.setattr(packed, "MAX_PACK_BYTES", 899)  # 3 images of 300 bytes decoded, far fewer encoded
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value) == (
        f"{path}: its decoded images take 0.0 MiB (900 bytes), over the limit of 0 MiB for a pack's images"
    )


def test_a_pack_that_loading_would_refuse_is_not_written(tmp_path, monkeypatch):
    """pack-data wrote it, then its read-back refused it and the file stayed (say with --max-mib raised)."""
    png = _png(tmp_path / "a.png", BLANK)
    monkeypatch.setattr(packed, "MAX_PACK_BYTES", 899)
    path = tmp_path / "out" / "pack.npz"
    with pytest.raises(GolfdeblurError) as refusal:
        pack_image_files([(f"a{i}", png) for i in range(3)], [], path)
    assert str(refusal.value) == (
        f"{path}: the images would take 0.0 MiB once loaded, over the limit of 0 MiB for a pack's images; pack "
        "fewer, or train on their folder (data.root=FOLDER)"
    )
    assert not (tmp_path / "out").exists()
    assert load_packed(pack_image_files([(f"a{i}", png) for i in range(2)], [], path)).sharp  # 600 bytes: written


def test_an_entry_of_another_dtype_is_refused_from_its_header(tmp_path, monkeypatch):
    """A (10000, 10000, 3) float64 header (2.3 MB pack) was decompressed whole (2.58 GB, 11 s) before 'expected
    uint8'; a '|V100000' one of that shape ended in a MemoryError of 27.3 TiB."""
    _no_large_reads(monkeypatch)
    for descr, said in (("<f8", "float64"), ("|V100000", "|V100000"), ("<u2", "uint16")):
        for shape in ((10000, 10000, 3), (10**8,)):
            path = _deflated_npz_of_headers(tmp_path / "odd.npz", {"sharp:a": (shape, descr)})
            with pytest.raises(GolfdeblurError) as refusal:
                load_packed(path)
            assert str(refusal.value) == f"packed image {path}:sharp:a: expected uint8, got {said}"
    path = _deflated_npz_of_headers(tmp_path / "odd.npz", {"sharp:a": ((10**5, 10**5), "|u1")})
    with pytest.raises(GolfdeblurError, match=r"sharp:a: expected \(H, W, 3\) or encoded bytes, got shape"):
        load_packed(path)


def test_an_encrypted_member_is_one_line(tmp_path):
    path = save_packed_images([("a", np.zeros((2, 2, 3), np.uint8))], tmp_path / "ok.npz")
    data = bytearray(path.read_bytes())
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        data[data.index(signature) + flags] |= 1  # bit 0 of the general-purpose flags: encrypted
    path.write_bytes(bytes(data))
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value).startswith(f"{path}: not a readable .npz of images (RuntimeError: File ")
    assert "encrypted" in str(refusal.value)


def test_an_image_of_no_pixels_is_refused_as_image_files_are(tmp_path):
    """A (0, 8, 3) entry loaded as (3, 0, 8), and training failed some steps later in a ZeroDivisionError."""
    for shape, size in (((0, 8, 3), "8x0"), ((5, 0, 3), "0x5")):
        path = _pack_of_entries(tmp_path / "zero.npz", {"sharp:f": np.zeros(shape, np.uint8)})
        with pytest.raises(GolfdeblurError) as refusal:
            load_packed(path)
        assert str(refusal.value) == f"packed image {path}:sharp:f: image has no pixels ({size})"


def test_two_entries_of_one_name_are_refused(tmp_path):
    """zipfile reads the later of two members of one name: one image would silently replace the other."""
    path = tmp_path / "twice.npz"
    _pack_of_entries(path, {"sharp:a": np.zeros((2, 2, 3), np.uint8)})
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ones((2, 2, 3), np.uint8))
        archive.writestr("sharp:a.npy", buffer.getvalue())
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value) == f"{path}: holds two entries named sharp:a; a pack names each image once"


def _sequence(folder, names, rng):
    """make-pairs' layout: folder/blur_gamma/NAME and folder/sharp/NAME."""
    for name in names:
        for part in ("blur_gamma", "sharp"):
            _png(folder / part / name, rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    return [str(folder / "blur_gamma"), str(folder / "sharp")]


def test_two_make_pairs_sequences_go_in_one_pack(tmp_path, capsys):
    rng = np.random.default_rng(4)
    seq_a = _sequence(tmp_path / "seqA", ["frame4.png", "frame11.png", "frame18.png"], rng)
    seq_b = _sequence(tmp_path / "seqB", ["frame4.png"], rng)
    assert main(["pack-data", str(tmp_path / "pp.npz"), "--pairs", *seq_a, "--pairs", *seq_b]) == 0
    assert "0 sharp images and 4 real pairs" in capsys.readouterr().out
    pairs = load_packed(tmp_path / "pp.npz").pairs
    # named SEQUENCE/NAME as GoPro's pairs are; one sequence's pairs keep the order PairedFolders gives them
    assert [name for name, _, _ in pairs] == ["seqA__frame11.png", "seqA__frame18.png", "seqA__frame4.png",
                                              "seqB__frame4.png"]  # fmt: skip
    blurry = np.array(Image.open(tmp_path / "seqB" / "blur_gamma" / "frame4.png"))
    assert torch.equal(pairs[3][1], torch.from_numpy(blurry).permute(2, 0, 1))
    # two blurry folders in one sequence folder still collide, and the advice given works
    shutil.copytree(tmp_path / "seqA" / "blur_gamma", tmp_path / "seqA" / "blur")
    argv = ["pack-data", str(tmp_path / "q.npz"), "--pairs", *seq_a, "--pairs", str(tmp_path / "seqA" / "blur"),
            seq_a[1]]  # fmt: skip
    assert main(argv) == 2 and "put one blurry folder under a folder of another name" in capsys.readouterr().err
    (tmp_path / "seqA_plain").mkdir()
    (tmp_path / "seqA" / "blur").rename(tmp_path / "seqA_plain" / "blur")
    argv[-2] = str(tmp_path / "seqA_plain" / "blur")
    assert main(argv) == 0 and "6 real pairs" in capsys.readouterr().out


def test_packs_written_before_pair_names_had_a_sequence_still_load(tmp_path):
    image = _png(tmp_path / "a.png", np.full((4, 5, 3), 3, np.uint8))
    entry = encode_image_file(image)
    np.savez(tmp_path / "old.npz", **{"pair-blurry:frame4.png": entry, "pair-sharp:frame4.png": entry,
                                      "pair-blurry:frame11.png": entry, "pair-sharp:frame11.png": entry})  # fmt: skip
    assert [name for name, _, _ in load_packed(tmp_path / "old.npz").pairs] == ["frame4.png", "frame11.png"]


def test_max_mib_bounds_the_file_itself(tmp_path):
    files = [_png(tmp_path / "tiny" / f"{i}.png", np.full((2, 2, 3), i, np.uint8)) for i in range(40)]
    named = [(f"tiny/{f.name}", f) for f in files]
    size = pack_image_files(named, [], tmp_path / "free.npz").stat().st_size
    assert size > sum(len(encode_image_file(f)) for f in files) + 40 * 200  # headers: ~280 bytes an image
    with pytest.raises(
        GolfdeblurError, match=rf"new/sub/p\.npz: the pack would take .* \({size} bytes\), over the limit"
    ):
        pack_image_files(named, [], tmp_path / "new" / "sub" / "p.npz", max_bytes=size - 1)
    assert not (tmp_path / "new").exists()  # nothing written, no folder made for it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.npz", "tiny"]  # no temporary file left
    assert pack_image_files(named, [], tmp_path / "new" / "p.npz", max_bytes=size).stat().st_size == size


def test_pack_data_refuses_an_infinite_limit_and_a_wrong_name_before_making_folders(tmp_path, capsys):
    _png(tmp_path / "sharp" / "a.png", np.zeros((4, 4, 3), np.uint8))
    base = ["--sharp", str(tmp_path / "sharp")]
    assert main(["pack-data", str(tmp_path / "p.npz"), *base, "--max-mib", "inf"]) == 2
    assert capsys.readouterr().err == "golfdeblur: error: --max-mib must be a finite positive number, got inf\n"
    assert main(["pack-data", str(tmp_path / "new" / "p.txt"), *base]) == 2
    assert "p.txt: packed images are a .npz file" in capsys.readouterr().err
    assert main(["pack-data", str(tmp_path / "new" / "p.npz"), *base, "--max-mib", "1e-9"]) == 2
    assert "over the limit" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sharp"]


def test_a_truncated_or_corrupt_pack_fails_in_one_line(tmp_path, damaged_copies_fail_in_one_line):
    image = _png(tmp_path / "s.png", np.random.default_rng(5).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    pack = pack_image_files([("s", image)], [("p", image, image)], tmp_path / "pack.npz")
    damaged_copies_fail_in_one_line(pack, load_packed, "broken.npz: not a readable .npz of images")


def test_exif_turned_jpegs_and_every_jpeg_name_keep_their_bytes_and_load_upright(tmp_path):
    array = _photo_like(48, 80)  # stored 80 wide, 48 high; orientation 6: shown 48 wide, 80 high
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = tmp_path / "portrait.jpg"
    Image.fromarray(array).save(turned, quality=90, exif=exif.tobytes())
    upright = as_uint8_rgb(turned)
    assert upright.shape == (80, 48, 3)
    plain = tmp_path / "plain.jpg"
    Image.fromarray(array).save(plain, quality=90)
    named = [(name, shutil.copy(plain, tmp_path / name)) for name in ("a.jpe", "b.jfif", "c.JPEG")]
    for _, file in [("portrait", turned), *named]:
        assert encode_image_file(file).tobytes() == file.read_bytes()  # not re-encoded losslessly (larger)
    packed = load_packed(pack_image_files([("portrait", turned), *named], [], tmp_path / "pack.npz"))
    assert torch.equal(packed.sharp[0][1], torch.from_numpy(upright).permute(2, 0, 1))
    for _, image in packed.sharp[1:]:
        assert torch.equal(image, torch.from_numpy(as_uint8_rgb(plain)).permute(2, 0, 1))


def test_a_pack_that_is_no_zip_is_said_to_be_none(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros((2, 2, 3), np.uint8))
    shutil.copy(tmp_path / "array.npy", tmp_path / "npy.npz")
    (tmp_path / "pickle.npz").write_bytes(b"\x80\x04K\x01.")  # what np.load would call pickled data
    for name in ("npy.npz", "pickle.npz"):
        with pytest.raises(GolfdeblurError) as refusal:
            load_packed(tmp_path / name)
        reason = "not a readable .npz of images (not a zip file, which a .npz is)"
        assert str(refusal.value) == f"{tmp_path / name}: {reason}"


def test_pack_data_refuses_an_output_folder_that_takes_no_file_before_encoding(tmp_path, capsys, monkeypatch):
    _png(tmp_path / "sharp" / "a.png", np.zeros((4, 4, 3), np.uint8))
    monkeypatch.setattr("golfdeblur.data.packed.encode_image_file", lambda *args: pytest.fail("encoded all the same"))
    blocking = tmp_path / "afile"
    blocking.write_text("a file where the folder would go")
    assert main(["pack-data", str(blocking / "e5.npz"), "--sharp", str(tmp_path / "sharp")]) == 2
    err = capsys.readouterr().err
    assert err == f"golfdeblur: error: {blocking}/e5.npz: cannot make its folder {blocking} ({blocking} is a file)\n"

    def refused(*args, **kwargs):  # as in a read-only or immutable folder, which root cannot write either
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / ".e5.x1y2z3.tmp.npz"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    assert main(["pack-data", str(tmp_path / "ro" / "e5.npz"), "--sharp", str(tmp_path / "sharp")]) == 2
    err = capsys.readouterr().err
    ro = tmp_path / "ro"
    assert err == f"golfdeblur: error: {ro}/e5.npz: cannot write in its folder {ro} (permission denied)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "sharp"]  # the folder it made is removed again


def test_pack_data_names_the_current_folder_by_its_name(tmp_path, monkeypatch):
    _png(tmp_path / "photos" / "a.png", np.zeros((4, 4, 3), np.uint8))
    monkeypatch.chdir(tmp_path / "photos")
    assert main(["pack-data", str(tmp_path / "x.npz"), "--sharp", "."]) == 0
    assert [name for name, _ in load_packed(tmp_path / "x.npz").sharp] == ["photos__a.png"]


def test_a_file_name_that_is_not_utf8_is_refused_in_one_line_before_encoding(tmp_path, capsys, monkeypatch):
    odd = "bad" + os.fsdecode(b"\xff") + ".png"  # the bytes a zip member's name cannot carry
    _png(tmp_path / "pk" / odd, np.zeros((8, 8, 3), np.uint8))
    encoded = []
    monkeypatch.setattr(packed, "encode_image_file", lambda file: encoded.append(file))  # must not be reached
    sys.stderr.reconfigure(errors="backslashreplace")  # as Python's own stderr: the odd byte shows as \udcff
    assert main(["pack-data", str(tmp_path / "out" / "pk.npz"), "--sharp", str(tmp_path / "pk")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"golfdeblur: error: {tmp_path / 'pk'}/bad\\udcff.png: name is not valid UTF-8, which a pack's entry names "
        "must be\n"
    )
    assert not encoded and not (tmp_path / "out").exists()
    with pytest.raises(GolfdeblurError, match="not valid UTF-8"):
        save_packed_images([(odd, np.zeros((2, 2, 3), np.uint8))], tmp_path / "raw.npz")


def test_pack_data_keeps_a_pack_written_while_it_encoded(tmp_path, capsys, monkeypatch):
    """pack-data refuses an existing OUT before the work; one another process wrote during the encoding was
    replaced (the write was an os.replace)."""
    from golfdeblur.data import packed as packed_module

    _png(tmp_path / "sharp" / "a.png", np.zeros((8, 8, 3), np.uint8))
    out = tmp_path / "pack.npz"
    real_encode = packed_module.encode_image_file

    def another_process_writes_the_pack(path):
        out.write_bytes(b"the other process's pack")
        return real_encode(path)

    monkeypatch.setattr(packed_module, "encode_image_file", another_process_writes_the_pack)
    assert main(["pack-data", str(out), "--sharp", str(tmp_path / "sharp")]) == 2  # a refusal
    assert "appeared meanwhile; not replaced" in capsys.readouterr().err
    assert out.read_bytes() == b"the other process's pack" and sorted(p.name for p in tmp_path.iterdir()) == [
        "pack.npz",
        "sharp",
    ]


@pytest.mark.parametrize("kind", ["pipe", "link to a device"])
def test_a_pack_that_is_a_pipe_or_a_device_is_refused_before_any_open(tmp_path, never_opened, kind):
    """A pack linking to /dev/zero was read until memory ran out ('out of memory'); a named pipe hung. open() is
    guarded here (and the device is /dev/null), so that a regression fails rather than hangs or fills the memory."""
    path = tmp_path / "odd.npz"
    if kind == "pipe":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(path)
    else:
        if not os.path.exists("/dev/null"):
            pytest.skip("no /dev/null here")
        path.symlink_to("/dev/null")
    never_opened(path)  # a pipe blocks open(), a device feeds it for ever: a regression fails instead
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    reason = "not a regular file (a pipe, socket or device), not a readable .npz of images"
    assert str(refusal.value) == f"{path}: {reason}"


def _npz_of_headers(path, shapes):
    """A .npz whose entries hold an .npy header declaring ``shapes`` (uint8) and no data: what a pack of zeros
    compressed to a few hundred kilobytes looks like until it is decompressed."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in shapes.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", header.getvalue())
    return path


def test_a_packed_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    """A raw entry of 15000x15000 zeros (656 KB compressed) loaded as 675 MB, 6.3 GB in all: image files have a limit
    of 100 megapixels, packs had none. Refused from the .npy header, before anything is decompressed."""
    bomb = _npz_of_headers(tmp_path / "bomb.npz", {"sharp:a": (15000, 15000, 3)})
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(bomb)
    limit = "is over the limit of 100,000,000 (as for image files)"
    assert str(refusal.value) == f"packed image {bomb}:sharp:a: 15000x15000 = 225,000,000 pixels {limit}"
    encoded = _npz_of_headers(tmp_path / "encoded.npz", {"sharp:b": (300_000_001,)})
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(encoded)
    assert str(refusal.value) == (
        f"packed image {encoded}:sharp:b: 300,000,001 bytes, more than an image of the limit of 100,000,000 pixels "
        "takes uncompressed"
    )
    monkeypatch.setattr(packed, "DEFAULT_MAX_PIXELS", 100)  # with real pixels: the limit itself loads, one more not
    fits = save_packed_images([("fits", np.zeros((10, 10, 3), np.uint8))], tmp_path / "fits.npz")
    assert load_packed(fits).sharp[0][1].shape == (3, 10, 10)
    over = save_packed_images([("over", np.zeros((11, 10, 3), np.uint8))], tmp_path / "over.npz")
    with pytest.raises(GolfdeblurError, match=r"sharp:over: 10x11 = 110 pixels is over the limit of 100 "):
        load_packed(over)


def test_an_entry_that_is_no_array_is_one_line_not_a_traceback(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as archive:
        archive.writestr("sharp:a.txt", b"not an array")
    with pytest.raises(GolfdeblurError, match=r"odd\.npz: not a readable \.npz of images \(ValueError: "):
        load_packed(tmp_path / "odd.npz")


def test_a_raw_entry_of_four_channels_is_refused_from_its_header(tmp_path, monkeypatch):
    """An (H, W, 4) entry within the pixel limit is no image either: refused before its 400 MB are decompressed."""
    _no_large_reads(monkeypatch)
    path = _deflated_npz_of_headers(tmp_path / "four.npz", {"sharp:a": ((10000, 10000, 4), "|u1")})
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value) == (
        f"packed image {path}:sharp:a: expected (H, W, 3) or encoded bytes, got shape (10000, 10000, 4)"
    )


def test_a_pack_of_exactly_the_total_limit_is_written_and_loaded(tmp_path, monkeypatch):
    """The limit is the most a pack's images may take: pack-data writes such a pack and loading takes it."""
    png = _png(tmp_path / "a.png", BLANK)
    monkeypatch.setattr(packed, "MAX_PACK_BYTES", 900)  # 3 images of 300 bytes decoded: exactly the limit
    path = pack_image_files([(f"a{i}", png) for i in range(3)], [], tmp_path / "pack.npz")
    assert len(load_packed(path).sharp) == 3


def test_an_mpo_jpeg_with_a_preview_frame_packs_as_itself_and_loads(tmp_path):
    """A phone's MPO photo has a second frame, a preview: it is one image, read as its primary JPEG."""
    first = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mpo = tmp_path / "camera.jpg"
    Image.fromarray(first).save(mpo, "MPO", save_all=True, append_images=[Image.fromarray(first[::-1].copy())])
    with Image.open(mpo) as image:
        assert image.format == "MPO" and image.n_frames == 2
    assert encode_image_file(mpo).tobytes() == mpo.read_bytes()  # a JPEG's own bytes, as for any JPEG
    loaded = load_packed(pack_image_files([("c", mpo)], [], tmp_path / "pack.npz")).sharp[0][1]
    assert torch.equal(loaded, torch.from_numpy(as_uint8_rgb(mpo)).permute(2, 0, 1))


def test_an_entry_with_a_version_2_npy_header_loads(tmp_path):
    """numpy writes a version 2.0 header where 1.0's cannot hold it: its size is read from that header too."""
    path = _pack_of_entries(tmp_path / "v2.npz", {"sharp:a": np.full((2, 3, 3), 7, np.uint8)}, version=(2, 0))
    ((name, image),) = load_packed(path).sharp
    assert name == "a" and int(image[0, 0, 0]) == 7


def test_a_jpeg_whose_first_quantization_table_is_16_bit_packs_as_itself_and_loads(tmp_path):
    """Byte 24 is a PNG's bit depth only in a PNG: in a JPEG it may be a 16-bit table's precision, no 16-bit image."""
    array = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    jpeg = tmp_path / "coarse.jpg"
    Image.fromarray(array).save(jpeg, "JPEG", qtables=[[300] * 64, [300] * 64])
    assert jpeg.read_bytes()[24] == 16  # the DQT's precision byte: a 16-bit table 0
    assert encode_image_file(jpeg).tobytes() == jpeg.read_bytes()  # kept as it is, not re-encoded
    loaded = load_packed(pack_image_files([("c", jpeg)], [], tmp_path / "pack.npz")).sharp[0][1]
    assert torch.equal(loaded, torch.from_numpy(as_uint8_rgb(jpeg)).permute(2, 0, 1))


def test_a_png_entry_whose_text_chunk_pillow_refuses_is_one_line(tmp_path):
    """Pillow raises ValueError for a text chunk that decompresses past its limit: one line, not a traceback."""
    info = PngImagePlugin.PngInfo()
    info.add_text("k", "x" * (2 * 1024 * 1024), zip=True)
    entry = _encoded(Image.fromarray(np.zeros((4, 4, 3), np.uint8)), "PNG", pnginfo=info)
    path = _pack_of_entries(tmp_path / "text.npz", {"sharp:a": entry})
    with pytest.raises(GolfdeblurError) as refusal:
        load_packed(path)
    assert str(refusal.value).startswith(f"packed image {path}:sharp:a: not a decodable JPEG, PNG or WebP (")
    assert "\n" not in str(refusal.value)


def test_a_pack_may_be_named_in_any_case_of_npz(tmp_path):
    """As training's is_pack reads it: 'data.NPZ' was refused ('packed images are a .npz file')."""
    image = np.zeros((4, 5, 3), np.uint8)
    assert save_packed_images([("a", image)], tmp_path / "raw.NPZ") == tmp_path / "raw.NPZ"
    source = _png(tmp_path / "src" / "b.png", image)
    pack_image_files([("b.png", source)], path=tmp_path / "enc.Npz")
    assert [name for name, _ in load_packed(tmp_path / "raw.NPZ").sharp] == ["a"]
    assert [name for name, _ in load_packed(tmp_path / "enc.Npz").sharp] == ["b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.Npz", "raw.NPZ", "src"]  # no 'raw.NPZ.npz'
