import pytest
import torch

from golfdeblur.cli import main
from golfdeblur.models.fuse import fuse_for_inference
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.paper.tables import (
    RuntimeRow,
    measure_runtime,
    model_size_rows,
    runtime_conditions,
    runtime_markdown,
    runtime_rows,
    size_markdown,
)

TINY = GolfConfig(g_width=4, d_width=4, iterations=2)


def test_table3_matches_the_paper_at_full_size():
    rows = {row.part: row for row in model_size_rows()}
    assert rows["G"].parameters == 466_348 and rows["D"].parameters == 120_188
    assert rows["Total"].parameters == rows["G"].parameters + rows["D"].parameters
    assert [round(rows[p].size_mb, 2) for p in ("G", "D", "Total")] == [1.78, 0.46, 2.24]
    text = size_markdown(list(rows.values()), GolfConfig())
    assert "| G | 32 | 466,348 | 1.78 | 1.78 |" in text


def test_table3_on_a_tiny_model_counts_fused_parameters():
    rows = {row.part: row for row in model_size_rows(TINY)}
    fused_total = sum(p.numel() for p in fuse_for_inference(GolfOptimizer(TINY)).parameters())
    assert rows["Total"].fused_parameters == fused_total
    assert rows["Total"].size_mb == pytest.approx(rows["Total"].parameters * 4 / 2**20)


def test_runtime_on_a_tiny_model():
    model = fuse_for_inference(GolfOptimizer(TINY))
    row = measure_runtime(model, 12, 16, torch.device("cpu"), warmup=1, repeats=3)
    assert (row.height, row.width, row.repeats, row.iterations) == (12, 16, 3, 2)
    assert 0 < row.min_ms <= row.mean_ms <= row.max_ms
    with pytest.raises(ValueError):
        measure_runtime(model, 0, 16, torch.device("cpu"))
    rows = runtime_rows([(8, 8), (8, 12)], TINY, [torch.device("cpu")], cpu_warmup=0, cpu_repeats=1)
    text = runtime_markdown(rows)
    assert "| 8 x 8 |" in text and "| 12 x 8 |" in text and "16.94" in text


def test_paper_tables_command(tmp_path, capsys):
    argv = ["paper", "tables", "--out", str(tmp_path), "--sizes", "16x12", "--g-width", "4", "--d-width", "4",
            "--repeats", "1", "--warmup", "0", "--cpu-only"]  # fmt: skip
    assert main(argv) == 0
    page = (tmp_path / "tables.md").read_text()
    assert "| 16 x 12 | G + 3 D | 0 / 1 |" in page and "--sizes 16x12" in page and "2.24" in page
    assert "Table 4: runtime per image (fp32, batch 1, BatchNorm folded, synchronised, no warm-up)" in page
    with pytest.raises(SystemExit):
        main(["paper", "tables", "--sizes", "16by12"])
    capsys.readouterr()
    # the page there, like the committed docs/paper/tables.md, is replaced only when asked, checked before timing
    assert main([*argv[:5], "17x9", *argv[6:]]) == 2 and (tmp_path / "tables.md").read_text() == page
    assert "already holds tables.md; pass --overwrite" in capsys.readouterr().err
    assert main([*argv[:5], "17x9", *argv[6:], "--overwrite"]) == 0 and "17 x 9" in (tmp_path / "tables.md").read_text()


class _Recorder(torch.nn.Module):
    """Stands in for the model: records, at every call, whether cuDNN may use TF32 and whether autocast is on."""

    def __init__(self):
        super().__init__()
        self.config = TINY
        self.seen = []

    def forward(self, image, iterations):
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.is_autocast_enabled("cpu")))
        return image


