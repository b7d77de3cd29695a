"""`golfdeblur export`: write the Golf Optimizer as an ONNX file and check it against PyTorch (golfdeblur/export.py)."""

from __future__ import annotations

import argparse

from golfdeblur.user_path import path_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the model as ONNX (dynamic batch, height, width) and check it with ONNX Runtime",
        description="Write G followed by T applications of D, BatchNorm folded and the output clamped to [0, 1], as "
        "an ONNX graph with input 'blurry' and output 'deblurred' (float32 (B, 3, H, W), RGB in [0, 1]; B, H, W "
        "dynamic), then run it with ONNX Runtime on seeded inputs and compare with PyTorch. Needs the onnx extra: "
        "pip install 'golfdeblur[onnx]'.",
    )
    parser.add_argument("out", type=path_argument, metavar="OUT.onnx", help="the file to write")
    parser.add_argument("--weights", default=None, help="a .safetensors file or packaged name (default: packaged)")
    parser.add_argument(
        "--iterations", type=int, default=None, help="T, applications of D in the graph (default: the weights' own T)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT.onnx if it exists")
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip the ONNX Runtime comparison")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from golfdeblur.export import CHECK_SHAPES, export_onnx

    report = export_onnx(args.out, weights=args.weights, iterations=args.iterations, overwrite=args.overwrite,
                         check=args.check)  # fmt: skip
    size_mib = report.path.stat().st_size / 2**20
    print(f"wrote {report.path} ({size_mib:.2f} MiB, G + {report.iterations} D)")
    if report.max_difference is not None:
        shapes = ", ".join("x".join(map(str, shape)) for shape in CHECK_SHAPES)
        print(f"ONNX Runtime matches PyTorch to {report.max_difference:.2g} (max abs difference on {shapes})")
    return 0
