"""The exponential moving average of the trained network's weights (``optim.ema_decay``), and the model a stage saves
and validates: the network itself, or a copy holding its EMA."""

from __future__ import annotations

import copy

import torch
from torch import nn

from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.train.stages import Stage


class WeightsEMA:
    """Exponential moving average of a module's state: shadow = decay * shadow + (1 - decay) * current.

    Floating-point tensors (weights, BatchNorm statistics) are averaged; integer ones (batch counters) copied.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise GolfdeblurError(f"optim.ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for key, value in module.state_dict().items():
            if value.is_floating_point():
                self.shadow[key].lerp_(value.detach(), 1.0 - self.decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            self.shadow[key].copy_(value)


def export_model(model: GolfOptimizer, stage: Stage | None, ema: WeightsEMA | None) -> GolfOptimizer:
    """The model to save or validate: ``model`` itself, or a copy whose trained network holds the EMA weights."""
    if ema is None or stage is None:
        return model
    copied = copy.deepcopy(model)
    getattr(copied, stage.name.upper()).load_state_dict(ema.state_dict())
    return copied
