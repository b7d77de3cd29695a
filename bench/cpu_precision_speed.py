"""CPU time of G + 3 D (BatchNorm folded, channels_last, random weights) on one image in fp32, bf16 and fp16.

`golfdeblur deblur --precision bf16` (or fp16) and `train.precision: bf16` print a note on a CPU without native
half precision (golfdeblur.device.slow_precision_note); this benchmark measures why. Prints the CPU's features
as torch sees them, then one line per precision and round.

    .venv/bin/python bench/cpu_precision_speed.py                   # 256x256, 2 rounds
    .venv/bin/python bench/cpu_precision_speed.py --size 512x384 --rounds 3
"""

from __future__ import annotations

import argparse
import time

import torch

from golfdeblur.device import slow_precision_note
from golfdeblur.infer import PRECISIONS, deblur_tensor, prepare_model
from golfdeblur.models import GolfOptimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256x256", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    model = prepare_model(GolfOptimizer(zero_init_last=False), device="cpu")
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability {capability}")
    deblur_tensor(image, model)  # warm-up: first-call allocations and oneDNN set-up
    for round_index in range(args.rounds):
        for precision in PRECISIONS:
            started = time.perf_counter()
            deblur_tensor(image, model, precision=precision)
            seconds = time.perf_counter() - started
            noted = "deblur notes it is slow here" if slow_precision_note("cpu", precision) else "no note"
            print(f"round {round_index + 1}: {precision} ({noted}) {width}x{height}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