def test_runtime_is_timed_in_full_fp32_not_tf32_on_a_gpu(monkeypatch):
    """Table 4 says fp32: on a CUDA device cuDNN's TF32 default is off while timing (warm-up included), as in
    deblur --precision fp32 and evaluation. No GPU needed: the CUDA device is simulated."""
    from golfdeblur.paper import tables

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # cuDNN's default
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *args, **kwargs: self)  # the image "on the GPU"
    monkeypatch.setattr(tables, "_synchronize", lambda device: None)
    monkeypatch.setattr(tables, "device_name", lambda device: "a simulated GPU")
    model = _Recorder()
    row = measure_runtime(model, 4, 4, torch.device("cuda", 0), warmup=2, repeats=3)
    assert model.seen == [(False, False)] * 5 and row.device == "a simulated GPU"
    assert torch.backends.cudnn.allow_tf32 is True  # restored after timing


def test_cpu_runtime_is_fp32_even_under_a_callers_autocast():
    model = _Recorder()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        measure_runtime(model, 4, 4, torch.device("cpu"), warmup=1, repeats=1)
    assert [autocast for _, autocast in model.seen] == [False, False]


def test_reproduction_names_the_command_that_made_the_committed_tables():
    """REPRODUCTION.md said `--threads 1`, but tables.md was timed with torch's default (its rows say 2 threads)."""
    import re
    import shlex
    from pathlib import Path

    from golfdeblur.cli import build_parser

    docs = Path(__file__).resolve().parents[2] / "docs" / "paper"
    guide = (docs / "REPRODUCTION.md").read_text()
    documented = re.search(r"Command \(the committed `tables\.md`[^\n]*\n\n    (golfdeblur [^\n]+)\n", guide).group(1)
    made_by = re.search(r"Made by `(golfdeblur paper tables [^`]+)`", (docs / "tables.md").read_text()).group(1)
    parser = build_parser()
    assert vars(parser.parse_args(shlex.split(documented)[1:])) == vars(parser.parse_args(shlex.split(made_by)[1:]))


def _row(warmup: int) -> RuntimeRow:
    return RuntimeRow("cpu", 8, 8, 3, warmup, 1, 1.0, 1.0, 1.0)


def test_the_heading_says_whether_there_was_a_warm_up():
    """The page said "after warm-up" even with --warmup 0."""
    assert runtime_conditions([_row(1), _row(10)]).endswith(", synchronised, after warm-up")
    assert runtime_conditions([_row(0)]).endswith(", synchronised, no warm-up")
    assert runtime_conditions([_row(0), _row(10)]).endswith(", synchronised, warm-up as in each row")


def test_the_papers_runtimes_keep_two_decimals_here_and_in_the_committed_page():
    """The GTX 1080's mean 17.30 was printed 17.3 (f"{mean}"); docs/paper/tables.md was edited by hand to match."""
    from pathlib import Path

    paper_rows = [line for line in runtime_markdown([]).splitlines() if line.startswith("| paper:")]
    assert "| paper: GTX 1080 (2016) | not stated | G + 3 D | not stated | 28.52 | 15.83 | 17.30 |" in paper_rows
    committed = (Path(__file__).resolve().parents[2] / "docs" / "paper" / "tables.md").read_text().splitlines()
    assert all(row in committed for row in paper_rows) and len(paper_rows) == 3


def test_reproduction_states_the_sizes_with_batchnorm_buffers_as_measured():
    """Counting running_mean / running_var too still rounds to the paper's 1.78 / 0.46 / 2.24, so the no-buffers
    convention rests on Table 1's parameter counts; REPRODUCTION.md gives the with-buffers sizes."""
    from pathlib import Path

    model = GolfOptimizer(GolfConfig())

    def with_buffers(module):
        stats = sum(b.numel() for n, b in module.named_buffers() if n.endswith(("running_mean", "running_var")))
        return (sum(p.numel() for p in module.parameters()) + stats) * 4 / 2**20

    sizes = " / ".join(f"{with_buffers(m):.4f}" for m in (model.G, model.D, model))
    guide = " ".join((Path(__file__).resolve().parents[2] / "docs" / "paper" / "REPRODUCTION.md").read_text().split())
    assert f"gives {sizes} MiB" in guide and "parameter counts of the paper's Table 1" in guide
    assert [round(float(v), 2) for v in sizes.split(" / ")] == [1.78, 0.46, 2.24]
