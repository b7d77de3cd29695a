"""The demo: blur scikit-image's bundled photos with seeded camera-shake kernels, deblur them, measure, compare.

``run_real`` does the same for a folder of real blurry photos (no ground truth, so no numbers): a before/after grid,
with a small JSON beside it naming the weights that made it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from golfdeblur.atomic import NAME_MAX, atomic_path, atomic_write_text
from golfdeblur.data.degrade import centre_crop, degrade
from golfdeblur.data.kernels import camera_shake_kernel
from golfdeblur.data.sources import skimage_images
from golfdeblur.demo_config import MIN_CROP, DemoConfig
from golfdeblur.errors import GolfdeblurError
from golfdeblur.infer import deblur_tensor
from golfdeblur.json_text import strict_json_text
from golfdeblur.metrics import CONVENTIONS, GOPRO_PSNR, GOPRO_SSIM
from golfdeblur.models.golf import GolfOptimizer, ResidualCNN


@dataclass(frozen=True)
class DemoResult:
    """One photo's numbers: PSNR (dB) and SSIM of the blurry input and of the output against the sharp photo."""

    name: str
    kernel_size: int
    psnr_blurry: float
    psnr_deblurred: float
    ssim_blurry: float
    ssim_deblurred: float


def check_config(config: DemoConfig) -> None:
    """Raise ``GolfdeblurError`` (one line) unless the bundled photos can give ``config.images`` crops of
    ``config.crop`` px: 1 <= images <= 8 and ``MIN_CROP`` <= crop <= the shortest side of the photos used; and
    unless the seed is one torch's generators take (0 to 2**63 - 1)."""
    if not 0 <= config.seed < 2**63:
        raise GolfdeblurError(f"demo --seed {config.seed}: must be 0 to 2**63 - 1")
    photos = skimage_images()
    if not 1 <= config.images <= len(photos):
        raise GolfdeblurError(
            f"demo --images {config.images}: must be 1 to {len(photos)} (scikit-image's bundled colour photos)"
        )
    smallest = min(range(config.images), key=lambda index: min(photos.sizes[index]))
    height, width = photos.sizes[smallest]
    limit = min(height, width)
    if not MIN_CROP <= config.crop <= limit:
        reason = (
            f"{photos.name(smallest)} is {height}x{width}"
            if config.crop > limit
            else f"the {MIN_CROP}x{MIN_CROP} SSIM window must fit"
        )
        raise GolfdeblurError(
            f"demo --crop {config.crop}: must be {MIN_CROP} to {limit} px for {config.images} photo(s) ({reason})"
        )


def make_demo_pairs(config: DemoConfig) -> tuple[list[str], list[int], torch.Tensor, torch.Tensor]:
    """Names, kernel sizes, blurry batch and sharp batch; the same seed gives the same pairs.

    Raises ``GolfdeblurError`` for settings the photos cannot satisfy (see ``check_config``).

    Shape:
        -> blurry and sharp (N, 3, crop, crop) with N = ``config.images``, RGB in [0, 1] (blurry rounded to 8 bits).
    """
    check_config(config)
    photos = skimage_images()
    generator = torch.Generator().manual_seed(config.seed)
    names, sizes, blurry, sharp = [], [], [], []
    for index in range(config.images):
        image = centre_crop(photos[index], config.crop)
        size = config.kernel_sizes[index % len(config.kernel_sizes)]
        kernel = camera_shake_kernel(size, generator)[None]
        blurry.append(degrade(image[None], kernel, generator, noise_sigma_max=config.noise_sigma_max)[0])
        sharp.append(image)
        names.append(photos.name(index))
        sizes.append(size)
    return names, sizes, torch.stack(blurry), torch.stack(sharp)


