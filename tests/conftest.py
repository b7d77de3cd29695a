"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Test tensors are tiny: extra threads only add OpenMP start-up and spin-wait costs, which take seconds (up to
    10x the work) on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
