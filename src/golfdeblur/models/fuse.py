"""Fold every BatchNorm into its neighbouring convolution for inference (eval-mode statistics only)."""

from __future__ import annotations

import copy
from typing import TypeVar, cast

import torch
from torch import nn

from golfdeblur.models.blocks import BasicBlock


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("only a BatchNorm with running statistics folds into a convolution")
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def fold_bn_after_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """BN(conv(x)) as one convolution with a bias. Exact everywhere, borders included."""
    scale, shift = _bn_scale_shift(bn)
    fused = copy.deepcopy(conv)  # same kernel size, stride, padding, dilation, groups and padding mode
    fused.weight = nn.Parameter(conv.weight.detach() * scale[:, None, None, None])
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(shift)
    fused.bias = nn.Parameter((bias * scale + shift).detach())
    return fused


def fold_bn_before_conv1x1(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    """conv1x1(BN(x)) as one convolution with a bias. Exact because a 1x1 convolution has no padding."""
    if conv.kernel_size != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
        raise ValueError("a BatchNorm before a convolution folds exactly only into an unpadded, ungrouped 1x1 one")
    scale, shift = _bn_scale_shift(bn)
    weight = conv.weight.detach()
    fused = copy.deepcopy(conv)
    fused.weight = nn.Parameter(weight * scale[None, :, None, None])
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(weight[:, 0, 0, 0])
    fused.bias = nn.Parameter(bias + (weight[:, :, 0, 0] @ shift).detach())
    return fused


Network = TypeVar("Network", bound=nn.Module)


@torch.no_grad()
def fuse_for_inference(model: Network) -> Network:
    """A copy of ``model`` in eval mode with every BasicBlock's BatchNorms folded into its convolutions.

    Works on a ResidualCNN or a GolfOptimizer; the input is not modified. Fused output equals the eval-mode
    output of the original within float rounding (about 1e-6 relative in fp32). A model folded before comes back as
    an unchanged copy.

    Example:
        >>> from golfdeblur.models.golf import ResidualCNN
        >>> g = torch.Generator().manual_seed(0)
        >>> model = ResidualCNN(4, zero_init_last=False)
        >>> _ = model(torch.rand(2, 3, 16, 16, generator=g))  # a training-mode pass moves the running statistics
        >>> fused = fuse_for_inference(model)
        >>> fused.training, any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
        (False, False)
        >>> x = torch.rand(1, 3, 16, 16, generator=g)
        >>> torch.allclose(fused(x), model.eval()(x), atol=1e-5)
        True
    """
    fused = copy.deepcopy(model).eval()
    for block in fused.modules():
        if not isinstance(block, BasicBlock) or not isinstance(block.bn1, nn.BatchNorm2d):
            continue  # not a block, or one folded before (folding again would read statistics it no longer has)
        block.conv1 = fold_bn_after_conv(block.conv1, cast(nn.BatchNorm2d, block.bn1))
        block.bn1 = nn.Identity()
        block.conv2 = fold_bn_after_conv(block.conv2, cast(nn.BatchNorm2d, block.bn2))
        block.bn2 = nn.Identity()
        if isinstance(block.shortcut, nn.Sequential):
            bn, conv = block.shortcut
            block.shortcut = fold_bn_before_conv1x1(cast(nn.BatchNorm2d, bn), cast(nn.Conv2d, conv))
    return fused
