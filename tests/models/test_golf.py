import json
import re

import numpy as np
import pytest
import torch

from golfdeblur.errors import GolfdeblurError
from golfdeblur.models import BasicBlock, GolfConfig, GolfOptimizer, ResidualCNN, count_parameters


def test_parameter_counts_match_the_paper_exactly():
    assert count_parameters(ResidualCNN(32)) == 466_348
    assert count_parameters(ResidualCNN(16)) == 120_188
    assert count_parameters(GolfOptimizer()) == 466_348 + 120_188


@pytest.mark.parametrize("width", [1, 5, 32])
def test_parameter_count_formula(width):
    # DESIGN.md: 147C + 3 * (148C^2 + 8C) + (152C + 915) + 441
    expected = 147 * width + 3 * (148 * width**2 + 8 * width) + 152 * width + 915 + 441
    assert count_parameters(ResidualCNN(width)) == expected


def test_fifty_layers_and_no_conv_bias():
    net = ResidualCNN(8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    # six basic layers per block (conv, BN, ReLU, conv, BN, ReLU) plus the first and last convolutions
    assert 6 * len(blocks) + 2 == 50


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (32, 31)])
def test_any_size_keeps_shape(size):
    net = ResidualCNN(4, zero_init_last=False).eval()
    x = torch.rand(2, 3, *size)
    assert net(x).shape == x.shape


def test_zero_init_last_is_identity():
    """The untrained network is the identity because its last convolution is zero, not its first: it still learns."""
    torch.manual_seed(0)
    golf = GolfOptimizer(GolfConfig(g_width=4, d_width=4)).eval()
    y = torch.rand(1, 3, 16, 16)
    assert torch.equal(golf(y), y)
    for net in (golf.G, golf.D):
        assert torch.count_nonzero(net.tail.weight) == 0
        assert torch.count_nonzero(net.head.weight) == net.head.weight.numel()
    (golf(y) - torch.rand(1, 3, 16, 16)).square().mean().backward()
    assert golf.G.tail.weight.grad.abs().max() > 0  # the zero tail gets a gradient: training can move it


def test_return_all_gives_every_iterate_in_order():
    torch.manual_seed(0)
    golf = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=3), zero_init_last=False).eval()
    y = torch.rand(1, 3, 12, 10)
    iterates = golf(y, return_all=True)
    assert len(iterates) == 4
    assert torch.allclose(iterates[0], golf.G(y))
    for previous, current in zip(iterates, iterates[1:], strict=False):
        assert torch.allclose(current, golf.D(previous))
    assert torch.allclose(golf(y), iterates[-1])
    assert torch.allclose(golf(y, iterations=0), iterates[0])


def test_residual_is_output_minus_input():
    net = ResidualCNN(4, zero_init_last=False).eval()
    x = torch.rand(1, 3, 9, 9)
    assert torch.allclose(net(x) - x, net.residual(x), atol=1e-6)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ResidualCNN(0)
    with pytest.raises(ValueError):
        GolfOptimizer(GolfConfig(g_width=4, d_width=4))(torch.rand(1, 3, 4, 4), iterations=-1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("iterations", -1, "GolfConfig.iterations -1: must be a whole number, 0 or more (applications of D)"),
        ("iterations", 2.5, "GolfConfig.iterations 2.5: must be a whole number, 0 or more (applications of D)"),
        ("iterations", True, "GolfConfig.iterations True: must be a whole number, 0 or more (applications of D)"),
        ("g_width", 0, "GolfConfig.g_width 0: must be a whole number of channels, 1 or more"),
        ("d_width", "16", "GolfConfig.d_width '16': must be a whole number of channels, 1 or more"),
    ],
)
def test_a_config_is_checked_when_built_naming_the_field(field, value, message):
    """GolfConfig(iterations=-1) was taken, and failed (or ran one step, for True) only when the model ran."""
    with pytest.raises(ValueError) as info:
        GolfConfig(**{field: value})
    assert str(info.value) == message and isinstance(info.value, GolfdeblurError)


def test_a_config_keeps_numpy_integers_as_ints():
    config = GolfConfig(g_width=np.int64(8), d_width=np.int32(4), iterations=np.int64(2))
    assert config == GolfConfig(8, 4, 2) and all(type(v) is int for v in (config.g_width, config.iterations))
    assert json.dumps(GolfOptimizer(config).describe())  # the card's JSON takes it


@pytest.mark.parametrize("iterations", [2.5, True, -1, "2"])
def test_iterations_that_are_no_count_are_a_clear_error_when_the_model_runs(iterations):
    """model(x, iterations=2.5) raised "'float' object cannot be interpreted as an integer"; True ran one step."""
    golf = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    with pytest.raises(ValueError, match=rf"^iterations {re.escape(repr(iterations))}: must be a whole number, 0 or"):
        golf(torch.rand(1, 3, 4, 4), iterations=iterations)
    assert len(golf(torch.rand(1, 3, 4, 4), iterations=np.int64(2), return_all=True)) == 3


@torch.no_grad()
def test_relu_before_add_is_the_paper_s_reading_of_the_block_and_travels_with_the_weights(tmp_path):
    """The text's six layers end in the ReLU, before the shortcut is added; the default adds first (torchvision)."""
    import json

    from golfdeblur.models.fuse import fuse_for_inference
    from golfdeblur.models.receptive_field import receptive_field
    from golfdeblur.models.weights_io import WeightsError, load_golf, save_golf, write_card

    torch.manual_seed(3)
    after, before = BasicBlock(4, 4), BasicBlock(4, 4, relu_before_add=True)
    before.load_state_dict(after.state_dict())
    after.eval(), before.eval()
    x = torch.randn(1, 4, 9, 9)
    branch = after.bn2(after.conv2(after.relu(after.bn1(after.conv1(x)))))
    assert torch.allclose(before(x), torch.relu(branch) + x) and torch.allclose(after(x), torch.relu(branch + x))
    assert float(before(x).min()) < 0 <= float(after(x).min())  # only the default clamps a block's output
    config = GolfConfig(g_width=4, d_width=4, iterations=2, relu_before_add=True)
    golf = GolfOptimizer(config, zero_init_last=False).eval()
    assert all(block.relu_before_add for block in golf.modules() if isinstance(block, BasicBlock))
    assert count_parameters(golf) == count_parameters(GolfOptimizer(GolfConfig(4, 4, 2)))
    assert receptive_field(golf) == receptive_field(GolfOptimizer(GolfConfig(4, 4, 2)))
    y = torch.rand(1, 3, 16, 16)
    assert torch.allclose(fuse_for_inference(golf)(y), golf(y), atol=1e-5)
    path = save_golf(golf, tmp_path / "paper.safetensors")
    assert load_golf(path).config == config and json.loads(path.with_suffix(".json").read_text())["relu_before_add"]
    card = json.loads(path.with_suffix(".json").read_text())
    del card["relu_before_add"]  # a card from before the option: its blocks added first
    write_card(path, card, card["sha256"])
    assert load_golf(path).config.relu_before_add is False
    write_card(path, {**card, "relu_before_add": "yes"}, card["sha256"])
    with pytest.raises(WeightsError, match="relu_before_add"):
        load_golf(path)
