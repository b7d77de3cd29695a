"""Releasing campaign weights into the package: a gate on measured results, and the model card that ships.

Weights ship (as ``golf-synthetic-v1`` in ``golfdeblur/weights/``) only when ``golfdeblur results --weights W`` scored
them (``results/scored_weights.json`` names the same sha256 as the weights file, and the tables are the ones it
wrote) on the whole validation set and the whole of Levin09 and, on both, what ``golfdeblur deblur`` returns by
default (Golf at T = 3) and G alone each beat the blurry input (PSNR, RGB, 8-bit, whole images): the gate.

The campaign's goal is stricter (issue 6, docs/TRAINING_CAMPAIGN.md): on both sets Golf at T = 3 beats G alone as
well. Weights that pass the gate but not the goal may ship, because a user is better served by GPU-trained weights
that improve their photos than by none; their card says, with the numbers, that the goal is not met
(``release.campaign_goal``), and ``golfdeblur release`` prints it. The weights file ships byte for byte (its sha256 is
the one the results were scored on); the shipped card adds the measured PSNR/SSIM per iteration, with conventions
named, and the goal's gaps per image with bootstrap intervals (``release.metrics.<set>.paired_gaps``) to the card the
training run wrote (recipe, data, campaign chunks, steps and minutes, hardware), and the tile overlap ``deblur`` uses
by default with these weights, measured (``inference``; golfdeblur/tile_overlap.py).

Weights also may not ship when Golf at T = 3 scores lower on either set than what ships now (the default weights
installed with this golfdeblur, ``DEFAULT_WEIGHTS`` in the package's weights/, as their card's measured means say,
whichever folder is released into), unless asked to (``allow_below_shipped``): the goal can be met by weights that
deblur worse (a weaker G leaves D more to gain; docs/TRAINING_CAMPAIGN.md, chunks 5 and 6), and a release must not
swap the default for those. With no default installed nothing is compared, and the card says so
(``release.compared_with`` is null).

A release name is new for new weights (a name always means one file) and reads as a packaged name wherever weights
are named: lower case, without .safetensors or .json (``check_release_name``).

Example:
    golfdeblur results --weights runs/chunk/weights-d.safetensors --out local/eval
    golfdeblur release runs/chunk/weights-d.safetensors --results local/eval --name golf-synthetic-v2
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from golfdeblur.atomic import NAME_MAX, atomic_write_bytes
from golfdeblur.checkout import source_checkout
from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS, VALIDATION_SEED
from golfdeblur.errors import GolfdeblurError
from golfdeblur.evaluate import EVAL_CONVENTIONS, summarise
from golfdeblur.folder_lock import folder_locked
from golfdeblur.infer import prepare_model
from golfdeblur.intervals import paired_gap
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models import weights_io
from golfdeblur.models.weights_io import (
    card_field,
    card_path_for,
    load_golf_and_card,
    read_card,
    resolve_weights,
    sha256_of,
    write_card,
)
from golfdeblur.notes import os_error_reason
from golfdeblur.release_rules import GATE_RULE, GATE_T, GOAL_RULE, RELEASE_NAME
from golfdeblur.results import GAP_GROUPS, SCORED_WEIGHTS_FILE, check_history_fields
from golfdeblur.tile_overlap import TILE_OVERLAP_RULE, measure_tile_overlap, reference_photos

#: The datasets a release is judged on and their full sizes (a report made with --limit does not count).
REQUIRED_SETS = {"validation": 92, "levin09": 32}
#: How far below what ships (PSNR, Golf T = 3, either set) new weights may score: the printed precision, so that the
#: same weights re-released with results scored on another machine (which differ in the sixth decimal) still pass.
BELOW_SHIPPED_TOLERANCE_DB = 0.001
#: The suffixes of the two files a release writes, NAME.safetensors and its card NAME.json.
WEIGHTS_SUFFIX, CARD_SUFFIX = ".safetensors", ".json"
#: The command that continues the campaign from released weights: its 8-minute chunks fit one device call.
CAMPAIGN_CONTINUE_COMMAND = (
    "golfdeblur train --recipe campaign --stage {stage} --out RUN --max-minutes 8 --init-from {name} "
    "(see docs/TRAINING_CAMPAIGN.md)"
)


class ReleaseError(GolfdeblurError):
    """Weights that may not ship, or results that cannot judge them."""


@dataclass(frozen=True)
class DatasetScores:
    """Mean metrics per iterate ("blurry", "G", "D1", ...) of one dataset, from ``results/<name>.csv``."""

    name: str
    images: int
    means: dict[str, dict[str, float]]  # iterate -> metric label -> mean
    rows: tuple[dict, ...] = ()  # per image and iterate, as read

    def gaps(self) -> list[dict]:
        """The goal's gaps (G - blurry, Golf T - G) in PSNR, per image with bootstrap intervals (``intervals``)."""
        return [
            asdict(paired_gap(self.rows, first, second, GOPRO_PSNR.label, GAP_GROUPS.get(self.name)))
            for first, second in (("G", "blurry"), (f"D{GATE_T}", "G"))
        ]

    def psnr(self, iterate: str) -> float:
        try:
            return self.means[iterate][GOPRO_PSNR.label]
        except KeyError:
            raise ReleaseError(
                f"results for {self.name} have no {iterate!r} row (the gate needs results made with --weights "
                f"and --iterations {GATE_T} or more)"
            ) from None


