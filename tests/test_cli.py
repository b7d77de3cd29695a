"""The `golfdeblur` command's entry: its help and version come without importing torch, and the package's public
names still load on first use."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import golfdeblur

HEAVY = ("torch", "scipy", "skimage", "tqdm")  # tqdm: 32 ms, which notes (imported by image_writing) load only to print


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (this one has torch loaded already)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["deblur", "--help"], ["release", "--help"]])
def test_help_and_version_do_not_import_torch(argv):
    result = run_python(
        "import sys\nfrom golfdeblur import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit as exit:\n    code = exit.code\n"
        f"print('exit', code, sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "exit 0 []"


def test_a_bad_argument_is_refused_without_importing_torch():
    result = run_python(
        "import sys\nfrom golfdeblur import cli\n"
        "try:\n    cli.main(['deblur', 'x.png', '-o', 'out', '--precision', 'fp64'])\n"
        "except SystemExit as exit:\n    print('exit', exit.code, 'torch' in sys.modules)"
    )
    assert result.stdout.splitlines()[-1] == "exit 2 False"
    assert "argument --precision: invalid choice: 'fp64'" in result.stderr


def test_python_dash_m_golfdeblur_is_the_command(tmp_path):
    # for an environment whose scripts folder is not on PATH (a venv not activated, Windows' user installs)
    command = [sys.executable, "-m", "golfdeblur"]
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert (version.returncode, version.stdout.strip()) == (0, f"golfdeblur {golfdeblur.__version__}")
    refused = subprocess.run([*command, "deblur", str(tmp_path / "none.png"), "-o", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode != 0 and refused.stderr.startswith("golfdeblur: error: ")  # the exit code comes through


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["deblur", "x.png", "-o", "out", "--tile", "x"], "golfdeblur deblur: error: argument --tile: invalid int"),
        ([], "golfdeblur: error: the following arguments are required: COMMAND"),
        (["paper"], "golfdeblur paper: error: the following arguments are required: ANALYSIS"),
        # a control character in what argparse quotes is escaped, as in the commands' own errors: still one line
        (
            ["results", "a\nb"],
            "golfdeblur results: error: unrecognized arguments: a\\nb (see golfdeblur results --help)",
        ),
    ],
)
def test_a_usage_error_is_one_line_that_says_where_the_usage_is(argv, reason, capsys):
    from golfdeblur.cli import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and err.startswith(reason), err
    assert err.rstrip().endswith("--help)") and "usage:" not in err


SUBCOMMAND_CHOICES = (
    "'deblur', 'train', 'eval', 'demo', 'paper', 'make-pairs', 'show-data', 'pack-data', 'results', 'release', "
    "'export', 'weights'"
)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["debulr"], "golfdeblur: error: argument COMMAND: invalid choice: 'debulr' (choose from "
         f"{SUBCOMMAND_CHOICES}); did you mean deblur? (see golfdeblur --help)"),
        (["paper", "tabels"], "golfdeblur paper: error: argument ANALYSIS: invalid choice: 'tabels' (choose from "
         "'toy', 'tables', 'convergence', 'gradient', 'forgetting'); did you mean tables? "
         "(see golfdeblur paper --help)"),
        (["deblur", "a.png", "-o", "o", "--precision", "fp3"], "golfdeblur deblur: error: argument --precision: "
         "invalid choice: 'fp3' (choose from 'fp32', 'bf16', 'fp16'); did you mean fp32? "
         "(see golfdeblur deblur --help)"),
        # another word is no misspelling
        (["denoise"], f"golfdeblur: error: argument COMMAND: invalid choice: 'denoise' (choose from "
         f"{SUBCOMMAND_CHOICES}) (see golfdeblur --help)"),
    ],
)  # fmt: skip
def test_a_misspelt_command_or_choice_gets_the_nearest_one(argv, line, capsys):
    """argparse refuses a subcommand it does not know before any of our code runs; its line now says which was meant."""
    from golfdeblur.cli import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and capsys.readouterr().err == line + "\n"


def test_a_misspelt_choice_is_found_also_where_python_does_not_quote_the_choices(capsys):
    """Python releases after 3.12.7 and 3.13.0 write argparse's choices without quotes."""
    from golfdeblur.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().error("argument COMMAND: invalid choice: trian (choose from deblur, train, eval)")
    assert capsys.readouterr().err.endswith("; did you mean train? (see golfdeblur --help)\n")


