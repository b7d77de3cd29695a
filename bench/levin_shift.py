"""Is D's drift on Levin09 a misalignment? Levin09's measured kernels are not centred on their centre of mass.

A kernel whose mass sits off its centre shifts the blurry image as well as blurring it (Levin09's by 0.2 to 4.3 px),
and no blind method can tell that shift from the picture, so it restores the image at the shifted place. PSNR against
the sharp image then punishes sharp edges in the wrong place more than blurred ones, which is why Levin et al.'s own
evaluation code (``comp_upto_shift``) compares a result with the sharp image up to a shift. This script scores G and
Golf at T = 3:

- on Levin09 as the project scores it (whole images), after the best whole-pixel shift within +-5 px (15 px border
  cut, both images 8-bit), after the best shift on Levin et al.'s 0.25 px grid: ``golfdeblur.metrics.psnr_up_to_shift``,
  the PSNR-UpToShift column of docs/RESULTS.md (their protocol), and once more with the best whole-pixel shift
  refined in 0.1 px steps made by a phase ramp instead of bilinear interpolation, which smooths (a check that the
  protocol's smoothing is not what ranks the methods);
- on the first validation photos (no noise) blurred by Levin09's kernels as measured, and by the same kernels moved by
  whole pixels so their centre of mass sits within half a pixel of the centre: if D helps only after the move, the
  kernels' offset is what D fails on.

PSNR RGB 8-bit (the project's convention). Runs on a 2-core CPU in about 6 minutes per weights file:

    python bench/levin_shift.py --weights campaign/golf-campaign.safetensors
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import torch

from golfdeblur.data.degrade import degrade
from golfdeblur.data.sources import default_data_root
from golfdeblur.data.validation import levin09, validation_set
from golfdeblur.evaluate import restore_iterates
from golfdeblur.infer import prepare_model
from golfdeblur.metrics import GOPRO_PSNR, best_shift, psnr_up_to_shift, quantize_8bit
from golfdeblur.metrics import psnr as float_psnr
from golfdeblur.models.weights_io import load_golf


def psnr(restored: torch.Tensor, sharp: torch.Tensor) -> float:
    return float(GOPRO_PSNR(restored, sharp)[0])


def fourier_shifted(image: torch.Tensor, dy: float, dx: float, pad: int = 32) -> torch.Tensor:
    """``image`` read ``dy``, ``dx`` px further down and right by a phase ramp, which moves without smoothing (unlike
    bilinear interpolation), on a mirror-padded copy so that the borders do not ring. Shape: (1, C, H, W), |dy|,
    |dx| < pad."""
    height, width = image.shape[-2:]
    padded = torch.nn.functional.pad(image.double(), (pad, pad, pad, pad), mode="reflect")
    rows = torch.fft.fftfreq(padded.shape[-2], dtype=torch.float64)[:, None]
    columns = torch.fft.fftfreq(padded.shape[-1], dtype=torch.float64)[None, :]
    ramp = torch.exp(2j * math.pi * (rows * dy + columns * dx))
    moved = torch.fft.ifft2(torch.fft.fft2(padded) * ramp).real
    return moved[..., pad : pad + height, pad : pad + width].float()


def psnr_up_to_fourier_shift(restored: torch.Tensor, sharp: torch.Tensor, border: int = 15) -> float:
    """As ``psnr_up_to_shift`` (both images rounded to 8 bits, 15 px cut), but from the best whole-pixel shift within
    5 px in 0.1 px steps within half a pixel of it, moved by :func:`fourier_shifted`: if D's lead up to a shift came
    from the bilinear interpolation's smoothing, it would not survive here. Shape: (1, 3, H, W) in [0, 1]."""
    restored, sharp = quantize_8bit(restored), quantize_8bit(sharp)
    (dy, dx) = best_shift(restored, sharp, steps_per_pixel=1)[0]
    inside = (..., slice(border, -border), slice(border, -border))
    fractions = [step / 10 for step in range(-5, 6)]
    return max(
        float(float_psnr(fourier_shifted(restored, dy + fy, dx + fx)[inside], sharp[inside])[0])
        for fy in fractions
        for fx in fractions
    )


