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
    ALIGNMENT_DEFINITIONS,
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


class _StepTowardSharp(torch.nn.Module):
    """D whose residual is exactly k * (x - x_t) for a known sharp image x (G is the identity)."""

    def __init__(self, sharp: torch.Tensor, k: float) -> None:
        super().__init__()
        self.sharp, self.k = sharp, k
        self.unused = torch.nn.Parameter(torch.zeros(1))  # residual_trace reads the device from the parameters

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.k * (self.sharp[None] - x)


class _KnownModel(torch.nn.Module):
    def __init__(self, sharp: torch.Tensor, k: float) -> None:
        super().__init__()
        self.G, self.D = torch.nn.Identity(), _StepTowardSharp(sharp, k)


@pytest.mark.parametrize("k", [0.25, 0.5, -0.5])
def test_a_residual_along_the_error_has_cosine_one_and_best_scale_one_over_k(k):
    """R(x_t) = k (x - x_t): the step points along the error (cos = sign of k) and must be stretched by 1 / k to
    land on x (the paper's claim, section 4: R learns the difference between the iterate and the sharp image)."""
    generator = torch.Generator().manual_seed(3)
    sharp, blurry = torch.rand(3, 8, 10, generator=generator), torch.rand(3, 8, 10, generator=generator)
    trace = residual_trace(_KnownModel(sharp, k), blurry, iterations=3, name="known", sharp=sharp)
    assert trace.error_cosine == pytest.approx([math.copysign(1.0, k)] * 3, abs=1e-6)
    assert trace.best_scale == pytest.approx([1 / k] * 3, rel=1e-5)


def test_cosine_and_best_scale_of_a_step_half_along_the_error():
    """By hand: R = (1, 0), x - x_t = (1, 1): cos 45 degrees = 1/sqrt(2); s* = <R, e> / <R, R> = 1 (x_t + R is the
    point of R's line nearest x); RMS as before. A zero step has neither (nan, '-' in the table)."""
    zero = torch.zeros(1, 1, 2)
    sharp = torch.tensor([1.0, 1.0]).reshape(1, 1, 2)
    step = torch.tensor([1.0, 0.0]).reshape(1, 1, 2)
    trace = ResidualTrace("hand", zero, sharp, [zero, step, step], [step, zero])
    assert trace.error_cosine[0] == pytest.approx(1 / math.sqrt(2))
    assert trace.best_scale[0] == pytest.approx(1.0)
    assert math.isnan(trace.error_cosine[1]) and math.isnan(trace.best_scale[1])
    table = residual_markdown([trace])
    assert "| hand | 0.707 | - |" in table and "| hand | 1.00 | - |" in table
    no_sharp = ResidualTrace("blind", zero, None, [zero, step], [step])
    assert no_sharp.error_cosine == [] and no_sharp.best_scale == []
    assert "blind" in residual_markdown([no_sharp]) and "cos" not in residual_markdown([no_sharp])


def test_the_step_lowers_the_error_exactly_when_the_best_scale_exceeds_one_half():
    """|e - R|^2 = |e|^2 - 2 <R, e> + |R|^2 < |e|^2 iff s* > 1/2, as the page says; error_rms is x - x_t's RMS."""
    generator = torch.Generator().manual_seed(7)
    sharp = torch.rand(3, 16, 16, generator=generator)
    iterates = [torch.rand(3, 16, 16, generator=generator)]
    residuals = []
    for scale in (0.3, 0.45, 0.55, 1.0, 1.9, 2.1, -0.4):  # the step is (error + noise) / scale-ish: s* near `scale`
        error = sharp - iterates[-1]
        residuals.append((error + 0.05 * torch.randn(error.shape, generator=generator)) / scale)
        iterates.append(iterates[-1] + residuals[-1])
    trace = ResidualTrace("walk", sharp, sharp, iterates, residuals)
    rms = trace.error_rms
    assert len(rms) == len(iterates)
    assert rms[0] == pytest.approx(float((sharp - iterates[0]).square().mean().sqrt()))
    lowered = [rms[t + 1] < rms[t] for t in range(len(residuals))]
    assert lowered == [s > 0.5 for s in trace.best_scale]
    assert True in lowered and False in lowered


def test_the_cosines_and_best_scales_come_from_one_pass_over_the_trace(monkeypatch):
    """Both come from the same three sums per t, and the page asks for each: they were worked out twice over every
    pixel. A list handed out is the caller's own: changing it changes nothing kept."""
    generator = torch.Generator().manual_seed(3)
    sharp, iterate, step = (torch.rand(3, 8, 8, generator=generator) for _ in range(3))
    trace = ResidualTrace("once", sharp, sharp, [iterate, iterate + step, iterate + 2 * step], [step, step])
    passes = []
    real_double = torch.Tensor.double

    def counting_double(tensor, *args, **kwargs):
        if tensor is sharp:  # read once per pass over the trace
            passes.append(1)
        return real_double(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "double", counting_double)
    cosines, scales = trace.error_cosine, trace.best_scale
    assert (trace.error_cosine, trace.best_scale) == (cosines, scales) and len(passes) == 1
    cosines.append(0.0)
    assert len(trace.error_cosine) == 2


def test_alignment_is_summed_in_float64():
    """Sums over a large image in float32 would lose digits; the values are those of a float64 computation."""
    generator = torch.Generator().manual_seed(5)
    sharp, iterate, step = (torch.rand(3, 300, 300, generator=generator) for _ in range(3))
    trace = ResidualTrace("big", sharp, sharp, [iterate, iterate + step], [step])
    error = (sharp - iterate).double()
    inner = float((step.double() * error).sum())
    assert trace.best_scale[0] == pytest.approx(inner / float(step.double().square().sum()), rel=1e-12)
    assert trace.error_cosine[0] == pytest.approx(inner / float(step.double().norm() * error.norm()), rel=1e-12)


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
    page = (tmp_path / "prior_gradient.md").read_text()
    assert "RMS R(x_1)" in page
    assert ALIGNMENT_DEFINITIONS in page and "no noise" in page
    name, blurry, sharp = bundled_blurry_images(("astronaut",), 24, 7)[0]
    trace = residual_trace(tiny_model(), blurry, 2, name, sharp)
    cosines = " | ".join(f"{v:.3f}" for v in trace.error_cosine)
    scales = " | ".join(f"{v:.2f}" for v in trace.best_scale)
    assert f"| astronaut | {cosines} |" in page and f"| astronaut | {scales} |" in page
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
