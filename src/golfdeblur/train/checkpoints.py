"""Files of a training run: checkpoints (everything needed to resume, bitwise), weights files and their model cards.

Checkpoints are safetensors files (no pickle), written atomically; ``read_checkpoint`` names the file when one
cannot be used.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from safetensors import safe_open
from torch import nn

from golfdeblur.errors import GolfdeblurError
from golfdeblur.losses import loss_label
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import (
    card_field,
    card_int,
    card_path_for,
    load_golf,
    read_card,
    resolve_weights,
    sha256_of,
    write_safetensors,
)
from golfdeblur.notes import note
from golfdeblur.train.config import Recipe, recipe_to_dict
from golfdeblur.train.distributed import ProcessGroup
from golfdeblur.train.ema import WeightsEMA
from golfdeblur.train.options import RunOptions, chunk_entry
from golfdeblur.train.run_transcript import TRANSCRIPT_NAME


def checkpoint_path(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / f"checkpoint-{stage}.safetensors"


def weights_path(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / f"weights-{stage}.safetensors"


def best_path(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / f"best-{stage}.safetensors"


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: WeightsEMA | None, meta: dict
) -> None:
    """Write model, optimiser and EMA tensors plus the torch RNG state into one safetensors file, atomically.

    No pickle: the optimiser's tensors are stored as ``optim.<param index>.<name>``, its param groups as JSON in the
    file's metadata, next to ``meta`` (stage, step, best validation PSNR, the resolved recipe).
    """
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    state = optimizer.state_dict()
    scalars = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    # The loop draws nothing from torch's global generator (every draw takes a seeded one); kept so that a resume
    # stays exact should something draw from it (dropout in a model of one's own), and checkpoints hold it.
    tensors["rng.torch"] = torch.get_rng_state()
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    metadata = {
        "format": "golfdeblur-checkpoint-1",
        "meta": json.dumps(meta),
        "optim_groups": json.dumps(state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    write_safetensors(tensors, path, metadata)


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a checkpoint; a CheckpointError names the file when it cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            # Copied out of the file's memory map: an optimiser keeps the tensors it loads, and a mapped file
            # cannot be replaced on Windows (the resumed run's next checkpoint save would fail).
            tensors = {key: handle.get_tensor(key).clone() for key in handle.keys()}
    except Exception as exc:  # safetensors raises several types for truncated or foreign files
        raise GolfdeblurError(f"checkpoint {path}: cannot be read ({exc})") from exc
    if metadata.get("format") != "golfdeblur-checkpoint-1":
        raise GolfdeblurError(f"checkpoint {path}: not a golfdeblur checkpoint")
    return tensors, metadata


def _checkpoint_header(path: Path) -> tuple[list[str], dict]:
    """(tensor names, meta) of a checkpoint, read from its header only (no tensors are loaded)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            keys = list(handle.keys())
    except Exception as exc:  # safetensors raises several types for truncated or foreign files
        raise GolfdeblurError(f"checkpoint {path}: cannot be read ({exc})") from exc
    return keys, json.loads(metadata.get("meta", "{}"))


def checkpoint_meta(path: Path) -> dict:
    """A checkpoint's meta (stage, step, best PSNR, recipe, ...), read from its header only (no tensors are loaded)."""
    return _checkpoint_header(path)[1]


