import csv

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.cli import main
from golfdeblur.data.validation import validation_set
from golfdeblur.models import GolfConfig, GolfOptimizer, save_golf
from golfdeblur.results import reference_rows, write_results


@pytest.fixture
def data_root(tmp_path):
    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((14, 14, 1))).astype(np.uint8)  # blocky: blur shows
    for folder, name in (("cbsd68", "1"), ("kodak24", "kodim01")):
        (tmp_path / "eval" / folder).mkdir(parents=True)
        Image.fromarray(base).save(tmp_path / "eval" / folder / f"{name}.png")
    return tmp_path


def test_references_beat_blurry_with_the_true_kernel(data_root):
    data = validation_set(data_root, kernel_min_size=7, kernel_max_size=9, noise_sigma_max=0.0)
    rows = reference_rows([(*data[i][:2], data.kernel(i), data[i][2]) for i in range(len(data))])
    by = {(r["image"], r["iterate"]): r["PSNR-RGB-8bit"] for r in rows}
    for name in data.names:
        assert by[(name, "RL (true kernel)")] > by[(name, "blurry")]


def test_report_with_weights_has_every_iterate(data_root, tmp_path):
    data = validation_set(data_root, kernel_min_size=7, kernel_max_size=9)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2))  # identity: equals the blurry input
    path = write_results({"validation": data}, tmp_path / "out", model=model, weights_label="tiny", iterations=2)
    text = path.read_text()
    for method in ("blurry", "RL (true kernel)", "Wiener (true kernel)", "G alone", "Golf T = 1", "Golf T = 2"):
        assert f"| {method} |" in text
    rows = list(csv.DictReader(open(tmp_path / "out" / "results" / "validation.csv")))
    assert len(rows) == 2 * 6  # blurry, RL, Wiener, G, D1, D2
    blurry = {r["image"]: r["PSNR-RGB-8bit"] for r in rows if r["iterate"] == "blurry"}
    assert all(r["PSNR-RGB-8bit"] == blurry[r["image"]] for r in rows if r["iterate"] == "D2")


def test_cli_writes_report(data_root, tmp_path, monkeypatch):
    levin = data_root / "eval" / "levin09"
    (levin / "sharp").mkdir(parents=True)
    (levin / "blurred").mkdir()
    sharp = np.kron(np.random.default_rng(1).integers(0, 256, (6, 6)), np.ones((6, 6))).astype(np.uint8)
    Image.fromarray(sharp).save(levin / "sharp" / "im_1.png")
    Image.fromarray(sharp).save(levin / "blurred" / "im_1_ker_1.png")
    np.savez(levin / "kernels.npz", k1=np.full((3, 3), 1 / 9))
    torch.manual_seed(0)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    code = main(["results", "--root", str(data_root), "--out", str(tmp_path / "o"), "--weights", str(weights),
                 "--iterations", "1"])  # fmt: skip
    assert code == 0
    text = (tmp_path / "o" / "RESULTS.md").read_text()
    assert "## levin09 (1 images" in text and "## validation (2 images" in text and "w.safetensors" in text
