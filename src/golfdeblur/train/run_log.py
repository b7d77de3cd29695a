"""The log of a training run: log.csv, and TensorBoard event files when tensorboard is installed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from golfdeblur.atomic import atomic_write_text
from golfdeblur.train.stages import STAGE_NAMES

CSV_COLUMNS = (
    "stage",
    "step",
    "loss",
    "mse",
    "fft_l1",
    "perceptual",
    "lr",
    "images_per_s",
    "elapsed_s",
    "val_psnr",
    "val_ssim",
)


def log_has_rows(path: Path) -> bool:
    """Whether the run log ``path`` holds a line after its header (any line, even one a kill cut short): some run
    logged steps into it. A missing or empty log, or its header alone (a run that failed before its first logged
    step: nothing to resume), holds none. A log that cannot be read as text, or that opens with something other than
    the header, counts as holding rows, so it is never taken for an empty one."""
    lines: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    lines.append(line)
                if len(lines) > 1:
                    return True
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    return bool(lines) and lines[0].strip().split(",")[:2] != ["stage", "step"]


def tensorboard_installed() -> bool:
    """Whether TensorBoard event files can be written (the optional ``tensorboard`` package, which torch's
    SummaryWriter imports). ``train`` says once a run when it is missing; each stage's ``RunLog`` then writes log.csv
    alone."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class RunLog:
    """CSV log (and TensorBoard event files when the optional tensorboard package is installed) of one stage.

    On resume, rows after the resumed step (written by the interrupted run after its last checkpoint) are dropped,
    so the log reads as if the run had never stopped.
    """

    def __init__(self, run_dir: Path, stage: str, start_step: int, tensorboard: bool, resume: bool) -> None:
        self.path = Path(run_dir) / "log.csv"
        if resume and self.path.is_file():
            self._truncate(stage, start_step)
        # a log with no rows (a run that failed before its first logged step, even an empty file) starts anew
        new_file = not log_has_rows(self.path)
        mode = "w" if new_file else "a"
        self.handle = open(self.path, mode, newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.writer = csv.DictWriter(self.handle, fieldnames=CSV_COLUMNS)
        if new_file:
            self.writer.writeheader()
        self.board = None
        if tensorboard and tensorboard_installed():  # missing: train said so, once for the run's stages
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(str(Path(run_dir) / "tensorboard" / stage), purge_step=start_step or None)

    def _truncate(self, stage: str, start_step: int) -> None:
        order = {name: index for index, name in enumerate(STAGE_NAMES)}
        with open(self.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        # A row cut short by a kill (no step, or a partial one with no loss) is dropped with the rows after the step.
        complete = [r for r in rows if (r.get("step") or "").isdigit() and r.get(CSV_COLUMNS[-1]) is not None]
        kept = [
            r
            for r in complete
            if order.get(r["stage"], 0) < order[stage] or (r["stage"] == stage and int(r["step"]) <= start_step)
        ]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, text.getvalue())

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.handle.flush()
        if self.board is not None:
            for key, value in row.items():
                if key not in ("stage", "step") and value not in ("", None):
                    self.board.add_scalar(f"{row['stage']}/{key}", float(value), int(row["step"]))

    def close(self) -> None:
        self.handle.close()
        if self.board is not None:
            self.board.close()
