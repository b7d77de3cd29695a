"""Evaluation: PSNR and SSIM of the blurry input, of G(y) and of every D iterate, plus the paper's Tables 3 and 4.

``evaluate_pairs`` scores a model on (blurry, sharp, name) pairs; ``write_report`` writes per-image CSV, a JSON
summary, a Markdown table, a plot of PSNR against the iteration t and a grid of blurry / output / sharp crops.
Tables 3 (size per part) and 4 (ms per image: max, min, mean, synchronised, after warm-up) come from
golfdeblur.paper.tables. Metric conventions are named in every output (see golfdeblur.metrics).

Example:
    >>> from golfdeblur.models import GolfConfig, GolfOptimizer
    >>> model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    >>> pairs = [(torch.rand(3, 16, 16), torch.rand(3, 16, 16), "a")]
    >>> result = evaluate_pairs(model, pairs, iterations=2)
    >>> [row["iterate"] for row in summarise(result.rows)]
    ['blurry', 'G', 'D1', 'D2']
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterable, Sized
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from golfdeblur.atomic import atomic_path, atomic_write_text
from golfdeblur.data.degrade import centre_crop
from golfdeblur.device import full_fp32
from golfdeblur.errors import DeblurSettingsError
from golfdeblur.infer import check_input_values, model_iterations, prepare_model
from golfdeblur.input_values import unit_float, whole_number
from golfdeblur.json_text import strict_json_text
from golfdeblur.metrics import (
    GOPRO_PSNR,
    GOPRO_SSIM,
    LEVIN_PSNR,
    SKIMAGE_SSIM,
    SSIM_RADIUS,
    MetricConvention,
    MetricInputError,
)
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.paper.tables import RuntimeRow, SizeRow, runtime_markdown
from golfdeblur.report_folder import building_report

PSNR_CONVENTION = GOPRO_PSNR  # RGB, both images rounded to 8 bits (the GoPro papers' convention)
SSIM_CONVENTION = SKIMAGE_SSIM  # per-channel 2-D Gaussian SSIM (scikit-image), 8-bit rounded
EVAL_CONVENTIONS: tuple[MetricConvention, ...] = (GOPRO_PSNR, SKIMAGE_SSIM, GOPRO_SSIM)
#: Conventions beyond EVAL_CONVENTIONS, per dataset. Levin09's measured kernels sit off their centre and so shift the
#: image as well as blurring it; its authors score results up to a shift, which the papers on their set copy. That
#: column is for comparison with those papers only: the release gate and the campaign's goal read the whole-image
#: PSNR, as elsewhere.
EXTRA_CONVENTIONS: dict[str, tuple[MetricConvention, ...]] = {"levin09": (LEVIN_PSNR,)}
#: The smallest side, in pixels, of an image the SSIM columns score: their 11x11 window (docs/METRICS.md).
SSIM_MIN_SIDE = 2 * SSIM_RADIUS + 1


def iterate_labels(iterations: int) -> list[str]:
    """["blurry", "G", "D1", ..., "DT"]: the input, G(y), and D^t(G(y)) for t = 1..T."""
    return ["blurry", "G"] + [f"D{t}" for t in range(1, iterations + 1)]


@dataclass
class EvalResult:
    """Per-image rows (one per image and iterate) and the crops kept for the picture grid."""

    rows: list[dict] = field(default_factory=list)
    crops: list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS
    iterations: int = 0


@torch.no_grad()
def restore_iterates(model: GolfOptimizer, blurry: torch.Tensor, iterations: int) -> list[torch.Tensor]:
    """[G(y), D(G(y)), ..., D^T(G(y))], each clamped to [0, 1]; the model runs in eval mode.

    Shape:
        blurry (B, 3, H, W) in [0, 1] -> list of T + 1 tensors (B, 3, H, W).
    """
    model.eval()
    with full_fp32(blurry.device):  # scores must not depend on a GPU's TF32 default
        return [x.clamp(0, 1) for x in model(blurry, iterations=iterations, return_all=True)]


def _as_pair(pairs: object, item: tuple, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(blurry, sharp, name) from an item (blurry, sharp[, ...][, name]); a dataset's ``name(i)`` names it else.
    Both images come back (3, H, W) float32 (:func:`pair_image`); an image that is not one, or two of different
    sizes, is a DeblurSettingsError naming the pair (its index and name) and the image."""
    if isinstance(item[-1], str):
        name = item[-1]
    elif hasattr(pairs, "name"):
        name = str(pairs.name(index))
    else:
        name = f"{index:05d}"
    images = []
    for role, value in (("blurry", item[0]), ("sharp", item[1])):
        try:
            images.append(pair_image(value))
        except DeblurSettingsError as exc:
            raise DeblurSettingsError(f"pair {index} ({name}), {role} image: {exc}") from exc
    blurry, sharp = images
    if blurry.shape != sharp.shape:
        raise DeblurSettingsError(
            f"pair {index} ({name}): blurry image {tuple(blurry.shape)} and sharp image {tuple(sharp.shape)} differ "
            "in size"
        )
    return blurry, sharp, name


