"""Regression check for the weights that ship: on a fixed, seeded synthetic image they must beat its blurry input.

The image is conftest's ``regression_pair``. The margin, 0.5 dB PSNR (RGB, 8-bit), is more than the shipped weights
gain on whole datasets, but this image is one like their training data; it catches broken or swapped weights rather
than small regressions. Skipped in an install without packaged weights, but for the check that the default names
them.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.cli import main
from golfdeblur.infer import DEFAULT_WEIGHTS
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.weights_io import PACKAGED_DIR, packaged_weights

MARGIN_DB = 0.5

shipped_weights_only = pytest.mark.skipif(
    DEFAULT_WEIGHTS not in packaged_weights(),
    reason=f"no packaged {DEFAULT_WEIGHTS} in this install",
)


def test_the_default_is_the_name_of_the_weights_that_ship():
    """Never skipped: a DEFAULT_WEIGHTS that names no packaged file (a typo, a release under a new name) skipped
    every test below, as in an install without weights, while deblur failed for every user without --weights."""
    shipped = packaged_weights()
    assert not shipped or DEFAULT_WEIGHTS in shipped, shipped


@shipped_weights_only
def test_shipped_weights_beat_the_blurry_input(regression_pair):
    blurry, sharp = regression_pair
    model = GolfOptimizer.from_pretrained(DEFAULT_WEIGHTS).eval()
    with torch.no_grad():
        restored = model(blurry).clamp(0, 1)
    before, after = float(GOPRO_PSNR(blurry, sharp)[0]), float(GOPRO_PSNR(restored, sharp)[0])
    assert after >= before + MARGIN_DB, f"blurry {before:.2f} dB, restored {after:.2f} dB"


@shipped_weights_only
def test_shipped_card_names_its_results():
    card = json.loads((PACKAGED_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())
    assert set(card["release"]["metrics"]) == {"validation", "levin09"}
    assert card["campaign"]["chunks"], "the card must say which GPU chunks trained the weights"


@shipped_weights_only
def test_shipped_card_states_the_campaign_goal_truly():
    release = json.loads((PACKAGED_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())["release"]
    psnr = {name: {k: v[GOPRO_PSNR.label] for k, v in metrics["mean_per_iterate"].items()}
            for name, metrics in release["metrics"].items()}  # fmt: skip
    met = all(means["D3"] > means["G"] > means["blurry"] for means in psnr.values())
    assert release["campaign_goal"]["met"] is met
    for name, metrics in release["metrics"].items():  # the gaps the goal turns on, with their bootstrap intervals
        gaps = {(g["first"], g["second"]): g for g in metrics["paired_gaps"]}
        assert gaps[("D3", "G")]["by_image"][0] <= gaps[("D3", "G")]["mean"] <= gaps[("D3", "G")]["by_image"][1]
        assert gaps[("D3", "G")]["mean"] == pytest.approx(psnr[name]["D3"] - psnr[name]["G"], abs=1e-9)
    assert all(means["D3"] > means["blurry"] and means["G"] > means["blurry"] for means in psnr.values())  # the gate


@shipped_weights_only
def test_deblur_uses_the_shipped_weights_by_default(tmp_path, capsys):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
    assert f"(weights {DEFAULT_WEIGHTS}, sha256 " in capsys.readouterr().err


@shipped_weights_only
def test_weights_command_describes_the_shipped_weights(capsys):
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_WEIGHTS} (the default of deblur): " in out and "G width 32 + D width 16, T = 3" in out
    assert "campaign goal (Golf T=3 > G > blurry" in out


@shipped_weights_only
def test_the_python_api_uses_the_shipped_weights_by_default():
    import golfdeblur

    image = np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    model = GolfOptimizer.from_pretrained(DEFAULT_WEIGHTS)
    np.testing.assert_array_equal(golfdeblur.deblur(image), golfdeblur.deblur(image, model=model))
