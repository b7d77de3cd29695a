"""campaign/evaluate_chunk.py: from a chunk's returned files (tiny weights, a one-image data folder) it writes the
whole-set report, the comparison with the shipped weights and the table of G's snapshots and their average, and it
refuses to write over an earlier evaluation."""

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from golfdeblur.cli import main as golfdeblur
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaign" / "evaluate_chunk.py"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="not a clone: no campaign/ folder")


def chunk_files(folder: Path, snapshot) -> Path:
    """What campaign/chunk.sh returns, in small: best-d and a snap.tar holding two G snapshots with their cards."""
    snap = folder / "work" / "snap"
    snap.mkdir(parents=True)
    for index, stamp in enumerate((1795891646, 1795891714)):  # saved 68 s apart: sorted by stamp, not by name
        snapshot(snap, f"weights-g-{stamp}", seed=index, step=2000 * (index + 1))
    files = folder / "files"
    files.mkdir()
    card = {"training": {"step": 500}, "campaign": {"g_steps": 4000, "d_steps": 500, "chunks": []}}
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=2)), files / "best-d.safetensors", card)  # finite iterates
    with tarfile.open(files / "snap.tar", "w") as tar:
        tar.add(snap, arcname="snap")
    return files


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_a_chunk_is_scored_whole_against_the_shipped_weights_and_by_snapshot(levin_root, tmp_path, snapshot):
    files, local = chunk_files(tmp_path, snapshot), tmp_path / "local"
    blurred = levin_root / "eval" / "levin09" / "blurred" / "im_1_ker_1.png"
    Image.fromarray(np.asarray(Image.open(blurred)) // 2).save(blurred)  # not the sharp image: finite PSNR
    baseline = tmp_path / "shipped"
    assert golfdeblur(["results", "--root", str(levin_root), "--weights", str(files / "best-d.safetensors"),
                       "--out", str(baseline)]) == 0  # fmt: skip
    common = ["--data", str(levin_root), "--baseline", str(baseline), "--local", str(local)]
    result = run_script(str(files), "chunk7", *common)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    out = local / "eval" / "chunk7"
    assert "| Golf T = 5 |" in (out / "RESULTS.md").read_text()
    against = (out / "against-shipped.md").read_text()
    assert "| validation | PSNR-RGB-8bit | D3-D3 | 2 | +0.000 |" in against  # the same weights as the baseline
    table = (out / "snapshots.md").read_text().splitlines()
    names = [
        line.split(" | ")[0].lstrip("| ") for line in table if line.startswith("| weights-g-") or "average" in line
    ]
    assert names == ["weights-g-1795891646.safetensors", "weights-g-1795891714.safetensors", "g-average.safetensors"]
    assert " | 2,000 | " in table[-3] and " | mean | " in table[-1]
    assert (local / "chunk7" / "g-average.json").is_file() and (
        local / "chunk7" / "snap" / "weights-g-1795891714.json"
    ).is_file()
    again = run_script(str(files), "chunk7", *common)
    assert (
        again.returncode == 1
        and again.stderr.strip() == f"evaluate_chunk: error: {out}: already exists; name another chunk"
    )


def test_missing_data_is_one_line_before_anything_is_copied(tmp_path, snapshot):
    files, local = chunk_files(tmp_path, snapshot), tmp_path / "local"
    result = run_script(str(files), "chunk7", "--data", str(tmp_path / "none"), "--local", str(local))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert f"{tmp_path / 'none' / 'eval' / 'cbsd68'}: not found" in result.stderr and not local.exists()
