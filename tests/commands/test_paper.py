"""`golfdeblur paper`: the subcommands that take --device resolve it like every other command (auto accepted, CUDA
without CUDA a one-line error, weights loaded on the CPU and then moved). CUDA is simulated; no GPU is needed."""

from __future__ import annotations

import errno
import os
import re
import subprocess

import pytest
import torch

from golfdeblur.cli import main
from golfdeblur.commands import paper as paper_command
from golfdeblur.models import weights_io
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2), zero_init_last=False)
    return save_golf(model, tmp_path / "tiny.safetensors")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def gradient_argv(weights, out, device: str) -> list[str]:
    return ["paper", "gradient", "--weights", str(weights), "--out", str(out), "--images", "astronaut",
            "--size", "24", "--kernel-size", "7", "--iterations", "1", "--device", device]  # fmt: skip


def forgetting_argv(out, device: str) -> list[str]:
    return ["paper", "forgetting", "--out", str(out), "--steps", "2", "--batch-size", "1", "--crop-size", "16",
            "--g-width", "2", "--d-width", "2", "--recurrent-width", "2", "--t-train", "1", "--t-eval", "2",
            "--eval-every", "1", "--validation-count", "2", "--validation-crop", "24", "--device", device]  # fmt: skip


def test_device_auto_is_accepted_and_weights_are_loaded_on_the_cpu(tmp_path, capsys, weights, no_gpu, monkeypatch):
    locations = []
    real_load = weights_io.load_golf

    def spy(name, map_location="cpu"):
        locations.append(str(map_location))
        return real_load(name, map_location=map_location)

    monkeypatch.setattr(weights_io, "load_golf", spy)
    assert main(gradient_argv(weights, tmp_path, "auto")) == 0
    assert locations == ["cpu"] and "--device auto" in (tmp_path / "prior_gradient.md").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("analysis", ["gradient", "convergence", "forgetting"])
