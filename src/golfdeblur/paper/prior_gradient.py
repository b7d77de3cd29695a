"""The learned gradient of the image prior: R(x_t) = D(x_t) - x_t at every putt (paper sections 3.2 and 4).

D is a residual network, x_{t+1} = x_t + R(x_t), so R(x_t) is the step D takes: the (scaled) negative gradient of the
prior it learned. The paper's "delicate correction" predicts that R is small after G's drive and shrinks with t.
This module blurs a few of scikit-image's bundled photographs (no download; pictures made from ../shared/data are never
committed) with seeded camera-shake kernels, runs G and D, and shows every R(x_t) as an image beside its RMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from golfdeblur.data.degrade import centre_crop, degrade
from golfdeblur.data.kernels import camera_shake_kernel, seeded_generator
from golfdeblur.data.sources import SKIMAGE_COLOUR, skimage_images
from golfdeblur.device import full_fp32
from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfOptimizer

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DEFAULT_IMAGES = ("astronaut", "chelsea", "coffee")


@dataclass
class ResidualTrace:
    """One image's walk: the blurry input, x_0 = G(y), ..., x_T, and R(x_0), ..., R(x_{T-1}).

    Shape:
        every tensor (3, H, W); ``residual_rms[t]`` is the RMS of R(x_t) over all pixels and channels.
    """

    name: str
    blurry: torch.Tensor
    sharp: torch.Tensor | None
    iterates: list[torch.Tensor]
    residuals: list[torch.Tensor]

    @property
    def residual_rms(self) -> list[float]:
        return [float(r.square().mean().sqrt()) for r in self.residuals]


@torch.no_grad()
def residual_trace(
    model: GolfOptimizer, blurry: torch.Tensor, iterations: int, name: str = "", sharp: torch.Tensor | None = None
) -> ResidualTrace:
    """Run x_0 = G(y), x_{t+1} = x_t + R(x_t) for ``iterations`` steps, keeping every R(x_t) = D.residual(x_t).

    In full fp32 (``full_fp32``, as convergence and the tables): no TF32 convolutions on a GPU and no enclosing
    autocast, so a GPU matches the CPU to float32 rounding (TF32 keeps only 10 mantissa bits).

    Shape:
        blurry (3, H, W) in [0, 1] -> ResidualTrace with T + 1 iterates and T residuals.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    model = model.eval()
    device = next(model.parameters()).device
    with full_fp32(device):
        x = model.G(blurry.unsqueeze(0).to(device))
        iterates, residuals = [x[0].cpu()], []
        for _ in range(iterations):
            residual = model.D.residual(x)
            x = x + residual
            residuals.append(residual[0].cpu())
            iterates.append(x[0].cpu())
    return ResidualTrace(name, blurry, sharp, iterates, residuals)


def bundled_blurry_images(
    names: tuple[str, ...] = DEFAULT_IMAGES, size: int = 256, kernel_size: int = 21, seed: int = 0
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Centre crops of scikit-image photographs, blurred by a camera-shake kernel drawn from (seed, name), with
    8-bit rounding and no noise.

    Shape:
        -> list of (name, blurry (3, size, size), sharp (3, size, size)) in [0, 1] (smaller when the photo is).
    """
    unknown = [n for n in names if n not in SKIMAGE_COLOUR]
    if unknown:
        raise GolfdeblurError(f"unknown scikit-image photo {unknown[0]!r}; choose from {', '.join(SKIMAGE_COLOUR)}")
    photos = skimage_images()
    items = []
    for name in names:
        image = photos[photos.names.index(f"skimage/{name}")]
        sharp = centre_crop(image, size).contiguous()
        generator = seeded_generator("paper-gradient", seed, name)
        kernel = camera_shake_kernel(kernel_size, generator)
        blurry = degrade(sharp.unsqueeze(0), kernel.unsqueeze(0), generator, noise_sigma_max=0.0)[0]
        items.append((name, blurry, sharp))
    return items


def plot_residuals(traces: list[ResidualTrace], path: str | Path) -> Path:
    """One row per image: the input, x_0 = G(y), R(x_0) .. R(x_{T-1}) on one signed colour scale per row (so the
    shrinking is visible), the last iterate and the sharp image; plus RMS of R(x_t) against t. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golfdeblur.atomic import atomic_path

    if not traces:
        raise ValueError("no traces to plot")
    steps = len(traces[0].residuals)
    columns = steps + 4
    fig, axes = plt.subplots(len(traces) + 1, columns, figsize=(1.9 * columns, 1.9 * (len(traces) + 1)), squeeze=False)

    def show_rgb(ax: Axes, image: torch.Tensor, title: str) -> None:
        ax.imshow(image.clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(title, fontsize=7)

    for row, trace in enumerate(traces):
        maps = [r.mean(dim=0) for r in trace.residuals]  # mean over channels: a signed luminance correction
        scale = max(float(m.abs().max()) for m in maps) or 1.0
        show_rgb(axes[row, 0], trace.blurry, f"{trace.name}: input y")
        show_rgb(axes[row, 1], trace.iterates[0], "x_0 = G(y)")
        for t, (residual_map, rms) in enumerate(zip(maps, trace.residual_rms, strict=True)):
            image = axes[row, 2 + t].imshow(residual_map.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale)
            axes[row, 2 + t].set_title(f"R(x_{t}), RMS {rms:.1e}", fontsize=7)
        fig.colorbar(image, ax=list(axes[row, 2 : 2 + steps]), fraction=0.02, pad=0.01)
        show_rgb(axes[row, 2 + steps], trace.iterates[-1], f"x_{steps}")
        if trace.sharp is not None:
            show_rgb(axes[row, 3 + steps], trace.sharp, "sharp")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    curve_ax = axes[-1, 0]
    for trace in traces:
        curve_ax.semilogy(range(steps), [max(v, 1e-12) for v in trace.residual_rms], "o-", label=trace.name)
    curve_ax.set_xlabel("t")
    curve_ax.set_title("RMS of R(x_t)", fontsize=7)
    curve_ax.legend(fontsize=6)
    for ax in axes[-1, 1:]:
        ax.axis("off")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def residual_markdown(traces: list[ResidualTrace]) -> str:
    """RMS of R(x_t) per image and t as a Markdown table."""
    steps = len(traces[0].residuals) if traces else 0
    lines = ["| image | " + " | ".join(f"RMS R(x_{t})" for t in range(steps)) + " |"]
    lines.append("|---|" + "---|" * steps)
    for trace in traces:
        lines.append(f"| {trace.name} | " + " | ".join(f"{v:.2e}" for v in trace.residual_rms) + " |")
    return "\n".join(lines) + "\n"
