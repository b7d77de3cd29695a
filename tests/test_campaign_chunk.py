"""campaign/chunk.sh, the one device command of a campaign chunk: at toy scale (tiny recipe, seconds of CPU), it must
return at most 8 files (the device tool's limit) holding the run's log, D's best and final weights, and the weights
snapshots and the rest of the run folder packed in two tar files."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaign" / "chunk.sh"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="not a clone: no campaign/ folder")


def run_chunk(out: Path | None, *args: str, work: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "OUT"}
    env["PYTHON"] = sys.executable  # the interpreter running the tests has golfdeblur's dependencies
    if work is not None:
        env["GOLF_CHUNK_WORK"] = str(work)
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_chunk_returns_at_most_eight_files_with_weights_and_snapshots(tmp_path):
    out = tmp_path / "out"
    overrides = ["train.g_steps=100000", "train.d_steps=100000", "train.weights_every_minutes=0.02"]
    options = ["--recipe", "tiny", "--stage", "both", "--g-minutes", "0.1", *[f"--set={o}" for o in overrides]]
    result = run_chunk(out, "0.25", *options, work=tmp_path / "work")
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(path.name for path in out.iterdir())
    assert len(files) <= 8
    for name in ("train.log", "log.csv", "best-d.safetensors", "best-d.json", "weights-d.safetensors"):
        assert name in files
    assert "time budget" in (out / "train.log").read_text()
    with tarfile.open(out / "snap.tar") as snap:
        snapshots = [name for name in snap.getnames() if name.endswith(".safetensors")]
    assert any(Path(name).name.startswith("weights-d-") for name in snapshots)  # and G's, saved during stage G
    with tarfile.open(out / "run.tar") as run:
        names = {Path(name).name for name in run.getnames()}
    assert {"config.yaml", "summary.json", "checkpoint-d.safetensors"} <= names
    assert "weights-d.safetensors" not in names  # already returned on its own


def test_chunk_without_out_is_a_usage_error():
    result = run_chunk(None, "1")
    assert result.returncode == 2 and "usage: OUT=FOLDER" in result.stderr
