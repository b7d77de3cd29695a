"""What deblurring does unless told otherwise: the packaged weights, the largest untiled image, the precisions.

Free of torch, so that the command line can build its help (which names these) without importing it.
"""

from __future__ import annotations

from typing import Literal, get_args  # no cost for --help: golfdeblur.cli, which imports this, imports typing too

DEFAULT_WEIGHTS = "golf-synthetic-v1"

# Images up to DEFAULT_TILE x DEFAULT_TILE pixels run in one piece; larger ones are tiled with tiles of at most
# DEFAULT_TILE px a side (overlap: golfdeblur/infer.py). Peaks of `golfdeblur deblur` as it runs by default (the
# packaged golf-synthetic-v1, G 32 + 3 D 16, fp32, its card's 128 px overlap at T = 3), whole process (VmHWM), measured
# with bench/bench_4k_memory.py on 2026-11-29's shared 2-core CPU: 1748 MiB (120 s) for a 4032x3024 JPEG in 3 x 3 tiles
# of 1430x1094, 1219 MiB for 2400x1800 in 2 x 2, 1806 MiB for one 1536x1536 tile; about 0.35 GiB for Python and torch,
# plus 0.6 GiB per megapixel of the largest tile, plus 25 MiB per megapixel of image. (The bench's first version, with
# random weights of that size and the receptive field's 369 px overlap, measured 1848 MiB and 210 s for 3840x2160.)
DEFAULT_TILE = 1536

# The most applications of D deblur, eval, results and an ONNX export take: far past where Golf's PSNR levels off
# (docs/paper/campaign/convergence.md), and a bound on the time a mistyped number can take (10**20 would run for ever).
MAX_ITERATIONS = 64

# The precisions deblur runs in, for a type checker and by name (golfdeblur.infer.PRECISIONS maps them to torch dtypes).
Precision = Literal["fp32", "bf16", "fp16"]
PRECISION_NAMES: tuple[Precision, ...] = get_args(Precision)

#: The seed of the fixed synthetic validation set's blur (CBSD68 + Kodak24): what training validates on, `results`
#: and `eval --data synthetic` score, and the release card names.
VALIDATION_SEED = 2019
