"""Reasons to stop early: the time budget and the due weights saves, agreed on by every process."""

import time

from golfdeblur.train.distributed import ProcessGroup
from golfdeblur.train.stopping import StopFlags


def test_the_time_budget_and_the_weights_saves_count_minutes():
    # agree() reads the clock itself: margins of 30 s either side of the minute, so a slow machine cannot flip them
    group, now = ProcessGroup(), time.monotonic()
    assert StopFlags(now - 90).agree(group, now, 0, 1.0) == (False, True, False)  # past a 1-minute budget
    assert StopFlags(now - 30).agree(group, now, 0, 1.0) == (False, False, False)
    assert StopFlags(now).agree(group, now - 90, 1.0, None) == (False, False, True)  # a save due every minute
    assert StopFlags(now).agree(group, now - 30, 1.0, None) == (False, False, False)