def _to_uint8_picture(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def side_by_side(blurry: torch.Tensor, deblurred: torch.Tensor, sharp: torch.Tensor, gap: int = 6) -> np.ndarray:
    """One row per photo: blurry | deblurred | sharp, on white. (N, 3, H, W) x 3 -> (rows, cols, 3) uint8."""
    n, _, height, width = sharp.shape
    canvas = np.full((n * height + (n - 1) * gap, 3 * width + 2 * gap, 3), 255, np.uint8)
    for row in range(n):
        for col, batch in enumerate((blurry, deblurred, sharp)):
            tile = _to_uint8_picture(batch[row])
            top, left = row * (height + gap), col * (width + gap)
            canvas[top : top + height, left : left + width] = tile
    return canvas


def run_demo(
    model: GolfOptimizer | ResidualCNN,
    out_dir: str | Path,
    config: DemoConfig = DemoConfig(),
    weights: dict[str, object] | None = None,
) -> list[DemoResult]:
    """Blur, deblur and measure the bundled photos; write comparison.png and metrics.json into ``out_dir``.

    ``model`` must be ready for inference (see ``golfdeblur.infer.prepare_model``). ``weights`` (e.g. the name,
    sha256 and T of the file ``model`` came from) is recorded in metrics.json, so a report says what it measured.
    """
    names, sizes, blurry, sharp = make_demo_pairs(config)
    deblurred = torch.cat([deblur_tensor(blurry[i : i + 1], model) for i in range(len(names))])
    psnr_b, psnr_d = GOPRO_PSNR(blurry, sharp), GOPRO_PSNR(deblurred, sharp)
    ssim_b, ssim_d = GOPRO_SSIM(blurry, sharp), GOPRO_SSIM(deblurred, sharp)
    results = [
        DemoResult(names[i], sizes[i], float(psnr_b[i]), float(psnr_d[i]), float(ssim_b[i]), float(ssim_d[i]))
        for i in range(len(names))
    ]
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "comparison.png") as tmp:
        Image.fromarray(side_by_side(blurry, deblurred, sharp)).save(tmp, format="PNG")
    report = {
        "conventions": {"psnr": GOPRO_PSNR.describe(), "ssim": GOPRO_SSIM.describe()},
        "config": {**config.__dict__, "kernel_sizes": list(config.kernel_sizes)},
        "weights": weights,
        "images": [r.__dict__ for r in results],
    }
    atomic_write_text(out_dir / "metrics.json", strict_json_text(report))
    return results


def _thumbnail(image: torch.Tensor, height: int) -> Image.Image:
    """(3, H, W) in [0, 1] -> a PIL image scaled to ``height`` rows (aspect kept)."""
    picture = Image.fromarray(_to_uint8_picture(image))
    width = max(1, round(picture.width * height / picture.height))
    return picture.resize((width, height), Image.Resampling.LANCZOS)


def real_output_path(out_dir: str | Path, name: str) -> Path:
    """Where ``run_real`` writes the result for the photo ``name`` (its path relative to the input folder, extension
    kept, so ``a.jpg`` and ``a.png`` never collide): ``out_dir/deblurred/NAME.png``.

    Example:
        >>> real_output_path("out", "trip/a.jpg").as_posix()
        'out/deblurred/trip/a.jpg.png'
    """
    return Path(out_dir) / "deblurred" / f"{name}.png"


#: What ``run_real`` writes beside the photos' results: the before/after grid, and what made it (JSON).
REAL_PICTURE, REAL_RECORD = "real_comparison.png", "real_comparison.json"


def _check_real_outputs(folder: Path, out_dir: Path, files: list[Path], overwrite: bool) -> list[Path]:
    """The output path of each file, after refusing (``GolfdeblurError``, before anything is written) an output
    folder that overlaps the input folder, an output whose name is longer than a file name may be (``NAME_MAX``
    bytes: the photo's name and ``.png``), an output that is an input, two inputs with one output, and an existing
    output (the grid's JSON record included) unless ``overwrite`` (the rules of ``golfdeblur deblur``)."""
    from golfdeblur.output_guard import OutputGuard, existing_output

    source, results = folder.resolve(), (out_dir / "deblurred").resolve()
    if results.is_relative_to(source) or source.is_relative_to(results):
        raise GolfdeblurError(
            f"demo --out {out_dir}: its deblurred/ folder overlaps --real {folder}, so outputs would overwrite inputs "
            f"or be read as inputs next time; choose an --out that neither lies in {folder} nor holds it in deblurred/"
        )
    guard = OutputGuard(files, overwrite)
    outputs = [real_output_path(out_dir, file.relative_to(folder).as_posix()) for file in files]
    for file, output in zip(files, outputs, strict=True):  # else written after the earlier photos, not at all
        size = len(os.fsencode(output.name))
        if size > NAME_MAX:
            raise GolfdeblurError(
                f"{file}: its result's name, {output.name}, would be {size} bytes, over the {NAME_MAX} a file name may "
                "have; shorten the photo's name"
            )
    for file, output in [*zip(files, outputs, strict=True), (folder, out_dir / REAL_PICTURE)]:
        guard.check(output, file)
        guard.record(output, file)  # planned: a later input may not take it
    record = out_dir / REAL_RECORD  # no picture, so not the guard's (which names image formats), but the same rules
    if record.is_dir():
        raise GolfdeblurError(f"{folder}: output {record} is a folder; cannot write the result there")
    existing = existing_output(record)
    if existing is not None and not overwrite:
        raise GolfdeblurError(f"{folder}: output {record} exists{existing}; pass --overwrite to replace it")
    return outputs


