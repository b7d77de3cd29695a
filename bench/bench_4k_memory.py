"""Peak memory and wall time of `golfdeblur deblur` on one large photo on CPU, run as the command runs it by default.

Writes a photo-like JPEG (smooth random colours; default 4032x3024, a 12 MP phone photo) into a temporary folder and
deblurs it with the command line in this process (``golfdeblur.cli.main(["deblur", ...])``: the file decoded, the
packaged default weights, the tile overlap their card measured at their T, the default tiles, the result encoded and
written), then prints the tiling the command chose and the peak: the process's resident-set high-water mark (VmHWM
from /proc/self/status, which counts torch's native allocations too), including the Python interpreter and torch, as
``/usr/bin/time -v golfdeblur deblur`` reports it. Options this script does not know go to `golfdeblur deblur` as
they are (--tile, --tile-overlap, --weights, --iterations, --precision), so that other settings are measured as the
command runs them.

    .venv/bin/python bench/bench_4k_memory.py                         # 4032x3024 JPEG, the command's defaults
    .venv/bin/python bench/bench_4k_memory.py --tile 1024             # smaller tiles
    .venv/bin/python bench/bench_4k_memory.py --tile-overlap 369      # the exact overlap (G + 3 D's receptive field)
    .venv/bin/python bench/bench_4k_memory.py --width 2400 --height 1800 --tile 0   # never tile
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from PIL import Image

from golfdeblur import cli, infer


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


def write_photo(path: Path, width: int, height: int) -> None:
    """A smooth random (height, width) RGB JPEG at quality 95 (low-resolution noise, upsampled 16x), so that its
    values look like a photo's rather than pure noise; made in uint8, and small beside the deblurring's peak."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    pixels = np.repeat(np.repeat(small, 16, axis=0), 16, axis=1)[:height, :width]
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, quality=95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--width", type=int, default=4032)
    parser.add_argument("--height", type=int, default=3024)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args, deblur_options = parser.parse_known_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # What the command passes to deblur_tensor (its tile and overlap, None: the default), and the tiling deblur_tensor
    # then chose, recorded on the way rather than worked out again here: the spans it cut each axis into (tile_spans,
    # rows then columns) and the tile count its on_tile callback was told.
    chosen: dict[str, Any] = {}
    spans: list[list[infer.Span]] = []
    tile_counts: list[int] = []
    real_deblur_tensor, real_tile_spans = infer.deblur_tensor, infer.tile_spans

    def recording_tile_spans(length: int, tile: int, overlap: int) -> list[infer.Span]:
        spans.append(real_tile_spans(length, tile, overlap))
        return spans[-1]

    def recording_deblur_tensor(x: torch.Tensor, model: infer.GolfOptimizer, **kwargs: Any) -> torch.Tensor:
        chosen.update(kwargs, receptive_field=infer.receptive_field(model, kwargs.get("iterations")))
        command_on_tile = kwargs.pop("on_tile", None)

        def on_tile(done: int, total: int) -> None:
            tile_counts.append(total)
            if command_on_tile is not None:
                command_on_tile(done, total)

        return real_deblur_tensor(x, model, on_tile=on_tile, **kwargs)

    # the command imports deblur_tensor from golfdeblur.infer when it runs; deblur_tensor finds tile_spans there
    with (
        mock.patch.object(infer, "deblur_tensor", recording_deblur_tensor),
        mock.patch.object(infer, "tile_spans", recording_tile_spans),
        tempfile.TemporaryDirectory() as tmp,
    ):
        photo = Path(tmp) / "photo.jpg"
        write_photo(photo, args.width, args.height)
        before = peak_rss_mib()
        start = time.perf_counter()
        code = cli.main(["deblur", str(photo), "-o", str(Path(tmp) / "out"), "--device", "cpu", *deblur_options])
        seconds = time.perf_counter() - start
    if code != 0 or not chosen:
        raise SystemExit(f"bench_4k_memory.py: golfdeblur deblur failed (exit code {code})")
    if len(spans) != 2 or not tile_counts or len(spans[0]) * len(spans[1]) != tile_counts[-1]:
        raise SystemExit(
            f"bench_4k_memory.py: deblur_tensor's tiling was not recorded ({len(spans)} tile_spans calls, tile counts "
            f"{sorted(set(tile_counts))}): has it stopped calling infer.tile_spans?"
        )

    rows, cols = spans
    count = tile_counts[-1]
    tile_height, tile_width = rows[0].stop - rows[0].start, cols[0].stop - cols[0].start  # all tiles are one size
    computed = count * tile_height * tile_width
    print(f"image            {args.width}x{args.height} JPEG, {torch.get_num_threads()} torch threads")
    print(
        f"deblur options   {' '.join(deblur_options) or '(defaults)'}; receptive field {chosen['receptive_field']} px"
    )
    print(
        f"tiling           overlap {chosen['tile_overlap']}: {len(cols)} x {len(rows)} = {count} tile"
        f"{'s' if count > 1 else ''} (W x H) of {tile_width}x{tile_height} ({tile_width * tile_height / 1e6:.2f} MP), "
        f"{computed / (args.width * args.height):.2f}x the image's pixels computed"
    )
    print(f"peak RSS before  {before:8.0f} MiB (interpreter, torch, the photo made)")
    print(f"peak RSS         {peak_rss_mib():8.0f} MiB  (VmHWM, whole process)")
    print(f"wall time        {seconds:8.1f} s  (read, deblur, write; the model loaded too)")


if __name__ == "__main__":
    main()