def pair_image(value: object) -> torch.Tensor:
    """One image of a pair as (3, H, W) float32, taken as :func:`golfdeblur.deblur` takes images: a float torch
    tensor (3, H, W) or (1, 3, H, W) in [0, 1]; or a numpy array (H, W, 3), uint8 or uint16 (scaled by its range,
    as deblur scales them) or float in [0, 1]. Anything else is a one-line DeblurSettingsError naming the shape,
    dtype or values: an integer tensor, float values beyond ``input_values.INPUT_VALUE_RANGE`` (a 0-255 or [-1, 1] float
    image), NaN or infinity would otherwise be scored as plausible but wrong numbers (the metrics clamp).

    Example:
        >>> image = pair_image(np.full((2, 4, 3), 255, np.uint8))  # numpy (H, W, 3), scaled by its range
        >>> image.shape, image.dtype, float(image.max())
        (torch.Size([3, 2, 4]), torch.float32, 1.0)
    """
    if isinstance(value, torch.Tensor):
        if value.ndim == 4 and value.shape[0] == 1:  # a batch of one image, as a DataLoader of batch size 1 gives
            value = value[0]
        if value.ndim != 3 or value.shape[0] != 3 or value.shape[1] < 1 or value.shape[2] < 1:
            raise DeblurSettingsError(
                f"tensor shape {tuple(value.shape)}: expected (3, H, W) or (1, 3, H, W) with H, W >= 1"
            )
        check_input_values(value)  # float, dense, on cpu / cuda / mps, finite and within [-0.5, 1.5]
        return value.detach().float()
    array = np.asarray(value)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        chw = " (a (3, H, W) array? pass torch.from_numpy(array))" if array.ndim == 3 and array.shape[0] == 3 else ""
        raise DeblurSettingsError(f"array shape {array.shape}: expected an (H, W, 3) image with H, W >= 1{chw}")
    colour = unit_float(array, "array")  # as deblur reads it: uint8 / uint16 (a big-endian >u2 too) by its range
    return torch.from_numpy(np.ascontiguousarray(colour)).permute(2, 0, 1).contiguous()


def evaluate_pairs(
    model: GolfOptimizer,
    pairs: Iterable[tuple] | Dataset,
    iterations: int | None,
    device: torch.device | str = "cpu",
    conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS,
    limit: int = 0,
    keep_crops: int = 4,
    crop_size: int = 128,
    progress: str | None = None,
) -> EvalResult:
    """Score the blurry input, G(y) and D^1..D^T on every (blurry, sharp[, name]) pair.

    Args:
        model: the GolfOptimizer (any widths); run as :func:`golfdeblur.infer.prepare_model` makes it (BatchNorm
            folded, eval mode, channels_last, on ``device``; an unfolded model is copied, not changed). A single
            network (ResidualCNN) has no iterates to score: refused.
        pairs: a Dataset or iterable of (blurry, sharp[, ...][, name]); without a name in the item,
            ``pairs.name(index)`` or the index names it. Each image is taken as ``deblur`` takes one (see
            :func:`pair_image`): a float torch tensor (3, H, W) or (1, 3, H, W) in [0, 1], or a numpy (H, W, 3)
            array, uint8 or uint16 (scaled by its range) or float in [0, 1]; blurry and sharp of one size.
        iterations: T, the number of D iterates to score, a whole number from 0 (G alone) to ``MAX_ITERATIONS``
            (64); None = the model's T (``model.config.iterations``), held to the same bound.
        device: "auto" (CUDA, else Apple MPS, else the CPU), "cpu", "cuda", "cuda:N" or "mps".
        limit: score only the first ``limit`` pairs, a whole number >= 0 (0 = all).
        keep_crops: keep centred crops of this many images for the picture grid.
        progress: the description of a progress bar on stderr (``progress_bar``: silent when stderr is not a
            terminal); None, no bar.

    Returns:
        EvalResult whose rows are {"image", "iterate", "t", <convention label>: value, ...}; t = -1 for the input.

    Raises:
        DeblurSettingsError (a GolfdeblurError and ValueError; one line): a model that is not a GolfOptimizer, bad
        ``iterations``, ``device`` or ``limit``, or a pair whose image has another type, shape or dtype, values
        that are not finite or lie outside [0, 1] by more than a resize's overshoot (a 0-255 or [-1, 1] float
        image), whose two images differ in size, or that a metric cannot score (smaller than SSIM's 11x11 window,
        ``SSIM_MIN_SIDE``); it names the pair (index and name) and the image. The pairs before it are scored, and
        lost: check a doubtful set with :func:`pair_image` and ``SSIM_MIN_SIDE`` first.

    Example:
        >>> from golfdeblur.models import GolfConfig
        >>> sharp = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0))
        >>> untrained = GolfOptimizer(GolfConfig(g_width=4, d_width=2))  # zero-initialised: returns its input
        >>> result = evaluate_pairs(untrained, [(0.9 * sharp, sharp, "darker")], iterations=2)
        >>> [(row["iterate"], row["t"], round(row["PSNR-RGB-8bit"], 2)) for row in summarise(result.rows)]
        [('blurry', -1, 24.76), ('G', 0, 24.76), ('D1', 1, 24.76), ('D2', 2, 24.76)]
    """
    whole_number(limit, 0, "limit", note="(0: all pairs)")  # islice's own error would name none of this
    if not isinstance(model, GolfOptimizer):  # a ResidualCNN runs, then fails on the iterations keyword
        raise DeblurSettingsError(
            f"model {type(model).__name__}: evaluate_pairs scores G and each D iterate, so it needs a GolfOptimizer"
        )
    iterations = model_iterations(model, iterations)  # a whole number 0..64, as deblur takes it
    # BatchNorm folded and channels_last, as deblur runs: the same outputs within 3e-7, about 20% faster on a CPU.
    # prepare_model resolves "auto" and refuses an unknown or missing device (DeblurSettingsError).
    model = prepare_model(model, device=device)
    device = next(model.parameters()).device
    result = EvalResult(conventions=conventions, iterations=iterations)
    total = len(pairs) if isinstance(pairs, Sized) else None
    if limit and total is not None:
        total = min(total, limit)
    items = islice(iter(pairs), limit or None)  # a Dataset iterates through __getitem__
    for index, item in enumerate(items if progress is None else progress_bar(items, progress, total)):
        blurry, sharp, name = _as_pair(pairs, item, index)
        blurry, sharp = blurry.unsqueeze(0).to(device), sharp.unsqueeze(0).to(device)
        outputs = [blurry] + restore_iterates(model, blurry.contiguous(memory_format=torch.channels_last), iterations)
        for t, (label, output) in enumerate(zip(iterate_labels(iterations), outputs, strict=True)):
            row = {"image": name, "iterate": label, "t": t - 1}
            for convention in conventions:
                try:
                    row[convention.label] = float(convention(output, sharp)[0])
                except MetricInputError as exc:  # e.g. smaller than SSIM's window: which pair, not only why
                    raise DeblurSettingsError(f"pair {index} ({name}): {exc}") from exc
            result.rows.append(row)
        if len(result.crops) < keep_crops:
            crop = [centre_crop(x[0].cpu(), crop_size) for x in (blurry, outputs[-1], sharp)]
            result.crops.append((name, crop[0], crop[1], crop[2]))
    return result


def progress_bar(items: Iterable, description: str, total: int | None = None) -> Iterable:
    """``items`` with a progress bar on stderr (scoring a whole set takes minutes on a CPU); silent when stderr is
    not a terminal (a log file, a pipe). ``total``: the number of items, where ``items`` has no len."""
    from tqdm import tqdm

    return tqdm(items, desc=description, total=total, unit="image", file=sys.stderr, dynamic_ncols=True, disable=None)


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """Per-image rows as CSV text (floats to six decimals); columns default to the first row's keys."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns or list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
    return text.getvalue()


def summarise(rows: list[dict]) -> list[dict]:
    """Mean of every metric per iterate, in iterate order:
    [{"iterate", "t", "images", <label>: mean, ..., "exact_matches": {<label>: count}}, ...].

    An infinite PSNR (identical images) is left out of its mean, and counted in ``exact_matches`` (labels with none
    are not named), which the tables print beside the mean (:func:`mean_cell`): a mean that left out perfect images
    would otherwise read lower than it is, unannounced. Where every image is an exact match there is nothing else to
    average and the mean is +inf (what each of them scores), not NaN. ``images`` counts the images per iterate. A NaN
    (a model that diverged on an image) is not left out: it makes the mean NaN, which no comparison passes.

    Example:
        >>> rows = [{"image": n, "iterate": "blurry", "t": -1, "PSNR": math.inf} for n in ("a", "b")]
        >>> summarise(rows)
        [{'iterate': 'blurry', 't': -1, 'images': 2, 'PSNR': inf, 'exact_matches': {'PSNR': 2}}]
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["iterate"], []).append(row)
    summary = []
    for label, members in sorted(groups.items(), key=lambda kv: kv[1][0]["t"]):
        entry: dict = {"iterate": label, "t": members[0]["t"], "images": len(members)}
        exact = {}
        for key in members[0]:
            if key in ("image", "iterate", "t"):
                continue
            kept = [r[key] for r in members if r[key] != math.inf]
            entry[key] = sum(kept) / len(kept) if kept else math.inf  # members is never empty: all exact
            if len(kept) < len(members):
                exact[key] = len(members) - len(kept)
        entry["exact_matches"] = exact
        summary.append(entry)
    return summary


def mean_cell(entry: dict, label: str) -> str:
    """A table cell for ``entry[label]`` (an entry of :func:`summarise`), naming the exact matches left out, or, where
    every image is one (the mean is +inf), saying so.

    Example:
        >>> mean_cell({"PSNR": 30.0, "exact_matches": {"PSNR": 2}}, "PSNR")
        '30.0000 (2 exact matches left out)'
        >>> mean_cell({"PSNR": math.inf, "exact_matches": {"PSNR": 2}}, "PSNR")
        'inf (all 2 images exact matches)'
    """
    exact = entry.get("exact_matches", {}).get(label, 0)
    if not exact:
        return f"{entry[label]:.4f}"
    if entry[label] == math.inf:
        return f"inf ({'the image an exact match' if exact == 1 else f'all {exact} images exact matches'})"
    return f"{entry[label]:.4f} ({exact} exact match{'es' if exact > 1 else ''} left out)"


# ----------------------------------------------------------------------------------------------------------------------
# Writing the report


#: What ``write_report`` writes, report.md last: it is there only when the report is whole.
REPORT_FILES = ("per_image.csv", "summary.json", "psnr_vs_iteration.png", "crops.png", "report.md")


def write_report(
    out_dir: str | Path,
    result: EvalResult,
    info: dict,
    table3: list[SizeRow],
    table4: RuntimeRow | None,
    *,
    overwrite: bool = True,
) -> dict:
    """Write per_image.csv, summary.json, psnr_vs_iteration.png, crops.png and report.md (``REPORT_FILES``) into
    ``out_dir``, replacing an earlier report whole: they are written into a hidden folder there and moved in once
    all are written (``report_folder.building_report``), so a write that fails part-way (a full disk) leaves the
    earlier report as it was, never some of its files beside new ones.

    ``info`` names what was evaluated (data, weights, device). Without ``overwrite`` a report that appeared in
    ``out_dir`` meanwhile (another run's) is not replaced: FileExistsError. Returns the JSON summary written.
    """
    labels = [c.label for c in result.conventions]
    summary = summarise(result.rows)
    conventions = {c.label: c.describe() for c in result.conventions}
    report = {
        "info": info,
        "conventions": conventions,
        "mean": summary,
        "table3": [asdict(row) for row in table3],
        "table4": asdict(table4) if table4 else None,
    }
    with building_report(out_dir, REPORT_FILES, overwrite=overwrite) as building:
        atomic_write_text(building / "per_image.csv", rows_to_csv(result.rows, ["image", "iterate", "t", *labels]))
        atomic_write_text(building / "summary.json", strict_json_text(report))
        if summary:
            title = str(info.get("data", ""))
            plot_psnr_vs_iteration(summary, labels[0], building / "psnr_vs_iteration.png", title)
        if result.crops:
            save_crop_grid(result.crops, building / "crops.png")
        text = markdown_report(info, conventions, summary, labels, table3, table4)
        atomic_write_text(building / "report.md", text)
    return report


