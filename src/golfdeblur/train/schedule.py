"""The learning-rate schedule: exponential decay from ``optim.lr`` to ``optim.lr_end`` times a linear warm-up.

The training loop (train/loop.py) sets it before every step; the paper's forgetting comparison
(paper/forgetting.py) uses the same decay.
"""

from __future__ import annotations


def learning_rate(
    step: int, steps: int, lr: float, lr_end: float, warmup_steps: int = 0, schedule_offset: int = 0
) -> float:
    """Exponential decay from ``lr`` (step 0) to ``lr_end`` (the last step), times a linear warm-up.

    lr(s) = lr * (lr_end / lr) ** min((o + s) / (steps - 1), 1) * min(1, (s + 1) / (warmup_steps + 1)),
    where o = ``schedule_offset``, the steps trained before this run (a campaign chunk continuing the decay; it
    stays at ``lr_end`` past the schedule's end), while the warm-up restarts at this run's step 0 (its optimiser
    is fresh).

    Example:
        >>> [f"{learning_rate(s, steps=1001, lr=1e-4, lr_end=1e-6, warmup_steps=9):.2e}" for s in (0, 9, 500, 1000)]
        ['1.00e-05', '9.59e-05', '1.00e-05', '1.00e-06']
    """
    fraction = min((schedule_offset + step) / max(steps - 1, 1), 1.0)
    value = lr * (lr_end / lr) ** fraction if lr > 0 and lr_end > 0 else lr
    if warmup_steps > 0:
        value *= min(1.0, (step + 1) / (warmup_steps + 1))
    return value
