"""The BasicBlock of the paper's Table 1: six basic layers on a residual path plus a shortcut."""

from __future__ import annotations

import torch
from torch import nn


def same_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """Stride-1 convolution with "same" zero padding and no bias (the paper's convention)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2, bias=False)


class BasicBlock(nn.Module):
    """conv7x7 -> BN -> ReLU -> conv5x5 -> BN, added to the shortcut, then ReLU; or, with ``relu_before_add``,
    conv7x7 -> BN -> ReLU -> conv5x5 -> BN -> ReLU added to the shortcut.

    The shortcut is the identity when ``in_channels == out_channels``, else BN(in) -> conv1x1 in -> out (the paper's
    order: normalise first, then project). The paper's text counts six basic layers in the residual mapping, which
    puts the last ReLU before the addition (``relu_before_add=True``, as ``paper.yaml`` builds it); the default adds
    first, as torchvision's BasicBlock does and as the shipped weights were trained. Both have the same parameters.

    Shape:
        input (B, in_channels, H, W) -> output (B, out_channels, H, W); any H, W.

    Example:
        >>> block = BasicBlock(16, 3)
        >>> block(torch.rand(1, 16, 9, 11)).shape
        torch.Size([1, 3, 9, 11])
    """

    def __init__(self, in_channels: int, out_channels: int, relu_before_add: bool = False) -> None:
        super().__init__()
        self.relu_before_add = relu_before_add
        self.conv1 = same_conv(in_channels, out_channels, 7)
        self.bn1: nn.BatchNorm2d | nn.Identity = nn.BatchNorm2d(out_channels)  # Identity once folded (fuse.py)
        self.conv2 = same_conv(out_channels, out_channels, 5)
        self.bn2: nn.BatchNorm2d | nn.Identity = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.BatchNorm2d(in_channels), same_conv(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.relu_before_add:  # the paper's reading: the residual mapping ends in its ReLU
            return self.relu(out) + self.shortcut(x)
        # In place (as torchvision): neither BN nor conv needs its output for backward, and one large tensor fewer
        # per block cut CPU inference page faults by a third (G + 3 D at 1280x720: system time 5.8 s -> 3.8 s).
        out += self.shortcut(x)
        return self.relu(out)
