"""SIGHUP points the standard outputs that were terminals at /dev/null; other outputs and other signals are left as
they are. Each case runs in its own python, whose descriptors 1 and 2 are pipes."""

import signal
import subprocess
import sys

import pytest

WRITER = (
    "import os, signal, sys\n"
    "from golfdeblur.hangup import leave_hung_up_terminal\n"
    "leave_hung_up_terminal(getattr(signal, sys.argv[1]), tuple(int(d) for d in sys.argv[2:]))\n"
    "os.write(1, b'out')\n"
    "os.write(2, b'err')\n"
)


def outputs_after(signal_name: str, terminals: tuple[int, ...]) -> tuple[bytes, bytes]:
    """(stdout, stderr) of a python that calls leave_hung_up_terminal(signal, terminals), then writes to both."""
    argv = [sys.executable, "-c", WRITER, signal_name, *map(str, terminals)]
    done = subprocess.run(argv, capture_output=True, timeout=60, check=True)
    return done.stdout, done.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP (Windows)")
def test_sighup_silences_only_the_outputs_that_were_terminals():
    # output redirected to a file (train ... > log 2>&1 in a terminal) was thrown away once the terminal closed
    assert outputs_after("SIGHUP", (1,)) == (b"", b"err")
    assert outputs_after("SIGHUP", (2,)) == (b"out", b"")
    assert outputs_after("SIGHUP", ()) == (b"out", b"err")


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_other_signals_leave_the_terminal_alone(signal_name):
    # a command stopped by SIGTERM or Ctrl-C on a live terminal must still show its last lines
    assert outputs_after(signal_name, (1, 2)) == (b"out", b"err")
