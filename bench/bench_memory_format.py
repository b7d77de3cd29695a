"""CPU time of G + 3 D (BatchNorm folded, fp32, random weights) on one image, NCHW against channels_last.

golfdeblur.infer runs models in channels_last because this benchmark found it faster on CPU. Prints one line per run.

    .venv/bin/python bench/bench_memory_format.py                  # 1280x720, 2 rounds
    .venv/bin/python bench/bench_memory_format.py --size 640x360 --rounds 3
"""

from __future__ import annotations

import argparse
import time

import torch

from golfdeblur.models import GolfOptimizer, fuse_for_inference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    nchw = fuse_for_inference(GolfOptimizer(zero_init_last=False)).eval()
    nhwc = fuse_for_inference(GolfOptimizer(zero_init_last=False)).eval().to(memory_format=torch.channels_last)
    nhwc.load_state_dict(nchw.state_dict())
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    layouts = (("NCHW", nchw, image), ("channels_last", nhwc, image.contiguous(memory_format=torch.channels_last)))
    print(f"G + 3 D, fp32, {width}x{height}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.inference_mode():
        for _, model, x in layouts:
            model(x[..., :128, :128])  # warm-up
        for round_index in range(args.rounds):
            for name, model, x in layouts:
                start = time.perf_counter()
                model(x)
                print(f"round {round_index + 1}: {name:14s} {time.perf_counter() - start:7.2f} s", flush=True)
        difference = (nchw(image) - nhwc(layouts[1][2])).abs().max().item()
    print(f"largest difference between layouts: {difference:.2e}")


if __name__ == "__main__":
    main()