def check_resumable(path: Path, recipe: Recipe, resumed: bool = True) -> None:
    """Refuse, in one line and before anything is written, to resume ``path`` with network widths other than the
    ones it holds (the weights would not fit), or with an EMA when it holds none (there is no average to go on
    with). ``resumed``: whether this run trains the checkpoint's stage further; stage D alone only reads stage G's
    checkpoint (its G), so its EMA or the lack of one does not matter then."""
    keys, meta = _checkpoint_header(path)
    saved = (meta.get("recipe") or {}).get("model") or {}
    wanted = recipe_to_dict(recipe)["model"]
    widths = [key for key in ("g_width", "d_width") if key in saved and saved[key] != wanted[key]]
    changed = [f"model.{key} {saved[key]} -> {wanted[key]}" for key in widths]
    relu_before = saved.get("relu_before_add", False)  # checkpoints before 2026-11-29 name none: they added first
    if relu_before != wanted["relu_before_add"]:
        changed.append(f"model.relu_before_add {relu_before} -> {wanted['relu_before_add']}".lower())
    if changed:
        raise GolfdeblurError(f"checkpoint {path}: cannot resume with other networks ({', '.join(changed)})")
    stage, step = meta.get("stage"), meta.get("step")
    if resumed and stage in ("g", "d") and isinstance(step, int):
        steps = recipe.train.stage_steps(stage)
        started = ((meta.get("recipe") or {}).get("train") or {}).get(f"{stage}_steps")
        # The stage would count as finished at once, short of the steps the run was started with (stage G: D would
        # start on it, for good); one that finished under its own recipe is finished whatever the steps now.
        if step > steps and (started is None or step < started):
            raise GolfdeblurError(
                f"checkpoint {path}: at step {step} of stage {stage}, past the recipe's train.{stage}_steps {steps}"
                + (
                    f" (the run was started with {started}: resume with --set train.{stage}_steps={started})"
                    if started is not None
                    else ""
                )
                + f"; to end stage {stage} here, --set train.{stage}_steps={step}"
            )
    if resumed and recipe.optim.ema_decay > 0 and not any(key.startswith("ema.") for key in keys):
        raise GolfdeblurError(
            f"checkpoint {path}: the recipe has an EMA (optim.ema_decay {recipe.optim.ema_decay}) but the checkpoint "
            "holds none; resume with optim.ema_decay=0"
        )


def recipe_changes(saved: dict, current: dict) -> list[str]:
    """``"section.key old -> new"`` for each setting of the resolved recipe ``current`` that differs from the one a
    checkpoint ``saved`` (keys a checkpoint does not name are not counted: older checkpoints lack newer settings).

    Example:
        >>> recipe_changes({"optim": {"lr": 0.002, "beta1": 0.9}}, {"optim": {"lr": 0.001, "beta1": 0.9}})
        ['optim.lr 0.002 -> 0.001']
    """
    changes = []
    for section, values in current.items():
        before = saved.get(section)
        if not isinstance(values, dict) or not isinstance(before, dict):
            if section in saved and before != values:
                changes.append(f"{section} {before!r} -> {values!r}")
            continue
        changes += [
            f"{section}.{key} {before[key]} -> {value}"
            for key, value in values.items()
            if key in before and before[key] != value
        ]
    return changes


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: WeightsEMA | None,
    recipe: Recipe,
    group: ProcessGroup,
) -> dict:
    """Restore everything ``save_checkpoint`` wrote; returns the checkpoint's meta (step, best PSNR, log window)."""
    tensors, metadata = read_checkpoint(path)
    meta = json.loads(metadata["meta"])
    prefix = {
        name: {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        for name in ("model", "ema", "optim")
    }
    try:
        model.load_state_dict(prefix["model"], strict=True)
    except RuntimeError as exc:
        raise GolfdeblurError(
            f"checkpoint {path}: does not fit the recipe's networks ({str(exc).splitlines()[0]})"
        ) from exc
    if ema is not None:
        if not prefix["ema"]:  # check_resumable refuses this before anything is written; a direct caller lands here
            raise GolfdeblurError(f"checkpoint {path}: the recipe has an EMA but the checkpoint holds none")
        ema.load_state_dict(prefix["ema"])
    state: dict = {"state": {}, "param_groups": json.loads(metadata["optim_groups"])}
    for key, value in prefix["optim"].items():
        index, name = key.split(".", 1)
        state["state"].setdefault(int(index), {})[name] = value
    for key, value in json.loads(metadata.get("optim_scalars", "{}")).items():
        index, name = key.split(".", 1)
        state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state)
    for param_group in optimizer.param_groups:  # the saved groups carry the old settings; the recipe's apply now
        param_group["betas"] = (recipe.optim.beta1, recipe.optim.beta2)
        param_group["weight_decay"] = recipe.optim.weight_decay
    _match_parameter_layouts(optimizer)
    torch.set_rng_state(tensors["rng.torch"])
    changes = recipe_changes(meta.get("recipe") or {}, recipe_to_dict(recipe))
    if changes and group.is_main:
        shown = ", ".join(changes[:4]) + (f" and {len(changes) - 4} more" if len(changes) > 4 else "")
        note(f"{path} was written with a different recipe ({shown}); continuing with the current one")
    saved_processes = meta.get("processes", 1)  # checkpoints from before 2026-11-28 name none: one process then
    if saved_processes != group.world_size and group.is_main:
        note(
            f"{path} was written by {saved_processes} training process(es) and resumes with "
            f"{group.world_size}: each step now takes {group.world_size} x train.batch_size images, other batches "
            "than an uninterrupted run's"
        )
    return meta


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimiser state (saved contiguous) its parameter's memory layout again, e.g. channels_last:
    the fused multi-tensor Adam step needs equal strides and otherwise falls back to one kernel per tensor."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def load_initial_weights(model: GolfOptimizer, name_or_path: str) -> None:
    """Copy weights from a saved GolfOptimizer (``--init-from``) into ``model``; the widths and ``relu_before_add``
    must match."""
    source = load_golf(name_or_path)
    if (source.config.g_width, source.config.d_width) != (model.config.g_width, model.config.d_width):
        raise GolfdeblurError(
            f"--init-from {name_or_path}: widths G {source.config.g_width} / D {source.config.d_width} differ from "
            f"the recipe's G {model.config.g_width} / D {model.config.d_width}"
        )
    if source.config.relu_before_add != model.config.relu_before_add:  # the same tensors, another network

        def where(config: GolfConfig) -> str:
            return "before" if config.relu_before_add else "after"

        raise GolfdeblurError(
            f"--init-from {name_or_path}: its blocks apply their last ReLU {where(source.config)} the shortcut's "
            f"addition, the recipe's {where(model.config)} it (model.relu_before_add)"
        )
    model.load_state_dict(source.state_dict())


