import json

import numpy as np
import torch
from PIL import Image

from golfdeblur.cli import main
from golfdeblur.demo import DemoConfig, format_results, make_demo_pairs, run_demo
from golfdeblur.infer import prepare_model
from golfdeblur.models import GolfConfig, GolfOptimizer, save_golf

SMALL = DemoConfig(images=2, crop=40, kernel_sizes=(7, 9))


def test_pairs_are_seeded_and_blurred():
    names, sizes, blurry, sharp = make_demo_pairs(SMALL)
    again = make_demo_pairs(SMALL)
    assert names == ["skimage/astronaut", "skimage/chelsea"] and sizes == [7, 9]
    assert blurry.shape == sharp.shape == (2, 3, 40, 40)
    assert torch.equal(blurry, again[2])
    assert not torch.equal(blurry, make_demo_pairs(DemoConfig(images=2, crop=40, kernel_sizes=(7, 9), seed=1))[2])
    assert (blurry - sharp).abs().mean() > 0.005  # visibly blurred


def test_identity_model_reports_blurry_numbers_and_writes_outputs(tmp_path):
    identity = prepare_model(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), device="cpu")
    results = run_demo(identity, tmp_path, SMALL)
    for r in results:  # the untrained network returns its input exactly
        assert r.psnr_deblurred == r.psnr_blurry and r.ssim_deblurred == r.ssim_blurry
        assert 10 < r.psnr_blurry < 60 and 0 < r.ssim_blurry < 1
    picture = np.asarray(Image.open(tmp_path / "comparison.png"))
    assert picture.shape == (2 * 40 + 6, 3 * 40 + 12, 3)
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert "8-bit" in report["conventions"]["psnr"] and len(report["images"]) == 2
    assert "mean" in format_results(results)


def test_cli_with_weights_prints_table(tmp_path, capsys):
    torch.manual_seed(0)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1), zero_init_last=False), tmp_path / "w.safetensors")
    code = main(["demo", "--out", str(tmp_path / "out"), "--weights", str(weights), "--images", "1", "--crop", "32"])
    assert code == 0
    assert "PSNR" in capsys.readouterr().out
    assert (tmp_path / "out" / "comparison.png").is_file()


def test_cli_without_weights_says_so_and_fails(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "out")])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no trained weights" in err
    assert not (tmp_path / "out").exists()


def test_real_photos_grid(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "real").mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "real" / "wide.png")
    Image.fromarray(rng.integers(0, 256, (40, 20), dtype=np.uint8)).save(tmp_path / "real" / "tall.jpg")
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    out = tmp_path / "out"
    assert main(["demo", "--real", str(tmp_path / "real"), "--out", str(out), "--weights", str(weights)]) == 0
    assert "deblurred 2 photos" in capsys.readouterr().out
    grid = Image.open(out / "real_comparison.png")
    assert grid.size == (round(50 * 320 / 30) * 2 + 6, 2 * 320 + 6)  # rows of blurry | deblurred at 320 px
    identity = np.asarray(Image.open(out / "deblurred" / "wide.png"))  # the identity model returns its input
    assert np.array_equal(identity, np.asarray(Image.open(tmp_path / "real" / "wide.png")))
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--real", str(tmp_path / "empty"), "--out", str(out), "--weights", str(weights)]) == 2
    assert "no images found" in capsys.readouterr().err
