"""A caller's random state kept: training seeds torch's global generators (the same initial weights on every rank,
for a recipe's seed) and sets cuDNN's flags, which a library caller's own draws and settings should not see after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def callers_random_state_kept() -> Iterator[None]:
    """Within the block, code may seed and draw from torch's global generators and set cuDNN's ``deterministic`` and
    ``benchmark`` flags; on leaving (also by an exception), the CPU generator's state, the CUDA generators' (where
    CUDA was initialised before the block), the MPS generator's (where there is one) and the two flags are what they
    were, so that ``torch.manual_seed(0); train(...); torch.rand(1)`` draws what it would have without the training.
    Also a decorator (``@callers_random_state_kept()``), as on ``train`` and ``run_forgetting``.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> with callers_random_state_kept():
        ...     _ = torch.manual_seed(123), torch.rand(5)
        >>> torch.equal(torch.rand(1), torch.rand(1, generator=torch.Generator().manual_seed(0)))
        True
    """
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    mps = torch.mps.get_rng_state() if torch.backends.mps.is_available() else None
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if mps is not None:
            torch.mps.set_rng_state(mps)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags
