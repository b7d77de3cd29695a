import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from golfdeblur.cli import main
from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.blocks import BasicBlock
from golfdeblur.models.golf import GolfOptimizer, ResidualCNN
from golfdeblur.paper import forgetting
from golfdeblur.paper.forgetting import (
    ForgettingConfig,
    _batches,
    forgetting_markdown,
    held_out_validation,
    plot_forgetting,
    run_forgetting,
)
from golfdeblur.train.schedule import learning_rate as _learning_rate

TINY = dict(g_width=2, d_width=2, recurrent_width=2, t_train=2, t_eval=3, steps=4, batch_size=1, crop_size=16,
            kernel_max_size=5, eval_every=2)  # fmt: skip


def tiny_pairs(count, seed):
    generator = torch.Generator().manual_seed(seed)
    sharp = torch.rand(count, 3, 16, 16, generator=generator)
    blurry = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1, count_include_pad=False)
    return [(blurry[i], sharp[i]) for i in range(count)]


def test_tiny_forgetting_run(tmp_path):
    config = ForgettingConfig(**TINY)
    result = run_forgetting(config, train_data=tiny_pairs(4, 0), validation_pairs=tiny_pairs(2, 1), log=lambda _: None)
    assert len(result.golf_by_iteration) == len(result.recurrent_by_iteration) == 4
    assert [s for s, _ in result.golf_by_step] == [2, 4]
    values = result.golf_by_iteration + result.recurrent_by_iteration + [result.input_psnr]
    assert all(math.isfinite(v) for v in values)
    # The recurrent arm's t = 0 is the input itself.
    assert result.recurrent_by_iteration[0] == pytest.approx(result.input_psnr)
    text = forgetting_markdown(result, "cmd")
    assert "| 2 (trained T) |" in text
    assert plot_forgetting(result, tmp_path / "f.png").stat().st_size > 0
    with pytest.raises(ValueError):
        ForgettingConfig(t_train=4, t_eval=3)


def test_the_learning_rate_decays_exponentially_from_start_to_end():
    assert _learning_rate(0, 10, 1e-4, 1e-5) == pytest.approx(1e-4)
    assert _learning_rate(9, 10, 1e-4, 1e-5) == pytest.approx(1e-5)
    assert _learning_rate(3, 7, 1e-4, 1e-6) == pytest.approx(1e-5)  # halfway in steps: the geometric midpoint
    assert _learning_rate(0, 1, 1e-4, 1e-5) == pytest.approx(1e-4)  # one step: the start value, no division by zero


def test_the_batch_stream_advances_through_the_dataset_step_by_step():
    """Step s takes items s * batch_size .. (s + 1) * batch_size - 1, wrapping around the dataset."""
    items = [(torch.full((3, 2, 2), float(i)), torch.full((3, 2, 2), -float(i))) for i in range(5)]
    config = ForgettingConfig(steps=3, batch_size=2)
    batches = list(_batches(items, config))
    assert [blurry[:, 0, 0, 0].tolist() for blurry, _ in batches] == [[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]]
    assert [sharp[:, 0, 0, 0].tolist() for _, sharp in batches] == [[-0.0, -1.0], [-2.0, -3.0], [-4.0, -0.0]]


def test_default_validation_is_held_out_from_the_embedded_training_images():
    held_out = held_out_validation(ForgettingConfig(crop_size=16, validation_count=6))
    names = [held_out.sample(i).name for i in range(len(held_out))]
    assert len(names) == 6 and all(name.startswith("dead_leaves/1-") for name in names)  # seed 0 trains on 0-*


def test_paper_forgetting_command(tmp_path, capsys):
    argv = ["paper", "forgetting", "--out", str(tmp_path), "--steps", "2", "--batch-size", "1", "--crop-size", "16",
            "--g-width", "2", "--d-width", "2", "--recurrent-width", "2", "--t-train", "1", "--t-eval", "2",
            "--eval-every", "1", "--validation-count", "2", "--validation-crop", "24"]  # fmt: skip
    assert main(argv + ["--save-weights", str(tmp_path / "w")]) == 0
    page = (tmp_path / "forgetting.md").read_text()
    assert "recurrent R^t(y)" in page and "--save-weights" in page
    golf = GolfOptimizer.from_pretrained(str(tmp_path / "w" / "golf.safetensors"))
    assert (golf.config.g_width, golf.config.d_width) == (2, 2)
    recurrent = ResidualCNN(2)
    recurrent.load_state_dict(load_file(str(tmp_path / "w" / "recurrent.safetensors")))
    assert main(argv + ["--g-fraction", "1.5"]) == 2
    capsys.readouterr()


