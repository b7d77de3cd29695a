"""campaign/average_snapshots.py: the averaged weights are the snapshots' mean, carry a card naming them, and the
script refuses what it cannot average (one line, exit 1) without touching an existing output."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from golfdeblur.models.golf import GolfConfig
from golfdeblur.models.weights_io import load_golf, read_card, sha256_of

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaign" / "average_snapshots.py"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="not a clone: no campaign/ folder")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_average_is_the_mean_and_the_card_names_the_snapshots(tmp_path, snapshot):
    paths = [snapshot(tmp_path, f"weights-g-{i}", seed=i, step=1000 * (i + 1)) for i in range(3)]
    out = tmp_path / "avg" / "g-avg.safetensors"
    result = run_script(str(out), *map(str, paths))
    assert result.returncode == 0, result.stderr
    averaged = load_golf(out).state_dict()
    states = [load_golf(path).state_dict() for path in paths]
    for key, tensor in averaged.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (states[0][key] + states[1][key] + states[2][key]) / 3)
        else:  # integer buffers are not averaged: they are the last snapshot's
            assert torch.equal(tensor, states[2][key])
    card = read_card(out)
    assert card["training"]["step"] == 3000 and card["campaign"]["g_steps"] == 3000  # the last snapshot's
    assert [entry["step"] for entry in card["averaged_from"]] == [1000, 2000, 3000]
    assert card["averaged_from"][0]["sha256"] == sha256_of(paths[0])
    assert card["sha256"] == sha256_of(out)


def test_refuses_an_existing_output_and_mixed_architectures(tmp_path, snapshot):
    first = snapshot(tmp_path, "a", seed=0, step=1)
    second = snapshot(tmp_path, "b", seed=1, step=2)
    wider = snapshot(tmp_path, "c", seed=2, step=3, config=GolfConfig(g_width=6, d_width=2))
    out = tmp_path / "avg.safetensors"
    out.write_bytes(b"keep me")
    result = run_script(str(out), str(first), str(second))
    assert result.returncode == 1 and "already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and out.read_bytes() == b"keep me"
    result = run_script(str(tmp_path / "mixed.safetensors"), str(first), str(wider))
    assert result.returncode == 1 and "architecture" in result.stderr
    assert not (tmp_path / "mixed.safetensors").exists()
    result = run_script(str(tmp_path / "one.safetensors"), str(first))
    assert result.returncode == 1 and "at least two" in result.stderr
    result = run_script(str(first), str(first), str(second), "--overwrite")
    assert result.returncode == 1 and "is one of the snapshots" in result.stderr
