"""The appendix's two-pixel experiment: a discriminative prior versus a prior learned through its gradient.

An "image" is two pixels x = (x1, x2). It is sharp when x1 >= x2 and blurry when x1 < x2 (the paper's inequality was
lost from its text; we pick this side), and a blurry image's ground truth is its mirror point (x2, x1) across the line
x1 = x2; a sharp image is its own ground truth. So the restoring update is x_gt - y = relu(y2 - y1) * (1, -1), which is
the negative gradient of the analytic optimal prior P*(y) = relu(y2 - y1)^2 / 2: one gradient step y - grad P*(y) lands
exactly on the ground truth.

Two MLPs with the shapes of the paper's Tables 6 and 7 (2 -> 4 -> 8 -> 4 -> 2, ReLU, 96 parameters) are trained:
(a) a classifier of blurry versus sharp (softmax, cross-entropy), then used as a prior P(y) whose gradient step restores
an image, and (b) a network that learns the negative gradient directly, f(y) ~ x_gt - y, restoring by y + f(y).
The prior behind (b) is recovered by integrating -f numerically (:func:`integrate_gradient_field`, a least-squares
Poisson solve).

Networks this small often die (every ReLU of a layer inactive on the whole region, constant output) from PyTorch's
default initialisation, so each network is trained from several seeded restarts at once (a batched "ensemble" whose
members never interact) and the restart with the lowest loss on the *training* set is kept; every restart's test
numbers are reported too.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve
from torch import nn

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Layer widths reconstructed from the parameter counts of Tables 6 and 7 (12, 40, 36, 8; total 96):
# 2->4 with bias (12), 4->8 with bias (40), 8->4 with bias (36), 4->2 without bias (8). No chain of widths with biases
# everywhere fits all four counts; the last layer must be bias-free (or the paper counted only its weights).
TOY_WIDTHS = (2, 4, 8, 4, 2)


@dataclass(frozen=True)
class ToyConfig:
    """Settings of the two-pixel experiment. Values the paper's text lost are marked "ours".

    Attributes:
        train_samples, test_samples: 16,000 and 1,000 as in the paper.
        iterations: Adam steps per network (paper: 4,000).
        batch_size: mini-batch size (ours; lost).
        learning_rate: Adam learning rate, default betas (ours; lost).
        low, high: images are uniform in the square [low, high]^2 (ours; lost): pixel intensities in [0, 1].
        step_size: eta in the discriminative update y - eta * grad P(y) (ours; lost). The learned-gradient update is
            y + f(y) with no step size, as in the paper.
        restarts: seeded restarts per network; the one with the lowest training loss is kept (ours).
        sweep_highs: extra regions [low, high]^2 trained alongside the main one, for the sensitivity table.
        sweep_steps: extra values of eta at which the discriminative update is measured (no retraining).
        grid: points per side of the grid used for plots and for integrating the learned gradient.
        seed: seeds sampling, initialisation and batch order, 0 to 2**63 - 1 (what torch's generators take).
    """

    train_samples: int = 16_000
    test_samples: int = 1_000
    iterations: int = 4_000
    batch_size: int = 64
    learning_rate: float = 1e-2
    low: float = 0.0
    high: float = 1.0
    step_size: float = 1.0
    restarts: int = 5
    sweep_highs: tuple[float, ...] = (0.5, 2.0, 4.0)
    sweep_steps: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    grid: int = 81
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("train_samples", "test_samples", "iterations", "batch_size", "restarts"):
            if getattr(self, name) < 1:
                raise ValueError(f"ToyConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.grid < 3:
            raise ValueError(f"ToyConfig.grid must be >= 3, got {self.grid}")
        if self.high <= self.low:
            raise ValueError(f"the sampling region needs low < high, got [{self.low}, {self.high}]")
        for high in self.sweep_highs:
            if high <= self.low:
                raise ValueError(
                    f"sweep_highs (--sweep-highs) has {high:g}, not above low {self.low:g}: every sweep region "
                    "[low, high]^2 needs low < high (give highs above low, or --sweep-highs= for no sweep)"
                )
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed {self.seed}: must be 0 to 2**63 - 1")


def is_blurry(x: torch.Tensor) -> torch.Tensor:
    """True where an image is blurry (x1 < x2). Shape: (..., 2) -> (...) bool."""
    return x[..., 0] < x[..., 1]


def mirror_ground_truth(y: torch.Tensor) -> torch.Tensor:
    """Ground truth of each image: the mirror (y2, y1) of a blurry image across x1 = x2; a sharp one is itself.

    Shape:
        (..., 2) -> (..., 2). The output is always on the sharp side (x1 >= x2).
    """
    return torch.where(is_blurry(y)[..., None], y.flip(-1), y)


def analytic_negative_gradient(y: torch.Tensor) -> torch.Tensor:
    """-grad P*(y) = x_gt - y = relu(y2 - y1) * (1, -1). Shape: (..., 2) -> (..., 2)."""
    gap = torch.relu(y[..., 1] - y[..., 0])
    return torch.stack([gap, -gap], dim=-1)


def analytic_prior(y: torch.Tensor) -> torch.Tensor:
    """The optimal prior P*(y) = relu(y2 - y1)^2 / 2, zero on the sharp side. Shape: (..., 2) -> (...)."""
    return 0.5 * torch.relu(y[..., 1] - y[..., 0]) ** 2


class ToyMLP(nn.Module):
    """``members`` independent MLPs of Tables 6/7 evaluated in one batched pass: 2 -> 4 -> 8 -> 4 -> 2, ReLU between.

    Each member has 96 parameters and PyTorch's default nn.Linear initialisation (uniform, bound 1/sqrt(fan_in)),
    drawn from ``generators[m]`` for member m (one generator may serve several members), so that a member starts
    the same whatever other members it is trained beside. The softmax of Table 6 is applied by the loss / by
    :func:`blurriness_probability`.

    Shape:
        (N, 2) (same input for every member) or (members, N, 2) -> (members, N, 2).
    """

    def __init__(self, members: int = 1, generators: Sequence[torch.Generator | None] | None = None) -> None:
        super().__init__()
        generators = generators if generators is not None else [None] * members
        if len(generators) != members:
            raise ValueError(f"ToyMLP: {members} members need {members} generators, got {len(generators)}")
        self.members = members
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()

        def uniform(bound: float, *shape: int) -> nn.Parameter:  # one draw per member, from its own generator
            return nn.Parameter(torch.stack([(2 * torch.rand(*shape, generator=g) - 1) * bound for g in generators]))

        pairs = list(zip(TOY_WIDTHS[:-1], TOY_WIDTHS[1:], strict=True))
        for index, (fan_in, fan_out) in enumerate(pairs):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(uniform(bound, fan_in, fan_out))
            if index < len(pairs) - 1:
                self.biases.append(uniform(bound, 1, fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.expand(self.members, -1, -1)
        for weight, bias in zip(self.weights[:-1], self.biases, strict=True):
            x = torch.relu(torch.baddbmm(bias, x, weight))
        return torch.bmm(x, self.weights[-1])

    def subset(self, start: int, stop: int) -> ToyMLP:
        """A ToyMLP holding copies of members ``start .. stop - 1``."""
        part = ToyMLP(stop - start)
        with torch.no_grad():
            for mine, theirs in zip(part.parameters(), self.parameters(), strict=True):
                mine.copy_(theirs[start:stop])
        return part.eval()

    def select(self, index: int) -> ToyMLP:
        """A one-member ToyMLP holding a copy of member ``index``."""
        return self.subset(index, index + 1)


def parameters_per_member(mlp: ToyMLP) -> int:
    """Parameters of one member (96 for the paper's shape)."""
    return sum(p[0].numel() for p in mlp.parameters())


def member_losses(outputs: torch.Tensor, targets: torch.Tensor, classify: torch.Tensor) -> torch.Tensor:
    """Per-member mean loss: cross-entropy (softmax) where ``classify``, else MSE.

    For a classifier member the targets are one-hot class labels (index 1 = blurry).

    Shape:
        outputs, targets (members, N, 2); classify (members,) bool -> (members,).
    """
    cross_entropy = -(targets * torch.log_softmax(outputs, dim=-1)).sum(-1).mean(-1)
    mse = ((outputs - targets) ** 2).mean(dim=(1, 2))
    return torch.where(classify, cross_entropy, mse)


def train_members(
    mlp: ToyMLP,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    classify: torch.Tensor,
    iterations: int,
    batch_size: int,
    learning_rate: float,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """Train every member with Adam on its own random mini-batches, drawn from ``generators[m]`` for member m;
    members never interact.

    The summed loss gives each member exactly the gradient it would get alone, and Adam is elementwise, so this
    equals training the members one after another, but costs about what one costs (tiny networks are overhead-bound).

    Shape:
        inputs, targets (members, N, 2); classify (members,) bool -> losses (iterations, members).
    """
    optimizer = torch.optim.Adam(mlp.parameters(), lr=learning_rate, foreach=True)
    members, samples = inputs.shape[:2]
    if len(generators) != members:
        raise ValueError(f"train_members: {members} members need {members} generators, got {len(generators)}")
    losses = torch.empty(iterations, members)
    for step in range(iterations):
        draws = [torch.randint(0, samples, (batch_size, 1), generator=g) for g in generators]
        index = torch.stack(draws).expand(-1, -1, 2)
        loss = member_losses(mlp(torch.gather(inputs, 1, index)), torch.gather(targets, 1, index), classify)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        losses[step] = loss.detach()
    return losses


def blurriness_log_odds(classifier: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The discriminative prior "on logits": z_blurry - z_sharp (softmax removed). Shape: (N, 2) -> (N,).

    Uses the first member of ``classifier``.
    """
    logits = classifier(y)[0]
    return logits[:, 1] - logits[:, 0]


def blurriness_probability(classifier: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The discriminative prior on the softmax output: p(blurry | y) in [0, 1]. Shape: (N, 2) -> (N,)."""
    return torch.softmax(classifier(y)[0], dim=1)[:, 1]


def prior_gradient(prior: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """grad_y prior(y) by autograd for a prior giving one value per image. Shape: (N, 2) -> (N, 2)."""
    y = y.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(prior(y).sum(), y)
    return grad.detach()


def update_mse(restored: torch.Tensor, ground_truth: torch.Tensor) -> float:
    """Mean over images and both pixels of the squared error. Shape: (N, 2), (N, 2) -> float."""
    return float(((restored - ground_truth) ** 2).mean())


def integrate_gradient_field(gx: np.ndarray, gy: np.ndarray, spacing_x: float, spacing_y: float) -> np.ndarray:
    """The potential P whose gradient best matches (gx, gy) on a regular grid, by least squares (a Poisson solve).

    Each forward difference of P between neighbouring grid points is asked to equal the trapezoid average of the
    given gradient there; the system is solved in the least-squares sense, so a field that is not exactly
    conservative (a learned one) still gives the closest potential. The constant is fixed by mean(P) = 0.

    Shape:
        gx, gy: (H, W) with axis 0 along y and axis 1 along x (``numpy.meshgrid(xs, ys)`` layout) -> (H, W).
    """
    gx = np.asarray(gx, dtype=np.float64)
    gy = np.asarray(gy, dtype=np.float64)
    if gx.shape != gy.shape or gx.ndim != 2 or min(gx.shape) < 2:
        raise ValueError(f"gx and gy must be equal 2-D arrays of at least 2x2, got {gx.shape} and {gy.shape}")
    h, w = gx.shape
    index = np.arange(h * w).reshape(h, w)
    rows_x = index[:, :-1].ravel()
    rows_y = index[:-1, :].ravel()
    n_x, n_y = rows_x.size, rows_y.size
    eq = np.arange(n_x + n_y)
    cols_minus = np.concatenate([rows_x, rows_y])
    cols_plus = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    scale = np.concatenate([np.full(n_x, 1.0 / spacing_x), np.full(n_y, 1.0 / spacing_y)])
    matrix = sparse.csr_matrix(
        (np.concatenate([-scale, scale]), (np.concatenate([eq, eq]), np.concatenate([cols_minus, cols_plus]))),
        shape=(n_x + n_y, h * w),
    )
    rhs = np.concatenate([(0.5 * (gx[:, :-1] + gx[:, 1:])).ravel(), (0.5 * (gy[:-1, :] + gy[1:, :])).ravel()])
    # The normal equations are a graph Laplacian, singular only along the constant; pinning one value removes that
    # direction, and a sparse direct solve is exact and instant at plotting sizes.
    normal = (matrix.T @ matrix).tolil()
    normal[0, 0] += 1.0
    solution = spsolve(normal.tocsc(), matrix.T @ rhs)
    potential = solution.reshape(h, w)
    return potential - potential.mean()


@dataclass
class RegionResult:
    """Measurements for one sampling region [low, high]^2 (MSEs are means over test images and both pixels).

    ``*_blurry`` values use only the blurry test images; the others use all 1,000 (a sharp image's ground truth is
    itself). ``restart_*`` lists hold every restart's test value; ``chosen_*`` the restart kept (lowest training loss).
    """

    low: float
    high: float
    classifier_accuracy: float
    mse_no_update: float
    mse_discriminative_logit: float
    mse_discriminative_softmax: float
    mse_learned_gradient: float
    mse_analytic: float
    mse_no_update_blurry: float
    mse_discriminative_logit_blurry: float
    mse_learned_gradient_blurry: float
    step_sweep: list[tuple[float, float]]
    restart_accuracy: list[float]
    restart_mse_discriminative_logit: list[float]
    restart_mse_learned_gradient: list[float]
    chosen_classifier: int
    chosen_gradient: int
    classifier: ToyMLP = field(repr=False)
    gradient_net: ToyMLP = field(repr=False)

    def numbers(self) -> dict:
        """The measured values as plain Python numbers (no networks)."""
        return {k: v for k, v in asdict(self).items() if k not in ("classifier", "gradient_net")}


@dataclass
class ToyReport:
    """The main region's result, the region sweep, grids for the figures and the training curves."""

    config: ToyConfig
    main: RegionResult
    sweep: list[RegionResult]
    prior_rmse_learned_vs_analytic: float
    grid: dict = field(repr=False)
    classifier_losses: np.ndarray = field(repr=False)
    gradient_losses: np.ndarray = field(repr=False)


def _evaluate_region(
    low: float,
    high: float,
    members: slice,
    classifiers: ToyMLP,
    gradient_nets: ToyMLP,
    train_loss_classifier: torch.Tensor,
    train_loss_gradient: torch.Tensor,
    test_y: torch.Tensor,
    config: ToyConfig,
) -> RegionResult:
    test_gt = mirror_ground_truth(test_y)
    blurry = is_blurry(test_y)
    chosen_c = int(train_loss_classifier[members].argmin())
    chosen_g = int(train_loss_gradient[members].argmin())
    start = members.start
    classifier = classifiers.select(start + chosen_c)
    gradient_net = gradient_nets.select(start + chosen_g)

    with torch.no_grad():
        restart_logits = classifiers(test_y)[members]
        restart_learned = test_y + gradient_nets(test_y)[members]
        learned_update = test_y + gradient_net(test_y)[0]
        accuracy = float((classifier(test_y)[0].argmax(1) == blurry.long()).float().mean())
    restart_accuracy = [float((logits.argmax(1) == blurry.long()).float().mean()) for logits in restart_logits]
    restart_steps = []
    for index in range(members.start, members.stop):
        member = classifiers.select(index)
        restart_steps.append(prior_gradient(functools.partial(blurriness_log_odds, member), test_y))

    logit_grad = prior_gradient(lambda y: blurriness_log_odds(classifier, y), test_y)
    softmax_grad = prior_gradient(lambda y: blurriness_probability(classifier, y), test_y)
    logit_update = test_y - config.step_size * logit_grad
    return RegionResult(
        low=low,
        high=high,
        classifier_accuracy=accuracy,
        mse_no_update=update_mse(test_y, test_gt),
        mse_discriminative_logit=update_mse(logit_update, test_gt),
        mse_discriminative_softmax=update_mse(test_y - config.step_size * softmax_grad, test_gt),
        mse_learned_gradient=update_mse(learned_update, test_gt),
        mse_analytic=update_mse(test_y + analytic_negative_gradient(test_y), test_gt),
        mse_no_update_blurry=update_mse(test_y[blurry], test_gt[blurry]),
        mse_discriminative_logit_blurry=update_mse(logit_update[blurry], test_gt[blurry]),
        mse_learned_gradient_blurry=update_mse(learned_update[blurry], test_gt[blurry]),
        step_sweep=[(float(eta), update_mse(test_y - eta * logit_grad, test_gt)) for eta in config.sweep_steps],
        restart_accuracy=restart_accuracy,
        restart_mse_discriminative_logit=[
            update_mse(test_y - config.step_size * step, test_gt) for step in restart_steps
        ],
        restart_mse_learned_gradient=[update_mse(restored, test_gt) for restored in restart_learned],
        chosen_classifier=chosen_c,
        chosen_gradient=chosen_g,
        classifier=classifier,
        gradient_net=gradient_net,
    )


def grid_points(low: float, high: float, size: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """A size x size grid over [low, high]^2: meshes x1, x2 (axis 0 along x2, axis 1 along x1) and the points.

    Shape:
        -> (size, size), (size, size), (size * size, 2) float32.
    """
    xs = np.linspace(low, high, size)
    mesh_x1, mesh_x2 = np.meshgrid(xs, xs)
    points = torch.from_numpy(np.stack([mesh_x1.ravel(), mesh_x2.ravel()], axis=1)).float()
    return mesh_x1, mesh_x2, points


def surfaces(result: RegionResult, size: int) -> tuple[dict, float]:
    """The four surfaces of Figures 10, 12, 13, 14 on a grid, the vector fields, and the RMS difference between the
    integrated learned prior and the analytic one (both with their means removed: a potential has a free constant).
    """
    mesh_x1, mesh_x2, points = grid_points(result.low, result.high, size)
    shape = mesh_x1.shape
    with torch.no_grad():
        learned = result.gradient_net(points)[0].numpy().astype(np.float64)
        probability = blurriness_probability(result.classifier, points).numpy().reshape(shape)
        log_odds = blurriness_log_odds(result.classifier, points).numpy().reshape(shape)
    logit_grad = prior_gradient(lambda y: blurriness_log_odds(result.classifier, y), points).numpy()
    spacing = (result.high - result.low) / (size - 1)
    # f(y) learns -grad P, so P integrates -f.
    learned_prior = integrate_gradient_field(
        -learned[:, 0].reshape(shape), -learned[:, 1].reshape(shape), spacing, spacing
    )
    optimal = analytic_prior(points).numpy().astype(np.float64).reshape(shape)
    rmse = float(np.sqrt(np.mean(((learned_prior - learned_prior.mean()) - (optimal - optimal.mean())) ** 2)))
    sharp = mesh_x1 >= mesh_x2
    learned_prior = learned_prior - learned_prior[sharp].mean()  # zero on the sharp side, like P*
    grid = {
        "x1": mesh_x1,
        "x2": mesh_x2,
        "probability": probability,
        "log_odds": log_odds,
        "learned_prior": learned_prior,
        "analytic_prior": optimal,
        "learned_negative_gradient": learned.reshape(*shape, 2),
        "logit_negative_gradient": -logit_grad.reshape(*shape, 2),
        "analytic_negative_gradient": analytic_negative_gradient(points).numpy().reshape(*shape, 2),
    }
    return grid, rmse


def run_toy(config: ToyConfig | None = None) -> ToyReport:
    """Train both MLPs (with restarts) for the main region and every sweep region, then measure everything.

    Deterministic for a given config. All regions share one seeded draw of unit-square samples, scaled to each
    region, so they differ only in scale.
    """
    config = config or ToyConfig()
    threads = torch.get_num_threads()
    # Tensors this small are overhead-bound: extra threads only add synchronisation (2-3x slower on a busy CPU).
    torch.set_num_threads(1)
    try:
        return _run_toy(config)
    finally:
        torch.set_num_threads(threads)


def member_generator(seed: int, role: str, high: float, restart: int) -> torch.Generator:
    """The generator of one network's initialisation and mini-batches, seeded by what the network is (its role,
    region and restart), so that the main region's networks, and so its numbers, do not depend on which sweep
    regions are trained beside them."""
    name = f"{seed}/{role}/{float(high)!r}/{restart}".encode()
    return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(name).digest()[:8], "little"))


def _run_toy(config: ToyConfig) -> ToyReport:
    generator = torch.Generator().manual_seed(config.seed)
    unit_train = torch.rand(config.train_samples, 2, generator=generator)
    unit_test = torch.rand(config.test_samples, 2, generator=generator)
    highs = (config.high, *config.sweep_highs)
    scales = torch.tensor([high - config.low for high in highs]).repeat_interleave(config.restarts)
    train_y = config.low + scales[:, None, None] * unit_train  # (regions * restarts, N, 2)

    # Members [0, n) classify (one-hot labels), [n, 2n) learn the negative gradient; region-major, restarts inner.
    count = len(highs) * config.restarts
    generators = [
        member_generator(config.seed, role, high, restart)
        for role in ("classifier", "gradient")
        for high in highs
        for restart in range(config.restarts)
    ]
    networks = ToyMLP(2 * count, generators)
    inputs = torch.cat([train_y, train_y])
    one_hot = nn.functional.one_hot(is_blurry(train_y).long(), 2).float()
    targets = torch.cat([one_hot, analytic_negative_gradient(train_y)])
    classify = torch.arange(2 * count) < count
    losses = train_members(
        networks, inputs, targets, classify, config.iterations, config.batch_size, config.learning_rate, generators
    )
    with torch.no_grad():
        full_losses = member_losses(networks(inputs), targets, classify)
    classifiers, gradient_nets = networks.subset(0, count), networks.subset(count, 2 * count)
    full_loss_c, full_loss_g = full_losses[:count], full_losses[count:]
    classifier_losses, gradient_losses = losses[:, :count], losses[:, count:]

    results = []
    for index, high in enumerate(highs):
        span = slice(index * config.restarts, (index + 1) * config.restarts)
        test_y = config.low + (high - config.low) * unit_test
        results.append(
            _evaluate_region(
                config.low, high, span, classifiers, gradient_nets, full_loss_c, full_loss_g, test_y, config
            )
        )
    grid, rmse = surfaces(results[0], config.grid)
    return ToyReport(
        config=config,
        main=results[0],
        sweep=results,
        prior_rmse_learned_vs_analytic=rmse,
        grid=grid,
        classifier_losses=classifier_losses[:, : config.restarts].numpy(),
        gradient_losses=gradient_losses[:, : config.restarts].numpy(),
    )


def _cross_section(result: RegionResult, points: int = 201) -> dict:
    """Descent steps along the anti-diagonal through the region's centre, projected on u = (1, -1) / sqrt(2).

    s is the signed distance from the line x1 = x2 (s > 0: blurry side). The analytic step is 2 * relu(s).
    """
    centre = 0.5 * (result.low + result.high)
    half = 0.5 * (result.high - result.low)
    s = torch.linspace(-half * math.sqrt(2), half * math.sqrt(2), points)
    u = torch.tensor([1.0, -1.0]) / math.sqrt(2)
    y = centre - s[:, None] * u[None, :]
    with torch.no_grad():
        learned = result.gradient_net(y)[0] @ u
    logit = -prior_gradient(lambda v: blurriness_log_odds(result.classifier, v), y) @ u
    softmax = -prior_gradient(lambda v: blurriness_probability(result.classifier, v), y) @ u
    return {
        "s": s.numpy(),
        "analytic": (analytic_negative_gradient(y) @ u).numpy(),
        "learned": learned.numpy(),
        "logit": logit.numpy(),
        "softmax": softmax.numpy(),
    }


TRAINING_CURVE_WINDOW = 50  # steps averaged per point of toy_training.png


def running_mean(values: np.ndarray, window: int = TRAINING_CURVE_WINDOW) -> np.ndarray:
    """Mean of every ``w = min(window, n)`` consecutive values, so a series shorter than the window is averaged
    whole (numpy's "valid" convolution would swap the two and return n - window + 1 copies of sum / window).

    Shape:
        (n,) with n >= 1 -> (n - w + 1,).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or window < 1:
        raise ValueError(f"running_mean needs a non-empty 1-D series and window >= 1, got {values.shape}, {window}")
    width = min(window, values.size)
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_toy(report: ToyReport, out_dir: str | Path) -> list[Path]:
    """Write the figures (paper Figures 10-14, the sweeps, the training curves) as PNGs; returns their paths."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golfdeblur.atomic import atomic_path

    out_dir = Path(out_dir)
    grid, main, config = report.grid, report.main, report.config
    region = f"[{main.low:g}, {main.high:g}]$^2$"
    written = []

    def save(fig: Figure, name: str) -> None:
        path = out_dir / name
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    surfaces_to_plot = [
        ("toy_fig10_discriminative_softmax.png", "probability", "Fig. 10: discriminative prior, softmax p(blurry | x)"),
        (
            "toy_fig12_discriminative_logit.png",
            "log_odds",
            "Fig. 12: discriminative prior, logits z_blurry - z_sharp",
        ),
        ("toy_fig13_learned_prior.png", "learned_prior", "Fig. 13: prior integrated from the learned gradient"),
        ("toy_fig14_analytic_prior.png", "analytic_prior", "Fig. 14: analytic optimal prior relu(x2 - x1)$^2$/2"),
    ]
    for name, key, title in surfaces_to_plot:
        fig = plt.figure(figsize=(5.2, 4.2))
        axes = fig.add_subplot(projection="3d")
        axes.plot_surface(grid["x1"], grid["x2"], grid[key], cmap="coolwarm", linewidth=0, antialiased=True)
        axes.set_xlabel("x1")
        axes.set_ylabel("x2")
        axes.set_title(f"{title}\nregion {region}", fontsize=9)
        axes.view_init(elev=30, azim=-60)
        save(fig, name)

    section = _cross_section(main)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(section["s"], section["analytic"], "k-", lw=3, alpha=0.4, label="analytic  x_gt - y")
    left.plot(section["s"], section["learned"], "C0--", label="learned gradient f(y)")
    best_eta = min(main.step_sweep, key=lambda item: item[1])[0] if main.step_sweep else config.step_size
    left.plot(section["s"], best_eta * section["logit"], "C3:", label=f"discriminative (logit), best eta={best_eta:g}")
    left.set_ylim(-0.2, max(1.0, float(section["analytic"].max()) * 1.5))
    left.set_xlabel("signed distance s from x1 = x2 (s > 0: blurry)")
    left.set_ylabel("descent step along (1, -1)/sqrt(2)")
    left.set_title("Fig. 11: descent step needed vs given", fontsize=9)
    left.legend(fontsize=7)
    right.plot(section["s"], section["logit"], "C3-", label="-d(logit)/du")
    right.plot(section["s"], section["softmax"], "C2-", label="-d(softmax)/du")
    right.set_xlabel("signed distance s from x1 = x2")
    right.set_title("discriminative prior's negative gradient (own scale)", fontsize=9)
    right.legend(fontsize=7)
    save(fig, "toy_fig11_descent_comparison.png")

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [eta for eta, _ in main.step_sweep]
    left.loglog(steps, [m for _, m in main.step_sweep], "C3o-", label="discriminative (logit) update")
    left.axhline(main.mse_no_update, color="gray", ls="--", label="no update")
    left.axhline(max(main.mse_learned_gradient, 1e-12), color="C0", ls="-", label="learned gradient (no eta)")
    left.set_xlabel("step size eta")
    left.set_ylabel("update MSE")
    left.set_title(f"step-size sweep, region {region}", fontsize=9)
    left.legend(fontsize=7)
    highs = [r.high for r in report.sweep]
    order = np.argsort(highs)
    for key, style, label in [
        ("mse_no_update", "k--", "no update"),
        ("mse_discriminative_logit", "C3o-", f"discriminative (logit), eta={config.step_size:g}"),
        ("mse_discriminative_softmax", "C2o-", f"discriminative (softmax), eta={config.step_size:g}"),
        ("mse_learned_gradient", "C0o-", "learned gradient"),
    ]:
        values = np.array([max(getattr(r, key), 1e-14) for r in report.sweep])
        right.loglog(np.array(highs)[order], values[order], style, label=label)
    right.set_xticks(sorted(highs), [f"{h:g}" for h in sorted(highs)])
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel(f"region [{config.low:g}, high]$^2$: high")
    right.set_ylabel("update MSE")
    right.set_title("region sweep (each point retrained)", fontsize=9)
    right.legend(fontsize=7)
    save(fig, "toy_sweep.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    window = min(TRAINING_CURVE_WINDOW, report.classifier_losses.shape[0])
    for index in range(report.classifier_losses.shape[1]):
        smooth = running_mean(report.classifier_losses[:, index], window)
        axes[0].semilogy(
            smooth, lw=1, label=f"restart {index}" + (" (kept)" if index == main.chosen_classifier else "")
        )
        smooth = running_mean(report.gradient_losses[:, index], window)
        axes[1].semilogy(smooth, lw=1, label=f"restart {index}" + (" (kept)" if index == main.chosen_gradient else ""))
    axes[0].set_title(f"classifier: cross-entropy ({window}-step mean)", fontsize=9)
    axes[1].set_title(f"gradient net: MSE to x_gt - y ({window}-step mean)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    save(fig, "toy_training.png")
    return written


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def toy_markdown(report: ToyReport, command: str) -> str:
    """The measured numbers as a Markdown page (config, main table with the paper's values, restarts, sweeps)."""
    config, main = report.config, report.main
    lines = [
        "# Two-pixel prior experiment (paper appendix): measured",
        "",
        f"Made by `{command}`. Seeded (seed {config.seed}); MSE = mean over test images and both pixels.",
        "",
        "Settings (ours where the paper's text lost them): "
        f"region [{config.low:g}, {config.high:g}]^2 (uniform, both sides of x1 = x2), "
        f"{config.train_samples} train / {config.test_samples} test samples, Adam lr {config.learning_rate:g} "
        f"(default betas), batch {config.batch_size}, {config.iterations} iterations, MLP 2-4-8-4-2 (96 parameters), "
        f"discriminative step eta = {config.step_size:g}, {config.restarts} restarts per network "
        "(kept: lowest training loss).",
        "",
        "| quantity | ours | paper |",
        "|---|---|---|",
        f"| classifier test accuracy | {main.classifier_accuracy:.4f} | (lost) |",
        f"| update MSE, no update (y itself) | {_fmt(main.mse_no_update)} | - |",
        f"| update MSE, discriminative prior, logits, y - eta grad | {_fmt(main.mse_discriminative_logit)} | 0.4849 |",
        f"| update MSE, discriminative prior, softmax, y - eta grad | {_fmt(main.mse_discriminative_softmax)} | - |",
        f'| update MSE, learned gradient, y + f(y) | {_fmt(main.mse_learned_gradient)} | (lost; "far smaller") |',
        f"| update MSE, analytic prior, y - grad P* | {_fmt(main.mse_analytic)} | 0 by construction |",
        f"| blurry test images only: no update / logits / learned | {_fmt(main.mse_no_update_blurry)} / "
        f"{_fmt(main.mse_discriminative_logit_blurry)} / {_fmt(main.mse_learned_gradient_blurry)} | - |",
        f"| RMS difference, integrated learned prior vs analytic prior (grid {config.grid}^2, means removed) | "
        f"{_fmt(report.prior_rmse_learned_vs_analytic)} | - |",
        "",
        "Every restart (test values; dead networks show as accuracy ~0.5 or learned MSE = no-update MSE):",
        "",
        "| restart | accuracy | MSE logits | MSE learned gradient |",
        "|---|---|---|---|",
    ]
    for index in range(config.restarts):
        lines.append(
            f"| {index} | {main.restart_accuracy[index]:.3f} | {_fmt(main.restart_mse_discriminative_logit[index])} "
            f"| {_fmt(main.restart_mse_learned_gradient[index])} |"
        )
    lines += ["", "Step-size sweep of the discriminative (logit) update, main region:", "", "| eta | update MSE |"]
    lines.append("|---|---|")
    lines += [f"| {eta:g} | {_fmt(mse)} |" for eta, mse in main.step_sweep]
    lines += [
        "",
        f"Region sweep (each region retrained; eta = {config.step_size:g}):",
        "",
        "| region | accuracy | no update | logits | softmax | learned gradient | best eta (logits): MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in sorted(report.sweep, key=lambda r: r.high):
        best_eta, best_mse = min(result.step_sweep, key=lambda item: item[1])
        lines.append(
            f"| [{result.low:g}, {result.high:g}]^2 | {result.classifier_accuracy:.3f} | {_fmt(result.mse_no_update)} "
            f"| {_fmt(result.mse_discriminative_logit)} | {_fmt(result.mse_discriminative_softmax)} "
            f"| {_fmt(result.mse_learned_gradient)} | {best_eta:g}: {_fmt(best_mse)} |"
        )
    return "\n".join(lines) + "\n"
