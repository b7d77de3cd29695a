"""Training losses: MSE content loss, a frequency-domain L1 term, and the paper's VGG-11-BN perceptual loss.

The paper's loss is L = MSE(pred, x) + lambda * MSE(phi(pred), phi(x)), phi = VGG-11 with batch normalisation up to
its 5th max-pool, with ImageNet weights. Those weights cannot be downloaded here; they load from torchvision's own
state-dict file (``vgg11_bn-*.pth``) when a user has one. This file defines the VGG-11-BN feature layers itself (no
torchvision dependency) so that torchvision's keys ``features.N.weight`` load into it unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

from golfdeblur.errors import GolfdeblurError, not_a_regular_file
from golfdeblur.user_path import user_path

if TYPE_CHECKING:
    from golfdeblur.train.config import LossSection

# torchvision's configuration "A" (VGG-11): numbers are conv output channels, "M" a 2x2 max-pool.
VGG11_LAYOUT = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_FILE_PATTERN = "vgg11_bn-*.pth"


class LossError(GolfdeblurError):
    """A loss that cannot be built, e.g. the perceptual term without VGG weights. One-line message."""


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements (the paper's content loss).

    Shape:
        pred, target (B, C, H, W) -> scalar.

    Example:
        >>> target = torch.full((1, 3, 8, 8), 0.5)
        >>> mse_loss(target + 0.1, target)
        tensor(0.0100)
    """
    return F.mse_loss(pred.float(), target.float())


def frequency_l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the orthonormal 2-D real FFTs of ``pred`` and ``target``.

    Orthonormal scaling keeps the term on the scale of a pixel-domain L1 (Parseval). It penalises missing high
    frequencies, which MSE alone lets a deblurring network leave smooth. Computed in fp32.

    Shape:
        pred, target (B, C, H, W) -> scalar.

    Example:
        >>> generator = torch.Generator().manual_seed(0)
        >>> sharp, blurry = torch.rand(2, 3, 16, 16, generator=generator), torch.rand(2, 3, 16, 16, generator=generator)
        >>> frequency_l1_loss(sharp, sharp).item(), bool(frequency_l1_loss(blurry, sharp) > 0)
        (0.0, True)
    """
    diff = torch.fft.rfft2(pred.float() - target.float(), norm="ortho")
    return diff.abs().mean()


def vgg11_bn_features(layout: tuple = VGG11_LAYOUT) -> nn.Sequential:
    """VGG-11-BN's ``features`` up to and including its 5th max-pool, indexed as in torchvision.

    Each number adds conv3x3 (with bias) -> BatchNorm -> ReLU (three indices), each "M" a max-pool (one index),
    so torchvision's state-dict keys ``features.N.*`` match. Output: 512 channels at 1/32 of the input size.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


def find_vgg_weights(path: str | Path | None = None) -> Path:
    """The VGG-11-BN weights file: ``path`` if given, else torchvision's file in the torch hub cache (the last by
    name where several are there, so that the choice never depends on the order the folder lists them in).

    Raises:
        LossError: ``path`` is missing, a folder, a pipe or a device; or no file given and none in
            ``<torch hub dir>/checkpoints/vgg11_bn-*.pth``.
    """
    if path is not None:
        path = user_path(path)
        if not path.is_file():
            what = not_a_regular_file(path)  # a folder, a named pipe (reading it would block), /dev/zero (endless)
            if what is not None:
                raise LossError(f"VGG weights {path}: {what}; name torchvision's vgg11_bn-*.pth file")
            raise LossError(f"VGG weights {path}: no such file")
        return path
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(cache.glob(VGG_FILE_PATTERN))
    if found:
        return found[-1]
    raise LossError(
        "the perceptual loss needs ImageNet VGG-11-BN weights, which cannot be downloaded here: pass torchvision's "
        f"vgg11_bn-*.pth with --vgg-weights PATH (or put it in {cache}), or set loss.perceptual_weight=0"
    )


class VGGFeatures(nn.Module):
    """Frozen VGG-11-BN features at the 5th max-pool, with torchvision's ImageNet input normalisation.

    Shape:
        (B, 3, H, W) RGB in [0, 1] -> (B, 512, H // 32, W // 32).

    Example:
        >>> phi = VGGFeatures()  # random weights; use VGGFeatures.from_torchvision_file(path) for ImageNet ones
        >>> phi(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 512, 2, 2])
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg11_bn_features()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_torchvision_file(cls, path: str | Path) -> VGGFeatures:
        """Load the ``features.*`` tensors of torchvision's ``vgg11_bn`` state dict (``weights_only`` loading).

        The classifier's tensors in the file are ignored; any missing or misshapen feature tensor is a LossError.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt or pickled-object files
            raise LossError(f"VGG weights {path}: not a readable torch state dict ({type(exc).__name__})") from exc
        if not isinstance(state, dict):
            raise LossError(f"VGG weights {path}: expected a state dict, got {type(state).__name__}")
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        module = cls()
        try:
            module.load_state_dict(features, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise LossError(f"VGG weights {path}: not a VGG-11-BN state dict ({first})") from exc
        return module

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always frozen: BatchNorm uses its ImageNet statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)


