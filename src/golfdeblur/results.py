"""The results report (docs/RESULTS.md): blurry inputs, non-blind references and, given weights, G and Golf at
T = 1..5, on the fixed synthetic validation set and on Levin09, with per-image CSVs. Given weights, each dataset
also gets its paired gaps (G - blurry, Golf T - G, Golf T - blurry per image, with bootstrap intervals;
``intervals``), and the report records which weights it scored (``results/scored_weights.json``: their sha256 and
those of the tables), so that ``golfdeblur release`` can refuse results that belong to other weights.

Example:
    golfdeblur results --root ../shared/data --out docs [--weights golf.safetensors]
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from golfdeblur.atomic import atomic_write_text
from golfdeblur.baselines import BaselineConfig, richardson_lucy, wiener
from golfdeblur.data.validation import Levin09
from golfdeblur.evaluate import (
    EVAL_CONVENTIONS,
    EXTRA_CONVENTIONS,
    evaluate_pairs,
    mean_cell,
    progress_bar,
    rows_to_csv,
    summarise,
)
from golfdeblur.intervals import LEVEL, RESAMPLES, paired_gap
from golfdeblur.metrics import GOPRO_PSNR, LEVIN_PSNR, MetricConvention
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.weights_io import sha256_of

if TYPE_CHECKING:
    from golfdeblur.data.validation import ValidationSet

#: In ``OUT/results/``: the identity of the weights the tables there scored (absent when they scored none).
SCORED_WEIGHTS_FILE = "scored_weights.json"
REPORT_NAMES = ("RESULTS.md", "results")  # what write_results writes into its folder

REFERENCES: tuple[tuple[str, Callable[..., torch.Tensor]], ...] = (
    ("RL (true kernel)", richardson_lucy),
    ("Wiener (true kernel)", wiener),
)
#: The metrics whose paired gaps the report gives (those a dataset is scored with).
GAP_CONVENTIONS = (GOPRO_PSNR, LEVIN_PSNR)


def levin09_kernel(image: str) -> str:
    """Levin09's image name -> its kernel ("im_1_ker_4" -> "4"), the group its gaps are also resampled by; a name
    that is not Levin09's is its own group."""
    match = Levin09.PATTERN.match(image)
    return match[2] if match else image


#: Datasets whose images share something that a gap should hold across: image name -> group.
GAP_GROUPS: dict[str, Callable[[str], object]] = {"levin09": levin09_kernel}


def reference_rows(
    items: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]],
    conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS,
    config: BaselineConfig | None = None,
) -> list[dict]:
    """Rows {"image", "iterate", "t", <label>: value} for the blurry input and each non-blind reference.

    Args:
        items: (blurry (3, H, W), sharp (3, H, W), kernel (1, k, k), name), RGB in [0, 1].
    """
    config = config or BaselineConfig()
    rows = []
    for blurry, sharp, kernel, name in items:
        outputs = [("blurry", blurry)] + [(label, restore(blurry, kernel, config)) for label, restore in REFERENCES]
        for label, output in outputs:
            row = {"image": name, "iterate": label, "t": -1}
            row.update({c.label: float(c(output[None], sharp[None])[0]) for c in conventions})
            rows.append(row)
    return rows


def golf_rows(
    model: GolfOptimizer,
    pairs: Iterable[tuple],
    iterations: int,
    device: str = "cpu",
    conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS,
) -> list[dict]:
    """Rows for G(y) and D^1..D^T (the blurry rows come from ``reference_rows``)."""
    result = evaluate_pairs(model, pairs, iterations=iterations, device=device, keep_crops=0, conventions=conventions)
    return [row for row in result.rows if row["iterate"] != "blurry"]


