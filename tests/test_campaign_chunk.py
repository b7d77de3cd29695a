"""campaign/chunk.sh, the one device command of a campaign chunk: at toy scale (tiny recipe, seconds of CPU), it must
return at most 8 files (the device tool's limit) holding the run's log, D's best weights, and the weights snapshots
and the rest of the run folder packed in two tar files, cut into parts where they are too large to come back."""

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from golfdeblur.models.weights_io import load_golf

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaign" / "chunk.sh"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="not a clone: no campaign/ folder")


def run_chunk(
    out: Path | None, *args: str, work: Path | None = None, part_bytes: int | None = None
) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "OUT"}
    if part_bytes is not None:
        env["GOLF_CHUNK_PART_BYTES"] = str(part_bytes)
    env["PYTHON"] = sys.executable  # the interpreter running the tests has golfdeblur's dependencies
    # The hard timeout's 40 s past the budget holds Python's start-up and the saving: on a CI machine shared with
    # other work that was too little for a 0.25-minute chunk (two failures at a load of 7 on 2 cores); the
    # subprocess's own timeout still ends a hang.
    env["GOLF_CHUNK_GRACE_S"] = "240"
    if work is not None:
        env["GOLF_CHUNK_WORK"] = str(work)
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


OPTIONS = ["--recipe", "tiny", "--stage", "both", "--g-minutes", "0.1"] + [
    f"--set={o}" for o in ("train.g_steps=100000", "train.d_steps=100000", "train.weights_every_minutes=0.02")
]


def test_chunk_returns_at_most_eight_files_with_weights_and_snapshots(tmp_path):
    out = tmp_path / "out"
    result = run_chunk(out, "0.25", *OPTIONS, work=tmp_path / "work")
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(path.name for path in out.iterdir())
    assert len(files) <= 8 and "WARNING" not in result.stderr
    for name in ("train.log", "log.csv", "best-d.safetensors", "best-d.json", "snap.tar", "run.tar"):
        assert name in files
    assert "time budget" in (out / "train.log").read_text()
    with tarfile.open(out / "snap.tar") as snap:
        snapshots = [name for name in snap.getnames() if name.endswith(".safetensors")]
        snap.extractall(tmp_path / "unpacked", filter="data")
    assert any(Path(name).name.startswith("weights-d-") for name in snapshots)  # and G's, saved during stage G
    for name in snapshots:  # each with its own card (a copy between the weights' write and the card's is redone)
        load_golf(tmp_path / "unpacked" / name)
    with tarfile.open(out / "run.tar") as run:
        names = {Path(name).name for name in run.getnames()}
    assert {"config.yaml", "summary.json", "checkpoint-d.safetensors", "weights-d.safetensors"} <= names
    assert "best-d.safetensors" not in names  # already returned on its own


def test_a_tar_too_large_to_come_back_whole_comes_in_parts_that_evaluate_chunk_joins(tmp_path):
    out = tmp_path / "out"
    result = run_chunk(out, "0.25", *OPTIONS, work=tmp_path / "work", part_bytes=400_000)
    assert result.returncode == 0, result.stdout + result.stderr
    files = {path.name: path.stat().st_size for path in out.iterdir()}
    assert "run.tar" not in files and "run.tar.part1" in files and max(files.values()) <= 400_000
    spec = importlib.util.spec_from_file_location("evaluate_chunk", ROOT / "campaign" / "evaluate_chunk.py")
    evaluate_chunk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate_chunk)
    evaluate_chunk.unpack(out, tmp_path / "chunk")
    assert (tmp_path / "chunk" / "run" / "checkpoint-d.safetensors").is_file()
    load_golf(tmp_path / "chunk" / "run" / "weights-d.safetensors")  # whole: its card's sha256 holds
    assert any((tmp_path / "chunk" / "snap").glob("weights-g-*.safetensors"))


def test_chunk_without_out_is_a_usage_error():
    result = run_chunk(None, "1")
    assert result.returncode == 2 and "usage: OUT=FOLDER" in result.stderr


@pytest.mark.parametrize("minutes", ["9min", "0", "-1", "abc"])
def test_minutes_that_are_not_a_positive_number_are_refused_before_anything_starts(tmp_path, minutes):
    """'9min' was a Python traceback after the snapshot loop had started, and the loop, left running, held the
    device command's output open until its timeout: most of a session's device time."""
    result = run_chunk(tmp_path / "out", minutes, "--stage", "d", work=tmp_path / "work")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"chunk.sh: MINUTES must be a positive number of minutes (e.g. 9 or 3.5), got '{minutes}'\n"
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_a_grace_that_is_not_a_whole_number_of_seconds_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLF_CHUNK_GRACE_S", "40s")
    env = {key: value for key, value in os.environ.items()} | {"OUT": str(tmp_path / "out")}
    env["GOLF_CHUNK_WORK"] = str(tmp_path / "work")
    result = subprocess.run(["bash", str(SCRIPT), "0.01", "--stage", "d"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "chunk.sh: GOLF_CHUNK_GRACE_S must be a whole number of seconds, got '40s'\n"
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("grace", "limit"), [(None, "55"), ("240", "255")], ids=["default", "given"])
def test_the_hard_timeout_is_the_budget_plus_the_grace(tmp_path, grace, limit):
    """0.25 minutes is 15 s, then 40 s of grace unless GOLF_CHUNK_GRACE_S gives another: timeout(1) is stubbed to
    record its limit, without training."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "timeout").write_text(f'#!/bin/sh\necho "$1" > "{tmp_path / "limit"}"\nexit 0\n')
    (stubs / "timeout").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("GOLF_CHUNK_GRACE_S", "OUT")}
    env |= {"PATH": f"{stubs}{os.pathsep}{env.get('PATH', '')}", "OUT": str(tmp_path / "out")}
    env |= {"GOLF_CHUNK_WORK": str(tmp_path / "work"), "PYTHON": sys.executable}
    if grace is not None:
        env["GOLF_CHUNK_GRACE_S"] = grace
    result = subprocess.run(["bash", str(SCRIPT), "0.25", "--stage", "d"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "limit").read_text() == f"{limit}\n"
