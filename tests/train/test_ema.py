"""The weights' exponential moving average."""

import pytest
import torch

from golfdeblur.train.ema import WeightsEMA


def test_weights_ema_moves_one_minus_decay_of_the_way():
    module = torch.nn.BatchNorm1d(1)
    torch.nn.init.zeros_(module.weight)
    ema = WeightsEMA(module, 0.9)
    with torch.no_grad():
        module.weight.fill_(1.0)
    module.num_batches_tracked.fill_(5)
    ema.update(module)
    assert float(ema.state_dict()["weight"]) == pytest.approx(0.1)  # 0.9 * 0 + 0.1 * 1
    assert int(ema.state_dict()["num_batches_tracked"]) == 5  # counters are copied, not averaged
