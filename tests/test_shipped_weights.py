"""Regression check for the weights that ship: on a fixed, seeded synthetic image they must beat its blurry input.

The image is conftest's ``regression_pair``. The margin, 0.5 dB PSNR (RGB, 8-bit), is well under what the release
gate asks of whole datasets, so it catches broken or swapped weights rather than small regressions. Skipped while no
weights ship (the GPU campaign has not yet produced any that pass the gate; docs/TRAINING_CAMPAIGN.md).
"""

import json

import pytest
import torch

from golfdeblur.infer import DEFAULT_WEIGHTS
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.weights_io import PACKAGED_DIR, packaged_weights

MARGIN_DB = 0.5

pytestmark = pytest.mark.skipif(
    DEFAULT_WEIGHTS not in packaged_weights(),
    reason=f"no packaged {DEFAULT_WEIGHTS} yet (the campaign has not passed the release gate)",
)


def test_shipped_weights_beat_the_blurry_input(regression_pair):
    blurry, sharp = regression_pair
    model = GolfOptimizer.from_pretrained(DEFAULT_WEIGHTS).eval()
    with torch.no_grad():
        restored = model(blurry).clamp(0, 1)
    before, after = float(GOPRO_PSNR(blurry, sharp)[0]), float(GOPRO_PSNR(restored, sharp)[0])
    assert after >= before + MARGIN_DB, f"blurry {before:.2f} dB, restored {after:.2f} dB"


def test_shipped_card_names_its_results():
    card = json.loads((PACKAGED_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())
    assert set(card["release"]["metrics"]) == {"validation", "levin09"}
    assert card["campaign"]["chunks"], "the card must say which GPU chunks trained the weights"
