"""Peak memory of ``golfdeblur.data.packed.load_packed`` over the images it returns, on a generated pack.

The pack is made here, in a temporary folder, as ``golfdeblur pack-data`` makes one: ``--images`` JPEG photos of
1600x1200 (smooth patterns with noise, so they do not compress to nothing), the last fifth of them as blurry/sharp
pairs. Each load runs in a fresh process, which prints its peak resident memory (``ru_maxrss``, Linux) above the
memory it held before the load, as a multiple of the loaded images' bytes, and a digest of the arrays (equal
digests: equal images).

Measured 2026-11-29 on the project's 2-core CPU (40 images, 55 MiB on disk, 264 MiB loaded): 308 MiB above the
start, 1.17x the images, 0.69 s; before load_packed made each tensor in one copy in its worker (49e6551's parent),
666 MiB, 2.53x, 1.19 s; the same arrays (sha256 2a9ea92452d40a0a).

    .venv/bin/python bench/load_packed_memory.py              # 40 images, about 220 MiB once loaded
    .venv/bin/python bench/load_packed_memory.py --images 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from golfdeblur.data.packed import pack_image_files

# Run in a fresh process, so that the peak is the load's alone.
MEASURE = """
import hashlib, resource, sys, time
from golfdeblur.data.packed import load_packed

def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

before = resident_mib()
start = time.perf_counter()
packed = load_packed(sys.argv[1])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tensors = [t for _, t in packed.sharp] + [t for _, blurry, sharp in packed.pairs for t in (blurry, sharp)]
images = sum(t.numel() for t in tensors) / 2**20
digest = hashlib.sha256()
for tensor in tensors:
    digest.update(str(tuple(tensor.shape)).encode())
    digest.update(tensor.numpy().tobytes())
print(f"images {images:.0f} MiB once loaded; peak {peak - before:.0f} MiB above the {before:.0f} MiB before the load "
      f"= {(peak - before) / images:.2f}x the images; {seconds:.2f} s; arrays sha256 {digest.hexdigest()[:16]}")
"""


def make_pack(folder: Path, count: int) -> Path:
    """A pack of ``count`` seeded 1600x1200 JPEGs (a fifth of them as pairs of a photo with itself)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1200, 0:1600]
    files = []
    for index in range(count):
        pattern = (np.sin(x / (20 + index)) * np.cos(y / 31) * 100 + 128)[..., None]
        pixels = np.clip(pattern + rng.normal(0, 25, (1200, 1600, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{index:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=92)
        files.append((f"photos/{path.name}", path))
    pairs_from = count - count // 5
    pairs = [(f"pair{index}", path, path) for index, (_, path) in enumerate(files[pairs_from:])]
    return pack_image_files(files[:pairs_from], pairs, folder / "pack.npz", replace=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="JPEG photos in the pack (default 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pack = make_pack(Path(tmp), args.images)
        print(f"pack: {args.images} JPEGs of 1600x1200, {pack.stat().st_size / 2**20:.0f} MiB on disk")
        subprocess.run([sys.executable, "-c", MEASURE, str(pack)], check=True)


if __name__ == "__main__":
    main()
