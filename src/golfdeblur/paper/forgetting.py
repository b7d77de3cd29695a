"""Catastrophic forgetting (paper section 3.3, Figure 5): the Golf Optimizer versus one recurrent network.

Two arms get the same data stream (identical batches, step for step), the same loss and the same number of optimiser
steps:

(a) Golf: G trained alone on L(G(y), x) for ``g_fraction`` of the steps, then G frozen and D trained on
    sum_{t=1..T} L(D^t(G(y)), x) for the rest (paper Eqs. 6 and 4).
(b) Recurrent: one residual network R applied T times straight to the blurry input, every iterate supervised:
    sum_{t=1..T} L(R^t(y), x). The paper argues R must then serve inputs of ever-changing distributions (y, R(y), ...),
    a multi-task problem that makes it forget.

Validation PSNR is recorded against training steps (each arm at its trained T) and, at the end, against the iteration
t = 0..t_eval, past the trained T: Golf x_t = D^t(G(y)) (x_0 = G(y)); recurrent x_t = R^t(y) (x_0 = y). Both arms use
MSE as L (the paper adds a VGG perceptual term whose ImageNet weights cannot be downloaded here; the comparison is
between arms, so one loss for both suffices). The loop is deliberately small and self-contained; the production trainer
is golfdeblur.train.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import torch
from torch import nn
from torch.utils.data import Dataset

from golfdeblur.data.datasets import SyntheticBlur
from golfdeblur.data.sources import DeadLeaves, ImageFolder, default_sources
from golfdeblur.metrics import GOPRO_PSNR
from golfdeblur.models.golf import GolfConfig, GolfOptimizer, ResidualCNN, count_parameters
from golfdeblur.random_state import callers_random_state_kept
from golfdeblur.train.schedule import learning_rate
from golfdeblur.train.stopping import TrainingDiverged


@dataclass(frozen=True)
class ForgettingConfig:
    """Settings of the comparison (none are given by the paper; Figure 5's values were lost).

    Attributes:
        g_width, d_width: the Golf arm's networks (the paper's 32 and 16).
        recurrent_width: the recurrent arm's network (default 32, the size of G: R does G's and D's jobs at once).
        t_train: supervised iterates T (both arms); t_eval: evaluate t = 0..t_eval.
        steps: optimiser steps per arm; the Golf arm spends ``g_fraction`` of them on G, the rest on D.
        batch_size, crop_size, kernel_max_size, noise_sigma_max: the synthetic-blur training stream.
        learning_rate, learning_rate_end: Adam, exponential decay from one to the other over each network's steps.
        eval_every: validate every this many steps.
        validation_count, validation_crop: the held-out synthetic pairs, made from dead-leaves images of another seed
            (default crop: ``crop_size``).
        seed: seeds initialisation and the data stream, 0 to 2**63 - 1 (what torch's generators take).
        relu_before_add: every BasicBlock's last ReLU before the shortcut's addition, in both arms: the paper's text
            (DESIGN.md, ``paper.yaml``). Default False: after it, torchvision's order, as ``default.yaml``,
            ``campaign.yaml`` and the shipped weights build it, and as the CPU-scale run in docs/paper/REPRODUCTION.md
            was trained.
    """

    g_width: int = 32
    d_width: int = 16
    recurrent_width: int = 32
    t_train: int = 3
    t_eval: int = 8
    steps: int = 2000
    g_fraction: float = 0.5
    batch_size: int = 4
    crop_size: int = 128
    kernel_max_size: int = 31
    noise_sigma_max: float = 0.01
    learning_rate: float = 1e-4
    learning_rate_end: float = 1e-5
    eval_every: int = 100
    validation_count: int = 8
    validation_crop: int | None = None
    seed: int = 0
    relu_before_add: bool = False

    def __post_init__(self) -> None:
        if self.t_train < 1 or self.t_eval < self.t_train:
            raise ValueError(f"need 1 <= t_train <= t_eval, got t_train={self.t_train}, t_eval={self.t_eval}")
        if self.steps < 2 or not 0.0 < self.g_fraction < 1.0:
            raise ValueError(f"need steps >= 2 and 0 < g_fraction < 1, got {self.steps} and {self.g_fraction}")
        if self.g_steps >= self.steps:  # e.g. 2 steps at g_fraction 0.75: G would take both and D be never trained
            raise ValueError(
                f"g_fraction {self.g_fraction} of {self.steps} steps gives G all {self.g_steps} steps and D none: "
                "lower g_fraction or raise steps"
            )
        if self.eval_every < 1 or self.batch_size < 1 or self.crop_size < 16:
            raise ValueError("eval_every and batch_size must be >= 1 and crop_size >= 16")
        if self.validation_count < 1 or (self.validation_crop is not None and self.validation_crop < 16):
            raise ValueError("validation_count must be >= 1 and validation_crop >= 16")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed {self.seed}: must be 0 to 2**63 - 1")
        if not (self.learning_rate > 0 and self.learning_rate_end > 0):  # the decay is exponential; nan fails too
            raise ValueError(f"learning rates must be positive, got {self.learning_rate} and {self.learning_rate_end}")

    @property
    def g_steps(self) -> int:
        """The Golf arm's steps on G (at least 1); the remaining ``steps - g_steps`` (at least 1) train D."""
        return max(1, round(self.steps * self.g_fraction))


@dataclass
class ForgettingResult:
    """Validation PSNR (GOPRO_PSNR: RGB, 8-bit rounded; mean over validation pairs) of both arms.

    ``*_by_step``: (optimiser step, PSNR at the trained T) pairs; for the Golf arm during its G stage the PSNR is
    of G(y). ``*_by_iteration``: PSNR for t = 0..t_eval after training. ``input_psnr``: the blurry input's PSNR.
    """

    config: ForgettingConfig
    input_psnr: float
    golf_by_step: list[tuple[int, float]] = field(default_factory=list)
    recurrent_by_step: list[tuple[int, float]] = field(default_factory=list)
    golf_by_iteration: list[float] = field(default_factory=list)
    recurrent_by_iteration: list[float] = field(default_factory=list)
    golf_parameters: int = 0
    recurrent_parameters: int = 0
    seconds: float = 0.0

    def numbers(self) -> dict:
        return asdict(self)


def _batches(data: Dataset, config: ForgettingConfig) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The shared training stream: step s uses items s * batch_size .. of a seeded dataset; identical for both arms."""
    for step in range(config.steps):
        items = [data[(step * config.batch_size + i) % len(cast(Sized, data))] for i in range(config.batch_size)]
        yield torch.stack([b for b, _ in items]), torch.stack([s for _, s in items])


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@torch.no_grad()
def _iterate_psnr(
    first: Callable[[torch.Tensor], torch.Tensor],
    step_fn: Callable[[torch.Tensor], torch.Tensor],
    pairs: list[tuple[torch.Tensor, torch.Tensor]],
    iterations: int,
) -> list[float]:
    """Mean PSNR of x_0 = first(y), x_{t+1} = step_fn(x_t) for t = 0..iterations."""
    totals = [0.0] * (iterations + 1)
    for blurry, sharp in pairs:
        x = first(blurry)
        for t in range(iterations + 1):
            if t:
                x = step_fn(x)
            totals[t] += float(GOPRO_PSNR(x.clamp(0, 1), sharp)[0])
    return [total / len(pairs) for total in totals]


def _train_step(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    predictions: list[torch.Tensor],
    sharp: torch.Tensor,
    lr: float,
    where: str = "",
) -> float:
    """One optimiser step on the summed MSE of ``predictions``; the loss. ``where`` names the network and step in the
    error raised when the loss is not finite."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = cast(torch.Tensor, sum(torch.nn.functional.mse_loss(p, sharp) for p in predictions))  # never empty
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"{where or type(network).__name__}: the loss became {value} at learning rate {lr:.3g} (training "
            "diverged); lower the learning rate (--lr)"
        )
    return value


