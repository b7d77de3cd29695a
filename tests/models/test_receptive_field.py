import numpy as np
import pytest
import torch

from golfdeblur.errors import DeblurSettingsError
from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN, receptive_field


def _measured_diameter(model: torch.nn.Module, size: int, **kwargs) -> int:
    """Diameter of the input region that reaches the centre output pixel, found by back-propagation."""
    model = model.double().eval()
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    out = model(x, **kwargs)
    out[0, :, size // 2, size // 2].sum().backward()
    reached = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(reached.any(1)).flatten()
    return int(rows.max() - rows.min() + 1)


def test_paper_networks():
    assert receptive_field(ResidualCNN(32)) == 93
    assert receptive_field(GolfOptimizer()) == 93 + 3 * 92
    assert receptive_field(GolfOptimizer(), iterations=0) == 93


def test_code_matches_backpropagation_for_one_network():
    torch.manual_seed(0)
    net = ResidualCNN(2, zero_init_last=False)
    assert _measured_diameter(net, 121) == receptive_field(net) == 93


def test_code_matches_backpropagation_for_golf():
    torch.manual_seed(0)
    golf = GolfOptimizer(GolfConfig(g_width=2, d_width=2, iterations=1), zero_init_last=False)
    assert _measured_diameter(golf, 211) == receptive_field(golf) == 185


@pytest.mark.parametrize("iterations", [-1, 2.5, True, "3"])
def test_iterations_that_are_no_whole_number_of_at_least_0_are_refused(iterations):
    """-1 gave a diameter of 1 px and 2.5 one of 323.0 (a float)."""
    with pytest.raises(DeblurSettingsError, match="must be a whole number, 0 or more"):
        receptive_field(GolfOptimizer(), iterations)
    with pytest.raises(DeblurSettingsError, match="^GolfConfig.iterations"):
        GolfConfig(g_width=2, d_width=2, iterations=iterations)  # a model's own T: refused when its config is built


def test_a_numpy_whole_number_of_iterations_counts_as_an_int():
    diameter = receptive_field(GolfOptimizer(), np.int64(2))
    assert diameter == 93 + 2 * 92 and type(diameter) is int