def test_a_file_name_that_is_not_utf8_passes_to_stdout_as_its_bytes_and_stdout_is_strict_again_after(monkeypatch):
    """A strict stdout (Python's under a UTF-8 locale) raised UnicodeEncodeError on such a name's surrogates."""
    import io
    import sys

    from golfdeblur.cli import file_names_pass_to_stdout

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    with file_names_pass_to_stdout():
        print("photo\udcff.png")
    assert stdout.errors == "strict"
    stdout.flush()
    assert stdout.buffer.getvalue() == b"photo\xff.png\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["eval", "--data", "synthetic", "--out", "e", "--tile", "5"],
         "golfdeblur eval: error: unrecognized arguments: --tile 5 (see golfdeblur eval --help)"),
        (["eval", "--data", "synthetic", "--out", "e", "--ovewrite"],
         "golfdeblur eval: error: unrecognized arguments: --ovewrite; did you mean --overwrite? "
         "(see golfdeblur eval --help)"),
        (["paper", "toy", "--seeed=3"],
         "golfdeblur paper toy: error: unrecognized arguments: --seeed=3; did you mean --seed? "
         "(see golfdeblur paper toy --help)"),
        # the name compared without its value, however long: the whole text is near no option
        (["eval", "--data", "synthetic", "--out", "e", "--rooot=/some/rather/long/path/to/the/data/folder"],
         "golfdeblur eval: error: unrecognized arguments: --rooot=/some/rather/long/path/to/the/data/folder; "
         "did you mean --root? (see golfdeblur eval --help)"),
        (["paper", "--bogus", "toy"], "golfdeblur paper: error: unrecognized arguments: --bogus "
         "(see golfdeblur paper --help)"),
        (["deblur", "a.png", "-o", "out", "--tiel", "256"],
         "golfdeblur deblur: error: unrecognized arguments: --tiel 256; did you mean --tile? "
         "(see golfdeblur deblur --help)"),

        # another word is no misspelling: "--" made every option look near one (--cpu read as --out)
        (["eval", "--data", "synthetic", "--out", "e", "--cpu"],
         "golfdeblur eval: error: unrecognized arguments: --cpu (see golfdeblur eval --help)"),
        (["train", "--out", "r", "--steps", "5"],
         "golfdeblur train: error: unrecognized arguments: --steps 5 (see golfdeblur train --help)"),
    ],
)  # fmt: skip
def test_an_unknown_argument_points_to_the_help_of_the_command_that_ran(argv, line, capsys):
    """`eval ... --tile 5` said '(see golfdeblur --help)', whose page lists no option of eval."""
    from golfdeblur.cli import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize(
    "argv",
    [["eval", "--data", "synthetic"], ["demo"], ["results"], ["paper", "toy"], ["paper", "tables"],
     ["paper", "convergence", "--weights", "w"], ["paper", "gradient", "--weights", "w"], ["paper", "forgetting"]],
)  # fmt: skip
def test_every_report_command_takes_dash_o_for_its_out_folder(argv):
    from golfdeblur.cli import build_parser

    assert build_parser().parse_args([*argv, "-o", "folder"]).out == Path("folder")


def test_train_takes_dash_o_for_its_run_folder():
    from golfdeblur.cli import build_parser

    assert build_parser().parse_args(["train", "-o", "run"]).out == "run"  # checked by train's check_out


def test_paper_convergence_takes_root_as_eval_and_results_do_and_data_root_still():
    from golfdeblur.cli import build_parser

    for flag in ("--root", "--data-root"):
        args = build_parser().parse_args(["paper", "convergence", "--weights", "w", flag, "data"])
        assert args.data_root == Path("data")


def subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subcommand_parsers(sub)


def test_every_option_s_help_says_its_default():
    """About 40 options said nothing of their default (paper's --train-samples, --gpu-repeats, --lr had no help at
    all); train's said nothing of --recipe's, --stage's and four more. deblur's are left to its own tests."""
    from golfdeblur.cli import build_parser

    silent = []
    for parser in subcommand_parsers(build_parser()):
        if parser.prog.split()[1] == "deblur":
            continue
        for action in parser._actions:
            if not action.option_strings or action.required or action.nargs == 0:  # positionals, flags, --help
                continue
            if not action.help or not any(word in action.help for word in ("default", "repeatable", "required")):
                silent.append(f"{parser.prog} {action.option_strings[-1]}")
    assert silent == []