@pytest.mark.parametrize(
    "device, gpus, message",
    [
        ("cuda", 0, "device cuda: CUDA is not available on this machine (use cpu or auto)"),
        ("cuda:5", 1, "device cuda:5: no such GPU as cuda:5 (this machine has 1 CUDA GPU, cuda:0; use cuda or auto)"),
        ("tpu", 0, "device 'tpu': not a device name (use auto, cpu, cuda, cuda:N or mps)"),
    ],
)
def test_unusable_devices_are_one_line_errors(tmp_path, capsys, weights, monkeypatch, analysis, device, gpus, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if analysis == "forgetting":
        argv = forgetting_argv(tmp_path / "out", device)
    elif analysis == "gradient":
        argv = gradient_argv(weights, tmp_path / "out", device)
    else:
        argv = ["paper", "convergence", "--weights", str(weights), "--out", str(tmp_path / "out"), "--device", device]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: {message}\n"
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["toy", "--high", "inf"], "expected a finite number"),
        (["toy", "--low", "nan"], "expected a finite number"),
        (["forgetting", "--lr", "0"], "must be > 0"),
        (["forgetting", "--lr-end=-1e-5"], "must be > 0"),
        (["toy", "--sweep-steps", "1,nan"], "expected finite numbers"),
    ],
)
def test_impossible_numbers_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["paper", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["toy", "--sweep-steps", ""], "--sweep-steps needs at least one step size"),
        (["gradient", "--images", ","], "--images names no image"),
        (["convergence", "--crop", "5", "--sets", "validation"], "--crop must be at least 11"),
    ],
)
def test_empty_or_too_small_settings_are_one_line_before_any_work(argv, message, tmp_path, weights, capsys):
    extra = ["--weights", str(weights)] if argv[0] != "toy" else []
    assert main(["paper", *argv, *extra, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def tables_argv(out) -> list[str]:
    return ["paper", "tables", "--out", str(out), "--sizes", "8x8", "--warmup", "0", "--repeats", "1", "--cpu-only",
            "--g-width", "2", "--d-width", "2", "--iterations", "1"]  # fmt: skip


def fake_toy(monkeypatch) -> None:
    """The toy analysis' work (15 s even at its smallest) replaced: one figure written as plot_toy writes them."""
    from golfdeblur.atomic import atomic_write_bytes
    from golfdeblur.paper import toy_prior

    def one_figure(report, out_dir):
        atomic_write_bytes(out_dir / "toy_fig10_discriminative_softmax.png", b"a figure")
        return [out_dir / "toy_fig10_discriminative_softmax.png"]

    monkeypatch.setattr(toy_prior, "run_toy", lambda config: "a report")
    monkeypatch.setattr(toy_prior, "plot_toy", one_figure)
    monkeypatch.setattr(toy_prior, "toy_markdown", lambda report, command: "# toy\n")


def a_full_disk_for_the_page(monkeypatch) -> None:
    """The Markdown page, written after the figure, finds the disk full (as the temporary's write would say it)."""

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(paper_command, "atomic_write_text", full)


@pytest.mark.parametrize("analysis", ["toy", "tables", "gradient", "forgetting"])
def test_a_report_that_fails_to_be_written_leaves_no_part_of_it_nor_a_folder(
    tmp_path, capsys, weights, monkeypatch, analysis
):
    """Each file was written into --out as it came: a full disk left a figure without its page, in a folder made for
    it (and forgetting's --save-weights folder with weights whose report was never written)."""
    out = tmp_path / "new" / "out"
    argv = {
        "toy": ["paper", "toy", "--out", str(out)],
        "tables": tables_argv(out),
        "gradient": gradient_argv(weights, out, "cpu"),
        "forgetting": [*forgetting_argv(out, "cpu"), "--save-weights", str(tmp_path / "new" / "weights")],
    }[analysis]
    page = {"toy": "toy.md", "tables": "tables.md", "gradient": "prior_gradient.md", "forgetting": "forgetting.md"}
    if analysis == "toy":
        fake_toy(monkeypatch)
    a_full_disk_for_the_page(monkeypatch)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"golfdeblur: error: {out / page[analysis]}: No space left on device\n"  # not the hidden folder's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.safetensors"]  # the weights fixture's


def test_an_earlier_report_is_kept_whole_when_its_replacement_fails(tmp_path, capsys, weights, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "prior_gradient.png").write_bytes(b"the earlier figure")
    (out / "prior_gradient.md").write_text("the earlier page")
    a_full_disk_for_the_page(monkeypatch)
    assert main([*gradient_argv(weights, out, "cpu"), "--overwrite"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["prior_gradient.md", "prior_gradient.png"]
    assert (out / "prior_gradient.png").read_bytes() == b"the earlier figure"  # not the new one beside the old page
    capsys.readouterr()


def test_a_report_folder_with_undecodable_bytes_and_a_newline_is_written_and_its_command_remakes_the_name(tmp_path):
    # the page failed to be written (a strict UTF-8 encode); its "Made by" line, quoted by shlex, split over two lines
    # and, written readably, would have named a folder called "\xff"
    out = tmp_path / os.fsdecode(b"tables \xff\n-x")
    argv = ["paper", "tables", "--out", str(out), "--sizes", "16x16", "--warmup", "0", "--repeats", "1", "--cpu-only"]
    assert main(argv) == 0
    page = (out / "tables.md").read_bytes().decode("utf-8")
    made_by = re.search(r"Made by `(golfdeblur paper tables .*)`", page).group(1)  # one line
    words = subprocess.run(  # the words a shell makes of it, the command a function that prints them
        ["bash", "-c", f"golfdeblur() {{ printf '%s\\0' \"$@\"; }}; {made_by}"], capture_output=True, check=True
    ).stdout.split(b"\0")
    assert words[words.index(b"--out") + 1] == os.fsencode(out)


def test_golfdeblur_help_names_every_paper_analysis():
    """`golfdeblur --help` listed paper as "(toy prior, tables, convergence)", leaving out gradient and forgetting."""
    import argparse

    from golfdeblur.cli import build_parser

    top = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    paper_help = next(choice.help for choice in top._choices_actions if choice.dest == "paper")
    analyses = next(a for a in top.choices["paper"]._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert sorted(analyses) == ["convergence", "forgetting", "gradient", "tables", "toy"]
    assert all(name in paper_help for name in ("toy", "tables", "convergence", "gradient", "forgetting"))
