import math
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from golfdeblur.cli import build_parser, main
from golfdeblur.paper.toy_prior import (
    ToyConfig,
    ToyMLP,
    _evaluate_region,
    analytic_negative_gradient,
    analytic_prior,
    integrate_gradient_field,
    is_blurry,
    member_losses,
    mirror_ground_truth,
    parameters_per_member,
    prior_gradient,
    run_toy,
    running_mean,
    surfaces,
    update_mse,
)

TINY = dict(train_samples=256, test_samples=64, iterations=40, batch_size=16, restarts=2, sweep_highs=(2.0,), grid=9)


def test_mirror_ground_truth_mirrors_blurry_and_keeps_sharp():
    y = torch.tensor([[0.2, 0.7], [0.9, 0.1], [0.5, 0.5], [-1.0, 3.0]])
    gt = mirror_ground_truth(y)
    assert torch.equal(gt, torch.tensor([[0.7, 0.2], [0.9, 0.1], [0.5, 0.5], [3.0, -1.0]]))
    assert not is_blurry(gt).any()
    # Mirroring is an isometry across x1 = x2: the midpoint lies on the line and the segment is perpendicular to it.
    blurry = is_blurry(y)
    midpoint = 0.5 * (y + gt)[blurry]
    assert torch.allclose(midpoint[:, 0], midpoint[:, 1])
    assert torch.allclose(((gt - y) * torch.tensor([1.0, 1.0])).sum(1), torch.zeros(4))


def test_analytic_gradient_is_the_restoring_update_and_minus_grad_of_the_prior():
    generator = torch.Generator().manual_seed(1)
    y = torch.rand(500, 2, generator=generator) * 4 - 2
    y = y[(y[:, 0] - y[:, 1]).abs() > 1e-3]  # P* is not differentiable twice on the line; keep clear of it
    assert torch.allclose(y + analytic_negative_gradient(y), mirror_ground_truth(y))
    assert torch.allclose(-prior_gradient(analytic_prior, y), analytic_negative_gradient(y), atol=1e-6)
    assert torch.all(analytic_prior(y[~is_blurry(y)]) == 0)
    assert update_mse(y + analytic_negative_gradient(y), mirror_ground_truth(y)) == 0.0


def test_integration_recovers_a_known_potential():
    xs = np.linspace(-1.0, 2.0, 41)
    ys = np.linspace(0.0, 1.5, 31)
    x, y = np.meshgrid(xs, ys)
    potential = np.sin(2 * x) * np.cos(y) + x**2 * y
    gx = 2 * np.cos(2 * x) * np.cos(y) + 2 * x * y
    gy = -np.sin(2 * x) * np.sin(y) + x**2
    recovered = integrate_gradient_field(gx, gy, xs[1] - xs[0], ys[1] - ys[0])
    expected = potential - potential.mean()
    assert abs(recovered.mean()) < 1e-9
    assert np.abs(recovered - expected).max() < 5e-3 * np.ptp(expected)


def test_integration_of_the_analytic_field_gives_the_analytic_prior_and_rejects_bad_shapes():
    xs = np.linspace(0, 1, 21)
    x1, x2 = np.meshgrid(xs, xs)
    points = torch.from_numpy(np.stack([x1.ravel(), x2.ravel()], 1))
    minus_grad = analytic_negative_gradient(points).numpy()
    prior = integrate_gradient_field(-minus_grad[:, 0].reshape(21, 21), -minus_grad[:, 1].reshape(21, 21), 0.05, 0.05)
    truth = analytic_prior(points).numpy().reshape(21, 21)
    assert np.abs(prior - (truth - truth.mean())).max() < 0.01
    with pytest.raises(ValueError):
        integrate_gradient_field(np.zeros((3, 3)), np.zeros((3, 4)), 1.0, 1.0)


def test_toy_mlp_has_the_96_parameters_of_tables_6_and_7_and_members_are_independent():
    mlp = ToyMLP(3, [torch.Generator().manual_seed(member) for member in range(3)])
    assert parameters_per_member(mlp) == 96
    assert mlp(torch.rand(5, 2)).shape == (3, 5, 2)
    inputs = torch.rand(3, 8, 2)
    targets = torch.rand(3, 8, 2)
    classify = torch.tensor([True, False, False])
    onehot = torch.nn.functional.one_hot(torch.randint(0, 2, (8,)), 2).float()
    targets[0] = onehot

    def grads(t):
        mlp.zero_grad()
        member_losses(mlp(inputs), t, classify).sum().backward()
        return [p.grad[0].clone() for p in mlp.parameters()]

    changed = targets.clone()
    changed[1:] += 5.0  # other members' targets must not move member 0's gradient
    for a, b in zip(grads(targets), grads(changed), strict=True):
        assert torch.equal(a, b)
    single = mlp.select(2)
    assert torch.allclose(single(inputs[2])[0], mlp(inputs)[2])