def test_the_help_says_the_defaults_that_were_missing():
    from golfdeblur.cli import build_parser
    from golfdeblur.data.frames import MAX_FRAMES, MIN_FRAMES

    helps = {parser.prog: " ".join(parser.format_help().split()) for parser in subcommand_parsers(build_parser())}
    assert "(default 2019)" in helps["golfdeblur eval"] and "default 1280x720)" in helps["golfdeblur eval"]
    assert "(default auto)" in helps["golfdeblur eval"] and "(default auto)" in helps["golfdeblur demo"]
    assert "(default: the packaged golf-synthetic-v1)" in helps["golfdeblur demo"]
    assert f"N must be {MIN_FRAMES} to {MAX_FRAMES}" in helps["golfdeblur make-pairs"]
    for analysis in ("convergence", "gradient", "forgetting"):
        assert "(default cpu)" in helps[f"golfdeblur paper {analysis}"]
    assert "Always scores on the CPU (there is no --device)" in helps["golfdeblur results"]


def test_the_help_lists_the_exit_codes_main_returns(monkeypatch):
    from golfdeblur.cli import build_parser, main
    from golfdeblur.commands import weights
    from golfdeblur.errors import GolfdeblurError

    text = build_parser().format_help()
    codes = text[text.index("exit codes:") :].splitlines()
    assert [line.split()[0] for line in codes if line.startswith("  ") and line[2] != " "] == [
        "0", "1", "2", "130", "128+N"
    ]  # fmt: skip
    for error, code in ((GolfdeblurError("refused"), 2), (PermissionError(13, "denied", "f"), 1),
                        (KeyboardInterrupt(), 130), (BrokenPipeError(32, "Broken pipe"), 141)):  # fmt: skip

        def fail(args, error=error):
            raise error

        monkeypatch.setattr(weights, "run", fail)
        assert main(["weights"]) == code
    assert "1  " in text and "2  " in text and "141 SIGPIPE" in text and "143 SIGTERM" in text


def test_the_exit_codes_the_help_gives_for_signals_are_128_plus_their_numbers():
    import re

    from golfdeblur.cli import EXIT_CODES

    pairs = re.findall(r"\b(\d+) (SIG[A-Z]+)\b", EXIT_CODES)
    assert sorted(name for _, name in pairs) == ["SIGHUP", "SIGPIPE", "SIGTERM"]
    for code, name in pairs:
        assert int(code) == 128 + signal.Signals[name], name


def test_a_command_started_with_its_stdout_closed_ends_with_its_own_exit_code(monkeypatch):
    """Python sets sys.stdout to None when descriptor 1 is closed (`golfdeblur weights >&-`): the flush after the
    command must not fail there."""
    from golfdeblur import cli
    from golfdeblur.commands import weights

    monkeypatch.setattr(weights, "run", lambda args: 0)
    monkeypatch.setattr(sys, "stdout", None)
    assert cli.main(["weights"]) == 0


def test_public_names_load_on_first_use():
    from golfdeblur import GolfConfig, GolfOptimizer, ResidualCNN, deblur
    from golfdeblur.infer import deblur as infer_deblur
    from golfdeblur.models import golf

    assert deblur is infer_deblur
    assert (GolfConfig, GolfOptimizer, ResidualCNN) == (golf.GolfConfig, golf.GolfOptimizer, golf.ResidualCNN)
    assert set(golfdeblur.__all__) <= set(dir(golfdeblur))
    assert not {"annotations", "importlib", "TYPE_CHECKING"} & set(dir(golfdeblur))  # the module's tools, not names
    with pytest.raises(AttributeError, match="no attribute 'deblur_tensor'"):
        golfdeblur.deblur_tensor  # noqa: B018 (the attribute access is the test)


