"""What deblurring does unless told otherwise: the packaged weights, the largest untiled image, the precisions.

Free of torch, so that the command line can build its help (which names these) without importing it.
"""

from __future__ import annotations

DEFAULT_WEIGHTS = "golf-synthetic-v1"

# Images up to DEFAULT_TILE x DEFAULT_TILE pixels run in one piece; larger ones are tiled with tiles of at most
# DEFAULT_TILE px a side (overlap: golfdeblur/infer.py). bench/bench_4k_memory.py measured a 1848 MiB peak (whole
# process; 210 s on the idle 2-core CPU, channels_last, overlap of the receptive field) for a 3840x2160 photo in fp32
# with G 32 + 3 D 16 (1958 MiB before channels_last; 1834 MiB and 123 s on 2026-11-29's AVX-512 machine, the image
# passed as a view since); one 1536x1536 tile alone peaked at 2035 MiB in NCHW (about 0.7 GiB per megapixel of tile
# plus 0.3 GiB for Python and torch).
DEFAULT_TILE = 1536

# The most applications of D deblur, eval, results and an ONNX export take: far past where Golf's PSNR levels off
# (docs/paper/campaign/convergence.md), and a bound on the time a mistyped number can take (10**20 would run for ever).
MAX_ITERATIONS = 64

# Names of the precisions deblur runs in (golfdeblur.infer.PRECISIONS maps them to torch dtypes).
PRECISION_NAMES = ("fp32", "bf16", "fp16")