def check_release_name(name: str) -> None:
    """Raise ReleaseError (one line) unless ``name`` can name a release: ``<name>.safetensors`` and ``<name>.json`` in
    the folder released into, and the name typed wherever weights are named (``resolve_weights``).

    Refused: characters other than lower-case letters, digits, '.', '_' and '-' (a path is no name); capitals (names
    are typed in lower case, and a file system that ignores case, as macOS's and Windows' do, takes one for the
    other); a name ending in .safetensors or .json (``--weights golf.safetensors`` would have meant the packaged file,
    not the ``golf.safetensors`` that ``golfdeblur train`` writes); and a name too long for a file name once
    .safetensors is added.

    Example:
        >>> check_release_name("golf-synthetic-v2")
        >>> try:
        ...     check_release_name("golf.safetensors")
        ... except ReleaseError as refusal:
        ...     print(str(refusal).split(" (")[0])
        release name 'golf.safetensors': ends in .safetensors; give the name without it
    """
    if not name:
        raise ReleaseError("release name '': is empty; give one such as golf-synthetic-v2")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):  # it names a file in dest_dir, nothing elsewhere
        raise ReleaseError(f"release name {name!r}: use lower-case letters, digits, '.', '_' and '-' only")
    if name != name.lower():
        raise ReleaseError(
            f"release name {name!r}: has capitals; use {name.lower()!r} (names are typed in lower case, and a file "
            "system that ignores case takes one for the other)"
        )
    for suffix in (WEIGHTS_SUFFIX, CARD_SUFFIX):
        if name.endswith(suffix):
            raise ReleaseError(
                f"release name {name!r}: ends in {suffix}; give the name without it (the release adds "
                f"{WEIGHTS_SUFFIX} and {CARD_SUFFIX} itself, and a name ending in {suffix} reads as a file's name "
                "wherever weights are named)"
            )
    most = NAME_MAX - len(WEIGHTS_SUFFIX)  # ASCII, as checked above: a character is a byte
    if len(name) > most:
        raise ReleaseError(
            f"release name {name[:24]!r}...: {len(name)} characters, over the {most} a file name leaves for it "
            f"({NAME_MAX} with {WEIGHTS_SUFFIX}); shorten it"
        )


