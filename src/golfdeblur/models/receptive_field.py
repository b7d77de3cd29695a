"""Receptive fields of the networks, derived from their layers (tiling and padding depend on them)."""

from __future__ import annotations

from typing import cast

from torch import nn

from golfdeblur.input_values import whole_iterations
from golfdeblur.models.blocks import BasicBlock
from golfdeblur.models.golf import GolfOptimizer, ResidualCNN


def _conv_growth(conv: nn.Conv2d) -> int:
    if conv.stride != (1, 1):
        raise ValueError("receptive-field arithmetic here assumes stride-1 convolutions")
    return (conv.kernel_size[0] - 1) * conv.dilation[0]


def _block_growth(block: BasicBlock) -> int:
    # The residual path (7x7 then 5x5) is wider than either shortcut (identity or 1x1), so it sets the reach.
    return _conv_growth(block.conv1) + _conv_growth(block.conv2)


def residual_cnn_growth(net: ResidualCNN) -> int:
    """How many pixels one ResidualCNN widens the receptive field by (diameter - 1): 92 for Table 1."""
    blocks = [cast(BasicBlock, b) for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
    return _conv_growth(net.head) + sum(_block_growth(b) for b in blocks) + _conv_growth(net.tail)


def receptive_field(model: ResidualCNN | GolfOptimizer, iterations: int | None = None) -> int:
    """Receptive-field diameter in pixels: 93 for one ResidualCNN, 369 for G followed by 3 applications of D.

    Args:
        model: a ResidualCNN (``iterations`` is then ignored), or a GolfOptimizer (then G plus ``iterations``
            applications of D; default its T).
        iterations: None, or a whole number >= 0 (a numpy integer too; not True, 2.5 or "3"): anything else raises
            ``DeblurSettingsError``, as ``deblur`` does for its ``iterations``.

    Example:
        >>> receptive_field(ResidualCNN(16)), receptive_field(GolfOptimizer())
        (93, 369)
        >>> receptive_field(GolfOptimizer(), iterations=1)  # G then one application of D: 93 + 92
        185
    """
    steps = None if iterations is None else whole_iterations(iterations, "iterations")
    if isinstance(model, ResidualCNN):
        return residual_cnn_growth(model) + 1
    if steps is None:
        steps = model.config.iterations  # a whole number >= 0: GolfConfig checks it when built
    return residual_cnn_growth(model.G) + steps * residual_cnn_growth(model.D) + 1
