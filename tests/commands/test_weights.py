"""`golfdeblur weights`: packaged weights listed from their cards, files described, bad files one line and exit 2."""

from __future__ import annotations

import json

import pytest
import torch

from golfdeblur import cli
from golfdeblur.infer import DEFAULT_WEIGHTS
from golfdeblur.models import GolfConfig, GolfOptimizer, save_golf, weights_io
from golfdeblur.models.weights_io import sha256_of

RELEASE = {
    "gate": {"lines": ["validation: blurry 21.000 dB, G 22.000 dB, Golf T=3 22.500 dB"]},
    "campaign_goal": {"rule": "Golf T=3 > G > blurry", "met": False, "not_met_on": ["levin09: blurry 1 dB, ..."]},
}


def test_lists_packaged_weights_from_their_cards(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path)
    assert cli.main(["weights"]) == 0
    assert capsys.readouterr().out.startswith("no weights are packaged with this install")
    torch.manual_seed(0)
    campaign = {"recipe": "campaign", "campaign": {"g_steps": 10, "d_steps": 5, "minutes": 1.5, "chunks": [{}]}}
    measured = {"inference": {"iterations": 3, "tile_overlap": 96}}
    shipped = save_golf(GolfOptimizer(GolfConfig(4, 2, 3)), tmp_path / f"{DEFAULT_WEIGHTS}.safetensors",
                        {**campaign, "release": RELEASE, **measured})  # fmt: skip
    save_golf(GolfOptimizer(GolfConfig(2, 2, 1)), tmp_path / "golf-other.safetensors")
    assert cli.main(["weights"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_WEIGHTS} (the default of deblur): {shipped}\n  G width 4 + D width 2, T = 3\n" in out
    assert f"sha256 {sha256_of(shipped)[:12]}...; recipe campaign, 10 steps of G and 5 of D in 1 chunk" in out
    assert "    validation: blurry 21.000 dB, G 22.000 dB, Golf T=3 22.500 dB" in out
    assert "  campaign goal (Golf T=3 > G > blurry): not met on levin09\n" in out  # the name only, not its figures
    assert "golf-other: " in out and "G width 2 + D width 2, T = 1" in out and "not a release" in out
    assert "  tile overlap of deblur at T = 3: 96 px, measured when released (exact: 369 px)\n" in out
    assert "  tile overlap of deblur at T = 1: 185 px (exact)\n" in out  # golf-other's card measured none


def test_a_file_that_fails_its_checksum_is_one_line_and_exit_2(tmp_path, capsys):
    path = save_golf(GolfOptimizer(GolfConfig(2, 2, 1)), tmp_path / "w.safetensors")
    assert cli.main(["weights", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cli.main(["weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "checksum mismatch" in err


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"campaign": "oops"}, 'model card\'s campaign "oops" is not an object'),
        ({"campaign": {"chunks": ["x"]}}, 'model card\'s campaign.chunks[0] "x" is not an object'),
        ({"campaign": {"chunks": [{}], "g_steps": "10"}}, 'model card\'s campaign.g_steps "10" is not a whole number'),
        ({"release": {"campaign_goal": {"rule": "r", "met": False}}}, "has no release.campaign_goal.not_met_on"),
        ({"release": {"gate": {"lines": [1]}}}, "model card's release.gate.lines[0] 1 is not a string"),
        ({"inference": {"iterations": 1, "tile_overlap": "abc"}}, 'inference.tile_overlap "abc" is not a whole number'),
        ({"g_width": 0}, "model card's g_width 0 is not a whole number of at least 1"),
    ],
)  # fmt: skip
def test_a_malformed_card_is_one_line_naming_the_field_and_exit_2(tmp_path, capsys, changes, message):
    path = save_golf(GolfOptimizer(GolfConfig(2, 2, 1)), tmp_path / "w.safetensors")
    card = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**card, **changes}))
    assert cli.main(["weights", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing of the card is printed before the error
    assert captured.err.startswith(f"golfdeblur: error: weights {path}: ") and message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_the_default_is_marked_by_its_path_too_and_a_file_is_not_named_twice(tmp_path, monkeypatch, capsys):
    """The packaged default given by its path was not marked; `weights ./w.safetensors` printed
    `./w.safetensors: w.safetensors`, the same file named twice."""
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")
    shipped = save_golf(GolfOptimizer(GolfConfig(2, 2, 3)), tmp_path / "installed" / f"{DEFAULT_WEIGHTS}.safetensors")
    save_golf(GolfOptimizer(GolfConfig(2, 2, 1)), tmp_path / "w.safetensors")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    by_path = f"installed/{DEFAULT_WEIGHTS}.safetensors"
    assert cli.main(["weights", by_path, "./w.safetensors", DEFAULT_WEIGHTS, "~/w.safetensors"]) == 0
    firsts = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert firsts == [
        f"{by_path} (the default of deblur)",
        "./w.safetensors",
        f"{DEFAULT_WEIGHTS} (the default of deblur): {shipped}",
        f"~/w.safetensors: {tmp_path / 'w.safetensors'}",  # where '~' led (it was left out)
    ]
