"""The blurry images GoPro's GOPRO_Large layout holds beside ``sharp/``, by folder name: ``blur`` (frames averaged as
stored) and ``blur_gamma`` (averaged in linear light). Free of torch, so that the command line's help and the recipe
checks can name them without importing the datasets (``datasets.GoPro`` reads them).
"""

from __future__ import annotations

GOPRO_VARIANTS = ("blur", "blur_gamma")