def summary_table(rows: list[dict], conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS) -> str:
    """A Markdown table of the mean of every metric per method / iterate."""
    labels = [c.label for c in conventions]
    lines = ["| method | images | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for entry in summarise(rows):
        name = entry["iterate"] if entry["t"] < 0 else ("G alone" if entry["t"] == 0 else f"Golf T = {entry['t']}")
        lines.append(f"| {name} | {entry['images']} | " + " | ".join(mean_cell(entry, k) for k in labels) + " |")
    return "\n".join(lines)


def gap_table(
    rows: list[dict],
    golf_t: int,
    conventions: tuple[MetricConvention, ...] = EVAL_CONVENTIONS,
    group_of: Callable[[str], object] | None = None,
) -> str:
    """A Markdown table of G - blurry, Golf T - G and Golf T - blurry per image (``intervals.paired_gap``) for each
    metric of ``GAP_CONVENTIONS`` in ``conventions``; with ``group_of``, the interval resampling whole groups too.
    With ``golf_t`` 0 (no D iterate scored) only G - blurry."""
    pairs = (("G", "blurry"),) + (((f"D{golf_t}", "G"), (f"D{golf_t}", "blurry")) if golf_t > 0 else ())
    names = {"G": "G alone", "blurry": "blurry", f"D{golf_t}": f"Golf T = {golf_t}"}
    level = f"{LEVEL * 100:.0f} %"
    header = f"| gap | metric | images | mean (dB) | {level} interval, by image |"
    header += f" {level} interval, by kernel |" if group_of else ""
    lines = [header + " images > 0 |", "|---|---|---|---|---|---|" + ("---|" if group_of else "")]
    for convention in (c for c in GAP_CONVENTIONS if c in conventions):
        for first, second in pairs:
            line = f"| {names[first]} - {names[second]} | {convention.label} | "
            try:
                gap = paired_gap(rows, first, second, convention.label, group_of)
            except ValueError:  # no image with a finite gap (every result identical to its sharp image)
                lines.append(line + "0 | - | - | " + ("- | " if group_of else "") + "- |")
                continue
            line += f"{gap.images} | {gap.mean:+.3f} | [{gap.by_image[0]:+.3f}, {gap.by_image[1]:+.3f}] | "
            if gap.by_group is not None:
                line += f"[{gap.by_group[0]:+.3f}, {gap.by_group[1]:+.3f}] | "
            lines.append(line + f"{gap.positive}/{gap.images} |")
    return "\n".join(lines)


def with_kernels(dataset: ValidationSet | Levin09) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]]:
    """(blurry, sharp, kernel, name) from a ValidationSet (kernel by index) or Levin09 (kernel in the item)."""
    for index in range(len(dataset)):
        item = dataset[index]
        if len(item) == 4:
            yield item
        else:
            blurry, sharp, name = item
            yield blurry, sharp, cast("ValidationSet", dataset).kernel(index), name  # Levin09 items hold theirs


def write_results(
    datasets: dict[str, ValidationSet | Levin09],
    out_dir: str | Path,
    model: GolfOptimizer | None = None,
    weights_label: str = "",
    iterations: int = 5,
    limit: int = 0,
    command: str = "",
    weights_sha256: str = "",
    weights_note: str = "",
) -> Path:
    """Score every dataset, write ``out_dir/results/<name>.csv`` and ``out_dir/RESULTS.md``; return the latter.

    Args:
        datasets: name -> a ValidationSet or Levin09 (anything ``with_kernels`` reads).
        model: the Golf Optimizer to score (None: only the blurry input and the references).
        limit: score only the first ``limit`` images of each dataset (0 = all).
        weights_sha256: sha256 of the weights file ``model`` was loaded from. Given with ``model``, the tables are
            stamped with it (``record_scored_weights``) once all are written; otherwise they carry no identity.
        weights_note: what the weights are (``describe_weights``), printed beside their name in RESULTS.md.
    """
    out_dir = Path(out_dir)
    # Tables from an earlier run may be replaced one by one below: until all are rewritten, none is vouched for.
    (out_dir / "results" / SCORED_WEIGHTS_FILE).unlink(missing_ok=True)
    sections = []
    for name, dataset in datasets.items():
        started = time.perf_counter()
        items = list(islice(with_kernels(dataset), limit or None))  # only the images scored are read and blurred
        conventions = EVAL_CONVENTIONS + EXTRA_CONVENTIONS.get(name, ())
        rows = reference_rows(progress_bar(items, f"{name}: blurry and references"), conventions)
        if model is not None:
            pairs = progress_bar([(b, s, n) for b, s, _, n in items], f"{name}: G and Golf")
            rows += golf_rows(model, pairs, iterations, conventions=conventions)
        rows.sort(key=lambda row: (row["image"], row["t"]))
        atomic_write_text(out_dir / "results" / f"{name}.csv", rows_to_csv(rows))
        seconds = time.perf_counter() - started
        table = summary_table(rows, conventions)
        if model is not None:
            golf_t = min(model.config.iterations, iterations)
            table += "\n\n" + gap_table(rows, golf_t, conventions, GAP_GROUPS.get(name))
        sections.append((name, len(items), len(dataset), table, seconds, [n for *_, n in items]))
    if model is not None and weights_sha256:
        record_scored_weights(out_dir, list(datasets), weights_label, weights_sha256, iterations, limit)
    label = (f"{weights_label} ({weights_note})" if weights_note else weights_label) if model is not None else ""
    return _write_markdown(out_dir, sections, label, command, limit)


