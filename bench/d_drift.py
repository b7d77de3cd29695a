"""Where does D help and where does it hurt? PSNR of G and of Golf at T = 1..5 on variants of the evaluation sets.

The campaign's goal needs Golf at T = 3 above G on both the validation set and Levin09. The CPU probes of stage D
(docs/TRAINING_CAMPAIGN.md) helped on the validation set and drifted down on Levin09. Each variant below removes one
difference between the two sets, so a drift that survives it is not caused by that difference:

- validation in colour, and the same pairs in grey (channel mean, as three equal channels, like Levin09);
- validation blurred without noise (Levin09 has none), and its photos blurred by Levin09's 8 kernels in turn;
- its photos blurred by our camera shakes of Levin09's sizes (13-27 px), plain and with the traits of recorded shakes
  (``KernelRealism``: the optics' point spread, a resting hand), the same shakes otherwise: if D drifts on the second
  and not the first, the kernels' shape is the cause, and the second is a yardstick that does not use Levin09;
- Levin09 with Gaussian noise added (sigma 0.01, then 8-bit rounding);
- Levin09 scored on the interior only (20 px border cut): border handling;
- Levin09 per kernel: Golf T = 3 minus G, averaged over the 4 images;
- and how concentrated the kernels' mass is, Levin09's measured ones against the synthetic camera shake.

PSNR is RGB, 8-bit rounded (the project's convention). Runs on a 2-core CPU in about 9 minutes with 30 validation
images:

    python bench/d_drift.py --weights local/cpu_probe_d/best-d.safetensors --limit 30
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import torch
from kernel_shape import shape  # bench/ is the script's folder, so its neighbour imports as a module

from golfdeblur.data.degrade import degrade
from golfdeblur.data.kernels import KernelRealism, camera_shake_kernel, random_kernel, seeded_generator
from golfdeblur.data.sources import default_data_root
from golfdeblur.data.validation import levin09, validation_set
from golfdeblur.evaluate import evaluate_pairs, restore_iterates, summarise
from golfdeblur.infer import prepare_model
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.weights_io import load_golf

ITERATIONS = 5


def grey(image: torch.Tensor) -> torch.Tensor:
    return image.mean(0, keepdim=True).expand(3, -1, -1).contiguous()


def report(label: str, model, pairs) -> None:
    result = evaluate_pairs(model, pairs, iterations=ITERATIONS)
    means = {row["iterate"]: row[GOPRO_PSNR.label] for row in summarise(result.rows)}
    print(f"{label:<34}" + "  ".join(f"{name} {value:.3f}" for name, value in means.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="GolfOptimizer weights (.safetensors with its card)")
    parser.add_argument("--root", default=None, help="folder with eval/ (default: $GOLFDEBLUR_DATA or ../shared/data)")
    parser.add_argument("--limit", type=int, default=30, help="validation images to use (default 30)")
    parser.add_argument("--noise", type=float, default=0.01, help="noise sigma added to Levin09 (default 0.01)")
    parser.add_argument("--optics", type=float, default=0.8, help="recorded-like shakes: optics_sigma_max (0.8)")
    parser.add_argument("--dwell", type=float, default=0.3, help="recorded-like shakes: dwell_max (default 0.3)")
    args = parser.parse_args()
    args.root = args.root or default_data_root()
    if args.root is None:
        parser.error("no data folder: pass --root, or set GOLFDEBLUR_DATA")
    model = load_golf(args.weights)
    print(f"weights {args.weights}; PSNR RGB 8-bit (dB), mean over images; blurry, G, then D^t(G(y))")

    noisy = validation_set(root=args.root)
    clean = validation_set(root=args.root, noise_sigma_max=0.0)
    first = range(min(args.limit, len(noisy)))
    report(f"validation ({len(first)}), colour", model, (noisy[i] for i in first))
    report(f"validation ({len(first)}), grey", model, ((grey(b), grey(s), n) for b, s, n in (noisy[i] for i in first)))
    report(f"validation ({len(first)}), no noise", model, (clean[i] for i in first))

    levin = levin09(args.root)
    kernels = list(levin.kernels.values())

    def levin_blur(index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        sharp = clean[index][1]  # a validation photo, blurred by Levin09's kernels in turn, no noise
        return degrade(sharp[None], kernels[index % len(kernels)][None], noise_sigma_max=0.0)[0], sharp, str(index)

    report(f"validation ({len(first)}), Levin kernels", model, (levin_blur(i) for i in first))

    def shake_blur(index: int, realism: KernelRealism) -> tuple[torch.Tensor, torch.Tensor, str]:
        sharp = clean[index][1]  # a validation photo, blurred by a camera shake of Levin09's sizes, no noise
        generator = seeded_generator("d-drift-shake", index)
        size = 13 + 2 * int(torch.randint(0, 8, (), generator=generator))
        kernel = random_kernel(size, generator, {"shake": 1.0}, realism)[0]
        return degrade(sharp[None], kernel[None], noise_sigma_max=0.0)[0], sharp, str(index)

    recorded_like = KernelRealism(optics_sigma_max=args.optics, dwell_max=args.dwell)
    report(f"validation ({len(first)}), shakes 13-27", model, (shake_blur(i, KernelRealism()) for i in first))
    report(f"validation ({len(first)}), recorded-like", model, (shake_blur(i, recorded_like) for i in first))
    # Levin09 itself, whole images and interior only, from one pass of the model over each image.
    margin = 20
    cut = (..., slice(margin, -margin), slice(margin, -margin))
    labels = ["blurry", "G"] + [f"D{t}" for t in range(1, ITERATIONS + 1)]
    whole, interior = defaultdict(list), defaultdict(list)
    by_kernel = defaultdict(list)
    prepared = prepare_model(model, device="cpu")  # the inputs below are CPU tensors
    for blurry, sharp, _, name in levin:
        outputs = [blurry[None]] + restore_iterates(prepared, blurry[None], ITERATIONS)
        values = [float(GOPRO_PSNR(output, sharp[None])[0]) for output in outputs]
        for label, output, value in zip(labels, outputs, values, strict=True):
            whole[label].append(value)
            interior[label].append(float(GOPRO_PSNR(output[cut], sharp[None][cut])[0]))
        by_kernel[name.split("_ker_")[1]].append(values[labels.index("D3")] - values[labels.index("G")])

    def mean_line(label: str, table: dict, skip: tuple[str, ...] = ()) -> str:
        kept = [name for name in labels if name not in skip]
        return f"{label:<34}" + "  ".join(f"{name} {sum(table[name]) / len(table[name]):.3f}" for name in kept)

    print(mean_line(f"levin09 ({len(levin)})", whole))
    generator = torch.Generator().manual_seed(0)

    def with_noise(blurry: torch.Tensor) -> torch.Tensor:
        noise = args.noise * torch.randn(1, *blurry.shape[1:], generator=generator).expand_as(blurry)
        return torch.round((blurry + noise).clamp(0, 1) * 255) / 255

    report(f"levin09 (32), noise {args.noise}", model, ((with_noise(b), s, n) for b, s, _, n in levin))
    print(mean_line(f"levin09 (32), interior (-{margin} px)", interior, skip=("blurry",)))
    sizes = {name[1:]: kernel.shape[-1] for name, kernel in levin.kernels.items()}
    print(
        "levin09, Golf T=3 - G per kernel: "
        + "  ".join(f"k{k} ({sizes[k]} px) {sum(v) / len(v):+.3f}" for k, v in sorted(by_kernel.items()))
    )

    # Kernel shape: measured shakes pause (bright dots) and have faint tails; the same figures as bench/kernel_shape.py.
    print("kernel peak / mean of taps >= 5 % of peak, and non-zero taps:")
    print("  levin09 " + "  ".join(f"{n} {shape(k)[0]:.1f} {shape(k)[2]}" for n, k in sorted(levin.kernels.items())))
    generator = torch.Generator().manual_seed(0)
    synthetic = [shape(camera_shake_kernel(19, generator)) for _ in range(200)]
    peaks, taps = sorted(p for p, _, _ in synthetic), sorted(t for _, _, t in synthetic)
    print(
        f"  synthetic camera shake (200 of 19 px): peak ratio median {statistics.median(peaks):.1f} "
        f"(p10 {peaks[19]:.1f}, p90 {peaks[179]:.1f}), non-zero taps median {statistics.median(taps):.0f} "
        f"(p10 {taps[19]}, p90 {taps[179]})"
    )


if __name__ == "__main__":
    main()
