"""How small can deblur's tile overlap be for given weights? Tiled against untiled output, and the time it saves.

`golfdeblur deblur` tiles images over 1536 px a side. An overlap of the receptive field (369 px for G + 3 D) makes
the tiled result equal the untiled one; the weights' effective reach is far shorter, so a smaller `--tile-overlap`
may give the same 8-bit result for less work (deblur's default is the overlap `golfdeblur release` measured into the
weights' card, 128 px for golf-synthetic-v1, by the rule in golfdeblur/tile_overlap.py). This script measures, for
each overlap:
- on each image, deblurred whole and in tiles about half its size: the largest difference and the share of pixels
  whose 8-bit value differs;
- on one large random image (default 4032x3024, a 12 MP phone photo), the time of `deblur_tensor` with 1536 px tiles.

    .venv/bin/python bench/tile_overlap.py                                    # scikit-image's photos, then 12 MP
    .venv/bin/python bench/tile_overlap.py --images ../shared/data/real_blurry --time-size 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from skimage import data as skimage_data

from golfdeblur.data.imageio import read_image
from golfdeblur.data.sources import list_images
from golfdeblur.infer import DEFAULT_TILE, DEFAULT_WEIGHTS, deblur_tensor, prepare_model, tile_spans
from golfdeblur.models import GolfOptimizer, receptive_field
from golfdeblur.tile_overlap import seam_tile

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def load_images(folder: str | None) -> list[tuple[str, torch.Tensor]]:
    """(name, (1, 3, H, W) in [0, 1]) for every image of ``folder``, or for scikit-image's bundled colour photos."""
    if folder:
        images = [(p.name, read_image(p).rgb) for p in list_images(Path(folder))]
    else:
        images = [(name, getattr(skimage_data, name)().astype(np.float32) / 255) for name in SKIMAGE_PHOTOS]
    return [(name, torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]) for name, rgb in images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--images", help="folder of images (default: scikit-image's bundled photos)")
    parser.add_argument("--overlaps", default="32,64,96,128,192", help="comma-separated, in px")
    parser.add_argument("--iterations", type=int, help="applications of D (default: the weights' T)")
    parser.add_argument("--time-size", default="4032x3024", help="WIDTHxHEIGHT of the timed image; 0 skips it")
    args = parser.parse_args()
    model = prepare_model(GolfOptimizer.from_pretrained(args.weights), device="cpu")
    exact = receptive_field(model, args.iterations)
    overlaps = [int(v) for v in args.overlaps.split(",")]
    print(f"weights {args.weights}, receptive field {exact} px; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    columns = " | ".join(f"overlap {o}: max diff (8-bit levels), pixels differing" for o in overlaps)
    print(f"| image | size | {columns} |")
    print("|---" * (2 + len(overlaps)) + "|")
    for name, image in load_images(args.images):
        height, width = image.shape[-2:]
        whole = deblur_tensor(image, model, iterations=args.iterations, tile=0)
        cells = []
        for overlap in overlaps:
            tile = seam_tile(height, width, overlap)  # as the release measures: seams inside the photo, both ways
            tiled = deblur_tensor(image, model, iterations=args.iterations, tile=tile, tile_overlap=overlap)
            largest = float((tiled - whole).abs().max()) * 255
            differing = float((torch.round(tiled * 255) != torch.round(whole * 255)).float().mean()) * 100
            cells.append(f"{largest:.2f}, {differing:.2f} %")
        print(f"| {name} | {width}x{height} | " + " | ".join(cells) + " |", flush=True)
    if args.time_size != "0":
        width, height = (int(v) for v in args.time_size.split("x"))
        image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
        for overlap in sorted({exact, *overlaps}, reverse=True):
            spans = tile_spans(height, DEFAULT_TILE, overlap), tile_spans(width, DEFAULT_TILE, overlap)
            work = sum(s.stop - s.start for s in spans[0]) * sum(s.stop - s.start for s in spans[1]) / (width * height)
            start = time.perf_counter()
            deblur_tensor(image, model, iterations=args.iterations, tile=DEFAULT_TILE, tile_overlap=overlap)
            seconds = time.perf_counter() - start
            tiles = len(spans[0]) * len(spans[1])
            print(f"{width}x{height}, tiles of {DEFAULT_TILE} px, overlap {overlap}: {tiles} tiles, "
                  f"{work:.2f} x the image's pixels, {seconds:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
