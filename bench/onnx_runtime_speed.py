"""CPU time of G + 3 D on one image: PyTorch (golfdeblur's inference path) against the exported ONNX graph in ONNX
Runtime, plus the time the export itself takes. Random weights (the cost does not depend on their values).

    .venv/bin/python bench/onnx_runtime_speed.py                   # 1280x720, 2 rounds
    .venv/bin/python bench/onnx_runtime_speed.py --size 640x360 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from golfdeblur.export import export_onnx
from golfdeblur.infer import deblur_tensor, prepare_model
from golfdeblur.models import GolfOptimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    model = prepare_model(GolfOptimizer(zero_init_last=False).eval(), device="cpu")
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "golf.onnx"
        start = time.perf_counter()
        report = export_onnx(path, model=model, iterations=3)
        print(f"export + check: {time.perf_counter() - start:.1f} s (max difference {report.max_difference:.1e})")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    print(f"G + 3 D, fp32, {width}x{height}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}")  # fmt: skip
    runners = {
        "pytorch (deblur_tensor)": lambda: deblur_tensor(image, model, iterations=3, tile=0),
        "onnxruntime": lambda: torch.from_numpy(session.run(None, {"blurry": image.numpy()})[0]),
    }
    outputs = {name: run() for name, run in runners.items()}  # warm-up at full size (allocators, kernel choice)
    for round_index in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            print(f"round {round_index + 1}: {name:24s} {time.perf_counter() - start:7.2f} s", flush=True)
    first, second = outputs.values()
    print(f"largest difference between the two: {(first - second).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