def centred(kernel: torch.Tensor) -> tuple[torch.Tensor, tuple[float, float]]:
    """``kernel`` (1, k, k) zero-padded and moved by whole pixels so that its centre of mass is within half a pixel of
    the centre, and its centre-of-mass offset before the move (dy, dx) in px."""
    weights = kernel[0].double()
    size = weights.shape[-1]
    positions = torch.arange(size, dtype=torch.float64)
    dy = float((weights.sum(1) * positions).sum()) - size // 2
    dx = float((weights.sum(0) * positions).sum()) - size // 2
    move_y, move_x = round(dy), round(dx)
    pad = max(abs(move_y), abs(move_x))
    padded = torch.nn.functional.pad(weights, (pad, pad, pad, pad))
    return torch.roll(padded, (-move_y, -move_x), (0, 1)).float()[None], (dy, dx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="GolfOptimizer weights (.safetensors with its card)")
    parser.add_argument("--root", default=None, help="folder with eval/ (default: $GOLFDEBLUR_DATA or ../shared/data)")
    parser.add_argument("--limit", type=int, default=16, help="validation photos to blur (default 16)")
    args = parser.parse_args()
    args.root = args.root or default_data_root()
    if args.root is None:
        parser.error("no data folder: pass --root, or set GOLFDEBLUR_DATA")
    model = prepare_model(load_golf(args.weights), device="cpu")
    print(f"weights {args.weights}; PSNR RGB 8-bit (dB), mean over images")

    def line(label: str, table: dict[str, list[float]]) -> str:
        means = {name: sum(values) / len(values) for name, values in table.items()}
        cells = "  ".join(f"{name} {value:.3f}" for name, value in means.items())
        return f"{label:<62}{cells}  T=3 - G {means['T=3'] - means['G']:+.3f}"

    levin = levin09(args.root)
    whole, aligned, subpixel, fourier = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    for blurry, sharp, _, _ in levin:
        outputs = restore_iterates(model, blurry[None], 3)
        for name, output in (("blurry", blurry[None]), ("G", outputs[0]), ("T=3", outputs[3])):
            whole[name].append(psnr(output, sharp[None]))
            aligned[name].append(float(psnr_up_to_shift(output, sharp[None], round_to_8bit=True, steps_per_pixel=1)[0]))
            subpixel[name].append(float(psnr_up_to_shift(output, sharp[None], round_to_8bit=True)[0]))
            fourier[name].append(psnr_up_to_fourier_shift(output, sharp[None]))
    print(line(f"levin09 ({len(levin)}), whole images", whole), flush=True)
    print(line(f"levin09 ({len(levin)}), best whole-pixel shift, 15 px cut", aligned), flush=True)
    print(line(f"levin09 ({len(levin)}), best shift on a 0.25 px grid, 15 px cut", subpixel), flush=True)
    print(line(f"levin09 ({len(levin)}), best whole-pixel shift, 0.1 px moves by Fourier", fourier), flush=True)

    kernels = list(levin.kernels.values())
    moved = [centred(kernel) for kernel in kernels]
    offsets = "  ".join(
        f"{name} ({dy:+.2f}, {dx:+.2f})" for name, (_, (dy, dx)) in zip(levin.kernels, moved, strict=True)
    )
    print(f"levin09 kernels' centre-of-mass offsets (dy, dx) px: {offsets}")
    clean = validation_set(root=args.root, noise_sigma_max=0.0)
    count = min(args.limit, len(clean))
    for label, bank in (("as measured", kernels), ("moved to the centre", [kernel for kernel, _ in moved])):
        table = defaultdict(list)
        for index in range(count):
            sharp = clean[index][1][None]
            blurry = degrade(sharp, bank[index % len(bank)][None], noise_sigma_max=0.0)
            outputs = restore_iterates(model, blurry, 3)
            for name, output in (("blurry", blurry), ("G", outputs[0]), ("T=3", outputs[3])):
                table[name].append(psnr(output, sharp))
        print(line(f"validation photos ({count}), Levin09's kernels {label}", table), flush=True)


if __name__ == "__main__":
    main()
