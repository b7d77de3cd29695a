"""Per-call set-up cost of ``golfdeblur.deblur`` on a 1x1 image, where the network itself costs next to nothing.

Each way of calling it is timed over several calls after one first call (which loads, checks the sha256, builds
and folds the model for the first two ways): the median per call is what a loop over many images pays on top of
the network. The ways: ``deblur(img)`` (packaged weights), ``deblur(img, weights=NAME)``,
``deblur(img, model=GolfOptimizer.from_pretrained(NAME))`` (folded in a copy every call) and
``deblur(img, model=prepare_model(weights=NAME))`` (prepared once).

    .venv/bin/python bench/deblur_call_overhead.py                   # 5 calls each, on the CPU
    .venv/bin/python bench/deblur_call_overhead.py --calls 10 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import golfdeblur
from golfdeblur import GolfOptimizer, prepare_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default="golf-synthetic-v1")
    args = parser.parse_args()
    image = np.full((1, 1, 3), 128, np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, 1x1 uint8 image")
    pretrained = GolfOptimizer.from_pretrained(args.weights)
    prepared = prepare_model(weights=args.weights, device=args.device)
    ways = {
        "deblur(img)": lambda: golfdeblur.deblur(image, device=args.device),
        "deblur(img, weights=NAME)": lambda: golfdeblur.deblur(image, weights=args.weights, device=args.device),
        "deblur(img, model=from_pretrained)": lambda: golfdeblur.deblur(image, model=pretrained, device=args.device),
        "deblur(img, model=prepare_model)": lambda: golfdeblur.deblur(image, model=prepared, device=args.device),
    }
    for name, call in ways.items():
        started = time.perf_counter()
        call()
        first = time.perf_counter() - started
        times = []
        for _ in range(args.calls):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        median, fastest = statistics.median(times), min(times)
        print(f"{name:36s} first {first:6.3f} s, then per call: median {median:6.3f} s, fastest {fastest:6.3f} s")


if __name__ == "__main__":
    main()
