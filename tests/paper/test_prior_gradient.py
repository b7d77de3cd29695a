import math
from types import SimpleNamespace

import pytest
import torch

from golfdeblur.cli import main
from golfdeblur.data.kernels import camera_shake_kernel
from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf
from golfdeblur.paper import prior_gradient
from golfdeblur.paper.prior_gradient import (
    ResidualTrace,
    bundled_blurry_images,
    plot_residuals,
    residual_markdown,
    residual_trace,
)


def tiny_model() -> GolfOptimizer:
    torch.manual_seed(0)
    return GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2), zero_init_last=False).eval()


def test_residual_trace_reproduces_the_forward_pass():
    model = tiny_model()
    y = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(1))
    trace = residual_trace(model, y, iterations=3, name="r")
    with torch.no_grad():
        expected = model(y[None], iterations=3, return_all=True)
    assert len(trace.iterates) == 4 and len(trace.residuals) == 3
    for ours, theirs in zip(trace.iterates, expected, strict=True):
        assert torch.allclose(ours, theirs[0], atol=1e-6)
    for t, residual in enumerate(trace.residuals):
        assert torch.allclose(residual, trace.iterates[t + 1] - trace.iterates[t], atol=1e-6)
    assert all(v > 0 for v in trace.residual_rms)
    with pytest.raises(ValueError):
        residual_trace(model, y, iterations=0)


def test_residual_rms_is_the_root_mean_square_not_the_mean_magnitude():
    residual = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0, 0.0]).reshape(3, 1, 2)
    trace = ResidualTrace("r", torch.zeros(3, 1, 2), None, [torch.zeros(3, 1, 2)] * 2, [residual])
    assert trace.residual_rms == [pytest.approx(math.sqrt(25 / 6))]  # mean |r| would be 7 / 6


def test_identity_d_has_zero_residual():
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))  # zero-initialised last layer: D is the identity
    trace = residual_trace(model, torch.rand(3, 12, 12), iterations=2)
    assert trace.residual_rms == [0.0, 0.0]


def test_bundled_images_are_seeded_blurry_crops():
    first = bundled_blurry_images(("chelsea",), size=32, kernel_size=9, seed=0)
    again = bundled_blurry_images(("chelsea",), size=32, kernel_size=9, seed=0)
    name, blurry, sharp = first[0]
    assert name == "chelsea" and blurry.shape == sharp.shape == (3, 32, 32)
    assert torch.equal(blurry, again[0][1])
    assert 0 <= float(blurry.min()) and float(blurry.max()) <= 1
    assert not torch.equal(blurry, sharp)
    with pytest.raises(GolfdeblurError, match="unknown scikit-image photo"):
        bundled_blurry_images(("lena",))


def test_each_photo_gets_its_own_kernel(monkeypatch):
    """The kernel is drawn from (seed, name): without the name every photo was blurred by the same kernel."""
    kernels = []

    def recording(*args, **kwargs):
        kernels.append(camera_shake_kernel(*args, **kwargs))
        return kernels[-1]

    monkeypatch.setattr(prior_gradient, "camera_shake_kernel", recording)
    bundled_blurry_images(("astronaut", "chelsea"), size=16, kernel_size=7, seed=0)
    assert len(kernels) == 2 and not torch.equal(kernels[0], kernels[1])


def test_plot_and_table(tmp_path):
    model = tiny_model()
    traces = [residual_trace(model, b, 2, n, s) for n, b, s in bundled_blurry_images(("coffee",), 24, 7)]
    assert plot_residuals(traces, tmp_path / "g.png").stat().st_size > 0
    assert "| coffee |" in residual_markdown(traces)


def test_paper_gradient_command_on_a_tiny_model(tmp_path, capsys):
    weights = save_golf(tiny_model(), tmp_path / "tiny.safetensors")
    argv = ["paper", "gradient", "--weights", str(weights), "--out", str(tmp_path), "--images", "astronaut",
            "--size", "24", "--kernel-size", "7", "--iterations", "2"]  # fmt: skip
    assert main(argv) == 0
    assert "RMS R(x_1)" in (tmp_path / "prior_gradient.md").read_text()
    assert (tmp_path / "prior_gradient.png").is_file()
    assert main(argv + ["--kernel-size", "8"]) == 2
    capsys.readouterr()


class _RecordingPart(torch.nn.Module):
    """Stands in for G or D: the identity, recording at every call whether cuDNN may use TF32 and whether autocast
    is on."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x):
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.is_autocast_enabled("cpu")))
        return x

    def residual(self, x):
        return self(x) - x


class _FakeModel:
    """G and D that record, with parameters that claim to be on ``device`` (so a CUDA device needs no GPU)."""

    def __init__(self, device):
        self.seen = []
        self.G, self.D = _RecordingPart(self.seen), _RecordingPart(self.seen)
        self.device = torch.device(device)

    def eval(self):
        return self

    def parameters(self):
        return iter([SimpleNamespace(device=self.device)])


def test_residual_trace_runs_in_full_fp32_not_tf32_on_a_gpu(monkeypatch):
    """As convergence and the tables: cuDNN's TF32 default is off while G and D run, so a GPU gives the CPU's RMS.
    No GPU needed: the CUDA device is simulated."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # cuDNN's default
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *args, **kwargs: self)  # the image "on the GPU"
    model = _FakeModel("cuda:0")
    residual_trace(model, torch.rand(3, 4, 4), iterations=2)
    assert model.seen == [(False, False)] * 3
    assert torch.backends.cudnn.allow_tf32 is True  # restored afterwards


def test_residual_trace_is_fp32_even_under_a_callers_autocast():
    model = _FakeModel("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        residual_trace(model, torch.rand(3, 4, 4), iterations=1)
    assert [autocast for _, autocast in model.seen] == [False, False]