def continue_command(card: dict, weights: str | Path, name: str) -> str:
    """The card's ``release.continue_campaign``: the ``golfdeblur train`` command that goes on from the release
    ``name``, with the recipe (``recipe``) and stage (``training.stage``) the card says trained the weights; where it
    does not say, RECIPE or STAGE stand in their place and the command says so.

    Example:
        >>> continue_command({"recipe": "tiny", "training": {"stage": "d"}}, "w.safetensors", "golf-x")
        'golfdeblur train --recipe tiny --stage d --out RUN --init-from golf-x (see docs/TRAINING.md)'
        >>> continue_command({}, "w.safetensors", "golf-x").split(" (")[0]
        'golfdeblur train --recipe RECIPE --stage STAGE --out RUN --init-from golf-x'
    """
    recipe = card_field(card, "recipe", weights, str) or None  # "": a run given no recipe name
    stage = card_field(card, "training.stage", weights, str) or None
    if recipe == "campaign" and stage is not None:
        return CAMPAIGN_CONTINUE_COMMAND.format(stage=shlex.quote(stage), name=name)
    command = (
        f"golfdeblur train --recipe {shlex.quote(recipe) if recipe else 'RECIPE'} "
        f"--stage {shlex.quote(stage) if stage else 'STAGE'} --out RUN --init-from {name}"
    )
    unknown = ", ".join(word for word, value in (("RECIPE", recipe), ("STAGE", stage)) if value is None)
    said = f"{unknown}: what trained these weights, which their card does not say; " if unknown else ""
    return f"{command} ({said}see docs/TRAINING.md)"


def read_scores(results_dir: str | Path, name: str) -> DatasetScores:
    """``results_dir/results/<name>.csv`` (written by ``golfdeblur results``) summarised per iterate."""
    path = Path(results_dir) / "results" / f"{name}.csv"
    if not path.is_file():
        raise ReleaseError(f"{path}: not found (make it with: golfdeblur results --weights W --out {results_dir})")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = [c.label for c in EVAL_CONVENTIONS]
    try:
        parsed = []
        for row in rows:
            metrics = {label: float(row[label]) for label in labels}
            parsed.append({"image": row["image"], "iterate": row["iterate"], "t": int(row["t"]), **metrics})
    except (KeyError, ValueError) as exc:
        raise ReleaseError(f"{path}: not a results table ({exc})") from exc
    summary = summarise(parsed)
    images = max((entry["images"] for entry in summary), default=0)
    means = {entry["iterate"]: {k: entry[k] for k in labels} for entry in summary}
    return DatasetScores(name, images, means, tuple(parsed))


def rescore_command(weights: str | Path, results_dir: str | Path) -> str:
    """The command that scores ``weights`` into ``results_dir`` as the gate needs it."""
    return f"golfdeblur results --weights {weights} --out {results_dir}"


def check_scored_weights(results_dir: str | Path, weights: str | Path, names: list[str], weights_sha256: str) -> int:
    """Raise ReleaseError unless ``results_dir`` holds tables ``names`` that ``golfdeblur results`` scored on the
    weights file ``weights``, whose sha256 is ``weights_sha256``, and that nothing has rewritten since. Returns the
    ``--limit`` they were scored with (0: none, or not recorded)."""
    path = Path(results_dir) / "results" / SCORED_WEIGHTS_FILE
    rescore = rescore_command(weights, results_dir)
    if not path.is_file():
        raise ReleaseError(
            f"{path}: not found, so nothing says which weights these results scored (rescore: {rescore})"
        )
    try:
        identity = json.loads(path.read_text(encoding="utf-8"))
        scored, tables = str(identity["sha256"]), identity["tables"]
        recorded = {name: str(tables[name]["sha256"]) for name in names if name in tables}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{path}: not a scored-weights record ({exc!r})") from exc
    actual = weights_sha256
    if scored != actual:
        label = identity.get("weights") or "unnamed weights"
        raise ReleaseError(
            f"{results_dir}: results were scored on other weights ({label}, sha256 {scored[:12]}...), "
            f"not on {weights} (sha256 {actual[:12]}...) (rescore: {rescore})"
        )
    for name in names:
        table = Path(results_dir) / "results" / f"{name}.csv"
        if name not in recorded:
            raise ReleaseError(f"{path}: records no {name} table for these weights (rescore: {rescore})")
        if table.is_file() and sha256_of(table) != recorded[name]:
            raise ReleaseError(f"{table}: changed since it was scored on {weights} (rescore: {rescore})")
    limit = identity.get("limit")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 0


