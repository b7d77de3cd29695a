"""Convergence of the putts (paper section 6.1): PSNR and SSIM of x_t = D^t(G(y)) for t = 0..T_max.

The paper saw D converge after 2-4 iterations and tested with T = 3. Running D past the trained T shows whether the
learned update keeps improving, settles (steps shrinking to zero) or drifts. Besides the metrics, each curve holds the
RMS size of every step x_t - x_{t-1}: a converging iteration has steps that shrink.

Metric conventions (golfdeblur.metrics): PSNR on RGB rounded to 8 bits (GOPRO_PSNR); SSIM per-channel 2-D Gaussian
(scikit-image, SKIMAGE_SSIM), 8-bit rounded. Iterates are clamped to [0, 1] for scoring only; the recurrence itself
runs on the unclamped iterates, as GolfOptimizer.forward does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from golfdeblur.device import full_fp32
from golfdeblur.infer import prepare_model
from golfdeblur.metrics import GOPRO_PSNR, SKIMAGE_SSIM, MetricConvention
from golfdeblur.models.golf import GolfOptimizer


@dataclass
class ConvergenceCurve:
    """Means over the images of one dataset, per iteration t = 0..max_iterations (t = 0 is G(y)).

    ``step_rms[t]`` is the RMS of x_t - x_{t-1} for t >= 1 (``step_rms[0]`` is G's step, x_0 - y).
    ``blurry_psnr`` / ``blurry_ssim`` score the input itself.
    """

    name: str
    images: int
    trained_iterations: int
    psnr: list[float]
    ssim: list[float]
    step_rms: list[float]
    blurry_psnr: float
    blurry_ssim: float
    psnr_label: str = GOPRO_PSNR.label
    ssim_label: str = SKIMAGE_SSIM.label
    per_image_psnr: list[list[float]] = field(default_factory=list, repr=False)

    def best_iteration(self) -> int:
        """The t with the highest mean PSNR."""
        return max(range(len(self.psnr)), key=lambda t: self.psnr[t])


@torch.no_grad()
def convergence_curve(
    model: GolfOptimizer,
    pairs: Iterable[tuple] | Dataset,
    max_iterations: int = 10,
    name: str = "",
    device: torch.device | str = "cpu",
    limit: int = 0,
    psnr_convention: MetricConvention = GOPRO_PSNR,
    ssim_convention: MetricConvention = SKIMAGE_SSIM,
) -> ConvergenceCurve:
    """Score G(y), D(G(y)), ..., D^max_iterations(G(y)) on every pair and average per t.

    Args:
        model: a GolfOptimizer (trained weights; any widths), run as ``prepare_model`` makes it (BatchNorm folded,
            eval mode, channels_last, on ``device``).
        pairs: items whose first two entries are blurry and sharp (3, H, W) in [0, 1] (H, W >= 11 for SSIM); e.g.
            ``golfdeblur.data.validation.validation_set()`` or ``levin09()``.
        limit: use only the first ``limit`` pairs (0 = all).

    Shape:
        each pair: blurry (3, H, W), sharp (3, H, W) -> curves of length max_iterations + 1.
    """
    if max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0, got {max_iterations}")
    device = torch.device(device)
    model = prepare_model(model, device=device)  # BatchNorm folded, channels_last: as deblur runs, and faster
    psnr_rows, ssim_rows, step_rows, blurry_psnr, blurry_ssim = [], [], [], [], []
    for index, item in enumerate(iter(pairs)):  # a Dataset iterates through __getitem__ until IndexError
        if limit and index >= limit:
            break
        blurry = torch.as_tensor(item[0]).float().unsqueeze(0).to(device)
        sharp = torch.as_tensor(item[1]).float().unsqueeze(0).to(device)
        with full_fp32(device):
            iterates = model(
                blurry.contiguous(memory_format=torch.channels_last), iterations=max_iterations, return_all=True
            )
        previous = [blurry, *iterates[:-1]]
        psnr_rows.append([float(psnr_convention(x.clamp(0, 1), sharp)[0]) for x in iterates])
        ssim_rows.append([float(ssim_convention(x.clamp(0, 1), sharp)[0]) for x in iterates])
        step_rows.append([float((x - p).square().mean().sqrt()) for x, p in zip(iterates, previous, strict=True)])
        blurry_psnr.append(float(psnr_convention(blurry, sharp)[0]))
        blurry_ssim.append(float(ssim_convention(blurry, sharp)[0]))
    if not psnr_rows:
        raise ValueError(f"{name or 'dataset'}: no image pairs to score")

    def column_means(rows: list[list[float]]) -> list[float]:
        return [sum(column) / len(column) for column in zip(*rows, strict=True)]

    return ConvergenceCurve(
        name=name,
        images=len(psnr_rows),
        trained_iterations=model.config.iterations,
        psnr=column_means(psnr_rows),
        ssim=column_means(ssim_rows),
        step_rms=column_means(step_rows),
        blurry_psnr=sum(blurry_psnr) / len(blurry_psnr),
        blurry_ssim=sum(blurry_ssim) / len(blurry_ssim),
        psnr_label=psnr_convention.label,
        ssim_label=ssim_convention.label,
        per_image_psnr=psnr_rows,
    )


def convergence_markdown(curves: list[ConvergenceCurve]) -> str:
    """One table per dataset: t, PSNR, SSIM, step RMS; the trained T and the input's scores stated."""
    lines = []
    for curve in curves:
        lines += [
            f"### {curve.name} ({curve.images} image{'s' if curve.images != 1 else ''}; "
            f"trained T = {curve.trained_iterations}; best PSNR at t = {curve.best_iteration()})",
            "",
            f"| t | {curve.psnr_label} (dB) | {curve.ssim_label} | RMS of x_t - x_(t-1) |",
            "|---|---|---|---|",
            f"| input y | {curve.blurry_psnr:.2f} | {curve.blurry_ssim:.4f} | - |",
        ]
        for t, (psnr, ssim, step) in enumerate(zip(curve.psnr, curve.ssim, curve.step_rms, strict=True)):
            label = "0 (G)" if t == 0 else str(t)
            lines.append(f"| {label} | {psnr:.2f} | {ssim:.4f} | {step:.2e} |")
        lines.append("")
    return "\n".join(lines)


def plot_convergence(curves: list[ConvergenceCurve], path: str | Path) -> Path:
    """PSNR, SSIM and step size against t for every dataset; the trained T marked. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golfdeblur.atomic import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for index, curve in enumerate(curves):
        colour = f"C{index}"
        ts = list(range(len(curve.psnr)))
        axes[0].plot(ts, curve.psnr, "o-", color=colour, label=f"{curve.name} ({curve.images})")
        axes[0].axhline(curve.blurry_psnr, color=colour, ls=":", lw=1)
        axes[1].plot(ts, curve.ssim, "o-", color=colour, label=curve.name)
        axes[1].axhline(curve.blurry_ssim, color=colour, ls=":", lw=1)
        axes[2].semilogy(ts[1:], [max(s, 1e-12) for s in curve.step_rms[1:]], "o-", color=colour, label=curve.name)
    if curves:
        for ax in axes:
            ax.axvline(curves[0].trained_iterations, color="gray", ls="--", lw=1)
            ax.set_xlabel("iteration t (0 = G(y); dashed: trained T)")
        axes[0].set_ylabel(f"{curves[0].psnr_label} (dB); dotted: input")
        axes[1].set_ylabel(f"{curves[0].ssim_label}; dotted: input")
    axes[2].set_ylabel("RMS of x_t - x_(t-1)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Convergence of D^t(G(y))", fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
