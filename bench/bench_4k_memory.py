"""Peak memory and wall time of deblurring a 3840x2160 photo on CPU with tiling (target: under 3 GB peak).

Uses an untrained, randomly initialised full-size Golf Optimizer (G width 32, D width 16, T = 3; random rather than
zero-initialised last layers so that every layer does real work) and golfdeblur.deblur on a uint8 numpy image,
as the command line does. The peak is the process's resident-set high-water mark (VmHWM from /proc/self/status,
which counts torch's native allocations too), including the Python interpreter and torch itself.

    .venv/bin/python bench/bench_4k_memory.py                 # default tiling
    .venv/bin/python bench/bench_4k_memory.py --tile 1024     # smaller tiles
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from golfdeblur.infer import DEFAULT_TILE, deblur, prepare_model, tile_spans
from golfdeblur.models import GolfConfig, GolfOptimizer, receptive_field


def peak_rss_mib() -> float:
    """Resident-set high-water mark of this process in MiB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=3840)
    parser.add_argument("--height", type=int, default=2160)
    parser.add_argument("--tile", type=int, default=None, help=f"largest tile side (default: deblur's, {DEFAULT_TILE})")
    parser.add_argument("--tile-overlap", type=int, default=None, help="default: the receptive-field diameter")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=32, d_width=16, iterations=3), zero_init_last=False).eval()
    ready = prepare_model(model, device="cpu")
    rng = np.random.default_rng(0)
    # A smooth random image (low-resolution noise, upsampled) so values look like a photo rather than pure noise;
    # made in uint8, so that the peak before deblurring is not a float32 temporary's (530 MiB against 268 at 4K).
    small = rng.integers(0, 256, (args.height // 16 + 1, args.width // 16 + 1, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.repeat(np.repeat(small, 16, axis=0), 16, axis=1)[: args.height, : args.width])
    before = peak_rss_mib()

    diameter = receptive_field(model)
    tile = args.tile if args.tile is not None else DEFAULT_TILE
    overlap = args.tile_overlap if args.tile_overlap is not None else diameter
    if tile <= overlap and (tile < args.height or tile < args.width):  # as deblur refuses it, before tile_spans
        raise SystemExit(f"bench_4k_memory.py: --tile {tile} must be larger than the tile overlap {overlap}")
    rows, cols = tile_spans(args.height, tile, overlap), tile_spans(args.width, tile, overlap)
    computed = sum((r.stop - r.start) * (c.stop - c.start) for r in rows for c in cols)

    start = time.perf_counter()
    out = deblur(image, model=ready, device="cpu", precision=args.precision, tile=tile, tile_overlap=overlap)
    seconds = time.perf_counter() - start
    assert out.shape == image.shape and out.dtype == np.uint8

    print(
        f"image            {args.width}x{args.height} uint8 RGB, precision {args.precision}, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"model            G 32 + 3 x D 16, random init, BN folded; receptive field {diameter} px")
    print(
        f"tiling           tile <= {tile}, overlap {overlap}: {len(cols)} x {len(rows)} tiles (W x H) of "
        f"{cols[0].stop - cols[0].start}x{rows[0].stop - rows[0].start}, "
        f"{computed / (args.width * args.height):.2f}x the image's pixels computed"
    )
    print(f"peak RSS before  {before:8.0f} MiB (interpreter, torch, model, input image)")
    print(f"peak RSS         {peak_rss_mib():8.0f} MiB  (VmHWM, whole process)")
    print(f"wall time        {seconds:8.1f} s")


if __name__ == "__main__":
    main()