def test_tiny_toy_run_gives_finite_deterministic_numbers():
    config = ToyConfig(**TINY)
    first, second = run_toy(config), run_toy(config)
    numbers = first.main.numbers()
    assert numbers == second.main.numbers()
    for key, value in numbers.items():
        if key.startswith("mse_") or key == "classifier_accuracy":
            assert math.isfinite(value), key
    assert 0.0 <= first.main.classifier_accuracy <= 1.0
    assert first.main.mse_analytic == 0.0
    assert first.main.mse_no_update > 0
    assert [r.high for r in first.sweep] == [1.0, 2.0]
    # The no-update MSE scales with the square of the region (same unit samples): 4x for a region twice as large.
    assert first.sweep[1].mse_no_update == pytest.approx(4 * first.main.mse_no_update, rel=1e-5)
    assert len(first.main.step_sweep) == len(config.sweep_steps)
    assert first.grid["learned_prior"].shape == (9, 9)
    assert np.isfinite(first.prior_rmse_learned_vs_analytic)


def test_the_main_region_does_not_depend_on_the_sweep_regions_beside_it():
    alone = run_toy(ToyConfig(**(TINY | {"sweep_highs": ()})))
    beside = run_toy(ToyConfig(**(TINY | {"sweep_highs": (2.0, 0.5)})))
    assert beside.main.numbers() == alone.main.numbers()
    np.testing.assert_array_equal(beside.classifier_losses, alone.classifier_losses)
    np.testing.assert_array_equal(beside.gradient_losses, alone.gradient_losses)
    assert run_toy(ToyConfig(**(TINY | {"seed": 1}))).main.numbers() != beside.main.numbers()  # still seeded


def _three_member_region(train_loss_classifier, train_loss_gradient):
    nets = ToyMLP(3, [torch.Generator().manual_seed(member) for member in range(3)])
    test_y = torch.rand(8, 2, generator=torch.Generator().manual_seed(4))
    result = _evaluate_region(
        0.0, 1.0, slice(0, 3), nets, nets, train_loss_classifier, train_loss_gradient, test_y, ToyConfig(grid=9)
    )
    return nets, result


def test_the_restart_with_the_lowest_training_loss_is_kept():
    """argmax in place of argmin kept the worst restart, and no test looked at which one was chosen."""
    nets, result = _three_member_region(torch.tensor([3.0, 1.0, 2.0]), torch.tensor([2.0, 3.0, 1.0]))
    assert (result.chosen_classifier, result.chosen_gradient) == (1, 2)
    points = torch.rand(5, 2)
    with torch.no_grad():
        assert torch.equal(result.classifier(points)[0], nets(points)[1])
        assert torch.equal(result.gradient_net(points)[0], nets(points)[2])


def test_the_learned_prior_grid_is_zero_on_average_on_the_sharp_side():
    """Like P*, the integrated learned prior has its free constant fixed by a zero mean over x1 >= x2."""
    _, result = _three_member_region(torch.tensor([3.0, 1.0, 2.0]), torch.tensor([2.0, 3.0, 1.0]))
    grid, _ = surfaces(result, 9)
    sharp = grid["x1"] >= grid["x2"]
    assert grid["learned_prior"][sharp].mean() == pytest.approx(0.0, abs=1e-9)
    assert np.ptp(grid["learned_prior"]) > 1e-6  # an untrained network's field is not flat: the check has teeth


def test_toy_config_rejects_an_empty_region():
    with pytest.raises(ValueError, match="low < high"):
        ToyConfig(low=1.0, high=1.0)
    with pytest.raises(ValueError, match="restarts"):
        ToyConfig(restarts=0)


def test_paper_toy_command_writes_the_page_and_figures(tmp_path, capsys):
    argv = ["paper", "toy", "--out", str(tmp_path), "--iterations", "30", "--train-samples", "200",
            "--test-samples", "50", "--restarts", "2", "--sweep-highs", "2", "--grid", "9"]  # fmt: skip
    assert main(argv) == 0
    page = (tmp_path / "toy.md").read_text()
    assert "0.4849" in page and "--iterations 30" in page
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted(
        [
            "toy_fig10_discriminative_softmax.png",
            "toy_fig11_descent_comparison.png",
            "toy_fig12_discriminative_logit.png",
            "toy_fig13_learned_prior.png",
            "toy_fig14_analytic_prior.png",
            "toy_sweep.png",
            "toy_training.png",
        ]
    )
    assert "update MSE" in capsys.readouterr().out
    assert main(["paper", "toy", "--out", str(tmp_path), "--low", "2", "--high", "1"]) == 2


