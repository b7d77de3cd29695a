"""Which process of a launch this is, read from torchrun's environment (WORLD_SIZE, RANK) without importing torch:
the recipe is read, and its notes said, before the processes join."""

from __future__ import annotations

import os


def environment_int(name: str, default: int) -> int:
    """The environment variable ``name`` as an integer; ``default`` where it is unset, empty or no integer.

    Example:
        >>> environment_int("GOLFDEBLUR_NO_SUCH_VARIABLE", 1)
        1
    """
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def first_process_by_environment() -> bool:
    """Whether this process is the one that writes and says what all the run's processes would: not under torchrun
    (WORLD_SIZE 1 or unset, whatever RANK a plain shell holds), or its rank 0. An empty or non-integer RANK or
    WORLD_SIZE (torchrun never sets one) counts as unset, not as an error."""
    return environment_int("WORLD_SIZE", 1) <= 1 or environment_int("RANK", 0) == 0