def record_scored_weights(
    out_dir: str | Path,
    names: list[str],
    weights_label: str,
    weights_sha256: str,
    iterations: int,
    limit: int = 0,
) -> Path:
    """Write ``out_dir/results/scored_weights.json`` (atomically): which weights scored ``results/<name>.csv``.

    It holds the weights' sha256 (of the resolved .safetensors file) and each table's sha256 as it is now, so a
    table rewritten later by another run no longer matches. Returns its path.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "results").mkdir(), (Path(tmp) / "results" / "levin09.csv").write_text("image")
        ...     path = record_scored_weights(tmp, ["levin09"], "w.safetensors", "ab" * 32, iterations=5)
        ...     identity = json.loads(path.read_text())
        >>> path.name, identity["sha256"] == "ab" * 32, sorted(identity["tables"]["levin09"])
        ('scored_weights.json', True, ['file', 'sha256'])
    """
    folder = Path(out_dir) / "results"
    tables = {}
    for name in names:
        table = folder / f"{name}.csv"
        tables[name] = {"file": table.name, "sha256": sha256_of(table)}
    identity = {
        "weights": weights_label,
        "sha256": weights_sha256,
        "iterations": iterations,
        "limit": limit,
        "tables": tables,
    }
    path = folder / SCORED_WEIGHTS_FILE
    atomic_write_text(path, json.dumps(identity, indent=2, sort_keys=True) + "\n")
    return path


def check_history_fields(card: dict, path: str | Path) -> None:
    """The card's training history and release (``campaign``, ``release``), as far as this command and
    ``describe_weights`` read them, each of the type they need: a malformed card is a WeightsError naming the file
    and the field, not a traceback. Absent (or null) sections are fine: weights need not come from the campaign.

    Example:
        >>> check_history_fields({"campaign": "oops"}, "w.safetensors")
        Traceback (most recent call last):
        ...
        golfdeblur.errors.WeightsError: weights w.safetensors: model card's campaign "oops" is not an object
    """
    from golfdeblur.models.weights_io import card_field

    def field(name: str, kind: Any, required: bool = False, items: Any = None) -> Any:
        return card_field(card, name, path, kind, required, items)

    if field("campaign", dict):
        field("campaign.chunks", list, items=dict)
        field("campaign.g_steps", int)
        field("campaign.d_steps", int)
        field("campaign.minutes", (int, float))
    if field("release", dict):
        field("release.gate", dict)
        field("release.gate.lines", list, items=str)
        if field("release.campaign_goal", dict):
            field("release.campaign_goal.rule", str, required=True)
            field("release.campaign_goal.met", bool, required=True)
            field("release.campaign_goal.not_met_on", list, required=True, items=str)


def describe_weights(card: dict, sha256: str) -> str:
    """One sentence on what weights were scored, from their model card: checksum, training history, release state.

    Example:
        >>> card = {"recipe": "campaign", "campaign": {"g_steps": 9307, "d_steps": 4000, "minutes": 11.56,
        ...     "chunks": [{"device": "NVIDIA H200"}, {"device": "NVIDIA H200"}]}}
        >>> for part in describe_weights(card, "648be9eefdd0" + "0" * 52).split("; "):
        ...     print(part)
        sha256 648be9eefdd0...
        recipe campaign, 9,307 steps of G and 4,000 of D in 2 chunks, 11.6 minutes on NVIDIA H200
        not a release (release: docs/TRAINING_CAMPAIGN.md)
    """
    parts = [f"sha256 {sha256[:12]}..."]
    campaign = card.get("campaign") or {}
    if campaign.get("chunks"):
        chunks = campaign["chunks"]
        devices = ", ".join(sorted({str(chunk.get("device", "unknown device")) for chunk in chunks}))
        parts.append(
            f"recipe {card.get('recipe', 'unnamed')}, {campaign.get('g_steps', 0):,} steps of G and "
            f"{campaign.get('d_steps', 0):,} of D in {len(chunks)} chunk{'s' if len(chunks) > 1 else ''}, "
            f"{float(campaign.get('minutes', 0)):.1f} minutes on {devices}"
        )
    parts.append(
        "released" if card.get("release") is not None else "not a release (release: docs/TRAINING_CAMPAIGN.md)"
    )
    return "; ".join(parts)


def kernel_clause(names: list[str], partial: bool = False) -> str:
    """What Levin09's by-kernel interval resamples, from the images scored (their kernels: ``levin09_kernel``).

    Example:
        >>> kernel_clause([f"im_{i}_ker_{k}" for i in range(1, 5) for k in range(1, 9)])
        'its 8 kernels (the 4 images of a kernel drawn together: would the gap hold on other kernels?)'
        >>> kernel_clause(["im_1_ker_1", "im_1_ker_2"], partial=True)
        'the 2 kernels scored (one image each: the same as by image)'
    """
    groups = Counter(levin09_kernel(name) for name in names)
    sizes = set(groups.values())
    kernels = f"{len(groups)} kernel{'s' if len(groups) != 1 else ''}"
    kernels = f"the {kernels} scored" if partial else f"its {kernels}"
    if len(groups) == 1:
        return f"{kernels} (a single kernel: nothing to resample)"
    if sizes == {1}:
        return f"{kernels} (one image each: the same as by image)"
    drawn = f"the {sizes.pop()} images of a kernel" if len(sizes) == 1 else "a kernel's images"
    return f"{kernels} ({drawn} drawn together: would the gap hold on other kernels?)"


def _write_markdown(out_dir: Path, sections: list, weights_label: str, command: str, limit: int = 0) -> Path:
    config = BaselineConfig()
    lines = [
        "# Results",
        "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')} with torch {torch.__version__}.",
        "",
    ]
    partial = {name: (count, total) for name, count, total, *_ in sections if count < total}
    if partial:
        counts = ", ".join(f"{name} {count} of {total}" for name, (count, total) in partial.items())
        lines += [
            f"**Partial (--limit {limit})**: only the first images of each set were scored ({counts}); these means "
            "and intervals are not the full sets'.",
            "",
        ]
    lines += [
        "Metric conventions (golfdeblur.metrics; docs/METRICS.md):",
        "",
    ]
    lines += [f"- {c.label}: {c.describe()}" for c in EVAL_CONVENTIONS]
    scored = {name: names for name, *_, names in sections}
    for name, extra in EXTRA_CONVENTIONS.items():
        lines += [f"- {c.label} ({name} only): {c.describe()}" for c in extra if name in scored]
    if "levin09" in scored:
        lines += [
            "",
            "Levin09's measured kernels sit off their centre, so they shift the image as well as blurring it; its "
            "authors score results up to a shift, and the PSNR-UpToShift column is there for comparison with the "
            "papers that do. The release gate and the campaign's goal read PSNR-RGB-8bit on whole images.",
        ]
    lines += [
        "",
        f"Non-blind references get the true kernel (the blind model never does): scikit-image's Richardson-Lucy "
        f"({config.rl_iterations} iterations) and Wiener (balance {config.wiener_balance}), per channel, on mirrored "
        "borders. Whole images are scored, borders included"
        + (" (except in the up-to-shift column)." if "levin09" in scored else "."),
        "",
    ]
    if weights_label:
        lines += [
            "Paired gaps (below each table): the mean over images of one method's PSNR minus another's on the same "
            f"image, with a {LEVEL * 100:.0f} % percentile bootstrap interval of that mean ({RESAMPLES:,} resamples, "
            "seed 0; golfdeblur.intervals) over images"
            + (
                f" and, for Levin09, over {kernel_clause(scored['levin09'], 'levin09' in partial)}"
                if "levin09" in scored
                else ""
            )
            + ". An interval that spans 0 means the set cannot tell the gap's sign.",
            "",
        ]
    lines += [
        f"Golf Optimizer weights: {weights_label}"
        if weights_label
        else "Golf Optimizer weights: **none** "
        "(scored without --weights; the G and Golf rows appear when this report is regenerated with --weights).",
    ]
    for name, count, total, table, seconds, _ in sections:
        images = f"{count} of {total}" if count < total else f"{count}"  # a --limit run's share of the set
        heading = f"## {name} ({images} images; per-image values in results/{name}.csv; {seconds:.0f} s)"
        lines += ["", heading, "", table]
    path = out_dir / "RESULTS.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
