"""One training loop for both stages of the Golf Optimizer, on one CPU or several GPUs.

Read top-down: ``train`` sets up the processes, the model, the data and the loss, then runs each requested stage
with ``run_stage``; ``run_stage`` is the loop itself: learning rate, batch, forward under autocast, backward, gradient
clipping, Adam, EMA, logging, validation, checkpoints. Everything else in this file is a small helper for one of those;
the run's options and outcome live in train/options.py, the processes in train/distributed.py, the data set-up in
train/data_setup.py, the learning-rate schedule in train/schedule.py, the EMA in train/ema.py, signals and budgets in
train/stopping.py, checkpoints and weights files in train/checkpoints.py, the CSV/TensorBoard log in
train/run_log.py and train.log, what the run says on stderr, in train/run_transcript.py.

What the loop guarantees:
- Determinism: batches depend only on (seed, stage, step, rank) (see train/batches.py) and checkpoints hold every
  tensor of the model, the optimiser and the EMA, so a run killed at any moment and resumed from its last checkpoint
  reaches the same weights as an uninterrupted run (bitwise on CPU).
- One run per folder: rank 0 holds the run folder locked (``run_folder_lock``) from before it looks at the folder to
  the end, so a second run into it, started at the same time or with --resume, is refused instead of mixed in.
- Safety: checkpoints and weights are written atomically; SIGINT/SIGTERM save a checkpoint and stop; a loss that
  becomes NaN or inf stops the run without overwriting the last good checkpoint.
- Several processes (``torchrun``): DistributedDataParallel on the trained network, one DistributedSampler shard per
  process, rank 0 alone writes files. ``train.batch_size`` is per process; the learning rate is not rescaled.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from golfdeblur.atomic import atomic_write_text, made_folders_removed_on_failure, remove_temporaries
from golfdeblur.device import full_fp32, resolve_device, slow_precision_note
from golfdeblur.errors import GolfdeblurError, not_a_regular_file
from golfdeblur.json_text import strict_json_text
from golfdeblur.losses import build_loss
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import non_utf8_path, resolve_weights, save_golf
from golfdeblur.notes import note
from golfdeblur.random_state import callers_random_state_kept
from golfdeblur.train.batches import DeviceBatches, LoaderBatches
from golfdeblur.train.checkpoints import (
    CampaignPosition,
    best_path,
    campaign_position,
    check_resumable,
    checkpoint_meta,
    checkpoint_path,
    golf_file_is_current,
    load_checkpoint,
    load_g_from_run,
    load_initial_weights,
    model_card,
    read_checkpoint,
    run_file_names,
    save_checkpoint,
    stage_result,
    stored_position,
    weights_file_is_current,
    weights_path,
)
from golfdeblur.train.config import Recipe, recipe_to_dict, recipe_to_yaml
from golfdeblur.train.data_setup import ValidationPairs, make_batches, make_validation_data
from golfdeblur.train.distributed import (
    ProcessGroup,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    broadcast_tensors,
    describe_device,
    start_distributed,
    writes_files,
)
from golfdeblur.train.ema import WeightsEMA, export_model
from golfdeblur.train.options import RunOptions, RunOutcome, StageOutcome
from golfdeblur.train.run_lock import run_folder_lock
from golfdeblur.train.run_log import RunLog, log_has_rows, tensorboard_installed
from golfdeblur.train.run_transcript import keep_in_transcript, say, start_transcript, transcript_kept
from golfdeblur.train.schedule import learning_rate
from golfdeblur.train.stages import STAGE_NAMES, Stage, make_stage, stage_loss
from golfdeblur.train.stopping import (
    StopFlags,
    TrainingDataFailed,
    TrainingDiverged,
    failed_on_data,
    stopped_loader,
)

if TYPE_CHECKING:
    from tqdm import tqdm


# ----------------------------------------------------------------------------------------------------------------------
# The run


@callers_random_state_kept()
def train(
    recipe: Recipe,
    options: RunOptions,
    train_data: Dataset | None = None,
    validation_data: Dataset | None = None,
    on_step: Callable[[Stage, int], None] | None = None,
) -> RunOutcome:
    """Train the requested stages of a GolfOptimizer as ``recipe`` says; write everything into ``options.run_dir``.

    Args:
        recipe: the resolved recipe.
        options: run folder, stages, resume, initial weights, time budget.
        train_data: a Dataset of (blurry, sharp) pairs replacing the recipe's data (tests, custom data).
        validation_data: a Dataset of (blurry, sharp, name) replacing the recipe's validation set.
        on_step: called as on_step(stage, step) after every completed step (tests, monitoring); stage.model is
            the model being trained.

    The caller's random state is kept: the run seeds torch's global generators and may set cuDNN's flags, which
    are given back on return (``random_state.callers_random_state_kept``).

    Returns:
        RunOutcome. Raises TrainingDiverged when the loss becomes NaN or inf, GolfdeblurError for unusable settings.
    """
    for name in options.stages:
        if name not in STAGE_NAMES:
            raise GolfdeblurError(f"stage {name!r}: expected g, d or both")
        # 0 steps is allowed for a stage the run leaves out (e.g. train.d_steps=0 with --stage g), not for one it
        # trains: that stage would "finish" with no checkpoint, and the run would ship untrained weights as its own
        if recipe.train.stage_steps(name) == 0:
            raise GolfdeblurError(
                f"recipe key train.{name}_steps: is 0, so stage {name} would train nothing; give it steps, or "
                "leave the stage out with --stage"
            )
    if "d" in options.stages and recipe.model.iterations == 0:
        raise GolfdeblurError(
            "recipe key model.iterations: is 0, so the model never applies D and stage d would train it for nothing "
            "(and validate G alone); give it iterations, or leave stage d out with --stage g"
        )
    run_dir = Path(options.run_dir)
    shown = non_utf8_path(run_dir)
    if shown is not None:  # it would train, but its checkpoints and weights could never be read back
        raise GolfdeblurError(f"{shown}: path is not valid UTF-8, which safetensors cannot open; choose another --out")
    check_run_files(run_dir)  # before the lock: a refused run leaves the folder as it was
    if not writes_files():  # under torchrun, rank 0 holds the lock for all the run's processes and keeps train.log
        return train_in_folder(recipe, options, train_data, validation_data, on_step)
    with (
        made_folders_removed_on_failure(run_dir),  # a refused run leaves no folder
        run_folder_lock(run_dir),
        transcript_kept(python_call(options)),  # `golfdeblur train` has started it with its command line already
    ):
        return train_in_folder(recipe, options, train_data, validation_data, on_step)


def python_call(options: RunOptions) -> str:
    """How a run that ``train`` was called for from Python (not ``golfdeblur train``) started, for train.log's
    header line, e.g. ``train() from Python: recipe tiny, stages g d, --resume``."""
    words = [f"recipe {options.recipe_name}"] if options.recipe_name else []
    words += [f"stages {' '.join(options.stages)}"] + (["--resume"] if options.resume else [])
    words += [f"--init-from {options.init_from}"] if options.init_from else []
    return f"train() from Python: {', '.join(words)}"


def check_run_files(run_dir: Path) -> None:
    """Refuse a run folder where one of the files a run reads and writes (``run_file_names``: log.csv, train.log,
    checkpoints, weights, cards) is there but is no regular file: opening a named pipe blocks for good (a fresh run
    appends to log.csv and train.log too), and a folder or a device is no run file either. One line naming the file
    and what it is."""
    for name in run_file_names():
        path = run_dir / name
        what = not_a_regular_file(path)
        if what is not None:
            raise GolfdeblurError(
                f"{path}: {what}, where the run keeps its {name}; move it away or choose another --out"
            )


def train_in_folder(
    recipe: Recipe,
    options: RunOptions,
    train_data: Dataset | None,
    validation_data: Dataset | None,
    on_step: Callable[[Stage, int], None] | None,
) -> RunOutcome:
    """``train`` once its settings are checked and, on rank 0, the run folder is locked for this run alone."""
    existing = [checkpoint_path(options.run_dir, name) for name in STAGE_NAMES]
    existing = [path for path in existing if path.is_file()]
    log_file = Path(options.run_dir) / "log.csv"  # a run killed before its first checkpoint leaves only its log
    # a log without rows is no run to resume: one that failed before its first logged step (a data or VGG error
    # after config.yaml and log.csv were written) leaves its header alone, and a plain retry starts the folder anew
    if (existing or log_has_rows(log_file)) and not options.resume:
        raise GolfdeblurError(
            f"{options.run_dir} already holds {(existing or [log_file])[0].name}: pass --resume to continue that run, "
            "or choose another --out"
        )
    d_started = options.resume and checkpoint_path(options.run_dir, "d").is_file()
    resumed = [checkpoint_path(options.run_dir, name) for name in options.stages if not (d_started and name == "g")]
    for path in existing:  # with --resume: networks that do not fit fail here, before config.yaml is rewritten
        check_resumable(path, recipe, resumed=path in resumed)  # an EMA matters only in a stage trained further
    if d_started and "d" not in options.stages:  # G trained further would no longer be the G that D learnt on
        raise GolfdeblurError(
            f"{options.run_dir} holds checkpoint-d.safetensors: stage d has started on this run's G, so stage g "
            "cannot train further here; resume with --stage d or both, or train G into another --out"
        )
    if options.init_from:
        resolve_weights(options.init_from)  # a missing file fails here, before the run folder is created
    stored = latest_stored_position(existing)
    if existing and options.init_from:  # with --resume: the checkpoints hold the weights and where they came from
        if stored is not None and not stored.same_weights(options.init_from):
            raise GolfdeblurError(
                f"--init-from {options.init_from}: {options.run_dir} already holds {existing[0].name}, started from "
                f"other weights ({stored.init_from or 'none'}); drop --init-from to resume it, or start from "
                "WEIGHTS in another --out"
            )
        # the same weights (the same command plus --resume): the checkpoints hold them, and where they came from
        if stored is None:  # checkpoints that did not keep it: the history is the named weights', as it was then
            stored = campaign_position(options.init_from)
        options = dataclasses.replace(options, init_from=None)
    start_time = time.monotonic()
    loss_fn = build_loss(recipe.loss, options.vgg_weights)  # a missing or needless VGG file: before anything is written
    group = start_distributed(recipe.train.device)
    device = resolve_device(recipe.train.device, group.local_rank)
    # where the campaign stood before this run folder: the --init-from weights' history, or what the checkpoints kept
    position = resumed_position(existing, stored, group) if existing else campaign_position(options.init_from)
    run_dir = Path(options.run_dir)
    if group.is_main:
        precision_note = slow_precision_note(device, recipe.train.precision)
        if precision_note:  # e.g. the campaign recipe (bf16, for GPUs) run on a laptop
            note(f"{precision_note} (--set train.precision=fp32)")
    if device.type == "cuda":  # CPU kernels used here are deterministic already
        torch.backends.cudnn.deterministic = recipe.train.deterministic
        torch.backends.cudnn.benchmark = not recipe.train.deterministic
    torch.manual_seed(recipe.train.seed)  # the same initial weights on every rank
    model = GolfOptimizer(
        GolfConfig(recipe.model.g_width, recipe.model.d_width, recipe.model.iterations, recipe.model.relu_before_add),
        recipe.model.zero_init_last,
    )
    if options.init_from:
        load_initial_weights(model, options.init_from)
        if "d" not in options.stages and bool(model.D.tail.weight.any()) and group.is_main:  # D is no identity
            note(
                f"--stage g trains G further, while D stays the D of {options.init_from}, which learnt on its "
                "earlier G (a D loses on a G it did not learn on); train stage d on this run's weights next (--stage "
                "d --init-from its golf.safetensors), or use --stage both"
            )
    model.to(device)
    if recipe.train.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    loss_fn.to(device)
    stop = StopFlags(start_time)
    outcome = RunOutcome(model=model)
    stages = list(options.stages)
    if d_started and "g" in stages:
        stages.remove("g")  # stage D had started: G is final and lives in D's checkpoint
        g_checkpoint = checkpoint_path(run_dir, "g")
        g_step = int(checkpoint_meta(g_checkpoint)["step"]) if g_checkpoint.is_file() else 0
        if g_step < recipe.train.g_steps and group.is_main:
            note(
                f"train.g_steps {recipe.train.g_steps} cannot take effect: stage d has started in {run_dir} on G "
                f"from step {g_step} of stage g, so G trains no further (train G further into another --out)"
            )
    inherited: tuple[dict, ...] = ()  # stage G's chunk when an earlier process trained it in this run folder
    if stages == ["d"] and not options.init_from:
        inherited = load_g_from_run(model, run_dir, options.resume, device, recipe.train.g_steps)
    batch_source = make_batches(recipe, group, device, train_data, position.chunks) if stages else None  # both stages
    validate_here = group.is_main and recipe.train.val_every > 0 and bool(stages)
    validation = make_validation_data(recipe, validation_data) if validate_here else None  # rank 0 validates
    if group.is_main:  # only now: whatever refuses this run (a resume's settings, weights, data) has been checked
        run_dir.mkdir(parents=True, exist_ok=True)
        start_transcript(run_dir)  # train.log: what was said so far, then every line as it is said
        if options.resume:  # writes killed before their rename (kill -9) left hidden temporaries: no run reads them
            removed = remove_temporaries(run_dir, run_file_names())
            if removed:
                note(f"removed {len(removed)} temporary file(s) that killed writes left in {run_dir}")
        atomic_write_text(run_dir / "config.yaml", recipe_to_yaml(recipe))
        if stages and recipe.train.tensorboard and not tensorboard_installed():  # once, not by each stage's log
            note("tensorboard is not installed (pip install 'golfdeblur[tensorboard]'); logging to log.csv only")
    try:
        with stop.handling_signals():
            stage_start = start_time  # the first stage's minutes include the set-up
            history = inherited
            for name in stages:
                assert batch_source is not None  # made whenever there are stages
                stage = make_stage(name, model, recipe.train.t_train)
                try:
                    result = run_stage(
                        stage, recipe, options, group, device, loss_fn, stop, batch_source, validation, on_step,
                        stage_start, history, position,
                    )  # fmt: skip
                except TrainingDataFailed as exc:  # the stage saved its last step: summary.json says how it ended
                    outcome.stages.append(exc.outcome)
                    if group.is_main:
                        write_summary(run_dir, outcome, position)
                    raise
                outcome.stages.append(result)
                history = result.history()
                stage_start = time.monotonic()
                if result.status not in ("finished", "stage budget"):
                    break
        if group.is_main and outcome.status == "finished" and outcome.stages:
            final = run_dir / "golf.safetensors"
            card = model_card(recipe, options, position, history)
            unchanged = all(s.start_step >= s.steps for s in outcome.stages)  # every stage had finished before
            if unchanged and golf_file_is_current(final, model, card):  # not e.g. an earlier --stage g's file
                outcome.weights = str(final)
            else:
                outcome.weights = str(save_golf(export_model(model, None, None), final, card))
        if group.is_main:
            write_summary(run_dir, outcome, position)
    finally:
        if group.started_here:
            dist.destroy_process_group()
    return outcome


def write_summary(run_dir: Path, outcome: RunOutcome, position: CampaignPosition) -> None:
    """summary.json: the run's status, its final weights and how each stage ended. A stage's ``earlier_chunks`` are
    the campaign's chunks before it as its model cards list them (``campaign.chunks`` without the stage's own): the
    history of the weights the folder started from (``position``), then the stages this run folder trained before it
    (all that ``StageOutcome.earlier_chunks`` holds, as the cards take the rest from ``position``)."""
    stages = [{**vars(s), "earlier_chunks": [*position.history, *s.earlier_chunks]} for s in outcome.stages]
    summary = {"status": outcome.status, "weights": outcome.weights, "stages": stages}
    atomic_write_text(run_dir / "summary.json", strict_json_text(summary))


def run_stage(
    stage: Stage,
    recipe: Recipe,
    options: RunOptions,
    group: ProcessGroup,
    device: torch.device,
    loss_fn: nn.Module,
    stop: StopFlags,
    batch_source: LoaderBatches | DeviceBatches,
    validation: ValidationPairs | None,
    on_step: Callable[[Stage, int], None] | None,
    stage_start: float,
    earlier_chunks: tuple[dict, ...],
    position: CampaignPosition,
) -> StageOutcome:
    """The training loop of one stage (see the module docstring). ``validation``: the (blurry, sharp, name) pairs
    rank 0 validates on (``make_validation_data``), None elsewhere; ``stage_start``: when the stage's minutes start
    counting (time.monotonic()); ``earlier_chunks``: the stages this run finished before, for the model cards;
    ``position``: where the campaign stood before this run folder, from the --init-from weights' card or, on a
    resume, from the checkpoints (this stage's batches and, with ``train.continue_schedule``, its learning-rate decay
    go on from its steps). A resumed stage takes its earlier chunks and minutes from its checkpoint, so the cards of a
    run resumed in another process tell its whole history; a resumed stage that had finished changes none of its
    files (its weights file is written again only when missing or not the checkpoint's, ``weights_file_is_current``)."""
    cfg, opt = recipe.train, recipe.optim
    limit_minutes = stage_limit_minutes(stage.name, options)
    steps = cfg.stage_steps(stage.name)
    run_dir = Path(options.run_dir)
    ckpt_file = checkpoint_path(run_dir, stage.name)
    stage.prepare()
    optimizer = torch.optim.Adam(
        stage.trainable.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), weight_decay=opt.weight_decay
    )
    ema = WeightsEMA(stage.trainable, opt.ema_decay) if opt.ema_decay > 0 else None
    hardware = describe_device(device, group.world_size)
    start_step, best_psnr, restored_window, earlier_minutes = 0, None, None, 0.0
    rate = 0.0  # images per second of the last logging window
    validation_record = validation.record() if validation is not None else None  # what the checkpoints keep
    if options.resume and ckpt_file.is_file():
        meta = load_checkpoint(ckpt_file, stage.model, optimizer, ema, recipe, group)
        start_step, best_psnr, restored_window = int(meta["step"]), meta.get("best_psnr"), meta.get("window")
        stored_validation = meta.get("validation")  # checkpoints before 2026-11-29 keep none
        if validation is None:
            validation_record = stored_validation  # not validating now: the set the best score is on stays named
        elif stored_validation is not None and not validation.same_set(stored_validation) and start_step < steps:
            # e.g. run from another folder without data.validation_root: the data folder, so the set, differs
            note(
                f"stage {stage.name} validates on {validation.where}, its checkpoint on "
                f"{stored_validation.get('where')}: the best score starts again, so best-{stage.name} follows the "
                "new set"
            )
            best_psnr = None
        earlier_minutes = float(meta.get("minutes", 0.0))  # checkpoints from before 2026-11-28 hold neither
        earlier_chunks = tuple(meta.get("earlier_chunks", earlier_chunks))
        rate = float(meta.get("images_per_s", 0.0))  # older checkpoints hold no rate
        if start_step >= steps:  # nothing to train: the stage keeps what it was trained on
            hardware = meta.get("device", hardware)
        if group.is_main:
            say(f"resuming stage {stage.name} at step {start_step} from {ckpt_file}")
    elif options.resume and group.is_main:
        say(f"no {ckpt_file.name} in {run_dir}: stage {stage.name} starts from step 0")
    finished_before = start_step >= steps  # a resumed stage that had finished: its files stay as they are
    stage.prepare()  # loading a checkpoint does not change modes, but be explicit after it
    network: nn.Module = stage.network
    if group.world_size > 1:
        network = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        network = cast(nn.Module, torch.compile(network))  # compiling a Module gives a Module (OptimizedModule)
    earlier_steps = position.steps(stage.name)
    schedule_offset = earlier_steps if cfg.continue_schedule else 0
    if earlier_steps and group.is_main:
        say(
            f"stage {stage.name} continues a campaign of {earlier_steps} earlier steps: batches from step "
            f"{earlier_steps + start_step}, learning rate "
            f"{learning_rate(start_step, steps, opt.lr, opt.lr_end, 0, schedule_offset):.3g}"
            + (" after warm-up" if opt.warmup_steps else "")
        )
    # Stage G's datasets draw as before datasets had streams (""): a stage G checkpointed then resumes on its batches.
    batches = batch_source.batches(
        earlier_steps + start_step, stage.name, dataset_stream="" if stage.name == "g" else stage.name
    )
    writes_log = group.is_main and not finished_before  # a finished stage has nothing to add to its log
    log = RunLog(run_dir, stage.name, start_step, cfg.tensorboard, options.resume) if writes_log else None
    progress = make_progress(stage.name, steps, start_step, group.is_main and cfg.progress)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    first_bad_step = torch.full((), -1, dtype=torch.long, device=device)  # checked only at sync points
    # Sums over the current logging window; a checkpoint keeps them so a resumed run logs the same means.
    window_loss = torch.zeros((), device=device)
    window_terms: dict[str, torch.Tensor] = {}
    # images per second count only the steps this process made: the restored window's were made before the resume
    window_start, window_steps, timed_steps = time.monotonic(), 0, 0
    if restored_window:
        window_steps = restored_window["steps"]
        if group.is_main:  # rank 0 holds the sum over all processes; the others start from zero
            window_loss += restored_window["loss"]
            window_terms = {k: torch.tensor(v, device=device) for k, v in restored_window["terms"].items()}
        else:
            window_terms = {k: torch.zeros((), device=device) for k in restored_window["terms"]}
    last_weights_save = time.monotonic()
    status, signal_number, step = "finished", None, start_step
    data_error: Exception | None = None  # what stopped the batches when status is "data error"
    saved_step = start_step  # the step of the checkpoint on disk (a resumed one, or none at 0)
    images_per_step = cfg.batch_size * group.world_size

    def stage_minutes() -> float:
        return earlier_minutes + (0.0 if finished_before else (time.monotonic() - stage_start) / 60)

    def save_progress(at_step: int) -> None:
        nonlocal saved_step
        check_finite(first_bad_step, group, stage.name, ckpt_file)
        broadcast_buffers(stage.trainable, group)
        if ema is not None:  # each process averaged its own BatchNorm statistics: all keep rank 0's average
            broadcast_tensors(list(ema.state_dict().values()), group)
        sums = all_reduce_sum([window_loss, *window_terms.values()], group)
        window = {
            "steps": window_steps,
            "loss": float(sums[0]),
            "terms": {k: float(v) for k, v in zip(window_terms, sums[1:], strict=True)},
        }
        if group.is_main:
            meta = {
                "stage": stage.name,
                "step": at_step,
                "best_psnr": best_psnr,
                "window": window,
                "recipe": recipe_to_dict(recipe),
                "processes": group.world_size,
                "minutes": stage_minutes(),
                "device": hardware,
                "earlier_chunks": list(earlier_chunks),
                "images_per_s": rate,
                "validation": validation_record,
                **position.as_meta(),  # where the campaign stood before this run folder: a resume goes on from there
            }
            save_checkpoint(ckpt_file, stage.model, optimizer, ema, meta)
            card = model_card(
                recipe, options, position, earlier_chunks,
                stage=stage.name, step=at_step, images_per_s=rate, run_minutes=stage_minutes(), device=hardware,
            )  # fmt: skip
            save_golf(export_model(stage.model, stage, ema), weights_path(run_dir, stage.name), card)
        barrier(group)
        saved_step = at_step

    while step < steps:
        lr = learning_rate(step, steps, opt.lr, opt.lr_end, opt.warmup_steps, schedule_offset)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        try:
            blurry, sharp = next(batches)
        except Exception as exc:
            if stopped_loader(exc, stop, group):
                save_progress(step)  # the last completed step's, as a signal's stop saves it
                status, signal_number = "interrupted", stop.signal_number
                break
            if not failed_on_data(exc, group):  # a bug keeps its traceback; several processes: see failed_on_data
                raise
            # e.g. an image in data.root truncated or replaced after the run started: keep the steps made since the
            # last checkpoint (up to train.checkpoint_every of them), as Ctrl-C does, then stop with the data's error
            if step > saved_step:
                save_progress(step)
            status, data_error = "data error", exc
            break
        blurry = blurry.to(memory_format=memory_format)
        sharp = sharp.to(memory_format=memory_format)
        with autocast:
            loss, terms = stage_loss(stage, network, loss_fn, blurry, sharp)
        bad = ~torch.isfinite(loss.detach())
        first_bad_step = torch.where(bad & (first_bad_step < 0), step, first_bad_step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if opt.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(stage.trainable.parameters(), opt.grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update(stage.trainable)
        step += 1
        window_loss += loss.detach().float()
        for key, value in terms.items():
            window_terms[key] = window_terms.get(key, 0.0) + value.float()
        window_steps += 1
        timed_steps += 1
        progress.update(1)
        if on_step is not None:
            on_step(stage, step)

        row = None
        if step % cfg.log_every == 0 or step == steps:
            check_finite(first_bad_step, group, stage.name, ckpt_file)
            elapsed = time.monotonic() - window_start
            rate = images_per_step * timed_steps / max(elapsed, 1e-9)
            values = all_reduce_mean([window_loss, *window_terms.values()], group)
            row = {
                "stage": stage.name,
                "step": step,
                "lr": f"{lr:.4g}",
                "images_per_s": f"{rate:.1f}",
                "elapsed_s": f"{time.monotonic() - stop.start_time:.1f}",
                "loss": f"{float(values[0]) / window_steps:.6g}",
            }
            for key, value in zip(window_terms, values[1:], strict=True):
                row[key] = f"{float(value) / window_steps:.6g}"
            progress.set_postfix(loss=row["loss"], lr=row["lr"], img_s=row["images_per_s"])
            window_loss.zero_()
            window_terms.clear()
            window_start, window_steps, timed_steps = time.monotonic(), 0, 0
        signal_stop, over_time, weights_due = stop.agree(
            group, last_weights_save, cfg.weights_every_minutes, limit_minutes
        )
        # validate on schedule, at the end, and when the time budget ends a chunk (so every chunk is scored)
        validation_due = cfg.val_every > 0 and (step % cfg.val_every == 0 or step == steps or over_time)
        if validation_due:
            check_finite(first_bad_step, group, stage.name, ckpt_file)  # on every process: a collective
        if validation is not None and validation_due:
            val_psnr, val_ssim = validate(export_model(stage.model, stage, ema), validation.items, stage, device)
            row = row or {"stage": stage.name, "step": step}
            row.update(val_psnr=f"{val_psnr:.4f}", val_ssim=f"{val_ssim:.5f}")
            if not math.isnan(val_psnr) and (best_psnr is None or val_psnr > best_psnr):  # NaN: never the best
                best_psnr = val_psnr
                card = model_card(
                    recipe, options, position, earlier_chunks, stage=stage.name, step=step, val_psnr=val_psnr,
                    val_ssim=val_ssim, run_minutes=stage_minutes(), device=hardware,
                )  # fmt: skip
                save_golf(export_model(stage.model, stage, ema), best_path(run_dir, stage.name), card)
        if validation_due:
            barrier(group)  # the other processes wait while rank 0 validates
        if row is not None and log is not None:
            log.write(row)

        checkpoint_due = cfg.checkpoint_every > 0 and step % cfg.checkpoint_every == 0
        if checkpoint_due or weights_due or signal_stop or over_time or step == steps:
            save_progress(step)
            last_weights_save = time.monotonic()
        if signal_stop or over_time:
            if signal_stop:
                status = "interrupted"
            else:  # stage G's own budget lets stage D follow; the run's ends the run
                status = "time budget" if limit_minutes == options.max_minutes else "stage budget"
            signal_number = stop.signal_number
            break

    progress.close()
    if ema is not None and status in ("finished", "stage budget"):
        broadcast_tensors(list(ema.state_dict().values()), group)  # as save_progress did: every process, one G
        stage.trainable.load_state_dict(ema.state_dict())  # the stage's result (and the next stage's G) is the EMA
    elif finished_before:  # a finished stage's result is the EMA it kept, even when the recipe now has none
        stage.trainable.load_state_dict(stage_result(read_checkpoint(ckpt_file)[0], stage.name))
    if log is not None:
        log.close()
    if finished_before and group.is_main and not weights_file_is_current(weights_path(run_dir, stage.name), step):
        # resumed a finished stage whose weights file is missing, or not the checkpoint's (a save killed between the
        # checkpoint and the weights, or between the weights and their card): write it; the checkpoint stays as it was
        card = model_card(
            recipe, options, position, earlier_chunks,
            stage=stage.name, step=start_step, images_per_s=rate, run_minutes=earlier_minutes, device=hardware,
        )  # fmt: skip
        save_golf(export_model(stage.model, None, None), weights_path(run_dir, stage.name), card)  # the EMA, if any
    weights_file = weights_path(run_dir, stage.name)
    # a data error before a fresh stage's first step saved no weights
    weights = str(weights_file) if data_error is None or weights_file.is_file() else None
    outcome = StageOutcome(
        stage.name, status, step, steps, rate, best_psnr, weights, signal_number, stage_minutes(), hardware,
        earlier_chunks, start_step,
    )  # fmt: skip
    if data_error is not None:  # its one line says where the last step is saved: no "stage ...: at step" line
        raise TrainingDataFailed(data_failure_message(data_error, stage.name, step, ckpt_file), outcome) from data_error
    if group.is_main:
        say(f"stage {stage.name}: {status} at step {step}/{steps}; checkpoint {ckpt_file}")
    return outcome


def data_failure_message(exc: Exception, stage: str, step: int, ckpt_file: Path) -> str:
    """The data's one-line error, then where the run's last step is saved and how to go on once the data is fixed.
    A pair is removed whole (one of its files left alone is refused as having no partner), and an error may name
    two files (a blurry and a sharp image of different sizes). "With --resume", not "plus": the failed command may
    have had it already."""
    fix = "fix what it names, or remove it (a pair's blurry and sharp files together), then"
    if ckpt_file.is_file():  # saved just now, or the resumed checkpoint when no step was made since
        return (
            f"{exc}; training stopped at step {step} of stage {stage}, saved in {ckpt_file}; {fix} run the same "
            "command with --resume"
        )
    if any(checkpoint_path(ckpt_file.parent, name).is_file() for name in STAGE_NAMES):  # stage G's, before D's
        return (
            f"{exc}; stage {stage} stopped before its first step, the earlier stages' checkpoints are in "
            f"{ckpt_file.parent}; {fix} run the same command with --resume"
        )
    return f"{exc}; nothing was trained yet; {fix} run the same command again"


def latest_stored_position(checkpoints: list[Path]) -> CampaignPosition | None:
    """The campaign position the latest of ``checkpoints`` kept (None when none did: older checkpoints)."""
    for path in reversed(checkpoints):  # stage D's first: the latest
        stored = stored_position(path)
        if stored is not None:
            return stored
    return None


def resumed_position(checkpoints: list[Path], stored: CampaignPosition | None, group: ProcessGroup) -> CampaignPosition:
    """Where the campaign stood before this run folder, as its checkpoints keep it (``stored``: the --init-from
    weights' name and history, from the run that started the folder), so that a resume goes on from there without
    --init-from. Nothing for older checkpoints, which did not keep it (a note says so)."""
    if stored is not None:
        return stored
    if group.is_main:
        note(
            f"{checkpoints[-1]} predates checkpoints that keep where their weights came from: the model cards' "
            "history starts at this run folder, and batches and the learning-rate decay at its step 0"
        )
    return CampaignPosition()


def stage_limit_minutes(stage: str, options: RunOptions) -> float | None:
    """When a stage must stop, in minutes from the start of the run: the run's budget, or for stage G its own
    (``g_minutes``) if that comes first. None: no limit."""
    limits = [options.max_minutes] + ([options.g_minutes] if stage == "g" else [])
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


# ----------------------------------------------------------------------------------------------------------------------
# Pieces of the loop


def check_finite(first_bad_step: torch.Tensor, group: ProcessGroup, stage: str, ckpt_file: Path) -> None:
    """Raise TrainingDiverged if any process saw a NaN or inf loss (the checkpoint on disk stays the last good one)."""
    bad = first_bad_step.clone()
    if group.world_size > 1:
        flag = torch.where(bad < 0, torch.iinfo(torch.long).max, bad)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        bad = torch.where(flag == torch.iinfo(torch.long).max, -1, flag)
    at = int(bad)
    if at >= 0:
        kept = f"last good checkpoint kept: {ckpt_file}" if ckpt_file.is_file() else "no checkpoint had been saved yet"
        raise TrainingDiverged(
            f"stage {stage}: the loss became NaN or inf at step {at + 1}; training stopped ({kept}); "
            "lower optim.lr, set optim.grad_clip, or check the data"
        )


@torch.no_grad()
def validate(model: GolfOptimizer, items: list, stage: Stage, device: torch.device) -> tuple[float, float]:
    """Mean PSNR and SSIM of the stage's output (G(y) for stage G, Golf at test T for stage D) over ``items``; NaN when
    the model gives NaN on any of them."""
    from golfdeblur.evaluate import PSNR_CONVENTION, SSIM_CONVENTION

    model.eval()
    psnrs, ssims = [], []
    for blurry, sharp, _name in items:
        with full_fp32(device):  # comparable with the CPU evaluation that decides what is kept
            out = model(blurry.unsqueeze(0).to(device).float(), iterations=stage.validation_iterations).clamp(0, 1)
        target = sharp.unsqueeze(0).to(device).float()
        psnrs.append(float(PSNR_CONVENTION(out.contiguous(), target)[0]))
        ssims.append(float(SSIM_CONVENTION(out.contiguous(), target)[0]))
    stage.prepare()  # back to the stage's train/eval modes
    # an image equal to its target (+inf) is left out of the mean, as in evaluation; a NaN (a diverged model) is not
    kept = [p for p in psnrs if p != math.inf]
    return (sum(kept) / max(len(kept), 1), sum(ssims) / max(len(ssims), 1))


def make_progress(stage: str, steps: int, start: int, enabled: bool) -> tqdm | ProgressLines:
    """The run's progress on the main process (loss, learning rate, images per second): a tqdm bar on a terminal,
    plain lines where stderr is a log file or a pipe (a bar's carriage-return updates would make one long line of
    them there) or a terminal of no width, or a silent stand-in. train.log gets the plain lines in either case."""
    from tqdm.auto import tqdm

    if enabled and not stderr_is_a_sized_terminal():
        return ProgressLines(stage, steps, start)
    bar = tqdm(total=steps, initial=start, desc=f"stage {stage}", disable=not enabled, dynamic_ncols=True)
    return BarAndLoggedLines(bar, stage, steps, start) if enabled else bar


def stderr_is_a_sized_terminal() -> bool:
    """Whether stderr is a terminal with a width. A pseudo-terminal of 0 columns (``script``, some CI runners) is a
    terminal on which tqdm's bar, fitted to the width, shows nothing at all. None, started with stderr closed
    (``2>&-``), is no terminal: the plain lines go to train.log alone (``say``)."""
    if sys.stderr is None or not sys.stderr.isatty():
        return False
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):  # no descriptor (a stand-in stream), or one that gives no size
        return False


class ProgressLines:
    """Progress where stderr is not a terminal: at a logged step, one line such as ``stage g: step 400/10000
    loss=0.0123 lr=0.0001 img_s=85.2``, at most one every ``interval`` seconds (the last step's always), handed to
    ``show`` (``say``: stderr and train.log)."""

    def __init__(
        self, stage: str, steps: int, start: int, interval: float = 30.0, show: Callable[[str], None] = say
    ) -> None:
        self.stage, self.steps, self.n, self.interval, self.show = stage, steps, start, interval, show
        self.printed_at = -math.inf

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: object) -> None:
        now = time.monotonic()
        if now - self.printed_at < self.interval and self.n < self.steps:
            return
        self.printed_at = now
        shown = " ".join(f"{key}={value}" for key, value in values.items())
        self.show(f"stage {self.stage}: step {self.n}/{self.steps} {shown}")  # stderr and train.log

    def close(self) -> None:
        """Nothing to close (as tqdm's)."""


class BarAndLoggedLines(ProgressLines):
    """Progress on a terminal: tqdm's bar there, and ``ProgressLines``' plain lines in train.log alone (the bar's
    carriage-return updates would make one long line of bars in a file)."""

    def __init__(self, bar: tqdm, stage: str, steps: int, start: int) -> None:
        super().__init__(stage, steps, start, show=keep_in_transcript)
        self.bar = bar

    def update(self, n: int = 1) -> None:
        super().update(n)
        self.bar.update(n)

    def set_postfix(self, **values: object) -> None:
        super().set_postfix(**values)
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()
