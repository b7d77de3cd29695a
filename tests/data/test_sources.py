"""Sharp-image sources: recursive folders, scikit-image's bundled images, dead leaves, the default sources."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.data.image_formats import HEIF_AVAILABLE
from golfdeblur.data.imageio import read_image
from golfdeblur.data.sources import (
    SKIMAGE_COLOUR,
    SKIMAGE_GREY,
    DeadLeaves,
    ImageFolder,
    ImageList,
    dead_leaves,
    default_data_root,
    default_sources,
    list_images,
    skimage_images,
)
from golfdeblur.errors import GolfdeblurError


def write(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    write(tmp_path / "b.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write(tmp_path / "sub" / "deeper" / "a.JPG", rng.integers(0, 256, (16, 12, 3), dtype=np.uint8))
    write(tmp_path / "sub" / "grey.png", np.full((10, 11), 128, dtype=np.uint8))
    write(tmp_path / "sub" / "deep16.png", np.full((9, 8), 65535, dtype=np.uint16))
    write(tmp_path / ".hidden" / "skip.png", np.zeros((4, 4, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_recursive(folder):
    images = ImageFolder(folder)
    names = [images.name(i) for i in range(len(images))]
    assert names == ["b.png", "sub/deep16.png", "sub/deeper/a.JPG", "sub/grey.png"]
    assert images.sizes == [(20, 30), (9, 8), (16, 12), (10, 11)]
    for i in range(len(images)):
        image = images[i]
        assert image.dtype == torch.float32 and image.shape == (3, *images.sizes[i])
        assert 0 <= image.min() and image.max() <= 1
    assert torch.all(images[1] == 1.0)  # 16-bit white
    torch.testing.assert_close(images[3], torch.full((3, 10, 11), 128 / 255))  # grey -> 3 equal channels


def test_links_are_followed_and_each_folder_is_walked_once(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    write(outside / "linked.png", np.zeros((4, 4, 3), dtype=np.uint8))
    (folder / "sub" / "deeper" / "loop").symlink_to(folder, target_is_directory=True)  # back to the top
    (folder / "link").symlink_to(outside, target_is_directory=True)
    (folder / "sub" / "same").symlink_to(outside, target_is_directory=True)  # a second way to the same folder
    names = [path.relative_to(folder).as_posix() for path in list_images(folder)]
    assert names == ["b.png", "link/linked.png", "sub/deep16.png", "sub/deeper/a.JPG", "sub/grey.png"]


def test_image_folder_bad_input(tmp_path):
    with pytest.raises(GolfdeblurError, match="not found"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GolfdeblurError, match="no images found"):
        ImageFolder(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(GolfdeblurError, match="broken.png"):
        ImageFolder(tmp_path / "bad")
    assert list_images(tmp_path / "empty") == []


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="the photo is made with pillow-heif")
def test_a_heic_without_pillow_heif_is_listed_and_named_never_left_out(tmp_path, hide_pillow_heif):
    """On an install without golfdeblur[heif], a folder's HEIC photos are still listed (a partial list would pass for a
    whole one), and the folder is refused with one line naming what to install."""
    rng = np.random.default_rng(0)
    write(tmp_path / "a.png", rng.integers(0, 256, (8, 9, 3), dtype=np.uint8))
    write(tmp_path / "sub" / "IMG_0001.HEIC", rng.integers(0, 256, (8, 9, 3), dtype=np.uint8), format="HEIF")
    hide_pillow_heif()
    assert list_images(tmp_path) == [tmp_path / "a.png", tmp_path / "sub" / "IMG_0001.HEIC"]
    with pytest.raises(GolfdeblurError) as info:
        ImageFolder(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'sub' / 'IMG_0001.HEIC'}: HEIC/HEIF images need the optional pillow-heif package "
        "(pip install 'golfdeblur[heif]')"
    )


def test_image_folder_takes_the_tiffs_read_image_reads_and_pillow_cannot_open(tmp_path):
    """16-bit grey + alpha, or extra samples: deblur and pack-data read them (tifffile), while training folders and
    show-data said "not an image file" (Pillow cannot open them)."""
    import tifffile

    rng = np.random.default_rng(0)
    grey_alpha = rng.integers(0, 65536, (9, 13, 2), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "ga.tif", grey_alpha, photometric="minisblack", extrasamples=("unassalpha",))
    extra = rng.integers(0, 256, (7, 5, 5), dtype=np.uint8)  # RGB + alpha + a sample of no stated meaning
    tifffile.imwrite(tmp_path / "rgbx.tif", extra, photometric="rgb", extrasamples=("unassalpha", "unspecified"))
    folder = ImageFolder(tmp_path)
    assert folder.sizes == [(9, 13), (7, 5)]
    for index, name in enumerate(("ga.tif", "rgbx.tif")):
        expected = torch.from_numpy(read_image(tmp_path / name).rgb).permute(2, 0, 1)
        assert torch.equal(folder[index], expected), name


def test_image_folder_truncated_file_names_it(tmp_path):
    write(tmp_path / "cut.png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])  # the header survives, the pixels do not
    images = ImageFolder(tmp_path)
    with pytest.raises(GolfdeblurError, match="cut.png"):
        images[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_named_like_an_image_is_refused_before_any_open(tmp_path, monkeypatch):
    """Image.open on a FIFO with no writer blocks for good: a data folder holding one hung train, eval, pack-data,
    show-data and paper forgetting. Image.open is guarded here, so that a regression fails rather than hangs."""
    write(tmp_path / "a.png", np.zeros((4, 4, 3), dtype=np.uint8))
    os.mkfifo(tmp_path / "b.png")
    opened = Image.open

    def never_the_pipe(fp, *args, **kwargs):
        assert str(fp) != str(tmp_path / "b.png"), "Image.open of a named pipe would block for good"
        return opened(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", never_the_pipe)
    with pytest.raises(GolfdeblurError) as info:
        ImageFolder(tmp_path)
    assert str(info.value) == f"{tmp_path / 'b.png'}: not a regular file (a pipe, socket or device), not an image file"


def test_image_list():
    images = ImageList([torch.zeros(3, 4, 5)], ["zero"])
    assert len(images) == 1 and images.name(0) == "zero" and images.sizes == [(4, 5)]
    with pytest.raises(GolfdeblurError):
        ImageList([torch.zeros(3, 4, 5)], [])


def test_skimage_images():
    images = skimage_images()
    assert len(images) == len(SKIMAGE_COLOUR) == 8
    for i in range(len(images)):
        image = images[i]
        assert image.shape[0] == 3 and min(image.shape[1:]) >= 300
        assert 0 <= image.min() and image.max() <= 1
        assert (image[0] - image[1]).abs().mean() > 0.01  # colour, not grey
    assert images.name(0) == "skimage/astronaut"
    assert len(skimage_images(include_grey=True)) == len(SKIMAGE_COLOUR) + len(SKIMAGE_GREY)


def test_dead_leaves_image():
    image = dead_leaves((40, 56), torch.Generator().manual_seed(0))
    assert image.shape == (3, 40, 56) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    assert torch.equal(image, dead_leaves((40, 56), torch.Generator().manual_seed(0)))
    assert not torch.equal(image, dead_leaves((40, 56), torch.Generator().manual_seed(1)))
    # many leaves of many colours, with sharp edges: large neighbour differences exist but most are small
    assert torch.unique((image * 255).round().reshape(3, -1), dim=1).shape[1] > 50
    steps = (image[:, :, 1:] - image[:, :, :-1]).abs().amax(0)
    assert (steps > 0.2).float().mean() > 0.01 and (steps < 0.05).float().mean() > 0.3
    with pytest.raises(GolfdeblurError):
        dead_leaves(16, torch.Generator(), alpha=1.0)


def test_dead_leaves_statistics_are_pinned():
    """Golden values of one 32 px image with the default parameters (alpha 3, shading 0.15, palette): they pin the
    dead-leaves statistics that every training run and the fallback validation set use. Sums of the 8-bit levels,
    with a little room for float rounding on other machines; alpha 2 or no shading move them by thousands."""
    levels = (dead_leaves(32, torch.Generator().manual_seed(0)) * 255).round()
    assert float(levels.sum()) == pytest.approx(290786, abs=30)
    assert float((levels[:, :, 1:] - levels[:, :, :-1]).abs().sum()) == pytest.approx(72901, abs=30)


def _draw_one_at_a_time(image, transmittance, centres, radii, colours, slopes):
    """The plain definition of the dead-leaves drawing: every disk in turn, under the ones before it."""
    height, width = transmittance.shape
    for (cy, cx), r, colour, slope in zip(centres.tolist(), radii.tolist(), colours, slopes.tolist(), strict=True):
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, height)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, width)
        t = transmittance[y0:y1, x0:x1]
        ys = np.arange(y0 + 0.5 - cy, y1 - cy)[:, None]
        xs = np.arange(x0 + 0.5 - cx, x1 - cx)[None, :]
        coverage = np.clip(r + 0.5 - np.hypot(ys, xs), 0.0, 1.0)
        shade = (1 + (slope[0] * ys + slope[1] * xs) / r)[..., None]
        image[y0:y1, x0:x1] += (t * coverage)[..., None] * np.clip(colour * shade, 0.0, 1.0)
        t *= 1 - coverage
        t[t < 1e-3] = 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layered_disk_drawing_equals_drawing_one_disk_at_a_time(seed):
    # Disks of one layer are drawn together; overlapping disks must still composite in their order, to the bit.
    from golfdeblur.data.sources import _draw_disks_in_order, natural_palette

    rng = np.random.default_rng(seed)
    height, width, count = 61, 83, 700
    radii = (1 - rng.random(count) * (1 - 30.0**-2)) ** -0.5  # mostly small, some up to 30 px, as dead leaves
    centres = rng.random((count, 2)) * [height, width]  # inside, as in dead_leaves; boxes may cross the border
    colours = natural_palette()[rng.integers(0, 4096, count)]
    slopes = (rng.random((count, 2)) * 2 - 1) * 0.15
    transmittance = np.where(rng.random((height, width)) < 0.3, 0.0, rng.random((height, width)))  # partly covered
    image = rng.random((height, width, 3)) * (1 - transmittance)[..., None]
    expected_image, expected_t = image.copy(), transmittance.copy()
    covered_before = np.count_nonzero(transmittance == 0)
    _draw_one_at_a_time(expected_image, expected_t, centres, radii, colours, slopes)
    closed = _draw_disks_in_order(image, transmittance, centres, radii, colours, slopes)
    assert np.array_equal(image, expected_image) and np.array_equal(transmittance, expected_t)
    assert closed == np.count_nonzero(expected_t == 0) - covered_before > 0


def test_dead_leaves_source_and_default_sources():
    leaves = DeadLeaves(count=3, size=32, seed=5)
    assert len(leaves) == 3 and leaves.name(2) == "dead_leaves/5-00002"
    first = leaves[0]
    assert first.shape == (3, 32, 32)
    assert torch.equal(first, DeadLeaves(count=3, size=32, seed=5)[0])  # regenerated identically
    assert not torch.equal(first, leaves[1])
    torch.testing.assert_close(first * 255, (first * 255).round())  # kept as 8 bits, as a photograph
    with pytest.raises(IndexError):
        leaves[3]
    sources = default_sources(dead_leaves_count=2, dead_leaves_size=32)
    assert [len(s) for s in sources] == [8, 2]


def test_dead_leaves_source_keeps_each_image_rounded_to_8_bits_and_follows_its_seed():
    from golfdeblur.data.kernels import seeded_generator

    expected = (dead_leaves(32, seeded_generator("dead-leaves", 5, 0)) * 255).round() / 255
    assert torch.equal(DeadLeaves(count=1, size=32, seed=5)[0], expected)
    assert not torch.equal(DeadLeaves(count=2, size=32, seed=0)[0], DeadLeaves(count=2, size=32, seed=1)[0])
    sources = default_sources(dead_leaves_count=2, dead_leaves_size=32, seed=3)
    assert sources[1].name(1) == "dead_leaves/3-00001"
    assert all(torch.equal(sources[1][i], DeadLeaves(count=2, size=32, seed=3)[i]) for i in range(2))


def test_default_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLFDEBLUR_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.setenv("GOLFDEBLUR_DATA", str(tmp_path / "missing"))  # a mistyped path: said, not ignored
    with pytest.raises(GolfdeblurError, match="GOLFDEBLUR_DATA=.*missing: no such folder"):
        default_data_root()


def test_the_data_beside_a_checkout_is_looked_for_only_in_a_checkout(tmp_path, monkeypatch):
    """From an installed package, "../shared/data beside the repository" named a folder inside the environment
    (site-packages' lib/shared/data): only a source checkout has data beside it."""
    from golfdeblur import checkout

    repo = tmp_path / "repo"
    (repo / "src" / "golfdeblur").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "golfdeblur"\n')
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "elsewhere" / "work").mkdir(parents=True)
    monkeypatch.delenv("GOLFDEBLUR_DATA", raising=False)
    monkeypatch.chdir(tmp_path / "elsewhere" / "work")  # no ../shared/data from the working folder
    monkeypatch.setattr(checkout, "PACKAGE_DIR", repo / "src" / "golfdeblur")
    assert default_data_root() == tmp_path / "shared" / "data"
    site = tmp_path / "lib" / "site-packages" / "golfdeblur"
    site.mkdir(parents=True)
    monkeypatch.setattr(checkout, "PACKAGE_DIR", site)
    assert default_data_root() is None