def held_out_validation(config: ForgettingConfig) -> SyntheticBlur:
    """The default validation pairs: ``config.validation_count`` synthetic pairs made from 8 dead-leaves images of
    another seed. The embedded photographs are training images (unless ``sharp_dir`` replaces them), so crops of them
    would not be held out.

    Shape:
        item -> (blurry, sharp), each (3, crop, crop) in [0, 1].
    """
    return SyntheticBlur(
        [DeadLeaves(8, 256, seed=config.seed + 1)],
        crop_size=config.validation_crop or config.crop_size,
        seed=config.seed + 1,
        kernel_max_size=config.kernel_max_size,
        noise_sigma_max=config.noise_sigma_max,
        length=config.validation_count,
    )


@callers_random_state_kept()
def run_forgetting(
    config: ForgettingConfig,
    train_data: Dataset | None = None,
    validation_pairs: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], object] = print,
    sharp_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
) -> ForgettingResult:
    """Train both arms on the same stream and measure validation PSNR (see the module docstring).

    Args:
        train_data: a Dataset of (blurry, sharp) (3, crop, crop) pairs; default synthetic blur of the embedded sources
            (scikit-image photographs and dead leaves), seeded by ``config.seed``.
        validation_pairs: list of (blurry, sharp) (3, H, W); default ``config.validation_count`` synthetic pairs
            made from 8 dead-leaves images of another seed, which training never sees.
        sharp_dir: a folder of sharp images to blur for training instead of the embedded sources.
        weights_dir: if given, the trained arms are saved there: ``golf.safetensors`` (with its model card, loadable by
            ``GolfOptimizer.from_pretrained``) and ``recurrent.safetensors`` (a ResidualCNN state dict).

    The caller's random state is kept (``random_state.callers_random_state_kept``): the run seeds torch's global
    generator with ``config.seed`` for the arms' initial weights.

    Shape:
        images in [0, 1]; every pair is scored at batch size 1.
    """
    device = torch.device(device)
    start = time.monotonic()
    if train_data is None:
        sources = (
            [ImageFolder(sharp_dir)]
            if sharp_dir is not None
            else default_sources(dead_leaves_count=64, dead_leaves_size=256, seed=config.seed)
        )
        train_data = SyntheticBlur(
            sources,
            crop_size=config.crop_size,
            seed=config.seed,
            kernel_max_size=config.kernel_max_size,
            noise_sigma_max=config.noise_sigma_max,
            length=1_000_000,
        )
    if validation_pairs is None:
        held_out = held_out_validation(config)
        validation_pairs = [held_out[i] for i in range(len(held_out))]
    pairs = [(b.unsqueeze(0).to(device), s.unsqueeze(0).to(device)) for b, s in validation_pairs]

    torch.manual_seed(config.seed)
    golf = GolfOptimizer(GolfConfig(config.g_width, config.d_width, config.t_train, config.relu_before_add)).to(device)
    recurrent = ResidualCNN(config.recurrent_width, relu_before_add=config.relu_before_add).to(device)
    result = ForgettingResult(config=config, input_psnr=_iterate_psnr(_identity, _identity, pairs, 0)[0])
    result.golf_parameters, result.recurrent_parameters = count_parameters(golf), count_parameters(recurrent)
    g_steps = config.g_steps
    d_steps = config.steps - g_steps
    optim_g = torch.optim.Adam(golf.G.parameters(), lr=config.learning_rate)
    optim_d = torch.optim.Adam(golf.D.parameters(), lr=config.learning_rate)
    optim_r = torch.optim.Adam(recurrent.parameters(), lr=config.learning_rate)
    lr_args = (config.learning_rate, config.learning_rate_end)

    def unrolled(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for _ in range(config.t_train):
            x = net(x)
            outputs.append(x)
        return outputs

    def evaluate(step: int) -> None:
        golf.eval()
        recurrent.eval()
        if step < g_steps:
            golf_psnr = _iterate_psnr(golf.G, golf.D, pairs, 0)[0]
        else:
            golf_psnr = _iterate_psnr(golf.G, golf.D, pairs, config.t_train)[-1]
        recurrent_psnr = _iterate_psnr(lambda y: y, recurrent, pairs, config.t_train)[-1]
        result.golf_by_step.append((step, golf_psnr))
        result.recurrent_by_step.append((step, recurrent_psnr))
        log(f"step {step}: golf {golf_psnr:.2f} dB, recurrent {recurrent_psnr:.2f} dB")

    for step, (blurry, sharp) in enumerate(_batches(train_data, config)):
        blurry, sharp = blurry.to(device), sharp.to(device)
        if step < g_steps:
            golf.G.train()
            lr = learning_rate(step, g_steps, *lr_args)
            _train_step(golf.G, optim_g, [golf.G(blurry)], sharp, lr, f"the Golf arm's G, step {step + 1}")
        else:
            golf.G.eval()
            golf.D.train()
            with torch.no_grad():
                start_point = golf.G(blurry)
            lr = learning_rate(step - g_steps, d_steps, *lr_args)
            _train_step(golf.D, optim_d, unrolled(golf.D, start_point), sharp, lr, f"the Golf arm's D, step {step + 1}")
        recurrent.train()
        lr = learning_rate(step, config.steps, *lr_args)
        _train_step(recurrent, optim_r, unrolled(recurrent, blurry), sharp, lr, f"the recurrent arm, step {step + 1}")
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            evaluate(step + 1)

    golf.eval()
    recurrent.eval()
    result.golf_by_iteration = _iterate_psnr(golf.G, golf.D, pairs, config.t_eval)
    result.recurrent_by_iteration = _iterate_psnr(lambda y: y, recurrent, pairs, config.t_eval)
    result.seconds = time.monotonic() - start
    if weights_dir is not None:
        _save_arms(golf, recurrent, result, Path(weights_dir))
    return result


def _save_arms(golf: GolfOptimizer, recurrent: ResidualCNN, result: ForgettingResult, folder: Path) -> None:
    """Both trained arms, atomically: golf.safetensors (+ model card) and recurrent.safetensors."""
    from golfdeblur.models.weights_io import save_golf, save_module_weights

    folder.mkdir(parents=True, exist_ok=True)
    card = {
        "trained_by": "golfdeblur paper forgetting (a small comparison run, not release weights)",
        "forgetting_config": asdict(result.config),
        "validation_psnr_by_iteration": result.golf_by_iteration,
        "psnr_convention": GOPRO_PSNR.describe(),
    }
    save_golf(golf, folder / "golf.safetensors", card)
    metadata = {
        "format": "pt",
        "width": str(result.config.recurrent_width),
        "relu_before_add": str(result.config.relu_before_add).lower(),
    }
    save_module_weights(recurrent, folder / "recurrent.safetensors", metadata)


def forgetting_markdown(result: ForgettingResult, command: str) -> str:
    """The settings and both tables (by iteration, by step) as Markdown."""
    config = result.config
    block = (
        "BasicBlocks: last ReLU before the shortcut's addition (the paper's text, `--relu-before-add`)."
        if config.relu_before_add
        else "BasicBlocks: last ReLU after the shortcut's addition (torchvision's order, as the shipped weights; the "
        "paper's text puts it before the addition: `--relu-before-add`)."
    )
    lines = [
        "# Catastrophic forgetting: Golf Optimizer vs one recurrent network (paper section 3.3, Figure 5)",
        "",
        f"Made by `{command}` in {result.seconds:.0f} s. PSNR = RGB, 8-bit rounded, mean over the validation pairs. "
        f"Loss: MSE for both arms. Golf: {result.golf_parameters:,} parameters (G {config.g_width}, D "
        f"{config.d_width}); recurrent: {result.recurrent_parameters:,} (width {config.recurrent_width}). "
        f"{config.steps} optimiser steps per arm (Golf: {config.g_fraction:g} of them, {config.g_steps}, on G, then "
        f"{config.steps - config.g_steps} on D), batch "
        f"{config.batch_size} of {config.crop_size} px, T = {config.t_train}. {block} "
        f"Input PSNR {result.input_psnr:.2f} dB.",
        "",
        "| t | Golf D^t(G(y)) | recurrent R^t(y) |",
        "|---|---|---|",
    ]
    for t, (golf, recurrent) in enumerate(zip(result.golf_by_iteration, result.recurrent_by_iteration, strict=True)):
        marker = " (trained T)" if t == config.t_train else ""
        lines.append(f"| {t}{marker} | {golf:.2f} | {recurrent:.2f} |")
    lines += ["", "| step | Golf at T (G(y) during stage G) | recurrent at T |", "|---|---|---|"]
    for (step, golf), (_, recurrent) in zip(result.golf_by_step, result.recurrent_by_step, strict=True):
        lines.append(f"| {step} | {golf:.2f} | {recurrent:.2f} |")
    return "\n".join(lines) + "\n"


def plot_forgetting(result: ForgettingResult, path: str | Path) -> Path:
    """PSNR against t (both arms, trained T marked) and against training steps. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golfdeblur.atomic import atomic_path

    config = result.config
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    ts = range(len(result.golf_by_iteration))
    left.plot(ts, result.golf_by_iteration, "o-", label="Golf: D^t(G(y))")
    left.plot(ts, result.recurrent_by_iteration, "s-", label="recurrent: R^t(y)")
    left.axhline(result.input_psnr, color="gray", ls=":", label="input y")
    left.axvline(config.t_train, color="gray", ls="--", lw=1)
    left.set_xlabel("iteration t (dashed: trained T)")
    left.set_ylabel("validation PSNR (dB)")
    left.legend(fontsize=7)
    steps_g = [s for s, _ in result.golf_by_step]
    right.plot(steps_g, [v for _, v in result.golf_by_step], "o-", label="Golf (G(y) until D starts)")
    right.plot(steps_g, [v for _, v in result.recurrent_by_step], "s-", label="recurrent R^T(y)")
    right.axvline(config.g_steps, color="gray", ls="--", lw=1)
    right.set_xlabel("optimiser step (dashed: Golf switches from G to D)")
    right.set_ylabel("validation PSNR at T (dB)")
    right.legend(fontsize=7)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