CLI_TINY = ["--steps", "2", "--batch-size", "1", "--crop-size", "16", "--g-width", "2", "--d-width", "2",
            "--recurrent-width", "2", "--t-train", "1", "--t-eval", "1", "--eval-every", "2", "--validation-count", "1",
            "--validation-crop", "16"]  # fmt: skip


def test_a_g_fraction_that_leaves_d_no_step_is_refused(tmp_path, capsys):
    """2 steps at 0.75: G took round(1.5) = 2 steps and D none, and the report did not say so."""
    with pytest.raises(ValueError) as info:
        ForgettingConfig(steps=2, g_fraction=0.75)
    assert (
        str(info.value) == "g_fraction 0.75 of 2 steps gives G all 2 steps and D none: lower g_fraction or raise steps"
    )
    assert [ForgettingConfig(steps=n, g_fraction=f).g_steps for n, f in ((2, 0.5), (2, 0.1), (10, 0.85))] == [1, 1, 8]
    assert main(["paper", "forgetting", "--out", str(tmp_path), *CLI_TINY, "--g-fraction", "0.75"]) == 2
    error = capsys.readouterr().err
    assert error == (
        "golfdeblur: error: paper forgetting: g_fraction 0.75 of 2 steps gives G all 2 steps and D none: "
        "lower g_fraction or raise steps\n"
    )
    assert not (tmp_path / "forgetting.md").exists()


def test_the_report_says_how_many_steps_each_golf_network_had():
    config = ForgettingConfig(**(TINY | {"steps": 5, "g_fraction": 0.3}))
    result = run_forgetting(config, train_data=tiny_pairs(4, 0), validation_pairs=tiny_pairs(1, 1), log=lambda _: None)
    assert "5 optimiser steps per arm (Golf: 0.3 of them, 2, on G, then 3 on D)" in forgetting_markdown(result, "cmd")