@dataclass(frozen=True)
class GateResult:
    """What the gate measured: one line per dataset with the numbers it compares, and the datasets (their lines)
    where the campaign's goal, ``GOAL_RULE``, is not met yet."""

    lines: list[str]
    goal_not_met: list[str]

    def goal(self) -> dict[str, object]:
        """The card's ``release.campaign_goal``."""
        return {"rule": f"{GOAL_RULE} on {' and '.join(REQUIRED_SETS)}, PSNR-RGB-8bit on whole images",
                "met": not self.goal_not_met, "not_met_on": self.goal_not_met}  # fmt: skip


def check_gate(scores: list[DatasetScores], partial_hint: str = "") -> GateResult:
    """The gate (``GATE_RULE`` on every dataset) and the goal (``GOAL_RULE``); raises ReleaseError naming the first
    dataset that fails the gate. ``partial_hint`` ends the line of results that do not cover a whole set (why, and
    what to do).

    Example:
        >>> psnr = {"blurry": 21.256, "G": 21.533, "D3": 21.526}  # Levin09, the campaign weights of chunk 2
        >>> scores = DatasetScores("levin09", 32, {k: {GOPRO_PSNR.label: v} for k, v in psnr.items()})
        >>> check_gate([scores]).goal_not_met
        ['levin09: blurry 21.256 dB, G 21.533 dB, Golf T=3 21.526 dB']
        >>> scores = DatasetScores("levin09", 32, {**scores.means, "blurry": {GOPRO_PSNR.label: 21.530}})
        >>> try:
        ...     check_gate([scores])
        ... except ReleaseError as refusal:
        ...     print(str(refusal).split(" (")[0])
        not released: levin09: blurry 21.530 dB, G 21.533 dB, Golf T=3 21.526 dB
    """
    lines, goal_not_met = [], []
    golf = f"D{GATE_T}"  # evaluate.iterate_labels: D^t(G(y)) is "Dt"
    for score in scores:
        expected = REQUIRED_SETS.get(score.name)
        if expected is not None and score.images != expected:
            raise ReleaseError(
                f"{score.name}: results cover {score.images} images, the whole set has {expected}{partial_hint}"
            )
        blurry, g_alone, golf_t = score.psnr("blurry"), score.psnr("G"), score.psnr(golf)
        # three decimals: a margin of a few thousandths of a dB must not print two equal numbers
        line = f"{score.name}: blurry {blurry:.3f} dB, G {g_alone:.3f} dB, Golf T={GATE_T} {golf_t:.3f} dB"
        if not (g_alone > blurry and golf_t > blurry):
            raise ReleaseError(f"not released: {line} (needs {GATE_RULE})")
        lines.append(line)
        if not golf_t > g_alone > blurry:
            goal_not_met.append(line)
    return GateResult(lines, goal_not_met)


