"""The learned gradient of the image prior: R(x_t) = D(x_t) - x_t at every putt (paper sections 3.2 and 4).

D is a residual network, x_{t+1} = x_t + R(x_t), so R(x_t) is the step D takes: the (scaled) negative gradient of the
prior it learned. The paper's "delicate correction" predicts that R is small after G's drive and shrinks with t, and
its derivation (Eqs. 4, 8, 9) that R learns the difference between the iterate and the sharp image, i.e. points along
x - x_t. This module blurs a few of scikit-image's bundled photographs (no download; pictures made from ../shared/data
are never committed) with seeded camera-shake kernels, runs G and D, and shows every R(x_t) as an image beside its RMS,
its cosine with x - x_t and the scale that would best match it to x - x_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
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

#: What the cosine and best-scale tables mean: the page of `golfdeblur paper gradient` prints it above them.
ALIGNMENT_DEFINITIONS = (
    "x is the sharp image, x_t the iterate, e_t = x - x_t the error left, and `<a, b>` the sum of a * b over all "
    "pixels and channels. **cos(R, x - x_t)** = `<R(x_t), e_t> / (|R(x_t)| |e_t|)`: 1 when D's step points straight "
    "at the sharp image, 0 when it is orthogonal to the error left, negative when it moves away from x. **Best scale "
    "`s*`** = `<R(x_t), e_t> / <R(x_t), R(x_t)>`: the factor by which the step would have to be stretched to come "
    "closest to x along its own direction (`x_t + s* R(x_t)` is the point of that line nearest x); 1 means the step "
    "has the best length for its direction, above 1 that it is too short, below 0 that it points away; the step "
    "lowers the error (|x - x_(t+1)| < |x - x_t|) exactly when `s*` > 1/2. The paper "
    "(sections 3.2 and 4, Eqs. 4, 8, 9) says R learns the difference between the iterate and the sharp image: D's "
    "loss, every iterate supervised to equal x, is smallest at R(x_t) = x - x_t, a cosine of 1 and a scale of 1. '-' "
    "where R(x_t) is zero, or (the cosine) e_t is."
)


@dataclass(frozen=True)
class ResidualTrace:
    """One image's walk: the blurry input, x_0 = G(y), ..., x_T, and R(x_0), ..., R(x_{T-1}); the sharp image x when
    known. Frozen, as what is worked out from it once (the alignment) is kept.

    Shape:
        every tensor (3, H, W); ``residual_rms[t]`` is the RMS of R(x_t) over all pixels and channels;
        ``error_cosine[t]`` and ``best_scale[t]`` compare R(x_t) with x - x_t (``ALIGNMENT_DEFINITIONS``).
    """

    name: str
    blurry: torch.Tensor
    sharp: torch.Tensor | None
    iterates: list[torch.Tensor]
    residuals: list[torch.Tensor]

    @property
    def residual_rms(self) -> list[float]:
        return [float(r.square().mean().sqrt()) for r in self.residuals]

    @property
    def error_rms(self) -> list[float]:
        """RMS of the error left, x - x_t, for t = 0..T (T + 1 values); empty without a sharp image."""
        if self.sharp is None:
            return []
        return [float((self.sharp.double() - x.double()).square().mean().sqrt()) for x in self.iterates]

    @property
    def error_cosine(self) -> list[float]:
        """cos(R(x_t), x - x_t) per t, over all pixels and channels: 1 when D steps straight toward the sharp image.
        nan where R(x_t) or x - x_t is zero; empty without a sharp image."""
        return list(self._alignment[0])

    @property
    def best_scale(self) -> list[float]:
        """s* = <R(x_t), x - x_t> / <R(x_t), R(x_t)> per t: the factor by which R(x_t) would best match x - x_t
        (least squares); 1 when D's step has the best length. nan where R(x_t) is zero; empty without a sharp
        image."""
        return list(self._alignment[1])

    @cached_property
    def _alignment(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(cosines, best scales) of R(x_t) against x - x_t for every t, summed in float64: both come from the same
        three sums over every pixel, so they are worked out once per trace (a page asks for each)."""
        if self.sharp is None:
            return (), ()
        sharp = self.sharp.double()
        cosines, scales = [], []
        for iterate, residual in zip(self.iterates, self.residuals, strict=False):  # T + 1 iterates, T residuals
            step, error = residual.double(), sharp - iterate.double()
            inner = float((step * error).sum())
            step_sq, error_sq = float(step.square().sum()), float(error.square().sum())
            cosines.append(inner / math.sqrt(step_sq * error_sq) if step_sq > 0 and error_sq > 0 else math.nan)
            scales.append(inner / step_sq if step_sq > 0 else math.nan)
        return tuple(cosines), tuple(scales)


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
    shrinking is visible), the last iterate and the sharp image; plus RMS of R(x_t) against t and, where the traces
    have sharp images, the cosine of R(x_t) with x - x_t and its best scale against t. Written atomically."""
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
    with_sharp = [trace for trace in traces if trace.sharp is not None]
    # Reference lines: cos 0 (orthogonal to the error); s* 1 (the best length) and 1/2 (above it the step helps).
    alignment_axes = (
        [
            (axes[-1, 1], "error_cosine", "cos(R(x_t), x - x_t)", (0.0,)),
            (axes[-1, 2], "best_scale", "best scale s* (helps above 1/2)", (1.0, 0.5)),
        ]
        if with_sharp
        else []
    )
    for ax, attribute, title, references in alignment_axes:
        for trace in with_sharp:
            ax.plot(range(steps), getattr(trace, attribute), "o-", label=trace.name)
        for reference, style in zip(references, (":", "--"), strict=False):
            ax.axhline(reference, color="gray", ls=style, lw=1)
        ax.set_xlabel("t")
        ax.set_title(title, fontsize=7)
    for ax in axes[-1, 1 + len(alignment_axes) :]:
        ax.axis("off")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def residual_markdown(traces: list[ResidualTrace]) -> str:
    """Per image and t, as Markdown tables: the RMS of R(x_t); and, for the traces that have a sharp image, the RMS
    of x - x_t, the cosine between R(x_t) and x - x_t and the best scale s* (``ALIGNMENT_DEFINITIONS``)."""
    steps = len(traces[0].residuals) if traces else 0

    def table(header: str, rows: list[tuple[str, list[float]]], number: str, columns: int = steps) -> list[str]:
        """One row per image, one column per t; ``header`` names column t through ``{t}``."""
        lines = [
            "| image | " + " | ".join(header.format(t=t) for t in range(columns)) + " |",
            "|---|" + "---|" * columns,
        ]
        for name, values in rows:
            cells = [format(v, number) if math.isfinite(v) else "-" for v in values]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return lines

    lines = table("RMS R(x_{t})", [(trace.name, trace.residual_rms) for trace in traces], ".2e")
    with_sharp = [trace for trace in traces if trace.sharp is not None]
    if with_sharp:
        lines += ["", "RMS of the error left, x - x_t (x_0 = G(y)), for comparison with the step's size:", ""]
        lines += table("t = {t}", [(trace.name, trace.error_rms) for trace in with_sharp], ".4f", steps + 1)
        lines += ["", "cos(R(x_t), x - x_t), the step's direction against the error left:", ""]
        lines += table("t = {t}", [(trace.name, trace.error_cosine) for trace in with_sharp], ".3f")
        lines += [
            "",
            "Best scale `s*` = `<R(x_t), x - x_t> / <R(x_t), R(x_t)>`, the step's length against the best:",
            "",
        ]
        lines += table("t = {t}", [(trace.name, trace.best_scale) for trace in with_sharp], ".2f")
    return "\n".join(lines) + "\n"
