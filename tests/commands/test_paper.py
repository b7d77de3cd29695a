"""`golfdeblur paper`: the subcommands that take --device resolve it like every other command (auto accepted, CUDA
without CUDA a one-line error, weights loaded on the CPU and then moved). CUDA is simulated; no GPU is needed."""

from __future__ import annotations

import pytest
import torch

from golfdeblur.cli import main
from golfdeblur.models import weights_io
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2), zero_init_last=False)
    return save_golf(model, tmp_path / "tiny.safetensors")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def gradient_argv(weights, out, device: str) -> list[str]:
    return ["paper", "gradient", "--weights", str(weights), "--out", str(out), "--images", "astronaut",
            "--size", "24", "--kernel-size", "7", "--iterations", "1", "--device", device]  # fmt: skip


def forgetting_argv(out, device: str) -> list[str]:
    return ["paper", "forgetting", "--out", str(out), "--steps", "2", "--batch-size", "1", "--crop-size", "16",
            "--g-width", "2", "--d-width", "2", "--recurrent-width", "2", "--t-train", "1", "--t-eval", "2",
            "--eval-every", "1", "--validation-count", "2", "--validation-crop", "24", "--device", device]  # fmt: skip


def test_device_auto_is_accepted_and_weights_are_loaded_on_the_cpu(tmp_path, capsys, weights, no_gpu, monkeypatch):
    locations = []
    real_load = weights_io.load_golf

    def spy(name, map_location="cpu"):
        locations.append(str(map_location))
        return real_load(name, map_location=map_location)

    monkeypatch.setattr(weights_io, "load_golf", spy)
    assert main(gradient_argv(weights, tmp_path, "auto")) == 0
    assert locations == ["cpu"] and "--device auto" in (tmp_path / "prior_gradient.md").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("analysis", ["gradient", "convergence", "forgetting"])
@pytest.mark.parametrize(
    "device, gpus, message",
    [
        ("cuda", 0, "device cuda: CUDA is not available on this machine (use cpu or auto)"),
        ("cuda:5", 1, "device cuda:5: no such GPU as cuda:5 (this machine has 1 CUDA GPU, cuda:0; use cuda or auto)"),
        ("tpu", 0, "device 'tpu': not a device name (use auto, cpu, cuda, cuda:N or mps)"),
    ],
)
def test_unusable_devices_are_one_line_errors(tmp_path, capsys, weights, monkeypatch, analysis, device, gpus, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if analysis == "forgetting":
        argv = forgetting_argv(tmp_path / "out", device)
    elif analysis == "gradient":
        argv = gradient_argv(weights, tmp_path / "out", device)
    else:
        argv = ["paper", "convergence", "--weights", str(weights), "--out", str(tmp_path / "out"), "--device", device]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: {message}\n"
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["toy", "--high", "inf"], "expected a finite number"),
        (["toy", "--low", "nan"], "expected a finite number"),
        (["forgetting", "--lr", "0"], "must be > 0"),
        (["forgetting", "--lr-end=-1e-5"], "must be > 0"),
        (["toy", "--sweep-steps", "1,nan"], "expected finite numbers"),
    ],
)
def test_impossible_numbers_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["paper", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["toy", "--sweep-steps", ""], "--sweep-steps needs at least one step size"),
        (["gradient", "--images", ","], "--images names no image"),
        (["convergence", "--crop", "5", "--sets", "validation"], "--crop must be at least 11"),
    ],
)
def test_empty_or_too_small_settings_are_one_line_before_any_work(argv, message, tmp_path, weights, capsys):
    extra = ["--weights", str(weights)] if argv[0] != "toy" else []
    assert main(["paper", *argv, *extra, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
