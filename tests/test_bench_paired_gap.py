"""bench/paired_gap.py: gaps between iterates of one `results` run, and with --baseline between two runs' iterates."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "paired_gap.py"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="not a clone: no bench/ folder")


def write_results(folder: Path, g_scores: list[float]) -> Path:
    """A `results` folder whose validation CSV holds blurry at 20 dB and G at ``g_scores``, one per image."""
    (folder / "results").mkdir(parents=True)
    with open(folder / "results" / "validation.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "iterate", "t", "PSNR-RGB-8bit"])
        writer.writeheader()
        for index, score in enumerate(g_scores):
            writer.writerow({"image": f"im{index}", "iterate": "blurry", "t": -1, "PSNR-RGB-8bit": 20.0})
            writer.writerow({"image": f"im{index}", "iterate": "G", "t": 0, "PSNR-RGB-8bit": score})
    return folder


def table_row(output: str, pair: str) -> list[str]:
    rows = [line.split(" | ") for line in output.splitlines() if line.startswith("| validation |")]
    return next(row for row in rows if row[2] == pair)


def test_gap_within_one_run_and_against_a_baseline(tmp_path):
    new = write_results(tmp_path / "new", [21.0, 21.5, 22.0, 22.5])
    old = write_results(tmp_path / "old", [21.0, 21.0, 21.5, 21.5])
    run = [sys.executable, str(SCRIPT), "--results", str(new), "--pairs", "G-blurry", "G-G"]
    within = subprocess.run(run[:-1], capture_output=True, text=True, check=True).stdout
    assert table_row(within, "G-blurry")[4] == "+1.750"  # mean of 1.0, 1.5, 2.0, 2.5
    against = subprocess.run([*run, "--baseline", str(old)], capture_output=True, text=True, check=True).stdout
    row = table_row(against, "G-G")
    assert row[4] == "+0.500" and row[7] == "3/4 |"  # new minus old: 0, 0.5, 0.5, 1.0
    assert "B from" in against


def test_a_pair_without_finite_scores_is_a_row_not_a_traceback(tmp_path):
    results = write_results(tmp_path / "new", [float("inf"), float("inf")])  # results identical to their sharp images
    run = [sys.executable, str(SCRIPT), "--results", str(results), "--pairs", "G-blurry", "D3-G"]
    output = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert table_row(output, "G-blurry")[3:] == ["0", "-", "-", "-", "- |"]
    assert table_row(output, "D3-G")[3] == "0"  # an iterate the run did not score


def test_a_baseline_without_a_column_is_compared_on_the_columns_both_have(tmp_path):
    new = write_results(tmp_path / "new", [21.0, 21.5])
    old = write_results(tmp_path / "old", [21.0, 21.0])
    table = new / "results" / "validation.csv"
    rows = list(csv.DictReader(table.open()))
    with open(table, "w", newline="") as handle:  # a later run that also scored a column the baseline lacks
        writer = csv.DictWriter(handle, fieldnames=[*rows[0], "PSNR-UpToShift-RGB-8bit"])
        writer.writeheader()
        writer.writerows({**row, "PSNR-UpToShift-RGB-8bit": 30.0} for row in rows)
    run = [sys.executable, str(SCRIPT), "--results", str(new), "--baseline", str(old), "--pairs", "G-G"]
    output = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert table_row(output, "G-G")[1] == "PSNR-RGB-8bit" and "UpToShift" not in output


def test_a_pair_without_a_dash_is_a_usage_error(tmp_path):
    results = write_results(tmp_path / "new", [21.0])
    run = [sys.executable, str(SCRIPT), "--results", str(results), "--pairs", "D3"]
    done = subprocess.run(run, capture_output=True, text=True)
    assert done.returncode == 2 and "--pairs D3: name two iterates joined by a dash" in done.stderr
    assert "Traceback" not in done.stderr
