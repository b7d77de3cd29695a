"""`golfdeblur train` as a command: what it hands the training loop, the budgets it refuses, and the line it ends
with. The loop itself is replaced by a recorder (tests/train/test_loop.py trains for real)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from golfdeblur.cli import main
from golfdeblur.train import loop


@pytest.fixture
def trained(monkeypatch):
    """``calls``: the RunOptions of each call to the training loop, which returns ``outcome`` (status "done")."""
    state = SimpleNamespace(calls=[], outcome=SimpleNamespace(status="done", weights="w", stages=[]))

    def fake_train(recipe, options):
        state.calls.append(options)
        return state.outcome

    monkeypatch.setattr(loop, "train", fake_train)
    monkeypatch.delenv("RANK", raising=False)  # under torchrun, rank 0 alone prints
    return state


def test_train_hands_the_loop_its_options(tmp_path: Path, trained, capsys):
    # --init-from dropped on the way trained from scratch without a word (the loop's tests call train() directly)
    out = tmp_path / "r"
    argv = ["train", "--recipe", "tiny", "--out", str(out), "--init-from", "some.safetensors", "--resume"]
    argv += ["--vgg-weights", "vgg.pth", "--max-minutes", "7.5", "--g-minutes", "2", "--stage", "g"]
    assert main(argv) == 0
    [options] = trained.calls
    assert options.run_dir == out and options.stages == ("g",)
    assert options.init_from == "some.safetensors" and options.resume is True
    assert options.vgg_weights == "vgg.pth" and options.recipe_name == "tiny"
    assert options.max_minutes == 7.5 and options.g_minutes == 2.0
    assert capsys.readouterr().out == "done: weights w\n"
    assert main(["train", "--recipe", "tiny", "--out", str(out)]) == 0
    options = trained.calls[-1]
    assert options.stages == ("g", "d") and options.init_from is None and options.resume is False
    assert options.max_minutes is None and options.g_minutes is None and options.vgg_weights is None


@pytest.mark.parametrize("flag", ["--max-minutes", "--g-minutes"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_train_refuses_a_budget_that_is_not_positive(tmp_path: Path, trained, capsys, flag, value):
    # 0 minutes passed as a budget: the run stopped at its first check, having trained nothing
    assert main(["train", "--recipe", "tiny", "--out", str(tmp_path / "r"), flag, value]) == 2
    assert capsys.readouterr().err.strip() == f"golfdeblur: error: {flag} must be positive, got {float(value)}"
    assert trained.calls == [] and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("status", "budget"), [("stage budget", ["--g-minutes", "2.5"]), ("time budget", ["--max-minutes", "4"])]
)
def test_train_names_the_budget_that_stopped_it(tmp_path: Path, trained, capsys, status, budget):
    # stage G's own budget was reported as --max-minutes': "time budget of None min used"
    trained.outcome = SimpleNamespace(status=status, weights="w", stages=[])
    out = tmp_path / "r"
    assert main(["train", "--recipe", "tiny", "--stage", "g", "--out", str(out), *budget]) == 0
    said = f"time budget of {float(budget[1])} min used; weights saved in {out}; continue with --resume\n"
    assert capsys.readouterr().out == said


@pytest.mark.parametrize(("rank", "world_size"), [("", None), ("1", None), ("1", "1"), ("x", "2")])
def test_the_result_line_is_said_outside_torchrun_whatever_rank_the_shell_holds(
    tmp_path: Path, trained, capsys, monkeypatch, rank, world_size
):
    # RANK= in a plain shell ended a finished run with a ValueError traceback, and RANK=1 hid its result line
    monkeypatch.setenv("RANK", rank)
    if world_size is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    assert main(["train", "--recipe", "tiny", "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out == "done: weights w\n"


def test_under_torchrun_only_rank_0_says_the_result(tmp_path: Path, trained, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--recipe", "tiny", "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out == ""


def test_rank_0_alone_keeps_train_log(tmp_path: Path, trained, monkeypatch):
    # what the run says on stderr (here a note of the loop's, said once the folder exists) is kept in RUN_DIR/train.log
    from golfdeblur.notes import note
    from golfdeblur.train.run_transcript import start_transcript

    def fake_train(recipe, options):
        options.run_dir.mkdir(exist_ok=True)
        start_transcript(options.run_dir)
        note("said by the run")
        return trained.outcome

    monkeypatch.setattr(loop, "train", fake_train)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("1", "0"):
        monkeypatch.setenv("RANK", rank)
        assert main(["train", "--recipe", "tiny", "--out", str(tmp_path / rank)]) == 0
    assert not (tmp_path / "1" / "train.log").exists()
    said = (tmp_path / "0" / "train.log").read_text().splitlines()
    assert said[0].endswith(f" golfdeblur train --recipe tiny --stage both --out {tmp_path / '0'} ==")
    assert said[1:] == ["golfdeblur: note: said by the run"]


def test_the_header_names_the_command_as_typed_or_as_parsed(monkeypatch):
    from golfdeblur.cli import build_parser
    from golfdeblur.commands.train import command_line

    typed = ["train", "--recipe", "tiny", "--out", "o", "--set", "a=b c"]
    args = build_parser().parse_args(typed)
    monkeypatch.setattr("sys.argv", ["/usr/local/bin/golfdeblur", *typed])  # a shell's: as typed, quoted for one
    assert command_line(args) == "golfdeblur train --recipe tiny --out o --set 'a=b c'"
    monkeypatch.setattr("sys.argv", ["pytest"])  # cli.main(argv) from Python: as parsed, every option given
    args = build_parser().parse_args([*typed, "--resume", "--max-minutes", "5"])
    assert command_line(args) == (
        "golfdeblur train --recipe tiny --stage both --out o --set 'a=b c' --resume --max-minutes 5.0"
    )


def test_a_resume_whose_train_log_cannot_be_opened_trains_on(tmp_path: Path, trained, capsys, monkeypatch):
    # another user's train.log in a shared folder (or a read-only, immutable one) stopped the resume before training:
    # `golfdeblur: error: RUN/train.log: Operation not permitted`, exit 1. (os.open refuses it: tests may run as root)
    import errno

    from golfdeblur.train import run_transcript

    out = tmp_path / "r"
    out.mkdir()
    (out / "train.log").write_text("the first run's lines\n")
    open_file = run_transcript.os.open

    def not_permitted(path, *args, **kwargs):
        if Path(path) == out / "train.log":
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return open_file(path, *args, **kwargs)

    def fake_train(recipe, options):
        run_transcript.start_transcript(options.run_dir)
        trained.calls.append(options)
        return trained.outcome

    monkeypatch.setattr(run_transcript.os, "open", not_permitted)
    monkeypatch.setattr(loop, "train", fake_train)
    assert main(["train", "--recipe", "tiny", "--out", str(out), "--resume"]) == 0
    assert len(trained.calls) == 1 and capsys.readouterr().out == "done: weights w\n"
    assert (out / "train.log").read_text() == "the first run's lines\n"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (PermissionError(13, "Permission denied", "r/golf.safetensors"), 1),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), 1),
        (MemoryError(), 1),
        (ValueError("a bug"), None),
    ],
)
def test_train_log_ends_with_the_command_s_error_line_and_keeps_its_warnings(
    tmp_path: Path, trained, capsys, monkeypatch, failure, code
):
    # train.log kept a GolfdeblurError's line alone: a nohup'd GPU run that ran out of memory, or failed on a file,
    # left no reason in it, nor the warning lines said on the way (the dead-leaves validation fallback)
    import warnings

    from golfdeblur.data import validation
    from golfdeblur.train.run_transcript import start_transcript

    def fake_train(recipe, options):
        options.run_dir.mkdir(exist_ok=True)
        start_transcript(options.run_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn_explicit("validation images not found\nhere", UserWarning, validation.__file__, 1)
        raise failure

    monkeypatch.setattr(loop, "train", fake_train)
    out = tmp_path / "r"
    if code is None:  # not one of the command line's: a bug's traceback, and no line in train.log
        with pytest.raises(ValueError, match="a bug"):
            main(["train", "--recipe", "tiny", "--out", str(out)])
    else:
        assert main(["train", "--recipe", "tiny", "--out", str(out)]) == code
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "golfdeblur: warning: validation images not found\\nhere"
    said = (out / "train.log").read_text().splitlines()
    assert said[1:] == err  # the warning, then the very line the command line printed, if it printed one
    assert len(err) == (1 if code is None else 2)
