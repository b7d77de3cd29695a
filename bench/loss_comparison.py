"""Compare training losses by the validation PSNR/SSIM they reach: the measurement behind default.yaml's loss.

Each arm trains G alone (stage g) from the same seed, data and steps, differing only in its loss weights, then scores
G(y) on the fixed validation set (CBSD68 + Kodak24 blurred with the project's seed; dead leaves when that data is
missing). Prints a Markdown table. The paper's perceptual term cannot take part here (no ImageNet VGG weights).

    python bench/loss_comparison.py --steps 300 --out /tmp/loss_comparison
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from golfdeblur.device import resolve_device
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.train.config import load_recipe
from golfdeblur.train.data_setup import make_validation_data
from golfdeblur.train.loop import train, validate
from golfdeblur.train.options import RunOptions
from golfdeblur.train.stages import make_stage

ARMS = {
    "mse": ["loss.name=mse", "loss.frequency_weight=0.0"],
    "mse+fft-l1 (0.05)": ["loss.name=mse+fft-l1", "loss.frequency_weight=0.05"],
    "mse+fft-l1 (0.2)": ["loss.name=mse+fft-l1", "loss.frequency_weight=0.2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--g-width", type=int, default=16)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sharp-dir", default=None, help="extra sharp images (e.g. ../shared/data/sharp/bsds500)")
    parser.add_argument("--val-images", type=int, default=16)
    parser.add_argument("--val-crop", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("/tmp/loss_comparison"))
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arm names, of: {', '.join(ARMS)}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    common = [
        f"model.g_width={args.g_width}",
        f"data.crop_size={args.crop}",
        f"data.root={args.sharp_dir or 'null'}",
        "data.dead_leaves_count=16",
        "data.dead_leaves_size=256",
        "data.kernel_max_size=21",
        f"data.epoch_length={args.steps * args.batch}",
        f"data.validation_images={args.val_images}",
        f"data.validation_crop={args.val_crop}",
        f"train.batch_size={args.batch}",
        f"train.g_steps={args.steps}",
        f"train.val_every={args.steps}",
        f"train.checkpoint_every={args.steps}",
        f"train.log_every={max(args.steps // 10, 1)}",
        "train.tensorboard=false",
        "train.progress=false",
        "optim.lr=5.0e-4",
        "optim.lr_end=5.0e-5",
    ]
    recipe = load_recipe("default", common + args.overrides)
    identity = GolfOptimizer(GolfConfig(args.g_width, recipe.model.d_width))  # zero-initialised: Golf(y) = y
    device = resolve_device(recipe.train.device)
    blurry_psnr, blurry_ssim = validate(
        identity.to(device), make_validation_data(recipe, None).items, make_stage("g", identity, 1), device
    )
    rows = [("blurry input (untrained, identity)", blurry_psnr, blurry_ssim, 0.0, 0)]
    for name in args.arms.split(","):
        overrides = ARMS[name]
        recipe = load_recipe("default", common + args.overrides + overrides)
        started = time.monotonic()
        run_dir = args.out / name.split()[0].replace("+", "_") / (overrides[-1].split("=")[-1])
        outcome = train(recipe, RunOptions(run_dir, ("g",), recipe_name=f"default + {name}"))
        card = json.loads((run_dir / "best-g.json").read_text())["training"]
        rows.append((name, card["val_psnr"], card["val_ssim"], time.monotonic() - started, outcome.stages[0].step))
    print(
        f"\nG width {args.g_width}, {args.steps} steps of batch {args.batch} at {args.crop} px; validation: "
        f"{args.val_images} images, centre {args.val_crop} px; PSNR RGB 8-bit, SSIM Gaussian 2-D (scikit-image)\n"
    )
    print("| loss | val PSNR (dB) | val SSIM | steps | minutes |\n|---|---|---|---|---|")
    for name, psnr, ssim, seconds, steps in rows:
        print(f"| {name} | {psnr:.3f} | {ssim:.4f} | {steps} | {seconds / 60:.1f} |")


if __name__ == "__main__":
    main()