class PerceptualLoss(nn.Module):
    """MSE between VGG-11-BN pool5 features of ``pred`` and ``target`` (the paper's perceptual loss).

    Shape:
        pred, target (B, 3, H, W) in [0, 1], H and W at least 32 -> scalar.
    """

    def __init__(self, features: VGGFeatures) -> None:
        super().__init__()
        self.phi = features

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self.phi(target)
        return F.mse_loss(self.phi(pred).float(), target_features.float())


class TrainingLoss(nn.Module):
    """The weighted sum of the enabled terms; returns the total and each term (detached, for logging).

    Args:
        mse_weight, frequency_weight, perceptual_weight: term weights (0 disables a term).
        perceptual: a PerceptualLoss, required when ``perceptual_weight > 0``.

    Shape:
        pred, target (B, 3, H, W) -> (scalar tensor, {term name: detached scalar tensor}).

    Example:
        >>> loss = TrainingLoss(mse_weight=1.0, frequency_weight=0.1)
        >>> total, terms = loss(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
        >>> float(terms["mse"])
        1.0
    """

    def __init__(
        self,
        mse_weight: float = 1.0,
        frequency_weight: float = 0.0,
        perceptual_weight: float = 0.0,
        perceptual: PerceptualLoss | None = None,
    ) -> None:
        super().__init__()
        if perceptual_weight > 0 and perceptual is None:
            raise LossError("loss.perceptual_weight > 0 needs a PerceptualLoss (VGG-11-BN weights)")
        if mse_weight <= 0 and frequency_weight <= 0 and perceptual_weight <= 0:
            raise LossError("loss: every term has weight 0; enable at least one")
        self.mse_weight = mse_weight
        self.frequency_weight = frequency_weight
        self.perceptual_weight = perceptual_weight
        self.perceptual = perceptual if perceptual_weight > 0 else None

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms: dict[str, torch.Tensor] = {}
        if self.mse_weight > 0:
            terms["mse"] = mse_loss(pred, target)
        if self.frequency_weight > 0:
            terms["fft_l1"] = frequency_l1_loss(pred, target)
        if self.perceptual is not None:
            terms["perceptual"] = self.perceptual(pred, target)
        weights = {"mse": self.mse_weight, "fft_l1": self.frequency_weight, "perceptual": self.perceptual_weight}
        total = cast(torch.Tensor, sum(weights[name] * value for name, value in terms.items()))  # >= 1 term
        return total, {name: value.detach() for name, value in terms.items()}


# How each term is named in a loss label (``loss_label``): the label of the paper's loss is "mse+vgg11bn-pool5".
TERM_LABELS = (("mse_weight", "mse"), ("frequency_weight", "fft-l1"), ("perceptual_weight", "vgg11bn-pool5"))


def loss_label(section: LossSection) -> str:
    """The terms a ``loss`` section trains with, e.g. "mse+fft-l1": what model cards report, so that a card never
    names a term its weights did not use (the section's ``name`` is the recipe's own label and may say otherwise).

    Example:
        >>> from golfdeblur.train.config import LossSection
        >>> loss_label(LossSection(name="mse+vgg11bn-pool5", frequency_weight=0.05, perceptual_weight=0.0))
        'mse+fft-l1'
    """
    return "+".join(label for key, label in TERM_LABELS if getattr(section, key) > 0)


def build_loss(section: LossSection, vgg_weights: str | Path | None = None) -> TrainingLoss:
    """The TrainingLoss a recipe's ``loss`` section asks for; ``vgg_weights`` (e.g. --vgg-weights) wins over it.

    Raises:
        LossError: the perceptual term is enabled and no VGG-11-BN weights file is found, or VGG weights are named
            while the perceptual term is off (they would be ignored).
    """
    if vgg_weights is not None and section.perceptual_weight <= 0:
        raise LossError(
            f"--vgg-weights {vgg_weights}: has no effect with loss.perceptual_weight 0 (the VGG weights serve the "
            "perceptual term only); drop it or set loss.perceptual_weight"
        )
    perceptual = None
    if section.perceptual_weight > 0:
        path = find_vgg_weights(vgg_weights if vgg_weights is not None else section.vgg_weights)
        perceptual = PerceptualLoss(VGGFeatures.from_torchvision_file(path))
    return TrainingLoss(section.mse_weight, section.frequency_weight, section.perceptual_weight, perceptual)
