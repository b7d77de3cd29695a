"""bench/ scripts built on the training internals run at their smallest size (they broke silently once, when
make_validation_data began to return ValidationPairs, while docs/TRAINING.md still told people to run them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

pytestmark = pytest.mark.skipif(not BENCH.is_dir(), reason="not a clone: no bench/ folder")


def run_script(name: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / name), *arguments], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_loss_comparison_prints_its_table(tmp_path: Path):
    output = run_script(
        "loss_comparison.py", "--steps", "1", "--g-width", "4", "--crop", "32", "--arms", "mse", "--val-images", "1",
        "--val-crop", "32", "--out", str(tmp_path / "runs"), "--set", "data.workers=0",
        "--set", "data.dead_leaves_count=2",
    )  # fmt: skip
    rows = [line for line in output.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| blurry input (untrained, identity)", "| mse"]


def test_train_startup_counts_what_it_set_up():
    output = run_script("train_startup.py", "--recipe", "tiny")
    assert "sharp images, 0 real pairs, 2 validation pairs" in output.splitlines()[-1]