def run_real(
    model: GolfOptimizer | ResidualCNN,
    folder: str | Path,
    out_dir: str | Path,
    row_height: int = 320,
    gap: int = 6,
    overwrite: bool = False,
    weights: dict[str, object] | None = None,
) -> tuple[list[str], list[str]]:
    """Deblur every image in ``folder`` (recursively) at full size; write ``out_dir/deblurred/NAME.png`` (NAME: the
    photo's path relative to ``folder`` with its extension, e.g. ``a.jpg`` -> ``deblurred/a.jpg.png``),
    ``out_dir/real_comparison.png`` (one row per photo: blurry | deblurred, scaled to ``row_height``) and, after it,
    ``out_dir/real_comparison.json``: ``weights`` (e.g. the name, sha256 and T of the file ``model`` came from), the
    photos of the grid's rows and the grid's sha256, so that two grids can be told apart by what made them.

    Nothing is written, and ``GolfdeblurError`` is raised, when ``out_dir`` is ``folder``, lies inside it, or its
    ``deblurred/`` folder holds ``folder``; when an output's name would be too long for a file name; when an output
    would replace an input; or when an output file already exists and ``overwrite`` is False. Without ``overwrite``
    an output that another run wrote after that check is not replaced either: this run stops there, with an
    ``ImageWriteError`` (a photo's result) or ``FileExistsError`` (the comparison). A file that cannot be read is
    left out and the others go on, as in ``golfdeblur deblur``.

    Returns (the names of the photos deblurred, paths relative to ``folder``, in order; one line per file left out,
    naming it and why). ``model`` must be ready for inference (``infer.prepare_model``).
    """
    from golfdeblur.data.image_data import ImageData, ImageReadError
    from golfdeblur.data.image_writing import write_image
    from golfdeblur.data.imageio import read_image
    from golfdeblur.data.sources import list_images, to_tensor

    folder, out_dir = Path(folder), Path(out_dir)
    files = list_images(folder)
    if not files:
        raise GolfdeblurError(f"{folder}: no images found")
    outputs = _check_real_outputs(folder, out_dir, files, overwrite)
    rows, names, failures = [], [], []
    for path, output in zip(files, outputs, strict=True):
        try:
            blurry = to_tensor(read_image(path).rgb)[None]
        except ImageReadError as exc:  # one unreadable photo must not cost the others their results
            failures.append(str(exc))
            continue
        deblurred = deblur_tensor(blurry, model)[0]
        name = path.relative_to(folder).as_posix()
        array = deblurred.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
        write_image(output, ImageData(rgb=array), replace_existing=overwrite)  # one written meanwhile: kept
        rows.append((_thumbnail(blurry[0], row_height), _thumbnail(deblurred, row_height)))
        names.append(name)
    if not rows:
        raise GolfdeblurError(f"{folder}: none of its {len(files)} images could be read ({failures[0]})")
    width = max(a.width + b.width + gap for a, b in rows)
    canvas = Image.new("RGB", (width, len(rows) * (row_height + gap) - gap), "white")
    for index, (before, after) in enumerate(rows):
        top = index * (row_height + gap)
        canvas.paste(before, (0, top))
        canvas.paste(after, (before.width + gap, top))
    with atomic_path(out_dir / REAL_PICTURE, replace=overwrite) as tmp:
        canvas.save(tmp, format="PNG")
        picture_sha256 = hashlib.sha256(tmp.read_bytes()).hexdigest()
    record = {"weights": weights, "picture": REAL_PICTURE, "picture_sha256": picture_sha256, "photos": names}
    atomic_write_text(out_dir / REAL_RECORD, strict_json_text(record), replace=overwrite)
    return names, failures


def format_results(results: list[DemoResult]) -> str:
    """A plain-text table of the demo's numbers, headed by the metric conventions."""
    lines = [
        CONVENTIONS.splitlines()[0],
        f"  PSNR = {GOPRO_PSNR.describe()}",
        f"  SSIM = {GOPRO_SSIM.describe()}",
        "",
        f"{'image':28s} {'kernel':>6s} {'PSNR blurry':>11s} {'PSNR out':>9s} {'SSIM blurry':>11s} {'SSIM out':>9s}",
    ]
    for r in results:
        lines.append(
            f"{r.name:28s} {r.kernel_size:>4d}px {r.psnr_blurry:11.2f} {r.psnr_deblurred:9.2f} "
            f"{r.ssim_blurry:11.4f} {r.ssim_deblurred:9.4f}"
        )
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    lines.append(
        f"{'mean':28s} {'':>6s} {mean([r.psnr_blurry for r in results]):11.2f} "
        f"{mean([r.psnr_deblurred for r in results]):9.2f} {mean([r.ssim_blurry for r in results]):11.4f} "
        f"{mean([r.ssim_deblurred for r in results]):9.4f}"
    )
    return "\n".join(lines)
