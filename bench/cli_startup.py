"""How long the `golfdeblur` command takes before it does any work: its help, its version, a refused argument, and
`import golfdeblur`, each in a fresh interpreter (median of --repeats runs, wall-clock seconds). Also whether each
imported torch, which costs about 2 s and which none of them needs:

    python bench/cli_startup.py            # about 10 s on a 2-core CPU
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def command(*argv: str) -> str:
    """Code that runs `golfdeblur ARGV...` in this interpreter and returns, whatever the exit code."""
    return f"from golfdeblur import cli\ntry:\n    cli.main({list(argv)!r})\nexcept SystemExit:\n    pass"


CASES = {
    "golfdeblur --help": command("--help"),
    "golfdeblur --version": command("--version"),
    "golfdeblur deblur --help": command("deblur", "--help"),
    "golfdeblur deblur --precision fp64 (refused)": command("deblur", "a.png", "-o", "out", "--precision", "fp64"),
    "import golfdeblur": "import golfdeblur",
    "from golfdeblur import deblur (loads torch)": "from golfdeblur import deblur",
}
TORCH_CHECK = "\nimport sys\nprint('torch' in sys.modules, file=sys.stderr)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name, code in CASES.items():
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code + TORCH_CHECK], capture_output=True, text=True)
            seconds.append(time.perf_counter() - start)
        torch_loaded = done.stderr.strip().splitlines()[-1]
        print(f"{name:46s} {statistics.median(seconds):6.2f} s   torch imported: {torch_loaded}")


if __name__ == "__main__":
    main()