def load_g_from_run(
    model: GolfOptimizer, run_dir: Path, resume: bool, device: torch.device, g_steps: int
) -> tuple[dict, ...]:
    """Stage D alone needs a trained G: take it from this run folder's stage-G checkpoint (its EMA when it kept one,
    as stage G's result is). Returns stage G's chunk for the model cards, or () when the D checkpoint restores G.
    D starts from the D that stage G's run started with (its --init-from weights' D, which stage G left as it was),
    as in a run of both stages. Where the campaign stood before that G (its --init-from weights' history) is the
    checkpoint's too: the loop reads it with ``stored_position``, so stage D goes on from there without --init-from."""
    if resume and checkpoint_path(run_dir, "d").is_file():
        return ()  # the D checkpoint restores G too
    source = checkpoint_path(run_dir, "g")
    if not source.is_file():
        raise GolfdeblurError(
            f"stage d needs a trained G: pass --init-from WEIGHTS, or run stage g into {run_dir} first (then "
            "--stage d --resume)"
        )
    tensors, metadata = read_checkpoint(source)
    model.G.load_state_dict({k: v.to(device) for k, v in stage_result(tensors, "g").items()})
    d_state = {k[len("model.D.") :]: v.to(device) for k, v in tensors.items() if k.startswith("model.D.")}
    model.D.load_state_dict(d_state)
    meta = json.loads(metadata["meta"])
    step = int(meta["step"])
    if step < g_steps:  # a stage G stopped by a budget or a signal is usable, but say so
        note(f"stage d trains on G from {source} at step {step} of {g_steps}")
    return (chunk_entry("g", step, meta.get("minutes"), meta.get("device", "")),)


