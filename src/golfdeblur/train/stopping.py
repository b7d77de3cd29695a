"""Why a run stops before its last step, and how every process agrees on it: a signal (SIGINT, SIGTERM, SIGHUP), the
time budget, or a data loader that a terminal's Ctrl-C killed; a due weights save is agreed on the same way. A loss
that becomes NaN or inf stops it too, with ``TrainingDiverged``, and training data that cannot be read (an image
truncated or replaced after the run started) with ``TrainingDataFailed``."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from golfdeblur.errors import GolfdeblurError
from golfdeblur.hangup import leave_hung_up_terminal, terminal_outputs
from golfdeblur.notes import note
from golfdeblur.train.distributed import ProcessGroup
from golfdeblur.train.run_transcript import keep_in_transcript

if TYPE_CHECKING:
    from golfdeblur.train.options import StageOutcome


class TrainingDiverged(GolfdeblurError, FloatingPointError):
    """The loss became NaN or inf; the run stopped (the training loop keeps its last good checkpoint). One line.

    Also a FloatingPointError, as the forgetting comparison's (paper/forgetting.py raises it too) has always been."""


class TrainingDataFailed(GolfdeblurError):
    """The batch source failed on the data mid-run (a ``GolfdeblurError`` such as an unreadable image): the loop saved
    the last completed step's checkpoint and weights and writes summary.json (status "data error") before this goes
    up. One line: the data's error, where the checkpoint is, and how to go on. ``outcome``: the stopped stage's."""

    def __init__(self, message: str, outcome: StageOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def stop_signals() -> list[signal.Signals]:
    """The signals that stop a run after a checkpoint: SIGINT, SIGTERM, and SIGHUP where there is one (not Windows)
    unless it is ignored (``nohup`` keeps a run going when its terminal closes)."""
    signals = [signal.SIGINT, signal.SIGTERM]
    hangup: signal.Signals | None = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) != signal.SIG_IGN:
        signals.append(hangup)
    return signals


class StopFlags:
    """Reasons to stop early that every process must agree on: a signal, the time budget, a due weights save."""

    def __init__(self, start_time: float) -> None:
        self.start_time = start_time
        self.signal_number: int | None = None
        self.terminals: tuple[int, ...] = ()  # the standard outputs that were terminals as the handlers were set

    def _handle(self, signum: int, frame: object) -> None:
        leave_hung_up_terminal(signum, self.terminals)  # a closed terminal: later writes go to /dev/null, not EIO
        if self.signal_number is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signal_number = signum
        line = f"signal {signum}: saving a checkpoint after this step, then stopping"
        keep_in_transcript(line)  # train.log keeps it after SIGHUP pointed stderr at /dev/null
        if sys.stderr is not None:  # None: started with stderr closed (print would write to stdout)
            print(f"\n{line}", file=sys.stderr)  # the blank line: off a progress bar's line

    def handling_signals(self) -> AbstractContextManager[None]:
        """Context manager: SIGINT, SIGTERM and SIGHUP (a closed terminal; left alone when ignored, as under
        ``nohup``) set the flag instead of killing the process mid-write. On SIGHUP the standard output and error
        that were terminals go to /dev/null (``golfdeblur.hangup``): the run still saves its checkpoint and summary."""
        flags = self

        class _Handlers:
            def __enter__(self) -> None:
                self.previous = {}
                if threading_is_main():
                    flags.terminals = terminal_outputs()
                    for signum in stop_signals():
                        self.previous[signum] = signal.signal(signum, flags._handle)

            def __exit__(self, *exc: object) -> None:
                for signum, handler in self.previous.items():
                    signal.signal(signum, handler)

        return _Handlers()

    def agree(
        self, group: ProcessGroup, last_save: float, every_minutes: float, limit_minutes: float | None
    ) -> tuple[bool, bool, bool]:
        """(stop on a signal, past ``limit_minutes`` from the start, weights save due): local flags, max-reduced over
        processes."""
        now = time.monotonic()
        flags = [
            self.signal_number is not None,
            limit_minutes is not None and now - self.start_time >= limit_minutes * 60,
            every_minutes > 0 and now - last_save >= every_minutes * 60,
        ]
        if group.world_size > 1:
            tensor = torch.tensor([float(f) for f in flags], device=group.device)
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flags = [bool(v) for v in tensor.tolist()]
        return flags[0], flags[1], flags[2]


def stopped_loader(exc: Exception, stop: StopFlags, group: ProcessGroup) -> bool:
    """Whether ``exc``, raised by the batch source, is the stop signal's doing: a signal is flagged, so the run stops
    as for that signal rather than with a traceback. A terminal's Ctrl-C reaches the DataLoader's workers too; those
    that do not ignore it yet (spawned ones still starting: macOS, Windows) die of it, which the loader reports as
    'DataLoader worker (pid(s) ...) exited unexpectedly'. With several processes the error stays an error: a process
    that stopped here alone would leave the others waiting in a collective."""
    if stop.signal_number is None or group.world_size > 1:
        return False
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    note(f"the data loader stopped after signal {stop.signal_number} ({reason})")
    return True


def failed_on_data(exc: Exception, group: ProcessGroup) -> bool:
    """Whether ``exc``, raised by the batch source, is the data's fault (a ``GolfdeblurError``: an image that cannot
    be read, ...), after which the run saves its last completed step before it stops; any other exception is a bug
    and keeps its traceback. With several processes the error goes up as it is: the process that met it would save
    alone while the others wait in the checkpoint's collectives, so only the checkpoints already written remain."""
    return isinstance(exc, GolfdeblurError) and group.world_size == 1


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