def markdown_report(
    info: dict,
    conventions: dict,
    summary: list[dict],
    labels: list[str],
    table3: list[SizeRow],
    table4: RuntimeRow | None,
) -> str:
    """The Markdown report: what was evaluated, the conventions, mean metrics per iterate, Tables 3 and 4.

    An ``info`` with ``limit`` (and ``images_in_set``) that left images out gets a line saying the report is partial.
    """
    lines = ["# Evaluation", ""]
    limit, images, in_set = info.get("limit", 0), info.get("images", 0), info.get("images_in_set")
    if limit and images == limit and (in_set is None or in_set > images):
        of = f" of {in_set}" if in_set is not None else ""
        lines += [f"**Partial (--limit {limit})**: the first {images}{of} images; these means are not the set's.", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += ["", "Metric conventions:", ""]
    lines += [f"- {label}: {text}" for label, text in conventions.items()]
    lines += ["", "| iterate | t | images | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
    for entry in summary:
        values = " | ".join(mean_cell(entry, label) for label in labels)
        lines.append(f"| {entry['iterate']} | {entry['t']} | {entry['images']} | {values} |")
    lines += ["", "Table 3 (model size, fp32):", "", "| part | parameters | MiB |", "|---|---|---|"]
    lines += [f"| {row.part} | {row.parameters:,} | {row.size_mb:.2f} |" for row in table3]
    if table4:
        lines += ["", "Table 4 (runtime per image, fp32, batch 1, BatchNorm folded, synchronised, after warm-up):", ""]
        lines.append(runtime_markdown([table4]).rstrip("\n"))
    return "\n".join(lines) + "\n"


def plot_psnr_vs_iteration(summary: list[dict], label: str, path: Path, title: str = "") -> None:
    """Mean PSNR of G(y) (t = 0) and D^t (t >= 1) against t, with the blurry input as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(e["t"], e[label]) for e in summary if e["t"] >= 0]
    blurry = [e[label] for e in summary if e["t"] < 0]
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot([t for t, _ in points], [v for _, v in points], marker="o", label="Golf: G (t = 0), then D^t")
    if blurry:
        axes.axhline(blurry[0], linestyle="--", color="grey", label="blurry input")
    axes.set_xlabel("iteration t")
    axes.set_ylabel(f"mean {label} (dB)")
    axes.set_xticks([t for t, _ in points])
    axes.set_title(title or "PSNR against iteration")
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)


def save_crop_grid(crops: list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]], path: Path) -> None:
    """One row per image: blurry | output (last iterate) | sharp, centred crops, as an 8-bit PNG."""
    from PIL import Image

    size = (
        max(max(c.shape[-2] for c in row[1:]) for row in crops),
        max(max(c.shape[-1] for c in row[1:]) for row in crops),
    )
    gap = 4
    canvas = np.full((len(crops) * (size[0] + gap), 3 * (size[1] + gap), 3), 255, dtype=np.uint8)
    for r, (_name, *images) in enumerate(crops):
        for c, image in enumerate(images):
            # a diverged model's NaN shows black (the scores say NaN), without numpy's invalid-cast warning
            array = (image.nan_to_num(0.0).clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            top, left = r * (size[0] + gap), c * (size[1] + gap)
            canvas[top : top + array.shape[0], left : left + array.shape[1]] = array
    with atomic_path(path) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG")
