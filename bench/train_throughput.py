"""Training throughput (images per second) of stage G and stage D for a recipe, per data path and numeric setting.

Runs short stage-G and stage-D trainings through the real loop (train/loop.py) and reports the rate of the second
half of each (the first half absorbs start-up, compilation and cuDNN autotuning). On a GPU, compare the DataLoader
path with the on-device path (crops and FFT blur made on the GPU) and fp32 with bf16 + channels_last:

    python bench/train_throughput.py --recipe default --steps 200 --variants loader,device,device-bf16-cl
    python bench/train_throughput.py --recipe tiny --steps 20 --variants loader,device      # CPU smoke run
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from golfdeblur.train.config import load_recipe
from golfdeblur.train.loop import train
from golfdeblur.train.options import RunOptions

VARIANTS = {
    "loader": ["data.on_device=false"],
    "device": ["data.on_device=true"],
    "device-bf16-cl": ["data.on_device=true", "train.precision=bf16", "train.channels_last=true"],
    "device-bf16-cl-compile": [
        "data.on_device=true",
        "train.precision=bf16",
        "train.channels_last=true",
        "train.compile=true",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--steps", type=int, default=200, help="steps per stage (rate measured on the second half)")
    parser.add_argument("--variants", default="loader,device,device-bf16-cl")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    cpu = " ".join(filter(None, ["CPU", platform.processor()]))  # processor() may be empty
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu
    print(f"device: {device}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads\n")
    print("| variant | stage G img/s | stage D img/s |\n|---|---|---|")
    for name in args.variants.split(","):
        overrides = (
            args.overrides
            + VARIANTS[name]
            + [
                f"train.g_steps={args.steps}",
                f"train.d_steps={args.steps}",
                f"train.log_every={max(args.steps // 2, 1)}",
                "train.val_every=0",
                f"train.checkpoint_every={args.steps}",
                "train.tensorboard=false",
                "train.progress=false",
            ]
        )
        recipe = load_recipe(args.recipe, overrides)
        with tempfile.TemporaryDirectory() as folder:
            outcome = train(recipe, RunOptions(Path(folder), ("g", "d")))
        rates = {s.stage: s.images_per_s for s in outcome.stages}
        print(f"| {name} | {rates['g']:.1f} | {rates['d']:.1f} |", flush=True)
    recipe = load_recipe(args.recipe, args.overrides)
    print(
        f"\nrecipe {args.recipe}: batch {recipe.train.batch_size} x {recipe.data.crop_size} px, G width "
        f"{recipe.model.g_width}, D width {recipe.model.d_width}, T_train {recipe.train.t_train}"
    )


if __name__ == "__main__":
    main()