CLI_TINY = ["--iterations", "2", "--train-samples", "32", "--test-samples", "8", "--restarts", "1", "--grid", "5"]


@pytest.mark.parametrize("seed", [2**64, 2**63, -1])
def test_a_seed_torch_cannot_take_is_refused_in_one_line(tmp_path, capsys, seed):
    with pytest.raises(ValueError, match=rf"^seed {seed}: must be 0 to 2\*\*63 - 1$"):
        ToyConfig(seed=seed)
    assert main(["paper", "toy", "--out", str(tmp_path), *CLI_TINY, "--seed", str(seed)]) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: paper toy: seed {seed}: must be 0 to 2**63 - 1\n"
    assert not (tmp_path / "toy.md").exists()
    ToyConfig(seed=2**63 - 1)  # the largest is taken


def _made_by(page: str) -> list[str]:
    return shlex.split(re.search(r"Made by `([^`]*)`", page).group(1))


def test_the_made_by_line_gives_back_the_same_settings(tmp_path):
    """An empty --sweep-highs was written as a flag with no value, and numbers kept only 6 significant digits."""
    argv = ["paper", "toy", "--out", str(tmp_path / "a b"), *CLI_TINY, "--sweep-highs", "", "--low=-0.25",
            "--high", "0.123456789", "--step-size", "1e-07", "--sweep-steps", "0.3333333333333,2e-05"]  # fmt: skip
    assert main(argv) == 0
    made_by = _made_by((tmp_path / "a b" / "toy.md").read_text())
    assert made_by[:3] == ["golfdeblur", "paper", "toy"]
    assert vars(build_parser().parse_args(made_by[1:])) == vars(build_parser().parse_args(argv))


def test_the_committed_toy_page_names_the_command_as_the_code_writes_it():
    """docs/paper/toy.md's "Made by" line (edited by hand when the format changed, not rerun) is what the command
    prints for it, and gives back the defaults it was made with."""
    from golfdeblur.commands.paper import TOY_SETTINGS, _command_line

    page = (Path(__file__).resolve().parents[2] / "docs" / "paper" / "toy.md").read_text()
    args = build_parser().parse_args(["paper", "toy", "--out", "docs/paper"])
    assert f"Made by `{_command_line(args, TOY_SETTINGS)}`." in page
    assert vars(build_parser().parse_args(_made_by(page)[1:])) == vars(args)


def test_running_mean_of_a_series_shorter_than_the_window_averages_it_whole():
    """numpy's "valid" convolution swaps a series shorter than the window with it: 10 losses gave 41 points."""
    short = running_mean(np.arange(10.0), 50)
    np.testing.assert_allclose(short, [4.5])
    long = running_mean(np.arange(60.0), 50)
    assert long.shape == (11,) and long[0] == pytest.approx(24.5) and long[-1] == pytest.approx(34.5)
    np.testing.assert_allclose(running_mean(np.array([3.0]), 50), [3.0])
    with pytest.raises(ValueError):
        running_mean(np.array([]), 50)


def test_a_default_sweep_region_below_low_is_named_as_sweep_highs(tmp_path, capsys):
    """--low 1 --high 2 failed with "got [1.0, 0.5]": the 0.5 is --sweep-highs' default, which the user never typed."""
    with pytest.raises(ValueError, match=r"^sweep_highs \(--sweep-highs\) has 0\.5, not above low 1:"):
        ToyConfig(low=1.0, high=2.0)
    assert main(["paper", "toy", "--out", str(tmp_path), *CLI_TINY, "--low", "1", "--high", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("golfdeblur: error: paper toy: sweep_highs (--sweep-highs) has 0.5") and err.count("\n") == 1
    assert not (tmp_path / "toy.md").exists()
    with pytest.raises(SystemExit):
        main(["paper", "toy", "--help"])
    assert "every --sweep-highs value (default 0.5,2,4) must exceed it" in " ".join(capsys.readouterr().out.split())
    ToyConfig(low=1.0, high=2.0, sweep_highs=(3.0,))  # highs above low are fine
