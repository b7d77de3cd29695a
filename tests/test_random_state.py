"""The caller's random state and cuDNN flags come back after a block that seeds and sets them, also on an error."""

from __future__ import annotations

import pytest
import torch

from golfdeblur.random_state import callers_random_state_kept


def test_the_global_generator_and_cudnn_flags_come_back_also_after_an_error():
    torch.manual_seed(7)
    expected = torch.rand(3, generator=torch.Generator().manual_seed(7))
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with pytest.raises(RuntimeError), callers_random_state_kept():
        torch.manual_seed(1)
        torch.rand(10)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = (not flags[0], not flags[1])
        raise RuntimeError("the run failed")
    assert torch.equal(torch.rand(3), expected)
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == flags
