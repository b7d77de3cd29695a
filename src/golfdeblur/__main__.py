"""The ``golfdeblur`` command's entry point (the console script), and ``python -m golfdeblur`` for an environment
whose scripts folder is not on PATH.

``main`` imports the command line (golfdeblur.cli, which imports every subcommand and NumPy: about 0.1 s) within its
own handling of Ctrl-C, so that a Ctrl-C in that time ends the command as a later one does, ``golfdeblur:
interrupted`` and exit 130, not with a traceback. The console script names this function (pyproject.toml), not
``golfdeblur.cli:main``, whose module the script would import before any code of ours runs. Only ``sys`` is
imported here, with the package's own ``__init__``, which loads nothing else (PEP 562).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``golfdeblur ARGV`` (None: the process's arguments); the exit code."""
    try:
        from golfdeblur.cli import main as command_line
    except KeyboardInterrupt:
        if sys.stderr is not None:  # None: started with stderr closed (print would write to stdout)
            print("golfdeblur: interrupted", file=sys.stderr)
        return 128 + 2  # 128 + SIGINT, as golfdeblur.cli returns for a Ctrl-C
    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