def below_shipped(scores: list[DatasetScores], shipped_card: dict, shipped_name: str) -> list[str]:
    """One line per dataset where Golf T = 3 scores more than ``BELOW_SHIPPED_TOLERANCE_DB`` below the shipped
    weights' measured mean (their card's ``release.metrics``); a set their card has no number for is not compared,
    and a number that is not one is a WeightsError naming the field.

    Example:
        >>> psnr = {"blurry": 21.256, "G": 21.390, "D3": 21.501}  # Levin09, chunk 6: meets the goal, deblurs worse
        >>> scores = DatasetScores("levin09", 32, {k: {GOPRO_PSNR.label: v} for k, v in psnr.items()})
        >>> shipped = {"release": {"metrics": {"levin09": {"mean_per_iterate": {"D3": {GOPRO_PSNR.label: 21.526}}}}}}
        >>> below_shipped([scores], shipped, "golf-synthetic-v1")
        ['levin09: Golf T=3 21.501 dB, below golf-synthetic-v1 (21.526 dB)']
    """
    golf, lines = f"D{GATE_T}", []
    for score in scores:
        field = f"release.metrics.{score.name}.mean_per_iterate.{golf}.{GOPRO_PSNR.label}"
        shipped = card_field(shipped_card, field, shipped_name, (int, float))
        if shipped is not None and score.psnr(golf) < shipped - BELOW_SHIPPED_TOLERANCE_DB:
            lines.append(
                f"{score.name}: Golf T={GATE_T} {score.psnr(golf):.3f} dB, below {shipped_name} ({shipped:.3f} dB)"
            )
    return lines


