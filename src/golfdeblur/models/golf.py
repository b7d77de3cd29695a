"""The networks of the paper: ResidualCNN (Table 1) and the Golf Optimizer Golf(y) = D^T(G(y))."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, overload

import torch
from torch import nn

from golfdeblur.input_values import whole_iterations, whole_number
from golfdeblur.models.blocks import BasicBlock, same_conv


class ResidualCNN(nn.Module):
    """One residual CNN of the paper's Table 1: ``output = input + body(input)``.

    body: conv7x7 3->C; Layers 1-3 of two BasicBlocks C->C; Layer 4 = BasicBlock C->3 then BasicBlock 3->3;
    conv7x7 3->3. No convolution has a bias; all are stride 1 with "same" padding, so any image size works.
    C = 32 gives 466,348 parameters, C = 16 gives 120,188.

    Args:
        width: the channel count C.
        zero_init_last: zero the final convolution so that the untrained network is the identity (our training
            start; the paper gives no initialisation).
        relu_before_add: every BasicBlock's last ReLU inside its residual mapping, before the shortcut is added
            (the paper's text), instead of after the addition (the default; the shipped weights).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), RGB in [0, 1] (the output is not clamped).

    Example:
        >>> net = ResidualCNN(16)
        >>> net(torch.rand(2, 3, 17, 23)).shape
        torch.Size([2, 3, 17, 23])
    """

    def __init__(self, width: int, zero_init_last: bool = True, relu_before_add: bool = False) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        self.width, self.relu_before_add = width, relu_before_add

        def block(in_channels: int, out_channels: int) -> BasicBlock:
            return BasicBlock(in_channels, out_channels, relu_before_add)

        self.head = same_conv(3, width, 7)
        self.layer1 = nn.Sequential(block(width, width), block(width, width))
        self.layer2 = nn.Sequential(block(width, width), block(width, width))
        self.layer3 = nn.Sequential(block(width, width), block(width, width))
        self.layer4 = nn.Sequential(block(width, 3), block(3, 3))
        self.tail = same_conv(3, 3, 7)
        if zero_init_last:
            nn.init.zeros_(self.tail.weight)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x) = body(x): for D, the learned negative gradient of the image prior. (B, 3, H, W) -> (B, 3, H, W)."""
        out = self.head(x)
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.tail(self.layer4(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


@dataclass(frozen=True)
class GolfConfig:
    """Architecture settings. The paper: G width 32, D width 16, T = 3 at test time. ``relu_before_add``: where each
    BasicBlock's last ReLU sits (see ``BasicBlock``; False, after the addition, for the shipped weights).

    The widths are whole numbers >= 1 and ``iterations`` one >= 0 (numpy integers are kept as ints); anything else,
    a bool, 2.5 or -1 included, is refused when the config is built: a ``DeblurSettingsError`` (a ``ValueError``)
    naming the field.

    Example:
        >>> GolfConfig()
        GolfConfig(g_width=32, d_width=16, iterations=3, relu_before_add=False)
        >>> GolfConfig(g_width=8, iterations=1).d_width
        16
        >>> try:
        ...     GolfConfig(iterations=-1)
        ... except ValueError as error:
        ...     print(error)
        GolfConfig.iterations -1: must be a whole number, 0 or more (applications of D)
    """

    g_width: int = 32
    d_width: int = 16
    iterations: int = 3
    relu_before_add: bool = False

    def __post_init__(self) -> None:
        # frozen: the checked ints (not numpy's, which a model card's JSON could not hold) are set past __setattr__
        for name in ("g_width", "d_width"):
            object.__setattr__(self, name, whole_number(getattr(self, name), 1, f"GolfConfig.{name}", unit="channels"))
        object.__setattr__(self, "iterations", whole_iterations(self.iterations, "GolfConfig.iterations"))


class GolfOptimizer(nn.Module):
    """Golf(y) = D^T(G(y)): one aggressive step by G (the drive), then T recurrent steps of D (the putts).

    ``zero_init_last`` (default True) zeroes the last convolution of G and of D, so that the untrained optimiser
    returns its input (our training start; the paper gives no initialisation): see ``ResidualCNN``.

    Shape:
        y (B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W).

    Example:
        >>> golf = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
        >>> golf(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 8, 8])
        >>> len(golf(torch.rand(1, 3, 8, 8), iterations=2, return_all=True))
        3
    """

    def __init__(self, config: GolfConfig | None = None, zero_init_last: bool = True) -> None:
        super().__init__()
        self.config = config or GolfConfig()
        self.G = ResidualCNN(self.config.g_width, zero_init_last, self.config.relu_before_add)
        self.D = ResidualCNN(self.config.d_width, zero_init_last, self.config.relu_before_add)

    # For a type checker, a direct .forward(y) is a tensor and .forward(y, return_all=True) a list (a user's
    # model.forward(x).shape type-checks); model(y) goes through nn.Module.__call__, which torch types as Any.
    @overload
    def forward(
        self, y: torch.Tensor, iterations: int | None = None, return_all: Literal[False] = False
    ) -> torch.Tensor: ...
    @overload
    def forward(self, y: torch.Tensor, iterations: int | None, return_all: Literal[True]) -> list[torch.Tensor]: ...
    @overload
    def forward(
        self, y: torch.Tensor, iterations: int | None = None, *, return_all: Literal[True]
    ) -> list[torch.Tensor]: ...
    @overload
    def forward(
        self, y: torch.Tensor, iterations: int | None = None, return_all: bool = False
    ) -> torch.Tensor | list[torch.Tensor]: ...
    def forward(
        self, y: torch.Tensor, iterations: int | None = None, return_all: bool = False
    ) -> torch.Tensor | list[torch.Tensor]:
        """Run G once and D ``iterations`` times (default: the config's T).

        With ``return_all`` the result is the list [G(y), D(G(y)), ..., D^T(G(y))] of T + 1 tensors.

        ``iterations`` is a whole number >= 0 (a numpy integer too); a bool, 2.5 or -1 is a one-line
        ``DeblurSettingsError`` (a ``ValueError``).

        Shape:
            y (B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W), or a list of ``iterations`` + 1 such tensors. Values are
            not clamped (``deblur`` clamps them to [0, 1]).
        """
        steps = self.config.iterations if iterations is None else whole_iterations(iterations)
        x = self.G(y)
        iterates = [x]
        for _ in range(steps):
            x = self.D(x)
            iterates.append(x)
        return iterates if return_all else x

    def describe(self) -> dict:
        """Architecture facts that travel with the weights (see models/weights_io.py)."""
        return {"architecture": "GolfOptimizer", **asdict(self.config)}

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, map_location: str | torch.device = "cpu") -> GolfOptimizer:
        """Load packaged weights by name (see ``golfdeblur.weights``) or a ``.safetensors`` file with its model card.

        ``map_location`` takes the device names ``--device`` takes ("auto", "cpu", "cuda:1", ...). Raises
        ``WeightsError`` with one clear line when the file is missing, corrupt or fails its checksum, and
        ``DeviceError`` for a device name that is not one or a device this machine lacks.

        Example:
            >>> model = GolfOptimizer.from_pretrained("golf-synthetic-v1")  # ships with the package; offline
            >>> model.config, model.training
            (GolfConfig(g_width=32, d_width=16, iterations=3, relu_before_add=False), False)
        """
        from golfdeblur.models.weights_io import load_golf

        return load_golf(name_or_path, map_location=map_location)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (BatchNorm running statistics are buffers, not counted).

    Example:
        >>> count_parameters(ResidualCNN(16)), count_parameters(ResidualCNN(32))
        (120188, 466348)
        >>> count_parameters(GolfOptimizer())  # the paper's G (width 32) plus D (width 16)
        586536
    """
    return sum(p.numel() for p in module.parameters())
