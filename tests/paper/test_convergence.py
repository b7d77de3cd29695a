import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.cli import main
from golfdeblur.metrics import GOPRO_PSNR, SKIMAGE_SSIM
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf
from golfdeblur.paper.convergence import convergence_curve, convergence_markdown, plot_convergence


def tiny_model(seed: int = 0) -> GolfOptimizer:
    torch.manual_seed(seed)
    return GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2), zero_init_last=False).eval()


def pairs(count: int = 2, size: int = 16):
    generator = torch.Generator().manual_seed(3)
    sharp = torch.rand(count, 3, size, size, generator=generator)
    blurry = (sharp + 0.1 * torch.randn(sharp.shape, generator=generator)).clamp(0, 1)
    return [(blurry[i], sharp[i], f"img{i}") for i in range(count)]


def test_convergence_curve_matches_per_iterate_scores():
    model = tiny_model()
    data = pairs()
    curve = convergence_curve(model, data, max_iterations=3, name="tiny")
    assert len(curve.psnr) == len(curve.ssim) == len(curve.step_rms) == 4
    assert curve.images == 2 and curve.trained_iterations == 2
    # Independent recomputation of t = 3 for the first image: D applied three times after G, clamped, 8-bit PSNR.
    with torch.no_grad():
        x = model.D(model.D(model.D(model.G(data[0][0][None]))))
    x8 = (x.clamp(0, 1) * 255).round() / 255
    s8 = (data[0][1][None] * 255).round() / 255
    expected = 10 * torch.log10(1 / (x8 - s8).square().mean())
    assert curve.per_image_psnr[0][3] == pytest.approx(float(expected), abs=1e-4)
    assert all(step > 0 for step in curve.step_rms)  # a random D moves the image every step
    assert 0 <= curve.best_iteration() <= 3
    text = convergence_markdown([curve])
    assert "| 0 (G) |" in text and "| 3 |" in text and "trained T = 2" in text


def test_convergence_curve_rejects_empty_input(tmp_path):
    with pytest.raises(ValueError, match="no image pairs"):
        convergence_curve(tiny_model(), [], max_iterations=1)
    curve = convergence_curve(tiny_model(), pairs(1), max_iterations=1, name="a")
    assert plot_convergence([curve], tmp_path / "c.png").stat().st_size > 0


def fake_levin(root):
    folder = root / "eval" / "levin09"
    (folder / "sharp").mkdir(parents=True)
    (folder / "blurred").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(folder / "sharp" / "im_1.png")
    Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(folder / "blurred" / "im_1_ker_1.png")
    np.savez(folder / "kernels.npz", k1=np.ones((3, 3)) / 9)


def test_paper_convergence_command_on_a_tiny_model(tmp_path, capsys):
    fake_levin(tmp_path / "data")
    weights = save_golf(tiny_model(), tmp_path / "tiny.safetensors")
    argv = ["paper", "convergence", "--weights", str(weights), "--out", str(tmp_path / "out"), "--sets", "levin09",
            "--data-root", str(tmp_path / "data"), "--max-iterations", "3"]  # fmt: skip
    assert main(argv) == 0
    page = (tmp_path / "out" / "convergence.md").read_text()
    assert "Levin09 (1 image; trained T = 2" in page and "| 3 |" in page
    assert (tmp_path / "out" / "convergence.png").is_file()
    assert main(["paper", "convergence", "--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert main(argv + ["--sets", "gopro"]) == 2
    capsys.readouterr()


def write_validation_images(root, folder, names):
    rng = np.random.default_rng(1)
    (root / "eval" / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "eval" / folder / f"{name}.png")


def test_the_validation_label_names_only_the_folders_scored(tmp_path, capsys):
    """validation_set takes whichever of eval/cbsd68 and eval/kodak24 it finds: the page named both regardless."""
    weights = save_golf(tiny_model(), tmp_path / "tiny.safetensors")
    write_validation_images(tmp_path / "data", "kodak24", ["kodim01"])
    argv = ["paper", "convergence", "--weights", str(weights), "--sets", "validation", "--max-iterations", "0",
            "--data-root", str(tmp_path / "data"), "--crop", "11", "--overwrite"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "kodak")]) == 0
    page = (tmp_path / "kodak" / "convergence.md").read_text()
    assert "### validation (Kodak24) (1 image;" in page and "CBSD68" not in page
    write_validation_images(tmp_path / "data", "cbsd68", ["3096"])
    assert main([*argv, "--out", str(tmp_path / "both")]) == 0
    assert "### validation (CBSD68 + Kodak24) (2 images;" in (tmp_path / "both" / "convergence.md").read_text()
    assert main([*argv, "--out", str(tmp_path / "first"), "--limit", "1"]) == 0  # --limit 1 scores CBSD68's only
    assert "### validation (CBSD68) (1 image;" in (tmp_path / "first" / "convergence.md").read_text()
    capsys.readouterr()


def test_the_input_row_scores_the_blurry_input_not_g():
    """The "input y" row was scored from iterates[0] = G(y) and went unnoticed while G was the identity."""
    model = tiny_model()
    with torch.no_grad():
        model.G.tail.weight.normal_(0, 0.1)  # G moves the image well away from its input
    blurry, sharp, _ = pairs(1)[0]
    curve = convergence_curve(model, [(blurry, sharp)], max_iterations=1)
    assert curve.blurry_psnr == pytest.approx(float(GOPRO_PSNR(blurry[None], sharp[None])[0]), abs=1e-6)
    assert curve.blurry_ssim == pytest.approx(float(SKIMAGE_SSIM(blurry[None], sharp[None])[0]), abs=1e-6)
    assert curve.blurry_psnr != pytest.approx(curve.psnr[0], abs=1e-3)
    assert curve.blurry_ssim != pytest.approx(curve.ssim[0], abs=1e-4)
