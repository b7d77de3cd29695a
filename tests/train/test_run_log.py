"""The run's log.csv on resume (rows the interrupted run wrote after its last checkpoint go), and where TensorBoard
starts again."""

import csv
import sys
import types
from pathlib import Path

from golfdeblur.train.run_log import CSV_COLUMNS, RunLog, tensorboard_installed


def write_log(run_dir: Path, rows: list[tuple[str, int]], tail: str = "") -> None:
    """log.csv holding a complete row (stage, step, loss 0.5, ...) per ``rows``, then the raw text ``tail``."""
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join([stage, str(step), "0.5"] + ["0.1"] * (len(CSV_COLUMNS) - 3)) for stage, step in rows]
    (run_dir / "log.csv").write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")


def logged(run_dir: Path) -> list[tuple[str, str]]:
    with open(run_dir / "log.csv", newline="", encoding="utf-8") as handle:
        return [(row["stage"], row["step"]) for row in csv.DictReader(handle)]


def test_resuming_drops_the_rows_after_the_checkpoint(tmp_path: Path):
    # the rows the interrupted run logged after its last checkpoint stayed: steps 5 and 6 twice in the log
    write_log(tmp_path, [("g", step) for step in range(1, 7)])
    RunLog(tmp_path, "g", 4, False, True).close()
    assert logged(tmp_path) == [("g", "1"), ("g", "2"), ("g", "3"), ("g", "4")]
    # resuming stage D keeps all of stage G's rows and D's up to its checkpoint
    write_log(tmp_path, [("g", 5), ("g", 6), ("d", 1), ("d", 2), ("d", 3)])
    RunLog(tmp_path, "d", 2, False, True).close()
    assert logged(tmp_path) == [("g", "5"), ("g", "6"), ("d", "1"), ("d", "2")]
    # resuming stage G (stage D not started) drops stage D's rows with G's later ones
    write_log(tmp_path, [("g", 5), ("g", 6), ("d", 1)])
    RunLog(tmp_path, "g", 5, False, True).close()
    assert logged(tmp_path) == [("g", "5")]


def test_resuming_drops_a_row_cut_short_by_a_kill(tmp_path: Path):
    # kill -9 mid-write left 'g,3,0.5' with no other column: it stayed, a row with empty metrics
    write_log(tmp_path, [("g", 1), ("g", 2)], tail="g,3,0.5\n")
    RunLog(tmp_path, "g", 3, False, True).close()
    assert logged(tmp_path) == [("g", "1"), ("g", "2")]
    write_log(tmp_path, [("g", 1)], tail="g,")
    RunLog(tmp_path, "g", 3, False, True).close()
    assert logged(tmp_path) == [("g", "1")]


def test_tensorboard_drops_the_events_after_the_resumed_step(tmp_path: Path, monkeypatch):
    # without purge_step, TensorBoard showed the steps after the checkpoint twice (the interrupted run's, then again)
    made: list[tuple[str, object]] = []

    class SummaryWriter:
        def __init__(self, log_dir: str, purge_step=None) -> None:
            made.append((log_dir, purge_step))

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    RunLog(tmp_path, "g", 5, True, True).close()
    RunLog(tmp_path, "d", 0, True, True).close()  # a stage that starts: nothing to purge
    assert made == [(str(tmp_path / "tensorboard" / "g"), 5), (str(tmp_path / "tensorboard" / "d"), None)]


def test_without_tensorboard_a_stage_logs_to_csv_alone(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as where the extra is not installed
    assert not tensorboard_installed()
    log = RunLog(tmp_path, "g", 0, True, True)
    assert log.board is None
    log.close()
    assert capsys.readouterr().err == ""  # train says it, once for the run's stages (tests/train/test_loop.py)
    assert (tmp_path / "log.csv").read_text(encoding="utf-8").startswith(",".join(CSV_COLUMNS))


def test_a_log_without_rows_is_no_run_and_a_fresh_stage_writes_it_anew(tmp_path: Path):
    # a run that failed before its first logged step left its header alone: a plain retry was refused for it
    from golfdeblur.train.run_log import log_has_rows

    path = tmp_path / "log.csv"
    assert not log_has_rows(path)  # missing
    for text, rows in (("", False), ("\n\n", False), (",".join(CSV_COLUMNS) + "\n", False),
                       (",".join(CSV_COLUMNS) + "\ng,\n", True),  # a row cut short by a kill: a run was here
                       ("g,2,0.5\n", True), ("not a log", True)):  # fmt: skip
        path.write_text(text, encoding="utf-8")
        assert log_has_rows(path) is rows, text
    path.write_bytes(b"stage,step\n\xff\xfe\n")  # not text: never taken for an empty log
    assert log_has_rows(path)
    for text in ("", "stage,step,loss\n"):  # empty (no header to append to), or an older log's header
        path.write_text(text, encoding="utf-8")
        log = RunLog(tmp_path, "g", 0, False, False)
        log.write({"stage": "g", "step": 2, "loss": "0.5"})
        log.close()
        assert logged(tmp_path) == [("g", "2")]
        assert path.read_text(encoding="utf-8").startswith(",".join(CSV_COLUMNS) + "\n")
