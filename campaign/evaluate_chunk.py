"""Score one campaign chunk here, one evaluation after another (docs/TRAINING_CAMPAIGN.md, "Running a chunk", step 3).

    python campaign/evaluate_chunk.py FILES NAME
    e.g. python campaign/evaluate_chunk.py /path/to/files_at chunk7

FILES holds what one device call of campaign/chunk.sh returned (best-d.*, log.csv, train.log, snap.tar and run.tar,
either of these two perhaps in parts). The script copies them into local/NAME, unpacks the two tar files there (snap/,
run/), then runs:

1. `golfdeblur results` on best-d.safetensors (run/best-g.safetensors when the run's summary.json lists no stage D; a
   stage D that saved no best-d, e.g. interrupted before its first validation, is refused): the whole validation
   set and Levin09, G and Golf T = 1..5, the paired gaps -> local/eval/NAME/RESULTS.md;
2. bench/paired_gap.py against the report of the shipped weights (``--baseline``, default docs), image by image:
   G-G, D1-D1 and D3-D3 -> local/eval/NAME/against-shipped.md;
3. every G snapshot (saved every 2 minutes) and, given two or more, their average (campaign/average_snapshots.py),
   each scored for G alone and T = 1 on both sets with `golfdeblur eval` -> local/eval/NAME/snapshots.md. In-run
   validation sees 24 crops and ranked chunk 5's snapshots differently from the whole sets.

Each command is printed before it runs, and they run one at a time: two torch processes on a 2-core CPU slow each
other about fourfold. On chunk 5's files here: 23 minutes, step 1 taking 6.5 and each of the six G weights files
(five snapshots and their average) 2.5-3 for both sets. An existing local/NAME or
local/eval/NAME is refused (nothing is overwritten); a run that fails or is interrupted removes both, so that the
same command can run again. Errors are one line on stderr, exit code 1. ``--limit N`` scores only the first N images
of each set, to rehearse the script at toy scale: `golfdeblur release` refuses such a report.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from golfdeblur.atomic import made_folders_removed_on_failure
from golfdeblur.errors import GolfdeblurError
from golfdeblur.json_text import null_as_nan
from golfdeblur.models.weights_io import card_field, read_card

ROOT = Path(__file__).resolve().parents[1]
PSNR = "PSNR-RGB-8bit"
SHIFT_PSNR = "PSNR-UpToShift-RGB-8bit"
SETS = (("validation", "synthetic", ""), ("levin09", "levin09", "eval/levin09"))  # (name, --data, under the root)


def run(command: list[str], capture: Path | None = None) -> None:
    """Run ``command`` from the repository root, printing it first; its output goes to ``capture`` (and is printed)
    when given, else straight through."""
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=capture is not None)
    if capture is not None:
        print(result.stdout, end="")
        capture.write_text(result.stdout)
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] if capture is not None else []
        raise GolfdeblurError(
            f"exit {result.returncode} from {' '.join(command[:4])} ...{': ' + tail[0] if tail else ''}"
        )


def unpack(files: Path, chunk: Path) -> None:
    """Copy the device call's files into ``chunk`` and unpack snap.tar (to snap/) and run.tar (to run/), each joined
    first from its parts (NAME.part0, NAME.part1, ...) where chunk.sh cut it."""
    if not files.is_dir():
        raise GolfdeblurError(f"{files}: not a folder of a chunk's files")
    if chunk.exists():
        raise GolfdeblurError(f"{chunk}: already exists; remove it to unpack there again")
    chunk.mkdir(parents=True)
    for path in files.iterdir():  # contents only: the device tool's folder is read-only, and copytree would copy that
        if path.is_file():
            shutil.copyfile(path, chunk / path.name)
    for archive, into in (("snap.tar", chunk), ("run.tar", chunk / "run")):
        source = join_parts(files, chunk, archive)
        if (chunk / archive).is_file():
            into.mkdir(exist_ok=True)
            try:
                with tarfile.open(chunk / archive) as tar:
                    tar.extractall(into, filter="data")  # no absolute paths, no links out of the folder
            except tarfile.TarError as exc:
                raise GolfdeblurError(f"{source}: cannot unpack ({exc})") from exc


TAR_RECORD = 10240  # GNU tar and Python's tarfile write whole records of 20 blocks of 512 bytes


def join_parts(files: Path, chunk: Path, archive: str) -> str:
    """Join ``chunk``/ARCHIVE.part0, .part1, ... (chunk.sh's `split -d`) into ``chunk``/ARCHIVE, refusing a missing
    or cut part; returns how to name the archive in an error (as it lies in ``files``)."""
    parts = {}
    for path in chunk.glob(f"{archive}.part*"):
        if match := re.fullmatch(re.escape(archive) + r"\.part(\d+)", path.name):
            parts[int(match[1])] = path
    if not parts:
        return str(files / archive)
    last = max(parts)
    missing = [f"{archive}.part{index}" for index in range(max(last + 1, 2)) if index not in parts]
    if missing:  # a gap, or a lone part0: chunk.sh cuts a tar only when it is larger than one part
        found = ", ".join(parts[index].name for index in sorted(parts))
        raise GolfdeblurError(f"{files / missing[0]}: missing (found {found}; {archive} came back in parts)")
    sizes = [parts[index].stat().st_size for index in range(last + 1)]
    for index in range(last):  # every part but the last is whole: as large as the largest
        if sizes[index] < max(sizes[:-1]):
            raise GolfdeblurError(f"{files / parts[index].name}: {sizes[index]:,} bytes, cut short (others hold "
                                  f"{max(sizes[:-1]):,})")  # fmt: skip
    if sum(sizes) % TAR_RECORD:  # with two parts the comparison above has nothing to compare part0 with
        raise GolfdeblurError(
            f"{files / archive}.part0..part{last}: {sum(sizes):,} bytes in all, not whole {TAR_RECORD:,}-byte records "
            "of a tar: a part is cut short"
        )
    with open(chunk / archive, "wb") as joined:
        for index in range(last + 1):
            joined.write(parts[index].read_bytes())
    return f"{files / archive}.part0..part{last} ({archive}.part{last} cut, or a part after it missing?)"


def score_snapshots(python: str, chunk: Path, out: Path, data: Path, limit: int = 0) -> Path:
    """Step 3: G and T = 1 of each G snapshot (oldest first) and of their average, on both sets; returns the table."""
    stamped = {}  # chunk.sh names each snapshot weights-g-<the file's time stamp>
    for path in chunk.glob("snap/weights-g-*.safetensors"):
        if match := re.fullmatch(r"weights-g-(\d+)\.safetensors", path.name):
            stamped[path] = int(match[1])
    snapshots = sorted(stamped, key=stamped.__getitem__)
    if len(snapshots) >= 2:
        average = chunk / "g-average.safetensors"
        run([python, "campaign/average_snapshots.py", str(average), *map(str, snapshots)])
        snapshots.append(average)
    header = "| G weights | step | validation: G | T = 1 | Levin09: G | T = 1 | Levin09 G up to a shift |"
    rows = [header, "|---" * 7 + "|"]
    for weights in snapshots:
        means = {}
        for name, kind, under in SETS:
            report = out / "snapshots" / f"{weights.stem}-{name}"
            root = data / under if under else data
            run([python, "-m", "golfdeblur.cli", "eval", "--data", kind, "--root", str(root), "--weights",
                 str(weights), "--iterations", "1", "--runtime-repeats", "0", "--out", str(report),
                 *limited(limit)])  # fmt: skip
            summary = json.loads((report / "summary.json").read_text())
            means[name] = {row["iterate"]: row for row in summary["mean"]}
        val, levin = means["validation"], means["levin09"]
        step = card_field(read_card(weights), "training.step", weights, int, required=True)
        shown = "mean" if weights.name == "g-average.safetensors" else f"{step:,}"
        rows.append(
            f"| {weights.name} | {shown} | {score(val['G'], PSNR):.3f} | {score(val['D1'], PSNR):.3f} | "
            f"{score(levin['G'], PSNR):.3f} | {score(levin['D1'], PSNR):.3f} | {score(levin['G'], SHIFT_PSNR):.3f} |"
        )
    table = out / "snapshots.md"
    if not snapshots:  # chunk.sh keeps G snapshots of stage G only: a stage-D chunk has none
        text = "No G snapshots in this chunk's files (chunk.sh saves them while stage G trains: a --stage d chunk has "
        text += "none).\n"
    else:
        text = "PSNR RGB 8-bit in dB, whole images unless named\n\n" + "\n".join(rows) + "\n"
    table.write_text(text)
    print(table.read_text(), end="")
    return table


def score(mean: dict, label: str) -> float:
    """A mean from an eval's summary.json: NaN where it holds null (no finite score) or lacks the convention."""
    return null_as_nan(mean.get(label))


def limited(limit: int) -> list[str]:
    """The ``--limit`` option of `golfdeblur results` and `eval` for the first ``limit`` images (0: all, no option)."""
    return ["--limit", str(limit)] if limit else []


def weights_to_score(files: Path, chunk: Path) -> Path:
    """The chunk's best-d.safetensors; run/best-g.safetensors only when the run's summary.json lists no stage D (a
    stage D that saved no best-d, interrupted before its first validation, is refused: best-g holds the old D)."""
    best_d = chunk / "best-d.safetensors"
    if best_d.is_file():
        return best_d
    summary = chunk / "run" / "summary.json"
    if not summary.is_file():
        raise GolfdeblurError(f"{files}: holds neither best-d.safetensors nor run.tar with the run's summary.json")
    try:
        stages = {stage["stage"]: stage for stage in json.loads(summary.read_text())["stages"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise GolfdeblurError(f"{summary}: not a run's summary.json ({exc!r})") from exc
    if "d" in stages:
        d = stages["d"]
        raise GolfdeblurError(
            f"{files}: stage D ran ({d.get('status')} at step {d.get('step')}) but saved no best-d.safetensors, and "
            "run/best-g.safetensors holds the D it started from; score run/weights-d.safetensors by hand if wanted"
        )
    best_g = chunk / "run" / "best-g.safetensors"
    if not best_g.is_file():
        raise GolfdeblurError(f"{files}: a stage-G chunk whose run.tar holds no best-g.safetensors")
    return best_g


def evaluate_chunk(
    files: Path, name: str, data: Path, baseline: Path, local: Path, python: str, limit: int = 0
) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise GolfdeblurError(f"chunk name {name!r}: use letters, digits, '.', '_' and '-' only")
    chunk, out = local / name, local / "eval" / name
    for made in (chunk, out):
        if made.exists():
            raise GolfdeblurError(f"{made}: already exists; remove {chunk} and {out} to evaluate {name} again")
    for needed in (data / "eval" / "cbsd68", data / "eval" / "levin09", baseline / "results"):
        if not needed.is_dir():
            raise GolfdeblurError(f"{needed}: not found (--data names the shared data, --baseline a `results` report)")
    with made_folders_removed_on_failure(out.parent):  # local/ and local/eval/, when this run made them
        try:
            unpack(files, chunk)
            weights = weights_to_score(files, chunk)
            run([python, "-m", "golfdeblur.cli", "results", "--root", str(data), "--weights", str(weights),
                 "--out", str(out), *limited(limit)])  # fmt: skip
            pairs = ["G-G", "D1-D1", "D3-D3"]
            run([python, "bench/paired_gap.py", "--results", str(out), "--baseline", str(baseline), "--pairs", *pairs],
                capture=out / "against-shipped.md")  # fmt: skip
            score_snapshots(python, chunk, out, data, limit)
        except BaseException:  # failed or interrupted: both folders go, so that the same command runs again
            for made in (chunk, out):
                shutil.rmtree(made, ignore_errors=True)
            raise
    print(f"evaluated {weights} into {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, help="the folder holding the files a chunk's device call returned")
    parser.add_argument("name", help="the chunk's name: local/NAME and local/eval/NAME are written")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--baseline", type=Path, default=ROOT / "docs", help="`results` report of the shipped weights")
    parser.add_argument("--local", type=Path, default=ROOT / "local", help="the ignored working folder")
    parser.add_argument(
        "--limit", type=int, default=0, help="first N images of each set (0 = all): for rehearsal only, "
        "`golfdeblur release` refuses a report of part of a set"
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error(f"--limit {args.limit}: give a number of images, or 0 for all")
    try:
        paths = (args.files.resolve(), args.data.resolve(), args.baseline.resolve(), args.local.resolve())
        evaluate_chunk(paths[0], args.name, *paths[1:], sys.executable, args.limit)
    except (GolfdeblurError, OSError, tarfile.TarError) as exc:
        print(f"evaluate_chunk: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