def stage_result(tensors: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
    """The state of the network stage ``stage`` trained, as the stage's result, from a checkpoint's ``tensors``: its
    EMA when it kept one (whatever a later recipe says of the EMA), else the network's own weights."""
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else f"model.{stage.upper()}."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


@functools.lru_cache(maxsize=8)
def _recorded_chunks(weights: Path, sha256: str) -> tuple[dict, ...]:
    """The chunks recorded in the card of the weights file ``weights`` whose checksum is ``sha256`` (read once per
    run, not at every save; keyed by the checksum too, so a file replaced at the same path is read again).

    Each chunk's stage, steps and minutes are checked here, before the run folder is made: a malformed history is a
    WeightsError naming the field, not a traceback when the run counts its steps or writes its first model card.
    """
    card = read_card(weights)
    card_field(card, "campaign", weights, dict)
    chunks = card_field(card, "campaign.chunks", weights, list, items=dict) or []
    for index, chunk in enumerate(chunks):
        name = f"campaign.chunks[{index}]"
        entry = {"campaign": {f"chunks[{index}]": chunk}}  # so the fields are named campaign.chunks[i].stage, ...
        card_field(entry, f"{name}.stage", weights, str, required=True)
        card_int(entry, f"{name}.steps", weights, minimum=0)
        card_field(entry, f"{name}.minutes", weights, (int, float), required=True)
    return tuple(chunks)


@dataclass(frozen=True)
class CampaignPosition:
    """Where a run picks up the campaign of its ``--init-from`` weights: their name and their card's history (the
    chunks trained before this run folder). A run continuing a campaign draws its batches from there on, so no chunk
    replays an earlier chunk's batches, and with ``train.continue_schedule`` its learning-rate decay goes on from
    there; its model cards list those chunks first.

    Checkpoints keep it (``as_meta``), so a resumed run goes on from the same place without --init-from.

    Example:
        >>> position = CampaignPosition("w.safetensors", ({"stage": "g", "steps": 5, "minutes": 1.0, "device": ""},))
        >>> position.chunks, position.steps("g"), position.steps("d")
        (1, 5, 0)
    """

    init_from: str | None = None
    history: tuple[dict, ...] = ()
    init_sha256: str | None = None  # of the --init-from weights file; checkpoints from before 2026-11-28 lack it

    @property
    def chunks(self) -> int:
        """The number of chunks trained before this run folder."""
        return len(self.history)

    def steps(self, stage: str) -> int:
        """The steps stage ``stage`` ("g" or "d") trained in the earlier chunks."""
        return sum(int(c["steps"]) for c in self.history if c["stage"] == stage)

    def as_meta(self) -> dict:
        """What a checkpoint's meta keeps of it."""
        return {"init_from": self.init_from, "init_history": list(self.history), "init_sha256": self.init_sha256}

    def same_weights(self, init_from: str) -> bool:
        """Whether ``init_from`` names the weights this position started from: the same file contents (sha256), or
        for checkpoints that kept no sha256, the same file."""
        if self.init_from is None:
            return False
        if self.init_sha256 is not None:
            return sha256_of(resolve_weights(init_from)) == self.init_sha256
        try:
            return resolve_weights(self.init_from).resolve() == resolve_weights(init_from).resolve()
        except GolfdeblurError:  # the weights the folder started from are gone: nothing to compare with
            return False


def campaign_position(init_from: str | None) -> CampaignPosition:
    """The position after the history of the ``--init-from`` weights (nothing without them or without a history)."""
    if not init_from:
        return CampaignPosition()
    weights = resolve_weights(init_from)
    sha256 = sha256_of(weights)
    return CampaignPosition(init_from, _recorded_chunks(weights, sha256), sha256)


def stored_position(path: Path) -> CampaignPosition | None:
    """The campaign position a checkpoint was trained from (None for older checkpoints, which did not keep it)."""
    meta = _checkpoint_header(path)[1]
    if "init_history" not in meta:
        return None
    return CampaignPosition(meta.get("init_from"), tuple(meta["init_history"]), meta.get("init_sha256"))


def golf_file_is_current(path: Path, model: nn.Module, card: dict) -> bool:
    """Whether the weights file ``path`` already holds ``model`` with ``card``'s campaign (its chunks' stages and
    steps): a run whose stages had all finished before keeps such a file as it is. A file written by an earlier
    command in the folder (e.g. ``--stage g``, with an untrained D) is not current."""
    if not path.is_file():
        return False
    try:
        chunks = read_card(path).get("campaign", {}).get("chunks", [])
        with safe_open(str(path), framework="pt") as handle:
            saved = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception:  # an unreadable file or card is written again
        return False
    wanted = [(c["stage"], c["steps"]) for c in card["campaign"]["chunks"]]
    if [(c.get("stage"), c.get("steps")) for c in chunks] != wanted:
        return False
    state = model.state_dict()
    return saved.keys() == state.keys() and all(torch.equal(saved[k], state[k].detach().cpu()) for k in state)


def weights_file_is_current(path: Path, step: int) -> bool:
    """Whether the weights file ``path`` is whole and of step ``step``: its card is readable, names that step and the
    file's sha256. A save killed between the weights and their card (or between a checkpoint and its weights) leaves
    one that is not, which a resume of the finished stage writes again."""
    try:
        card = read_card(path)
        return card.get("training", {}).get("step") == step and card.get("sha256") == sha256_of(path)
    except (OSError, GolfdeblurError, AttributeError):  # missing, unreadable, or a card of another shape
        return False


def run_file_names() -> list[str]:
    """The files a run writes into its folder: log.csv and train.log appended to, the others atomically (a write
    killed before its rename leaves a hidden temporary of one of them, ``atomic.is_temporary_of``)."""
    names = ["config.yaml", "summary.json", "log.csv", TRANSCRIPT_NAME, "golf.safetensors"]
    for stage in ("g", "d"):
        names += [checkpoint_path(Path(), stage).name, weights_path(Path(), stage).name, best_path(Path(), stage).name]
    return names + [card_path_for(name).name for name in names if name.endswith(".safetensors")]


def campaign_record(
    position: CampaignPosition,
    stage: object,
    step: object,
    minutes: float | None,
    device: object,
    earlier: tuple[dict, ...] = (),
) -> dict:
    """The campaign history that travels in model cards: the history before this run folder (``position``: its
    ``--init-from`` weights' chunks), the chunks this run folder finished before (``earlier``: stage G of a run that
    trains both stages, or of an earlier command in this folder), and this stage's chunk.

    A campaign is a chain of runs, each starting from the last one's weights; each stage of a run is one chunk. Totals:
    chunks, steps per stage, minutes, and one record per chunk (stage, steps, minutes, device).
    """
    chunks = list(position.history) + list(earlier)
    if isinstance(step, int) and step > 0:
        chunks.append(chunk_entry(stage, step, minutes, device))
    return {
        "chunks": chunks,
        "g_steps": sum(c["steps"] for c in chunks if c["stage"] == "g"),
        "d_steps": sum(c["steps"] for c in chunks if c["stage"] == "d"),
        "minutes": round(sum(c["minutes"] for c in chunks), 2),
    }


def model_card(
    recipe: Recipe,
    options: RunOptions,
    position: CampaignPosition,
    earlier_chunks: tuple[dict, ...] = (),
    **extra: object,
) -> dict:
    """What travels with saved weights: how they were trained (this run, and the campaign it continues from
    ``position``). ``earlier_chunks`` are the stages this run finished before the one saving (see
    ``campaign_record``). ``training.loss`` names the loss terms the weights trained with (``losses.loss_label``)."""
    campaign = campaign_record(
        position,
        extra.get("stage"),
        extra.get("step"),
        cast("float | None", extra.get("run_minutes")),  # the stage's minutes so far, when a stage saves
        extra.get("device"),
        earlier_chunks,
    )
    return {
        "campaign": campaign,
        "recipe": options.recipe_name,
        "training": {
            "loss": loss_label(recipe.loss),
            "data": recipe.data.source,
            "crop_size": recipe.data.crop_size,
            "batch_size": recipe.train.batch_size,
            "g_steps": recipe.train.g_steps,
            "d_steps": recipe.train.d_steps,
            "t_train": recipe.train.t_train,
            "init_from": position.init_from,
            **extra,
        },
        "metrics_convention": "val_psnr: RGB, 8-bit rounded; val_ssim: per-channel 2-D Gaussian (scikit-image)",
        # every setting of this run, --set overrides applied: the card alone says what data and loss trained it
        "recipe_settings": recipe_to_dict(recipe),
    }
