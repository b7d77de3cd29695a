"""What a training run is given besides its recipe (``RunOptions``, the command line's options) and what it gives
back (``RunOutcome``, one ``StageOutcome`` per stage; each stage that made steps is one chunk of the campaign
history, ``chunk_entry``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from golfdeblur.models.golf import GolfOptimizer


@dataclass(frozen=True)
class RunOptions:
    """What a run needs besides the recipe (the command line's options).

    Attributes:
        run_dir: folder for checkpoints, weights, logs and the resolved recipe.
        stages: ("g",), ("d",) or ("g", "d").
        resume: continue from the checkpoints in run_dir.
        init_from: weights (.safetensors with card, or a packaged name) to start the model from; their card's
            campaign history is where the run goes on from. When resuming a folder that holds a checkpoint, its
            checkpoints keep the weights and that history (``checkpoints.CampaignPosition``): the same weights are
            then ignored (the same command plus --resume continues), other ones refused.
        max_minutes: stop (saving checkpoint and weights) after this much wall time, from the start of the run.
        g_minutes: stage G's own budget, also from the start of the run: stage G then stops (saving checkpoint
            and weights) and stage D, when requested, goes on in the same process until ``max_minutes``. One run
            then trains both stages of a GPU chunk without paying the set-up (data, kernel bank, CUDA) twice.
        vgg_weights: torchvision's vgg11_bn-*.pth for the perceptual loss (overrides the recipe's).
        recipe_name: for the model card.
    """

    run_dir: Path
    stages: tuple[str, ...] = ("g", "d")
    resume: bool = False
    init_from: str | None = None
    max_minutes: float | None = None
    g_minutes: float | None = None
    vgg_weights: str | None = None
    recipe_name: str = ""


@dataclass
class StageOutcome:
    """How a stage ended: status is "finished", "interrupted" (a signal), "time budget" (the run's), "stage budget"
    (stage G's own, ``RunOptions.g_minutes``: the run goes on with stage D) or "data error" (the batch source failed
    on the data: summary.json records it, and ``train`` raises ``TrainingDataFailed``). ``minutes``: the stage's wall
    time (the first stage's includes the run's set-up). ``start_step``: where this run took the stage up (0, or its
    resumed checkpoint's step; ``step`` when the stage had finished before and this run changed nothing).
    ``earlier_chunks``: the chunks this run folder trained before this stage (summary.json and the model cards list
    the ``--init-from`` weights' history before them)."""

    stage: str
    status: str
    step: int
    steps: int
    images_per_s: float
    best_psnr: float | None
    weights: str | None
    signal_number: int | None = None
    minutes: float = 0.0
    device: str = ""
    earlier_chunks: tuple[dict, ...] = ()
    start_step: int = 0

    def history(self) -> tuple[dict, ...]:
        """The run's chunks up to and including this stage (if it made steps), for the campaign history
        (``checkpoints.campaign_record``): the chunks before it in this run, then its own."""
        own = (chunk_entry(self.stage, self.step, self.minutes, self.device),) if self.step > 0 else ()
        return self.earlier_chunks + own


@dataclass
class RunOutcome:
    """The result of ``train``: one StageOutcome per stage run, the final weights file (None if none) and the model."""

    stages: list[StageOutcome] = field(default_factory=list)
    weights: str | None = None
    model: GolfOptimizer | None = None

    @property
    def status(self) -> str:
        return self.stages[-1].status if self.stages else "finished"


def chunk_entry(stage: object, step: int, minutes: float | None, device: object) -> dict:
    """One chunk of the campaign history: stage, steps, minutes (rounded to 0.01) and device."""
    return {"stage": stage, "steps": step, "minutes": round(float(minutes or 0.0), 2), "device": device}