def test_the_errors_deblur_raises_are_public_names_that_load_without_torch():
    """golfdeblur.WeightsError and the others, which deblur's docstring names, were AttributeErrors."""
    from golfdeblur import DeblurSettingsError, GolfdeblurError, WeightsError, errors
    from golfdeblur.models import weights_io

    assert (GolfdeblurError, DeblurSettingsError) == (errors.GolfdeblurError, errors.DeblurSettingsError)
    assert WeightsError is errors.WeightsError is weights_io.WeightsError  # where it lived before: still there
    assert {"GolfdeblurError", "DeblurSettingsError", "WeightsError"} <= set(golfdeblur.__all__) & set(dir(golfdeblur))
    result = run_python(
        "import sys\nfrom golfdeblur import DeblurSettingsError, GolfdeblurError, WeightsError\n"
        "print({e.__module__ for e in (DeblurSettingsError, GolfdeblurError, WeightsError)}, 'torch' in sys.modules)"
    )
    assert result.stdout.splitlines()[-1] == "{'golfdeblur.errors'} False", result.stderr


def test_a_file_system_error_no_command_foresaw_is_one_line(tmp_path, capsys, monkeypatch):
    from golfdeblur.cli import main
    from golfdeblur.commands import data

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")

    def unforeseen(samples, out):  # show-data checks its folder first now: an error raised later, as by the OS
        raise NotADirectoryError(20, "Not a directory", str(a_file / "grid.png"))

    monkeypatch.setattr(data, "draw_grid", unforeseen)
    code = main(["show-data", str(tmp_path / "grid.png"), "--count", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("golfdeblur: error: ") and err.count("\n") == 1, err
    assert str(a_file) in err and "Traceback" not in err  # names the file in the way


def test_running_out_of_memory_is_one_line_and_other_errors_are_not_hidden(monkeypatch, capsys):
    import pytest

    from golfdeblur.cli import main
    from golfdeblur.commands import weights

    def allocate(args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: not enough memory: you tried to "
                           "allocate 1000000000000 bytes.\nmore detail")  # fmt: skip

    monkeypatch.setattr(weights, "run", allocate)
    assert main(["weights"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "golfdeblur: error: out of memory (" in err and "not enough memory" in err

    def broken(args):
        raise RuntimeError("a bug, not a lack of memory")

    monkeypatch.setattr(weights, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # a real bug keeps its traceback
        main(["weights"])


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB. Error code 12"),
         "DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB. Error code 12"),  # its other wording
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB.\nIf reserved but unallocated memory is large"),
         "CUDA out of memory. Tried to allocate 2.00 GiB."),  # the first line says it; torch's advice is not for us
        (MemoryError("Unable to allocate 7.45 GiB for an array with shape (1000000000,)"),
         "Unable to allocate 7.45 GiB for an array with shape (1000000000,)"),  # numpy's: no sign of memory needed
        (MemoryError(), "MemoryError"),  # Python's own has no message: its name says it
        (RuntimeError("Invalid buffer size: 19.45 GB"), "Invalid buffer size: 19.45 GB"),  # Apple's MPS, too large
        (RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"), "cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    ],
)  # fmt: skip
def test_every_way_torch_numpy_and_python_say_they_ran_out_of_memory_is_one_line(monkeypatch, capsys, error, reason):
    from golfdeblur.cli import main
    from golfdeblur.commands import weights

    def allocate(args):
        raise error

    monkeypatch.setattr(weights, "run", allocate)
    assert main(["weights"]) == 1
    assert capsys.readouterr().err == f"golfdeblur: error: out of memory ({reason}); try smaller settings\n"


def test_an_os_error_with_only_a_message_is_that_message(monkeypatch, capsys):
    """Pillow's 'cannot identify image file' is an OSError with no errno, strerror or file name: its message is all
    there is to print (its strerror alone would be 'golfdeblur: error: None')."""
    from PIL import UnidentifiedImageError

    from golfdeblur.cli import main
    from golfdeblur.commands import weights

    def unreadable(args):
        raise UnidentifiedImageError("cannot identify image file 'a.png'")

    monkeypatch.setattr(weights, "run", unreadable)
    assert main(["weights"]) == 1
    assert capsys.readouterr().err == "golfdeblur: error: cannot identify image file 'a.png'\n"


def test_ctrl_c_is_one_line_and_exit_130_as_a_shell_reports_it(monkeypatch, capsys):
    """128 + SIGINT, what a shell and a script's `$?` take for 'interrupted', with no traceback."""
    from golfdeblur.cli import main
    from golfdeblur.commands import weights

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(weights, "run", interrupted)
    assert main(["weights"]) == 130
    assert capsys.readouterr().err == "golfdeblur: interrupted\n"


def interrupting_the_import_of(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import MODULE`` (any form: ``from MODULE import NAME`` too) raise KeyboardInterrupt, as a Ctrl-C in the
    first tenth of a second of a command does, while Python imports the command line."""
    import builtins

    real_import = builtins.__import__

    def import_interrupted(name, *args, **kwargs):
        if name == module:
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_interrupted)


def test_ctrl_c_while_the_command_line_is_imported_is_one_line_and_exit_130(monkeypatch, capsys):
    """Ctrl-C in the first ~0.1 s (golfdeblur.cli importing the subcommands and NumPy) printed a traceback."""
    from golfdeblur.__main__ import main

    interrupting_the_import_of("golfdeblur.cli", monkeypatch)
    try:
        code = main(["weights"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C during the imports escaped the entry point: Python prints a traceback")
    assert code == 130 and capsys.readouterr().err == "golfdeblur: interrupted\n"


def test_ctrl_c_while_the_arguments_are_read_is_one_line_and_exit_130(monkeypatch, capsys):
    from golfdeblur import cli

    def parser_interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", parser_interrupted)
    try:
        code = cli.main(["weights"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the parser was built escaped main: Python prints a traceback")
    assert code == 130 and capsys.readouterr().err == "golfdeblur: interrupted\n"


def test_the_console_script_imports_the_command_line_within_its_ctrl_c_handling(monkeypatch, capsys):
    """The script pip writes for [project.scripts] runs ``from MODULE import FUNCTION`` and then FUNCTION(): naming
    golfdeblur.cli:main, that import (0.1 s) ran before any of our code, and Ctrl-C there was a traceback."""
    import re

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    entry = re.search(r'^golfdeblur = "([\w.]+):(\w+)"$', pyproject, re.MULTILINE)
    assert entry is not None
    interrupting_the_import_of("golfdeblur.cli", monkeypatch)
    script: dict = {}
    try:
        exec(f"from {entry[1]} import {entry[2]} as main\ncode = main(['weights'])", script)  # noqa: S102
    except KeyboardInterrupt:
        pytest.fail(f"Ctrl-C while the console script imports {entry[1]} is a traceback")
    assert script["code"] == 130 and capsys.readouterr().err == "golfdeblur: interrupted\n"


def test_importing_the_entry_point_module_runs_nothing():
    """The console script imports golfdeblur.__main__: only ``python -m golfdeblur`` runs the command."""
    loaded = "'golfdeblur.cli' in sys.modules, 'typing' in sys.modules"
    result = run_python(f"import sys\nimport golfdeblur.__main__\nprint('imported', {loaded})")
    # typing too (7 ms): before the console script's Ctrl-C handling begins, as little as can be runs
    assert (result.returncode, result.stdout, result.stderr) == (0, "imported False False\n", "")


def test_a_damaged_tiff_prints_no_reader_log_lines_in_a_fresh_process(tmp_path):
    """tifffile logged '<TiffTag.fromfile> raised TiffFileError(...)' to stderr (Python's last-resort handler) beside
    the command's own lines; a fresh process, since pytest's logging capture would hide it here."""
    import struct

    import numpy as np
    import tifffile

    from golfdeblur.models import GolfConfig, GolfOptimizer
    from golfdeblur.models.weights_io import save_golf

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((12, 15, 3), np.uint8), photometric="rgb", metadata=None)
    data = bytearray((tmp_path / "a.tif").read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack("<H", data[ifd : ifd + 2])[0], 12):
        if struct.unpack("<H", data[entry : entry + 2])[0] == 262:  # photometric: a count that no longer fits inline
            data[entry + 4 : entry + 8] = struct.pack("<I", 5)
    (tmp_path / "a.tif").write_bytes(bytes(data))
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "tiny.safetensors")
    command = ["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--weights", str(weights)]
    result = subprocess.run(
        [sys.executable, "-m", "golfdeblur.cli", *command], capture_output=True, text=True, timeout=120
    )
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("golfdeblur: ") for line in lines), result.stderr


def slow_command_script(body: str) -> str:
    """A script that runs `golfdeblur weights` with its work replaced by ``body`` (indented, in ``run(args)``), the
    output folder being argv[1]: the command line as a user runs it, with a write one can stop half-way."""
    return (
        "import signal, sys, time\nfrom pathlib import Path\n"
        "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as in a terminal, whatever pytest inherited (nohup)
        "from golfdeblur import cli\nfrom golfdeblur.commands import weights\n"
        "from golfdeblur.atomic import atomic_path, atomic_write_bytes, made_folders_removed_on_failure\n"
        f"def run(args):\n    out = Path(sys.argv[1])\n{body}\n    return 0\n"
        "weights.run = run\nsys.exit(cli.main(['weights']))\n"
    )


# A body for slow_command_script: a write stopped half-way, 'writing' printed, then waiting for a signal for a minute.
# In short sleeps, not one time.sleep(60): a signal that lands after Python's last check for signals and before the
# sleep's system call starts is only acted on when that sleep ends (1 terminal test in 276 under load, 60 s late).
HALF_WRITTEN = (
    "    with made_folders_removed_on_failure(out / 'new'), atomic_path(out / 'new' / 'big.tif') as tmp:\n"
    "        tmp.write_bytes(bytes(1000))\n        print('writing', flush=True)\n"
    "        for _ in range(600):\n            time.sleep(0.1)"
)


@pytest.mark.parametrize(
    ("lines", "unbuffered"), [(1, False), (1, True), (100_000, False)], ids=["buffered", "unbuffered", "written"]
)
def test_a_reader_that_stops_early_ends_the_command_silently_with_141(tmp_path, lines, unbuffered):
    """`golfdeblur weights | head -1` printed 'golfdeblur: error: Broken pipe' and exit 1 (or, the output still
    buffered at exit, Python's 'Exception ignored ... BrokenPipeError', exit 120). Now silent, exit 128 + SIGPIPE, as a
    shell reports a tool that SIGPIPE ended."""
    closed = tmp_path / "closed"
    body = f"    while not Path({str(closed)!r}).exists():\n        time.sleep(0.01)\n"
    body += f"    for i in range({lines}):\n        print('line', i)"
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with subprocess.Popen(
        [sys.executable, "-c", slow_command_script(body), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**environment, "PYTHONUNBUFFERED": "1"} if unbuffered else environment,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()  # the reader is gone before the command writes
            closed.touch()
            assert process.wait(timeout=60) == 141
            assert process.stderr.read() == ""
        finally:
            process.kill()


def test_a_write_past_the_file_size_limit_names_the_file_in_one_line(tmp_path):
    """`ulimit -f 150; golfdeblur train ...` said 'golfdeblur: error: File too large' (a full disk alike)."""
    body = "    import resource\n    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
    body += "    atomic_write_bytes(out / 'checkpoint-g.safetensors', bytes(100_000))"
    script = slow_command_script(body)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == f"golfdeblur: error: {tmp_path / 'checkpoint-g.safetensors'}: File too large\n"
    assert list(tmp_path.iterdir()) == []  # nor its temporary


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_or_sighup_during_a_write_leaves_no_temporary_and_no_folder_it_made(tmp_path, name, code):
    """timeout(1), docker stop and schedulers send SIGTERM, a closed terminal SIGHUP: deblur, which has no handler of
    its own, left a partial hidden temporary (.big._fvby9kj.tmp.tif) that no later run removes."""
    script = slow_command_script(HALF_WRITTEN)
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None and process.stdout.readline() == "writing\n", process.stderr
            assert len(list((tmp_path / "new").iterdir())) == 1  # the half-written temporary
            process.send_signal(getattr(signal, name))
            assert process.wait(timeout=30) == code
        finally:
            process.kill()
        assert process.stderr is not None and process.stderr.read() == f"golfdeblur: stopped by {name}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_command_whose_terminal_closes_still_removes_its_temporary_and_exits_129(
    tmp_path, run_until_its_terminal_closes
):
    """Closing the terminal a command runs in (SIGHUP from the kernel) made 'golfdeblur: stopped by SIGHUP' fail on
    the hung-up terminal (EIO): exit 1 with a traceback. As nohup, the output now goes to /dev/null."""

    def writing(shown: bytes) -> bool:  # with its half-written temporary
        return b"writing" in shown and len(list((tmp_path / "new").iterdir())) == 1

    assert run_until_its_terminal_closes(["-c", slow_command_script(HALF_WRITTEN), str(tmp_path)], writing) == 129
    assert list(tmp_path.iterdir()) == []


def test_stop_signals_are_taken_only_by_a_running_command_and_trainings_handler_still_wins(monkeypatch):
    from golfdeblur import cli
    from golfdeblur.commands import weights
    from golfdeblur.train.stopping import StopFlags

    result = run_python(
        "import signal\n"
        "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as in a terminal, whatever pytest inherited (nohup)
        "import golfdeblur, golfdeblur.cli, golfdeblur.atomic\n"
        "print([signal.getsignal(s) == signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGHUP)])"
    )
    assert result.stdout.splitlines()[-1] == "[True, True]"  # importing the library takes no signal
    seen = {}

    def run(args):
        seen["SIGTERM"], seen["SIGHUP"] = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
        flags = StopFlags(0.0)
        with flags.handling_signals():  # training's own: a checkpoint, then a stop with its own exit code
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # Python runs the handler at its next check, within a few instructions
                if flags.signal_number is not None:
                    break
                time.sleep(0.001)
        seen["after training"] = signal.getsignal(signal.SIGTERM)
        return 0 if flags.signal_number == signal.SIGTERM else 5

    monkeypatch.setattr(weights, "run", run)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL), signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        assert cli.main(["weights"]) == 0
        after = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGHUP, previous[1])
    assert callable(seen["SIGTERM"]) and seen["after training"] is seen["SIGTERM"]  # training put ours back
    assert seen["SIGHUP"] == signal.SIG_IGN  # nohup's stays: the run must outlive its terminal
    assert after == (signal.SIG_DFL, signal.SIG_IGN)  # put back once the command ends


def test_the_command_runs_in_a_thread_other_than_the_main_one(monkeypatch):
    """Only the main thread may set signal handlers (ValueError elsewhere): main() called from a worker thread, as a
    GUI or a notebook's background job does, runs the command without taking SIGTERM and SIGHUP."""
    import threading

    from golfdeblur import cli
    from golfdeblur.commands import weights

    monkeypatch.setattr(weights, "run", lambda args: 0)
    codes = []
    thread = threading.Thread(target=lambda: codes.append(cli.main(["weights"])))
    thread.start()
    thread.join(timeout=60)
    assert codes == [0]


def test_the_package_s_own_warnings_are_one_line_and_others_as_python_shows_them(monkeypatch, capsys):
    """A new user's first `train --recipe tiny` without the data folder printed Python's two lines for the
    dead-leaves fallback (a source path and a quoted line of code), which read as a bug."""
    import warnings

    from golfdeblur import cli
    from golfdeblur.commands import weights
    from golfdeblur.data import validation

    def warn(args) -> int:
        warnings.warn_explicit("validation images not found", UserWarning, validation.__file__, 1)
        warnings.warn_explicit("someone else's", UserWarning, "/elsewhere/x.py", 3)
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # whatever the test runner's filters: Python's own hide this one
            # a DeprecationWarning is for whoever calls the code, who needs to see where: only UserWarnings are notes
            warnings.warn_explicit("old API", DeprecationWarning, validation.__file__, 2)
        return 0

    monkeypatch.setattr(weights, "run", warn)
    passed_on = []

    def shown(message, category, filename, lineno, file=None, line=None):  # what showed warnings before
        passed_on.append((str(message), filename, lineno))

    monkeypatch.setattr(warnings, "showwarning", shown)
    assert cli.main(["weights"]) == 0
    err = capsys.readouterr().err
    assert "golfdeblur: warning: validation images not found\n" in err and "validation.py" not in err
    assert passed_on == [("someone else's", "/elsewhere/x.py", 3), ("old API", validation.__file__, 2)]
    assert warnings.showwarning is shown  # put back when the command ends


@pytest.mark.parametrize("argv", [["results"], ["paper", "toy"], ["train", "--recipe", "tiny"], ["demo"]])
@pytest.mark.parametrize("below", [False, True], ids=["itself", "below"])
def test_an_out_folder_that_is_a_link_to_nothing_is_one_line_before_any_work(
    tmp_path, tmp_path_factory, capsys, monkeypatch, argv, below
):
    """It was "golfdeblur: error: OUT: File exists" (exit 1) after the work, or "cannot make its folder OUT (file
    exists)". A data folder that holds nothing: without one, `results` said "no data folder found" first, so this
    test passed only beside ../shared/data."""
    from golfdeblur.cli import main

    monkeypatch.setenv("GOLFDEBLUR_DATA", str(tmp_path_factory.mktemp("data")))

    gone = tmp_path / "gone"
    gone.symlink_to(tmp_path / "missing")
    out = gone / "run" if below else gone
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    if not below:
        assert err == f"golfdeblur: error: --out {out}: is a link to nothing, not a folder\n"
    elif argv[0] in ("train", "demo"):
        assert err == f"golfdeblur: error: --out {out}: {gone} is a link to nothing, not a folder\n"
    else:
        assert err == f"golfdeblur: error: --out {out}: cannot create the folder ({gone} is a link to nothing)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone"] and not (tmp_path / "missing").exists()


def test_a_control_character_in_a_name_does_not_split_the_one_line_error(tmp_path, capsys, monkeypatch):
    """A file named "evil\\nname.png" made two lines of one error; it is written as Python escapes it, as the
    undecodable bytes of a name are (\\udcff), and an escape sequence in a name cannot act on the terminal."""
    import warnings

    from golfdeblur.cli import main
    from golfdeblur.commands import weights
    from golfdeblur.data import validation

    evil = tmp_path / "evil\nname.png"
    assert main(["export", str(evil)]) == 2
    err = capsys.readouterr().err
    assert err == f"golfdeblur: error: export: {tmp_path}/evil\\nname.png: the output file must end in .onnx\n"
    assert main(["deblur", "-o", str(evil.with_suffix(".gif")), str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"golfdeblur: error: -o {tmp_path}/evil\\nname.gif: golfdeblur does not write GIF files")
    assert err.count("\n") == 1

    def unforeseen(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "evil\nname\x1b[2J.png"))

    monkeypatch.setattr(weights, "run", unforeseen)
    assert main(["weights"]) == 1
    assert capsys.readouterr().err == f"golfdeblur: error: {tmp_path}/evil\\nname\\x1b[2J.png: Permission denied\n"

    def warn(args) -> int:
        warnings.warn_explicit(f"{tmp_path}/evil\rname.png left out", UserWarning, validation.__file__, 1)
        return 0

    monkeypatch.setattr(weights, "run", warn)
    assert main(["weights"]) == 0
    assert capsys.readouterr().err == f"golfdeblur: warning: {tmp_path}/evil\\rname.png left out\n"


def test_the_package_s_warning_lines_reach_the_notes_listeners_and_none_goes_to_a_closed_stderr(monkeypatch, capsys):
    # a training run's train.log kept its notes but not its warnings (the dead-leaves validation fallback); and with
    # stderr closed (`2>&-`: sys.stderr is None) the warning line went to stdout, where a command's results go
    import warnings

    from golfdeblur import cli
    from golfdeblur.commands import weights
    from golfdeblur.data import validation
    from golfdeblur.notes import notes_also_to

    def warn(args) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn_explicit("validation images not found\nhere", UserWarning, validation.__file__, 1)
        return 0

    monkeypatch.setattr(weights, "run", warn)
    kept: list[str] = []
    with notes_also_to(kept.append):
        assert cli.main(["weights"]) == 0
        assert capsys.readouterr() == ("", "golfdeblur: warning: validation images not found\\nhere\n")
        monkeypatch.setattr(sys, "stderr", None)
        assert cli.main(["weights"]) == 0
        monkeypatch.undo()
    assert capsys.readouterr() == ("", "")
    assert kept == ["golfdeblur: warning: validation images not found\\nhere"] * 2


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX shell to start a process with its stderr closed")
def test_a_command_started_with_its_stderr_closed_runs_and_keeps_stdout_for_its_results(tmp_path):
    """`golfdeblur deblur ... 2>&-` exited 1 without a word (its progress bar wrote to None), and lines meant for
    stderr went to stdout, among the paths deblur prints for scripts."""
    Image.fromarray(np.full((20, 24, 3), 128, np.uint8)).save(tmp_path / "a.png")
    closed = ["sh", "-c", 'exec "$0" "$@" 2>&-', sys.executable, "-m", "golfdeblur", "deblur"]
    ok = subprocess.run([*closed, str(tmp_path / "a.png"), "-o", str(tmp_path / "out")], capture_output=True,
                        text=True, timeout=300)  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, f"{tmp_path / 'out' / 'a.png'}\n")
    failed = subprocess.run([*closed, str(tmp_path / "none.png"), "-o", str(tmp_path / "out")], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert (failed.returncode, failed.stdout) == (1, "")  # its error line went where stderr went: nowhere
