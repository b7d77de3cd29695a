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


def test_only_a_data_error_on_a_single_process_stops_after_a_save():
    # a bug keeps its traceback; with several processes one that saved alone would leave the others in a collective
    from golfdeblur.errors import GolfdeblurError
    from golfdeblur.train.stopping import failed_on_data

    unreadable = GolfdeblurError("a.png: truncated or corrupt image data")
    assert failed_on_data(unreadable, ProcessGroup())
    assert not failed_on_data(RuntimeError("a bug"), ProcessGroup())
    assert not failed_on_data(unreadable, ProcessGroup(world_size=2))
