"""The learning-rate schedule: exponential decay, warm-up, and a campaign chunk continuing the decay."""

import pytest

from golfdeblur.train.schedule import learning_rate


def test_learning_rate_schedule():
    assert learning_rate(0, 11, 1e-4, 1e-6, schedule_offset=5) == pytest.approx(1e-5)  # a chunk continuing it
    assert learning_rate(3, 11, 1e-4, 1e-6, schedule_offset=20) == pytest.approx(1e-6)  # past the end: lr_end
    assert learning_rate(0, 11, 1e-4, 1e-6, warmup_steps=1, schedule_offset=5) == pytest.approx(0.5e-5)
    assert learning_rate(0, 11, 1e-4, 1e-6) == pytest.approx(1e-4)
    assert learning_rate(10, 11, 1e-4, 1e-6) == pytest.approx(1e-6)
    assert learning_rate(5, 11, 1e-4, 1e-6) == pytest.approx(1e-5)
    assert learning_rate(0, 11, 1e-4, 1e-6, warmup_steps=3) == pytest.approx(0.25e-4)