def release(
    weights: str | Path,
    results_dir: str | Path,
    name: str = RELEASE_NAME,
    dest_dir: str | Path | None = None,
    overwrite: bool = False,
    allow_below_shipped: bool = False,
) -> tuple[Path, GateResult]:
    """Check the gate on ``results_dir`` and write ``dest_dir/<name>.safetensors`` with its release card. ``dest_dir``
    None: the package's own weights folder, only when the package runs from a source checkout (an installed one lies
    in site-packages, where weights written are unknown to pip and outlive an uninstall).

    Args:
        weights: a .safetensors file (with its card) or a packaged name, as ``load_golf`` takes.
        name: the release's name, new for new weights (``check_release_name``); the default is the first
            release's, so that its card can be rewritten (``overwrite``).

    Returns:
        (the weights path written, what the gate measured, the goal's verdict included).

    Raises:
        ReleaseError: ``dest_dir`` is None and the package is installed; ``name`` cannot name a release; the target
            exists and ``overwrite`` is False or it holds other weights (``overwrite`` rewrites the card of the same
            bytes only, so a name always means one file), which is said before the results are read; the results are
            missing, partial or were not scored on these weights; the weights do not pass; Golf T = 3 scores below
            the installed default weights on either set and ``allow_below_shipped`` is False; or, without
            ``overwrite``, another run released under this name since the check (its card or weights are kept, not
            replaced).
        WeightsError: the weights cannot be loaded.
    """
    if dest_dir is None:  # before any work
        if source_checkout() is None:
            raise ReleaseError(
                f"release: golfdeblur runs from an installed package ({weights_io.PACKAGED_DIR}); weights released "
                "into it are unknown to pip and outlive an uninstall: pass --dest DIR, or release from a source "
                "checkout (pip install -e .)"
            )
        dest_dir = weights_io.PACKAGED_DIR
    check_release_name(name)
    existing = Path(dest_dir)  # the folder, or the nearest of its parents that exists: said now, not after the gate
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        blocked = f"cannot be made ({existing} is no folder)"
        what = "exists and is not a folder" if existing == Path(dest_dir) else blocked
        raise ReleaseError(f"{dest_dir}: {what} (the release is written into a folder)")
    target = Path(dest_dir) / f"{name}.safetensors"
    if os.path.lexists(target) and not target.exists():
        raise ReleaseError(f"{target}: is a link to nothing; remove it or choose another --name")
    source = resolve_weights(weights)
    model, card = load_golf_and_card(source)  # checks the file against its card's sha256; the card read once
    if model.config.iterations != GATE_T:  # the gate's numbers must be those of what deblur runs by default
        raise ReleaseError(
            f"{source}: runs Golf T={model.config.iterations} by default, but the gate judges Golf T={GATE_T}"
        )
    check_history_fields(card, source)  # a malformed history is one line now, not a card later commands refuse
    card_field(card, "training", source, dict)  # card_field reads a dotted path through a non-object as absent
    continuing = continue_command(card, source, name)  # a malformed recipe or stage: one line now, not after the gate
    card["sha256"] = card["sha256"].lower()  # load_golf took either case; every comparison below reads lower case
    data = source.read_bytes()  # shipped byte for byte, so the results scored on these bytes are the release's
    if hashlib.sha256(data).hexdigest() != card["sha256"]:
        raise ReleaseError(f"{source}: changed while it was being released")
    if target.exists():  # said before the results are read and the overlap measured
        held = sha256_of(target)
        if held != card["sha256"]:  # a name always means the same weights: users and cards cite it
            first = f"{name}, the default --name, is the first release; " if name == RELEASE_NAME else ""
            raise ReleaseError(
                f"{target}: holds other weights (sha256 {held[:12]}...); release these under a new --name ({first}"
                "--overwrite only rewrites the card of the same weights)"
            )
        if not overwrite:
            raise ReleaseError(f"{target}: already holds these weights (pass --overwrite to rewrite its card)")
    limit = check_scored_weights(results_dir, source, list(REQUIRED_SETS), card["sha256"])
    scores = [read_scores(results_dir, dataset) for dataset in REQUIRED_SETS]
    rescore = rescore_command(source, results_dir)
    gate = check_gate(scores, f": scored with --limit {limit}; rescore without it ({rescore})" if limit else "")
    # What deblur uses by default is the installed package's, whatever folder this release goes into.
    shipped = weights_io.packaged_path(DEFAULT_WEIGHTS)
    compared_with = {"name": DEFAULT_WEIGHTS, "sha256": sha256_of(shipped)} if shipped.is_file() else None
    below = below_shipped(scores, read_card(shipped), DEFAULT_WEIGHTS) if compared_with else []
    if below and not allow_below_shipped:
        raise ReleaseError(f"not released: {'; '.join(below)} (pass --allow-below-shipped to ship it all the same)")
    sha256 = card.pop("sha256")
    card.pop("weights_file", None)
    card["release"] = {
        "name": name,
        "gate": {"rule": GATE_RULE, "lines": gate.lines},
        "campaign_goal": gate.goal(),
        "compared_with": compared_with,  # the default weights installed when released; null: none were
        **({"below_shipped": below} if below else {}),
        "metrics": {
            score.name: {"images": score.images, "mean_per_iterate": score.means, "paired_gaps": score.gaps()}
            for score in scores
        },
        "metric_conventions": {c.label: c.describe() for c in EVAL_CONVENTIONS},
        "datasets": {
            "validation": (
                f"CBSD68 + Kodak24 blurred with seed {VALIDATION_SEED} (golfdeblur.data.validation.validation_set)"
            ),
            "levin09": "Levin et al. 2009, 32 images, greyscale fed as three equal channels",
        },
        "continue_campaign": continuing,
        "source_weights": str(weights),
    }
    card["inference"] = {
        "iterations": model.config.iterations,
        "tile_overlap": measure_tile_overlap(prepare_model(model, device="cpu"), reference_photos()),
        "rule": TILE_OVERLAP_RULE,
    }
    # Card first: a run stopped between the two writes leaves a card that names no file (packaged names are the
    # .safetensors files), never weights without their card; an overwrite rewrites the same bytes. Without
    # --overwrite neither replaces a file: a release under this name that another run wrote since the check above is
    # kept, and this one fails at its card, before its weights (a ReleaseError naming the card).
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_locked(target.parent):  # held through both writes, so a card alone here is no live release's
        if not os.path.lexists(target) and os.path.lexists(card_path_for(target)):
            card_path_for(target).unlink()  # what a release stopped between its two writes leaves: names no file
        try:
            write_card(target, card, sha256, replace=overwrite)
            atomic_write_bytes(target, data, replace=overwrite)
        except FileExistsError as exc:  # a refusal (exit 2), as an existing release found at the check is
            raise ReleaseError(
                f"{os_error_reason(exc)} (written by another run after this release's check; rerun to see what it "
                "holds)"
            ) from exc
    return target, gate
