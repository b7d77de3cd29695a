"""The campaign weights committed in the repository (campaign/golf-campaign.safetensors) that GPU chunks continue.

Every chunk starts from them with ``--init-from``, so they must keep loading (card, checksum, architecture) as the code
changes, and must stay trained weights: on conftest's ``regression_pair`` G alone and Golf at T = 3 both beat the
blurry input by a margin (measured 2026-11-28 on chunk 2's weights: blurry 22.69 dB, G 24.18 dB, Golf T = 3 24.05
dB), which an untrained identity start (0 dB gain) or swapped-in random weights fail.
"""

from pathlib import Path

import pytest
import torch

from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.weights_io import load_golf, read_card

CAMPAIGN_WEIGHTS = Path(__file__).resolve().parents[1] / "campaign" / "golf-campaign.safetensors"
MARGIN_DB = 0.5

pytestmark = pytest.mark.skipif(not CAMPAIGN_WEIGHTS.is_file(), reason="not a clone: no campaign/ folder")


def test_campaign_weights_beat_the_blurry_input(regression_pair):
    blurry, sharp = regression_pair
    model = load_golf(CAMPAIGN_WEIGHTS).eval()
    with torch.no_grad():
        g_alone = model.G(blurry).clamp(0, 1)
        golf = model(blurry, iterations=3).clamp(0, 1)
    before = float(GOPRO_PSNR(blurry, sharp)[0])
    for name, restored in (("G", g_alone), ("Golf T=3", golf)):
        after = float(GOPRO_PSNR(restored, sharp)[0])
        assert after >= before + MARGIN_DB, f"{name}: blurry {before:.2f} dB, restored {after:.2f} dB"


def test_campaign_card_records_its_gpu_chunks():
    campaign = read_card(CAMPAIGN_WEIGHTS)["campaign"]
    assert campaign["g_steps"] > 0 and campaign["d_steps"] > 0
    # distributed.describe_device: "cpu (N threads)" on a CPU, the GPU's name otherwise
    assert not any(chunk["device"].startswith("cpu") for chunk in campaign["chunks"]), "campaign chunks train on GPUs"
