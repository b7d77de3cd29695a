"""The paper's two training stages, as the loop sees them.

Stage G (paper Eq. 6): train G alone, minimise L(G(y), x).
Stage D (paper Eq. 4): freeze G (eval mode, no gradients) and train D on sum_{t=1..T} L(D^t(G(y)), x): every one of
the T_train iterates is supervised, so D learns one step that helps from wherever the previous step left the image.

A stage names the module the optimiser trains (``trainable``), the network the loop calls each step (``network``;
wrapped by DistributedDataParallel when several processes train) and how its predictions are made from a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from golfdeblur.models.golf import GolfOptimizer, ResidualCNN

STAGE_NAMES = ("g", "d")


class Unrolled(nn.Module):
    """D applied ``steps`` times, returning every iterate: the whole recurrence is one forward call.

    One forward per training step matters for DistributedDataParallel, which expects each parameter's gradient
    once per backward pass.

    Shape:
        (B, 3, H, W) -> list of ``steps`` tensors (B, 3, H, W): [D(x), D(D(x)), ...].
    """

    def __init__(self, net: ResidualCNN, steps: int) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"stage D needs at least one iterate, got t_train={steps}")
        self.net = net
        self.steps = steps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        iterates = []
        for _ in range(self.steps):
            x = self.net(x)
            iterates.append(x)
        return iterates


class Single(nn.Module):
    """G as a network returning a one-element list, so both stages look alike to the loop."""

    def __init__(self, net: ResidualCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.net(x)]


@dataclass
class Stage:
    """One training stage of a GolfOptimizer.

    Attributes:
        name: "g" or "d".
        model: the whole GolfOptimizer (both networks; checkpoints hold all of it).
        trainable: the network whose parameters the optimiser updates (model.G or model.D).
        network: what the loop calls on the stage's inputs; returns the list of supervised predictions.
        validation_iterations: T used when validating (0 for stage G: G(y) alone).
    """

    name: str
    model: GolfOptimizer
    trainable: ResidualCNN
    network: nn.Module
    validation_iterations: int

    def prepare(self) -> None:
        """Put the networks in the stage's modes: the trained one in train mode, a frozen G in eval mode."""
        self.model.requires_grad_(False)
        self.trainable.requires_grad_(True)
        self.model.eval()
        self.trainable.train()

    @torch.no_grad()
    def inputs(self, blurry: torch.Tensor) -> torch.Tensor:
        """What ``network`` receives: y for stage G, the frozen G(y) for stage D (no gradient flows into G)."""
        if self.name == "g":
            return blurry
        return self.model.G(blurry)


def make_stage(name: str, model: GolfOptimizer, t_train: int) -> Stage:
    """Stage "g" (train G on y) or "d" (train D on G(y) through ``t_train`` supervised iterates, G frozen)."""
    if name == "g":
        return Stage("g", model, model.G, Single(model.G), validation_iterations=0)
    if name == "d":
        return Stage("d", model, model.D, Unrolled(model.D, t_train), validation_iterations=model.config.iterations)
    raise ValueError(f"unknown stage {name!r}; expected one of {STAGE_NAMES}")


def stage_loss(
    stage: Stage, network: nn.Module, loss_fn: nn.Module, blurry: torch.Tensor, sharp: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The stage's objective on one batch: the sum over supervised predictions of loss_fn(prediction, sharp).

    Returns:
        (total loss, {term: summed detached value}) - terms as ``TrainingLoss`` reports them, summed over iterates.

    Shape:
        blurry, sharp (B, 3, H, W).
    """
    predictions = network(stage.inputs(blurry))
    total = 0.0
    terms: dict[str, torch.Tensor] = {}
    for prediction in predictions:
        loss, parts = loss_fn(prediction, sharp)
        total = total + loss
        for key, value in parts.items():
            terms[key] = terms.get(key, 0.0) + value
    return cast(torch.Tensor, total), terms  # a tensor: there is at least one prediction