def test_the_data_in_shared_beside_the_working_folder_is_found_first(tmp_path, monkeypatch):
    """../shared/data from the working folder is looked for before the checkout's, and from an installed package too
    (it has no checkout to look beside)."""
    from golfdeblur import checkout

    (tmp_path / "project" / "shared" / "data").mkdir(parents=True)
    (tmp_path / "project" / "work").mkdir()
    monkeypatch.delenv("GOLFDEBLUR_DATA", raising=False)
    monkeypatch.chdir(tmp_path / "project" / "work")
    site = tmp_path / "lib" / "site-packages" / "golfdeblur"
    site.mkdir(parents=True)
    monkeypatch.setattr(checkout, "PACKAGE_DIR", site)  # installed: the checkout lookup finds nothing
    found = default_data_root()
    assert found is not None and found.samefile(tmp_path / "project" / "shared" / "data")
    repo = tmp_path / "repo"
    (repo / "src" / "golfdeblur").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "golfdeblur"\n')
    (tmp_path / "shared" / "data").mkdir(parents=True)  # the checkout's: found only when the working folder has none
    monkeypatch.setattr(checkout, "PACKAGE_DIR", repo / "src" / "golfdeblur")
    found = default_data_root()
    assert found is not None and found.samefile(tmp_path / "project" / "shared" / "data")


