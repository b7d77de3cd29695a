"""A closed terminal (SIGHUP) must not turn a command's orderly stop into a crash.

Once a terminal has hung up, every write to it fails (EIO): the lines a command stopped by SIGHUP still prints
(training's note and progress bar, 'stopped by ...') raised OSError, so a run died without its checkpoint at the signal
and without its summary. As nohup does, the standard output and error that were terminals are pointed at /dev/null
when SIGHUP arrives; output redirected to a file keeps going there. Free of torch: the command line imports it."""

from __future__ import annotations

import contextlib
import os
import signal

STANDARD_OUTPUTS = (1, 2)  # the descriptors of the standard output and error


def terminal_outputs() -> tuple[int, ...]:
    """Which of the standard output and error descriptors (1, 2) are terminals now. Asked when a signal handler is
    installed, not when SIGHUP arrives: a terminal that has hung up may no longer say it is one."""
    return tuple(descriptor for descriptor in STANDARD_OUTPUTS if os.isatty(descriptor))


def leave_hung_up_terminal(signum: int, terminals: tuple[int, ...]) -> None:
    """When ``signum`` is SIGHUP, point the descriptors ``terminals`` (``terminal_outputs()``, asked earlier) at
    /dev/null, so that what is still printed goes nowhere instead of failing; any other signal changes nothing."""
    if signum != getattr(signal, "SIGHUP", None) or not terminals:
        return
    with contextlib.suppress(OSError):  # no /dev/null: the writes fail as they would have
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for descriptor in terminals:
                os.dup2(null, descriptor)
        finally:
            os.close(null)
