"""campaign/evaluate_chunk.py: from a chunk's returned files (tiny weights, a one-image data folder) it writes the
whole-set report, the comparison with the shipped weights and the table of G's snapshots and their average, and it
refuses to write over an earlier evaluation. A failed run leaves nothing (so it can run again), a missing or cut
part of a tar is named, a stage D that saved no best-d is refused, and ``--limit`` reaches the scoring commands (the
last tests run the script in this process with the scoring commands faked: seconds, not minutes)."""

import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from golfdeblur.cli import main as golfdeblur
from golfdeblur.errors import GolfdeblurError
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
    assert again.returncode == 1 and again.stderr.strip() == (
        f"evaluate_chunk: error: {local / 'chunk7'}: already exists; remove {local / 'chunk7'} and {out} "
        "to evaluate chunk7 again"
    )


def test_missing_data_is_one_line_before_anything_is_copied(tmp_path, snapshot):
    files, local = chunk_files(tmp_path, snapshot), tmp_path / "local"
    result = run_script(str(files), "chunk7", "--data", str(tmp_path / "none"), "--local", str(local))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert f"{tmp_path / 'none' / 'eval' / 'cbsd68'}: not found" in result.stderr and not local.exists()


@pytest.fixture
def script(monkeypatch):
    """The script as a module, its ``run`` faked: each command is recorded in ``script.commands`` and writes what the
    next step reads (the report folder, an eval's summary.json, the average's card); ``script.fail_at`` names a
    command word ("results", "eval", ...) that instead raises ``script.failure``."""
    spec = importlib.util.spec_from_file_location("evaluate_chunk", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.commands, module.fail_at, module.failure = [], None, GolfdeblurError("exit 1 from golfdeblur ...")

    def fake_run(command: list[str], capture: Path | None = None) -> None:
        module.commands.append(command)
        if module.fail_at in command:
            raise module.failure
        if "--out" in command:
            out = Path(command[command.index("--out") + 1])
            out.mkdir(parents=True)
            rows = [{"iterate": iterate, "PSNR-RGB-8bit": 20.0} for iterate in ("G", "D1")]
            (out / "summary.json").write_text(json.dumps({"mean": rows}))
        elif "campaign/average_snapshots.py" in command:  # the first snapshot's card stands for the average's
            first = Path(command[3])
            shutil.copyfile(first.with_suffix(".json"), Path(command[2]).with_suffix(".json"))
        if capture is not None:
            capture.write_text("")

    monkeypatch.setattr(module, "run", fake_run)
    return module


def folders(tmp_path: Path) -> list[str]:
    """The options naming an empty data folder and baseline report (enough for the faked commands)."""
    for needed in ("data/eval/cbsd68", "data/eval/levin09", "shipped/results"):
        (tmp_path / needed).mkdir(parents=True)
    return [
        "--data",
        str(tmp_path / "data"),
        "--baseline",
        str(tmp_path / "shipped"),
        "--local",
        str(tmp_path / "local"),
    ]


def test_a_failed_or_interrupted_evaluation_leaves_nothing_and_runs_again(script, tmp_path, snapshot, capsys):
    files, options, local = chunk_files(tmp_path, snapshot), folders(tmp_path), tmp_path / "local"
    script.fail_at = "eval"  # after `results` wrote local/eval/chunk7
    assert script.main([str(files), "chunk7", *options]) == 1
    assert capsys.readouterr().err == "evaluate_chunk: error: exit 1 from golfdeblur ...\n"
    assert not local.exists()  # local/chunk7, local/eval/chunk7 and the folders above them that the run made
    script.fail_at, script.failure = "eval", KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        script.main([str(files), "chunk7", *options])
    assert not local.exists()
    script.fail_at = None
    assert script.main([str(files), "chunk7", *options]) == 0  # the same name: the chunk log's names hold
    assert (local / "eval" / "chunk7" / "snapshots.md").is_file() and (local / "chunk7" / "snap").is_dir()


def test_limit_reaches_every_scoring_command_and_is_for_rehearsal(script, tmp_path, snapshot, capsys):
    files, options = chunk_files(tmp_path, snapshot), folders(tmp_path)
    assert script.main([str(files), "chunk7", *options, "--limit", "3"]) == 0
    scoring = [command for command in script.commands if {"results", "eval"} & set(command)]
    assert len(scoring) == 1 + 3 * 2  # results, then two snapshots and their average on both sets
    assert all(command[-2:] == ["--limit", "3"] for command in scoring)
    with pytest.raises(SystemExit):
        script.main(["--help"])
    assert "rehearsal only" in " ".join(capsys.readouterr().out.split())
    shutil.rmtree(tmp_path / "local")
    script.commands.clear()
    assert script.main([str(files), "chunk7", *options]) == 0
    assert not any("--limit" in command for command in script.commands)  # whole sets by default


def split_tar(files: Path, members: dict[str, bytes], part_bytes: int) -> list[Path]:
    """run.tar holding ``members``, cut as chunk.sh's `split -b PART_BYTES -d -a 1` cuts it: run.tar.part0, ..."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    parts = []
    for index, start in enumerate(range(0, len(data), part_bytes)):
        parts.append(files / f"run.tar.part{index}")
        parts[-1].write_bytes(data[start : start + part_bytes])
    return parts


@pytest.mark.parametrize(
    "damage, message",
    [
        ("gap", "{files}/run.tar.part1: missing (found run.tar.part0, run.tar.part2, run.tar.part3; "),
        ("lone first part", "{files}/run.tar.part1: missing (found run.tar.part0; "),
        ("cut middle part", "{files}/run.tar.part1: 16,000 bytes, cut short (others hold 20,000)"),
        (
            "cut last part",
            "{files}/run.tar.part0..part3: 61,000 bytes in all, not whole 10,240-byte records of a tar: a part is "
            "cut short",
        ),
        (
            "last part missing",
            "{files}/run.tar.part0..part2: 60,000 bytes in all, not whole 10,240-byte records of a tar: a part is "
            "cut short",
        ),
    ],
)
def test_a_missing_or_cut_part_is_named_and_nothing_is_left(script, tmp_path, snapshot, capsys, damage, message):
    files, options = chunk_files(tmp_path, snapshot), folders(tmp_path)
    random = np.random.default_rng(0)
    parts = split_tar(files, {f"file{i}": random.bytes(20_000) for i in range(3)}, part_bytes=20_000)
    assert len(parts) == 4  # 3 x (512 + 20,480) + 1,024, to 7 records of 10,240: 71,680 bytes
    if damage == "gap":
        parts[1].unlink()
    elif damage == "lone first part":
        for part in parts[1:]:
            part.unlink()
    elif damage == "cut middle part":
        parts[1].write_bytes(parts[1].read_bytes()[:16_000])
    elif damage == "cut last part":
        parts[3].write_bytes(parts[3].read_bytes()[:1_000])
    else:
        parts[3].unlink()
    assert script.main([str(files), "chunk9", *options]) == 1
    error = capsys.readouterr().err
    assert error.startswith("evaluate_chunk: error: " + message.format(files=files)) and error.count("\n") == 1
    assert not (tmp_path / "local").exists() and not script.commands


def test_a_cut_first_of_two_parts_is_refused(script, tmp_path, snapshot, capsys):
    """Two parts, as run.tar of --stage both comes back: part0 has no whole part to be compared with, and tarfile
    took the garbage after the cut for the end of the archive, unpacking part of it without a word."""
    files, options = chunk_files(tmp_path, snapshot), folders(tmp_path)
    random = np.random.default_rng(0)
    parts = split_tar(files, {f"file{i}": random.bytes(20_000) for i in range(3)}, part_bytes=40_000)
    assert len(parts) == 2
    parts[0].write_bytes(parts[0].read_bytes()[:30_000])
    assert script.main([str(files), "chunk9", *options]) == 1
    assert capsys.readouterr().err == (
        f"evaluate_chunk: error: {files}/run.tar.part0..part1: 61,680 bytes in all, not whole 10,240-byte records "
        "of a tar: a part is cut short\n"
    )
    assert not (tmp_path / "local").exists() and not script.commands


@pytest.mark.parametrize("stage_d", [False, True])
def test_best_g_is_scored_only_when_stage_d_did_not_run(script, tmp_path, stage_d, capsys):
    """A stage D interrupted before its first validation saved no best-d; best-g holds the D it started from."""
    files = tmp_path / "files"
    files.mkdir()
    stages = [{"stage": "g", "status": "stage budget", "step": 6000}]
    stages += [{"stage": "d", "status": "interrupted", "step": 40}] if stage_d else []
    split_tar(files, {"summary.json": json.dumps({"stages": stages}).encode(), "best-g.safetensors": b"G"}, 1 << 20)
    (files / "run.tar.part0").rename(files / "run.tar")  # one part: not cut
    result = script.main([str(files), "chunk8", *folders(tmp_path)])
    if stage_d:
        assert result == 1 and not script.commands and not (tmp_path / "local").exists()
        assert capsys.readouterr().err == (
            f"evaluate_chunk: error: {files}: stage D ran (interrupted at step 40) but saved no best-d.safetensors, "
            "and run/best-g.safetensors holds the D it started from; score run/weights-d.safetensors by hand if "
            "wanted\n"
        )
    else:
        assert result == 0
        results = script.commands[0]
        assert results[results.index("--weights") + 1] == str(
            tmp_path / "local" / "chunk8" / "run" / "best-g.safetensors"
        )


def test_a_chunk_without_g_snapshots_says_why_its_table_is_empty(tmp_path):
    """A --stage d chunk's snapshots.md was a header without rows, saying nothing of why."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_chunk", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "out").mkdir()  # made by the steps before
    table = module.score_snapshots(sys.executable, tmp_path / "chunk", tmp_path / "out", tmp_path / "data")
    assert table.read_text() == (
        "No G snapshots in this chunk's files (chunk.sh saves them while stage G trains: a --stage d chunk has none).\n"
    )