def test_an_unreadable_folder_is_an_error_or_reported_never_skipped_silently(folder, monkeypatch):
    """os.walk drops folders it cannot read unless told; a partial list would pass for the whole folder. (Tests run
    as root here, which chmod does not stop, so the refusal is os.scandir's, patched.)"""
    real_scandir = os.scandir
    locked = folder / "sub" / "deeper"

    def scandir(path="."):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(GolfdeblurError) as info:
        list_images(folder)
    assert str(info.value) == f"{locked}: cannot read this folder (permission denied)"
    seen: list[OSError] = []
    names = [path.relative_to(folder).as_posix() for path in list_images(folder, on_error=seen.append)]
    assert names == ["b.png", "sub/deep16.png", "sub/grey.png"] and [e.filename for e in seen] == [str(locked)]
    locked = folder  # the root itself (scandir reads the name when called)
    with pytest.raises(GolfdeblurError, match="cannot read this folder"):
        ImageFolder(folder)  # not "no images found"


def test_a_file_given_as_an_image_folder_is_said_to_be_a_file(tmp_path):
    """`--set data.root=photos/a.png` said "image folder not found" of a file that is there."""
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(GolfdeblurError, match=r"a\.png: is a file, not an image folder$"):
        list_images(tmp_path / "a.png")
    with pytest.raises(GolfdeblurError, match=r"nope: image folder not found$"):
        list_images(tmp_path / "nope")