def test_a_diverging_loss_is_a_one_line_error_saying_to_lower_the_learning_rate(tmp_path, capsys):
    config = ForgettingConfig(**(TINY | {"learning_rate": 1e30, "learning_rate_end": 1e30}))
    with pytest.raises(GolfdeblurError) as info:
        run_forgetting(config, train_data=tiny_pairs(4, 0), validation_pairs=tiny_pairs(1, 1), log=lambda _: None)
    assert isinstance(info.value, FloatingPointError)  # as before, for callers that caught that
    message = str(info.value)
    assert "\n" not in message and "the loss became" in message and message.endswith("lower the learning rate (--lr)")
    argv = ["paper", "forgetting", "--out", str(tmp_path), *CLI_TINY, "--lr", "1e30", "--lr-end", "1e30"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("golfdeblur: error: the ") and error.count("\n") == 1 and "(--lr)" in error


@pytest.mark.parametrize("rates", [(0.0, 1e-5), (1e-4, 0.0), (-1e-4, 1e-5), (float("nan"), 1e-5)])
def test_a_learning_rate_that_is_not_positive_is_refused(rates):
    """The CLI refused them; the library trained at 0 (an lr of 0 was a ZeroDivisionError before the schedule was
    shared with the training loop's, an lr_end of 0 decayed to nothing)."""
    with pytest.raises(ValueError, match="^learning rates must be positive"):
        ForgettingConfig(learning_rate=rates[0], learning_rate_end=rates[1])


@pytest.mark.parametrize("seed", [2**64, 2**63, -1])
def test_a_seed_torch_cannot_take_is_refused_in_one_line(tmp_path, capsys, seed):
    with pytest.raises(ValueError, match=rf"^seed {seed}: must be 0 to 2\*\*63 - 1$"):
        ForgettingConfig(seed=seed)
    assert main(["paper", "forgetting", "--out", str(tmp_path), *CLI_TINY, "--seed", str(seed)]) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: paper forgetting: seed {seed}: must be 0 to 2**63 - 1\n"
    ForgettingConfig(seed=2**63 - 1)  # the largest is taken


def test_each_arm_s_learning_rate_decays_over_its_own_steps(monkeypatch):
    """G from lr to lr_end over its g_steps; D from lr again once G is done, to lr_end at the last step; the
    recurrent arm once over all the steps."""
    from golfdeblur.paper import forgetting

    seen = {}

    def recorded(network, optimizer, predictions, sharp, lr, where=""):
        arm, step = where.rsplit(", step ", 1)
        seen.setdefault(arm, []).append((int(step), lr))
        return 0.0

    monkeypatch.setattr(forgetting, "_train_step", recorded)
    config = ForgettingConfig(**{**TINY, "steps": 6, "learning_rate": 1e-3, "learning_rate_end": 1e-5})
    run_forgetting(config, train_data=tiny_pairs(4, 0), validation_pairs=tiny_pairs(1, 1), log=lambda _: None)
    assert config.g_steps == 3
    g, d, r = seen["the Golf arm's G"], seen["the Golf arm's D"], seen["the recurrent arm"]
    assert [step for step, _ in g] == [1, 2, 3] and [step for step, _ in d] == [4, 5, 6]
    assert [lr for _, lr in g] == pytest.approx([1e-3, 1e-4, 1e-5])
    assert [lr for _, lr in d] == pytest.approx([1e-3, 1e-4, 1e-5])  # starts again at step g_steps
    assert [step for step, _ in r] == [1, 2, 3, 4, 5, 6]
    assert [lr for _, lr in r] == pytest.approx([1e-3 * 0.01 ** (s / 5) for s in range(6)])  # once, over all steps


def test_a_forgetting_run_leaves_its_callers_random_state_alone():
    torch.manual_seed(11)
    expected = torch.rand(4, generator=torch.Generator().manual_seed(11))
    run_forgetting(ForgettingConfig(**TINY), train_data=tiny_pairs(4, 0), validation_pairs=tiny_pairs(1, 1), log=print)
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize("before", [False, True])
def test_relu_before_add_builds_both_arms_with_the_papers_block_and_says_which(tmp_path, monkeypatch, before):
    """DESIGN.md's BasicBlock ends its residual mapping in the ReLU (relu_before_add=True); the default keeps
    torchvision's order, as the shipped weights and the CPU-scale run. Both arms are built as asked, the weights
    record it, and the page says which block was trained."""
    built = []

    def recording(cls):
        def build(*args, **kwargs):
            built.append(cls(*args, **kwargs))
            return built[-1]

        return build

    monkeypatch.setattr(forgetting, "GolfOptimizer", recording(GolfOptimizer))
    monkeypatch.setattr(forgetting, "ResidualCNN", recording(ResidualCNN))
    config = ForgettingConfig(**TINY, relu_before_add=before)
    result = run_forgetting(
        config, train_data=tiny_pairs(2, 0), validation_pairs=tiny_pairs(1, 1), log=lambda _: None, weights_dir=tmp_path
    )
    assert len(built) == 2
    blocks = [m for network in built for m in network.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3 * 8 and {block.relu_before_add for block in blocks} == {before}
    assert GolfOptimizer.from_pretrained(str(tmp_path / "golf.safetensors")).config.relu_before_add is before
    with safe_open(str(tmp_path / "recurrent.safetensors"), "pt") as saved:
        assert saved.metadata()["relu_before_add"] == str(before).lower()
    page = forgetting_markdown(result, "cmd")
    assert ("last ReLU before the shortcut's addition" in page) is before
    assert ("last ReLU after the shortcut's addition" in page) is not before


def test_the_command_passes_relu_before_add_and_names_it_in_the_page(tmp_path, capsys):
    argv = ["paper", "forgetting", "--out", str(tmp_path), *CLI_TINY, "--save-weights", str(tmp_path / "w")]
    assert main([*argv, "--relu-before-add"]) == 0
    page = (tmp_path / "forgetting.md").read_text()
    assert "--relu-before-add" in page.split("Made by `")[1].split("`")[0]
    assert "last ReLU before the shortcut's addition" in page
    assert GolfOptimizer.from_pretrained(str(tmp_path / "w" / "golf.safetensors")).config.relu_before_add is True
    assert main([*argv, "--overwrite"]) == 0  # the default: torchvision's order, the flag left out of the command
    page = (tmp_path / "forgetting.md").read_text()
    command = page.split("Made by `")[1].split("`")[0]
    assert "--relu-before-add" not in command and "last ReLU after the shortcut's addition" in page
    assert GolfOptimizer.from_pretrained(str(tmp_path / "w" / "golf.safetensors")).config.relu_before_add is False
    capsys.readouterr()
