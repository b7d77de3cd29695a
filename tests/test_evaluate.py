"""Evaluation: known values on an identity model, the report files, Tables 3 and 4, and the eval/train commands."""

import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur import cli, evaluate
from golfdeblur.commands import evaluate as evaluate_command
from golfdeblur.errors import DeblurSettingsError
from golfdeblur.evaluate import (
    evaluate_pairs,
    iterate_labels,
    markdown_report,
    pair_image,
    plot_psnr_vs_iteration,
    rows_to_csv,
    save_crop_grid,
    summarise,
    write_report,
)
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import save_golf
from golfdeblur.paper import tables
from golfdeblur.paper.tables import measure_runtime, model_size_rows


def pairs(count: int = 3, size: int = 24) -> list:
    generator = torch.Generator().manual_seed(0)
    sharp = torch.rand(count, 3, size, size, generator=generator)
    blurry = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1, count_include_pad=False)
    return [(blurry[i], sharp[i], f"img{i}") for i in range(count)]


def test_identity_model_scores_like_its_input():
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))  # zero-initialised last convs: Golf(y) = y
    result = evaluate_pairs(model, pairs(), iterations=2, keep_crops=2, crop_size=16)
    assert len(result.rows) == 3 * 4 and len(result.crops) == 2 and result.crops[0][1].shape == (3, 16, 16)
    summary = summarise(result.rows)
    assert [e["iterate"] for e in summary] == iterate_labels(2) == ["blurry", "G", "D1", "D2"]
    label = result.conventions[0].label
    assert len({round(e[label], 9) for e in summary}) == 1  # every iterate equals the input
    assert summary[0]["images"] == 3


def test_the_crops_show_the_last_iterate(monkeypatch):
    def constant_iterates(model, blurry, iterations):  # G(y) 0.25, D1 0.5, D2 0.75
        return [torch.full_like(blurry, value) for value in (0.25, 0.5, 0.75)]

    monkeypatch.setattr(evaluate, "restore_iterates", constant_iterates)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    result = evaluate_pairs(model, pairs(1, 16), iterations=2, crop_size=8)
    assert torch.all(result.crops[0][2] == 0.75)  # D2, not G


def test_csv_floats_keep_six_decimals():
    """The release gate reads these CSVs with a 0.001 dB tolerance: three decimals would not do."""
    assert "1.234568" in rows_to_csv([{"a": 1.23456789}])


def test_summarise_leaves_out_identical_images_but_not_a_diverged_one():
    rows = [
        {"image": "a", "iterate": "G", "t": 0, "PSNR": 20.0},
        {"image": "b", "iterate": "G", "t": 0, "PSNR": math.inf},  # identical to the sharp image: left out
        {"image": "a", "iterate": "D1", "t": 1, "PSNR": 21.0},
        {"image": "b", "iterate": "D1", "t": 1, "PSNR": math.nan},  # the model diverged: the mean is no mean
    ]
    g_alone, golf = summarise(rows)
    assert (g_alone["images"], g_alone["PSNR"]) == (2, 20.0)
    assert golf["images"] == 2 and math.isnan(golf["PSNR"])
    # the identical image is counted, and the tables say so beside the mean, which would otherwise read low
    assert g_alone["exact_matches"] == {"PSNR": 1} and golf["exact_matches"] == {}
    report = markdown_report({}, {}, [g_alone, golf], ["PSNR"], [], None)
    assert "| G | 0 | 2 | 20.0000 (1 exact match left out) |" in report and "| D1 | 1 | 2 | nan |" in report


def test_a_mean_over_exact_matches_only_is_inf_not_the_nan_of_a_diverged_model():
    """Every image identical to its sharp image gave NaN, which reads as a model that diverged."""
    rows = [{"image": name, "iterate": "blurry", "t": -1, "PSNR": math.inf} for name in ("a", "b")]
    (blurry,) = summarise(rows)
    assert blurry["PSNR"] == math.inf and blurry["exact_matches"] == {"PSNR": 2}
    report = markdown_report({}, {}, [blurry], ["PSNR"], [], None)
    assert "| blurry | -1 | 2 | inf (all 2 images exact matches) |" in report
    (one,) = summarise(rows[:1])
    assert "| blurry | -1 | 1 | inf (the image an exact match) |" in markdown_report({}, {}, [one], ["PSNR"], [], None)


def test_a_pair_a_metric_cannot_score_is_named():
    """A pair smaller than SSIM's 11x11 window failed naming no pair: 'ssim_gaussian: images must be at least ...'."""
    tiny = torch.rand(3, 10, 8, generator=torch.Generator().manual_seed(1))
    with pytest.raises(DeblurSettingsError, match=r"^pair 1 \(tiny\): ssim_gaussian: images must be at least 11x11"):
        evaluate_pairs(tiny_golf(1), [*pairs(1), (tiny, tiny, "tiny")], iterations=1)
    assert evaluate.SSIM_MIN_SIDE == 11


def test_a_diverged_model_s_summary_is_strict_json_with_null_for_the_nan_mean(tmp_path: Path):
    """Python's json writes NaN, which jq and other strict parsers refuse: the report writes null."""
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    torch.nn.init.constant_(model.D.tail.weight, math.nan)  # D diverged: every D iterate is NaN
    result = evaluate_pairs(model, pairs(2), iterations=1)
    write_report(tmp_path, result, {"data": "test"}, [], None)

    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    saved = json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse)
    means = {row["iterate"]: row["PSNR-RGB-8bit"] for row in saved["mean"]}
    assert means["D1"] is None and isinstance(means["G"], float)


def test_report_files(tmp_path: Path):
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    torch.nn.init.normal_(model.D.tail.weight, std=0.01)
    result = evaluate_pairs(model, pairs(2), iterations=1)
    table4 = measure_runtime(model, 16, 20, torch.device("cpu"), warmup=1, repeats=2, iterations=1)
    report = write_report(tmp_path, result, {"data": "test"}, model_size_rows(model.config), table4)
    for name in ("per_image.csv", "summary.json", "report.md", "psnr_vs_iteration.png", "crops.png"):
        assert (tmp_path / name).is_file(), name
    with open(tmp_path / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3 and rows[0]["image"] == "img0" and rows[0]["iterate"] == "blurry"
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["table4"]["repeats"] == 2 and report["mean"][1]["iterate"] == "G"
    assert "PSNR-RGB-8bit" in saved["conventions"]
    text = (tmp_path / "report.md").read_text()
    assert "8-bit rounded" in text and "| D1 | 1 | 2 |" in text and "Table 3" in text and "Table 4" in text
    assert Image.open(tmp_path / "crops.png").size[0] > 0


def test_the_plot_shows_the_psnr_column(tmp_path: Path, monkeypatch):
    labels = []
    monkeypatch.setattr(evaluate, "plot_psnr_vs_iteration", lambda summary, label, path, title="": labels.append(label))
    result = evaluate_pairs(GolfOptimizer(GolfConfig(g_width=4, d_width=4)), pairs(1, 16), iterations=1)
    write_report(tmp_path, result, {"data": "test"}, [], None)
    assert labels == ["PSNR-RGB-8bit"]  # not an SSIM column


def test_the_plot_starts_at_g_alone(tmp_path: Path, monkeypatch):
    from matplotlib.axes import Axes

    drawn, plot = [], Axes.plot

    def recorded(self, x, *args, **kwargs):
        drawn.append(list(x))
        return plot(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", recorded)
    summary = [{"t": t, "PSNR": 20.0 + t} for t in (-1, 0, 1, 2)]  # the blurry input, G, D1, D2
    plot_psnr_vs_iteration(summary, "PSNR", tmp_path / "plot.png")
    assert drawn == [[0, 1, 2]] and (tmp_path / "plot.png").is_file()


def test_crop_grid_rounds_to_the_nearest_8_bit_value(tmp_path: Path):
    near_white = torch.full((3, 2, 2), 0.999)  # 254.745: rounds to 255, not down to 254
    save_crop_grid([("a", near_white, near_white, near_white)], tmp_path / "crops.png")
    assert np.asarray(Image.open(tmp_path / "crops.png"))[0, 0].tolist() == [255, 255, 255]


def write_pngs(folder: Path, images: list[torch.Tensor]) -> None:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        array = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        Image.fromarray(array).save(folder / f"{i:03d}.png")


def test_eval_command_on_a_tiny_folder(tmp_path: Path, capsys):
    data = pairs(2, 20)
    write_pngs(tmp_path / "blur", [b for b, _, _ in data])
    write_pngs(tmp_path / "sharp", [s for _, s, _ in data])
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2)), tmp_path / "w.safetensors", {})
    args = ["eval", "--data", "paired", "--blur-dir", str(tmp_path / "blur"), "--sharp-dir", str(tmp_path / "sharp"),
            "--weights", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "out"), "--device", "cpu",
            "--runtime-size", "24x16", "--runtime-repeats", "1", "--runtime-warmup", "1"]  # fmt: skip
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [e["iterate"] for e in summary["mean"]] == ["blurry", "G", "D1", "D2"]  # T from the model card
    out, err = capsys.readouterr()
    assert summary["info"]["images"] == 2 and "D2" in out
    # the timing runs after the scoring (minutes on a CPU at 1280x720): said, or the command looks stuck
    assert "golfdeblur: note: timing Table 4: G + 2 D on 24x16, 1 warm-up and 1 timed runs" in err
    assert cli.main(["eval", "--data", "gopro", "--weights", str(tmp_path / "w.safetensors"), "--out", "x"]) == 2
    assert "--data gopro needs --root" in capsys.readouterr().err
    # an earlier report is not replaced unless asked, and a file is no folder: both said before any scoring
    before = (tmp_path / "out" / "summary.json").read_bytes()
    assert cli.main(args) == 2 and "already holds per_image.csv; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "summary.json").read_bytes() == before
    assert cli.main([*args, "--overwrite"]) == 0
    file_args = list(args)
    file_args[args.index("--out") + 1] = str(tmp_path / "w.safetensors")
    assert cli.main(file_args) == 2 and "exists and is not a folder" in capsys.readouterr().err


def test_eval_scores_levin09_also_up_to_a_shift(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(evaluate_command, "load_pairs", lambda args: pairs(1, 48))  # 48 px: room for the 15 px border
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    common = ["eval", "--weights", str(tmp_path / "w.safetensors"), "--device", "cpu", "--runtime-repeats", "0"]
    assert cli.main([*common, "--data", "levin09", "--out", str(tmp_path / "levin")]) == 0
    assert "PSNR-UpToShift-RGB-8bit" in capsys.readouterr().out
    assert "PSNR-UpToShift-RGB-8bit" in json.loads((tmp_path / "levin" / "summary.json").read_text())["conventions"]
    assert cli.main([*common, "--data", "synthetic", "--out", str(tmp_path / "synthetic")]) == 0
    assert "PSNR-UpToShift" not in capsys.readouterr().out  # the validation set's kernels are centred


def test_eval_times_fewer_runs_on_a_cpu_unless_told(tmp_path: Path, monkeypatch):
    data = pairs(1, 20)
    write_pngs(tmp_path / "blur", [b for b, _, _ in data])
    write_pngs(tmp_path / "sharp", [s for _, s, _ in data])
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    timed = []
    monkeypatch.setattr(tables, "measure_runtime", lambda *a, **kw: timed.append(kw) or measure_runtime(*a, **kw))
    common = ["eval", "--data", "paired", "--blur-dir", str(tmp_path / "blur"), "--sharp-dir", str(tmp_path / "sharp"),
              "--weights", str(tmp_path / "w.safetensors"), "--device", "cpu", "--runtime-size", "24x16"]  # fmt: skip
    assert cli.main([*common, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "b"), "--runtime-warmup", "0", "--runtime-repeats", "2"]) == 0
    assert [(kw["warmup"], kw["repeats"]) for kw in timed] == [evaluate_command.CPU_RUNS, (0, 2)]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runtime-size", "1280*720"], "--runtime-size 1280*720: expected WIDTHxHEIGHT"),
        (["--runtime-size", "0x720"], "--runtime-size 0x720: sides must be positive"),
        (["--limit", "-1"], "--limit must be >= 0"),
        (["--iterations", "-2"], "--iterations must be 0 to 64, got -2"),
        (["--iterations", "65"], "--iterations must be 0 to 64, got 65"),
        (["--runtime-warmup", "-1"], "--runtime-warmup -1: must be >= 0"),
        (["--runtime-repeats", "-3"], "--runtime-repeats -3: must be >= 0"),
    ],
)
def test_eval_command_checks_settings_before_loading_data(tmp_path: Path, capsys, monkeypatch, flags, message):
    def no_data(args):
        raise AssertionError("data were loaded before the settings were checked")

    monkeypatch.setattr("golfdeblur.commands.evaluate.load_pairs", no_data)
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    args = ["eval", "--data", "levin09", "--weights", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "out"),
            "--device", "cpu", *flags]  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_runtime_size_is_width_by_height():
    assert evaluate_command.parse_size("1280x720") == (720, 1280)  # (height, width), as Table 4 measures


def test_train_command_errors_are_one_line(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    out = str(tmp_path / "run")
    assert cli.main(["train", "--recipe", "tiny", "--out", out, "--set", "loss.perceptual_weight=0.1"]) == 2
    assert "--vgg-weights" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "tiny", "--out", out, "--set", "train.batch_size=two"]) == 2
    assert "train.batch_size: expected int" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "tiny", "--out", out, "--stage", "d"]) == 2
    assert "stage d needs a trained G" in capsys.readouterr().err


def test_a_fallback_validation_set_is_named_in_the_report(tmp_path: Path, monkeypatch, capsys):
    from golfdeblur.data import validation

    monkeypatch.setattr(validation, "default_data_root", lambda: None)  # no data folder: the dead-leaves stand-in
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    args = ["eval", "--data", "synthetic", "--weights", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "e"),
            "--limit", "1", "--runtime-repeats", "0", "--device", "cpu"]  # fmt: skip
    assert cli.main(args) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("golfdeblur: warning: ")]
    assert len(warning) == 1 and "fallback" in warning[0]  # one line, not Python's two naming a source file
    assert "- data_note: CBSD68/Kodak24 not found: dead-leaves fallback" in (tmp_path / "e" / "report.md").read_text()


def test_eval_prints_the_exact_matches_its_means_leave_out(tmp_path: Path, capsys, monkeypatch):
    sharp = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(5))
    same = [(sharp, sharp, "same"), *pairs(1)]  # the first blurry image is its sharp image
    monkeypatch.setattr(evaluate_command, "load_pairs", lambda args: same)
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    args = ["eval", "--weights", str(tmp_path / "w.safetensors"), "--device", "cpu", "--runtime-repeats", "0"]
    assert cli.main([*args, "--data", "synthetic", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "blurry PSNR-RGB-8bit: 1 exact match (+inf) left out of the mean" in out  # the identity model: every row
    assert "D1 PSNR-RGB-8bit: 1 exact match (+inf) left out of the mean" in out


def test_a_limited_eval_says_it_is_partial_and_a_synthetic_one_its_seed(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(evaluate_command, "load_pairs", lambda args: pairs(3))
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    common = ["eval", "--weights", str(tmp_path / "w.safetensors"), "--device", "cpu", "--runtime-repeats", "0"]
    assert cli.main([*common, "--data", "synthetic", "--seed", "7", "--limit", "2", "--out", str(tmp_path / "a")]) == 0
    info = json.loads((tmp_path / "a" / "summary.json").read_text())["info"]
    assert (info["images"], info["limit"], info["images_in_set"], info["seed"]) == (2, 2, 3, 7)
    text = (tmp_path / "a" / "report.md").read_text()
    assert "**Partial (--limit 2)**: the first 2 of 3 images; these means are not the set's." in text
    assert "- seed: 7" in text
    # the whole set (a limit at or above its size included) is no partial report; only the synthetic set has a seed
    paired = ["--data", "paired", "--blur-dir", str(tmp_path / "B"), "--sharp-dir", str(tmp_path / "S")]
    assert cli.main([*common, *paired, "--limit", "3", "--out", str(tmp_path / "b")]) == 0
    info = json.loads((tmp_path / "b" / "summary.json").read_text())["info"]
    assert "seed" not in info and "Partial" not in (tmp_path / "b" / "report.md").read_text()


def test_a_limit_at_the_set_s_size_is_no_partial_report():
    assert "Partial" not in markdown_report({"limit": 5, "images": 2, "images_in_set": 2}, {}, [], [], [], None)


def test_eval_without_weights_scores_the_packaged_default_and_names_it(tmp_path: Path, monkeypatch, capsys):
    """As deblur and demo do: the packaged weights when none are named, their name and sha256 in the report."""
    from golfdeblur import infer
    from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS
    from golfdeblur.models.weights_io import NO_WEIGHTS_HINT, resolve_weights, sha256_of

    monkeypatch.setattr(evaluate_command, "load_pairs", lambda args: pairs(2))
    common = ["eval", "--data", "synthetic", "--device", "cpu", "--runtime-repeats", "0", "--limit", "1"]
    if DEFAULT_WEIGHTS in infer.packaged_weights():
        assert cli.main([*common, "--out", str(tmp_path / "a")]) == 0
        info = json.loads((tmp_path / "a" / "summary.json").read_text())["info"]
        assert info["weights"] == DEFAULT_WEIGHTS
        assert info["weights_sha256"] == sha256_of(resolve_weights(DEFAULT_WEIGHTS))
    monkeypatch.setattr(infer, "packaged_weights", lambda: [])  # none shipped: how to get some, before any work
    capsys.readouterr()
    assert cli.main([*common, "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.strip() == f"golfdeblur: error: {NO_WEIGHTS_HINT}"
    assert not (tmp_path / "b").exists()


def test_a_report_failing_part_way_leaves_the_earlier_one_whole(tmp_path: Path, monkeypatch):
    """eval --out --overwrite on a full disk (or under ulimit -f): no mix of the earlier report's files and new ones."""
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    out = tmp_path / "out"
    write_report(out, evaluate_pairs(model, pairs(2), iterations=1), {"data": "first"}, [], None)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(before) == sorted(evaluate.REPORT_FILES)

    def full_disk(crops, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(evaluate, "save_crop_grid", full_disk)  # the csv, json and first figure written by then
    torch.nn.init.normal_(model.D.tail.weight, std=0.1)  # other numbers: a mix would show
    with pytest.raises(OSError, match="No space left") as failure:
        write_report(out, evaluate_pairs(model, pairs(2), iterations=1), {"data": "second"}, [], None)
    assert failure.value.filename == str(out / "crops.png")  # the file it was for, not its hidden folder's
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # nor any hidden folder left
    with pytest.raises(OSError, match="No space left"):  # a report into a new folder: no folder left behind
        write_report(tmp_path / "new" / "out", evaluate_pairs(model, pairs(1), iterations=1), {}, [], None)
    assert not (tmp_path / "new").exists()


def test_eval_out_starting_with_a_tilde_is_in_the_home_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(evaluate_command, "load_pairs", lambda args: pairs(1))
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    argv = ["eval", "--data", "synthetic", "--weights", str(tmp_path / "w.safetensors"), "--device", "cpu",
            "--runtime-repeats", "0", "--out", "~/ev"]  # fmt: skip
    assert cli.main(argv) == 0
    assert (tmp_path / "home" / "ev" / "report.md").is_file() and not (tmp_path / "~").exists()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_evaluate_pairs_shows_a_progress_bar_on_a_terminal_and_reads_only_the_pairs_it_scores(monkeypatch):
    """eval scored a whole set (minutes on a CPU) without a word on a terminal; and with ``limit`` it read one pair
    more than it scored (a synthetic pair is blurred as it is read)."""
    read = []

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            if index >= 5:
                raise IndexError(index)
            read.append(index)
            sharp = torch.full((3, 16, 16), 0.5)
            return 0.9 * sharp, sharp, f"p{index}"

    model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    result = evaluate_pairs(model, Pairs(), iterations=1, limit=3, progress="synthetic")
    assert read == [0, 1, 2] and len(result.rows) == 3 * 3
    assert "synthetic: 100%" in terminal.getvalue() and "3/3" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    evaluate_pairs(model, Pairs(), iterations=1, limit=2)
    assert quiet.getvalue() == ""  # no description, no bar (the library's default)
    whole = _Terminal()
    monkeypatch.setattr(sys, "stderr", whole)
    evaluate_pairs(model, Pairs(), iterations=1, progress="synthetic")  # no limit: the whole set, its length known
    assert "synthetic: 100%" in whole.getvalue() and "5/5" in whole.getvalue()


def test_evaluate_pairs_shows_no_progress_bar_where_stderr_is_no_terminal(monkeypatch):
    """A log file or a pipe would get a bar's carriage-return updates as one long line."""
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    evaluate_pairs(GolfOptimizer(GolfConfig(g_width=4, d_width=2)), pairs(2, 16), iterations=1, progress="synthetic")
    assert log.getvalue() == ""


def test_the_eval_command_shows_its_progress_on_a_terminal(tmp_path: Path, monkeypatch):
    data = pairs(2, 16)
    write_pngs(tmp_path / "blur", [b for b, _, _ in data])
    write_pngs(tmp_path / "sharp", [s for _, s, _ in data])
    save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1)), tmp_path / "w.safetensors", {})
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    args = ["eval", "--data", "paired", "--blur-dir", str(tmp_path / "blur"), "--sharp-dir", str(tmp_path / "sharp"),
            "--weights", str(tmp_path / "w.safetensors"), "--out", str(tmp_path / "out"), "--device", "cpu",
            "--runtime-repeats", "0"]  # fmt: skip
    assert cli.main(args) == 0
    assert "paired: 100%" in terminal.getvalue() and "2/2" in terminal.getvalue()


@pytest.mark.parametrize("limit", [-1, 2.5, True])
def test_a_limit_that_is_no_whole_number_of_at_least_0_is_refused_naming_it(limit):
    """A settings error (a plain ValueError, which the docstring did not promise; 2.5 was islice's own error)."""
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))
    with pytest.raises(
        DeblurSettingsError, match=rf"^limit {limit!r}: must be a whole number, 0 or more \(0: all pairs\)$"
    ):
        evaluate_pairs(model, [], iterations=1, limit=limit)


# ------------------------------------------------------------------------------------- evaluate_pairs' refusals


def tiny_golf(iterations: int = 3) -> GolfOptimizer:
    return GolfOptimizer(GolfConfig(g_width=4, d_width=2, iterations=iterations))


def psnr_column(result) -> list[float]:
    return [row["PSNR-RGB-8bit"] for row in result.rows]


@pytest.mark.parametrize(
    "blurry, sharp, message",
    [
        (lambda s: (0.5 * s * 255).byte(), lambda s: (s * 255).byte(),
         r", blurry image: tensor dtype torch.uint8: use a float tensor in \[0, 1\]"),
        (lambda s: 0.5 * s * 255, lambda s: s * 255, r", blurry image: image values span \[0\.\d+, 12"),
        (lambda s: s, lambda s: s * 255, r", sharp image: image values span \[.*0-255 float image\?"),
        (lambda s: s.masked_fill(s > 0.9, math.nan), lambda s: s, r", blurry image: image values include NaN"),
        (lambda s: s, lambda s: s[:, :20], r": blurry image \(3, 24, 24\) and sharp image \(3, 20, 24\) "
         r"differ in size"),
        (lambda s: s.expand(2, -1, -1, -1), lambda s: s, r", blurry image: tensor shape \(2, 3, 24, 24\): expected "
         r"\(3, H, W\) or \(1, 3, H, W\)"),
        (lambda s: s.numpy(), lambda s: s, r", blurry image: array shape \(3, 24, 24\): expected an \(H, W, 3\) image "
         r"with H, W >= 1 \(a \(3, H, W\) array\? pass torch.from_numpy\(array\)\)"),
        (lambda s: (s.permute(1, 2, 0).numpy() * 9).astype(np.int64), lambda s: s,
         r", blurry image: array dtype int64: use uint8, uint16 or float in \[0, 1\]"),
        (lambda s: s.permute(1, 2, 0).numpy() * 255, lambda s: s.permute(1, 2, 0).numpy() * 255,
         r", blurry image: image values span \[0\.\d+, 25"),
    ],
    ids=["uint8-tensors", "0-255-floats", "0-255-sharp", "nan", "sizes-differ", "batch-of-2", "chw-numpy", "int64",
         "0-255-numpy-floats"],
)  # fmt: skip
def test_a_pair_that_is_no_image_in_0_1_is_refused_naming_the_pair_and_why(blurry, sharp, message):
    """0-255 pairs were scored as plausible but wrong numbers (uint8: PSNR 23 dB; 0-255 floats: NaN or 32 dB), since
    the metrics clamp; other shapes failed deep in a convolution or a metric."""
    s = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0))
    with pytest.raises(DeblurSettingsError, match=rf"^pair 0 \(u8\){message}"):
        evaluate_pairs(tiny_golf(), [(blurry(s), sharp(s), "u8")], iterations=1)


def test_numpy_pairs_are_read_as_deblur_reads_them_and_a_batch_of_one_as_its_image():
    """(H, W, 3) numpy arrays, uint8 by their range, and (1, 3, H, W) tensors score as the (3, H, W) float pair."""
    blurry, sharp, _ = pairs(1)[0]
    blurry, sharp = (x.mul(255).round().div(255) for x in (blurry, sharp))  # exactly 8-bit values
    expected = psnr_column(evaluate_pairs(tiny_golf(), [(blurry, sharp)], iterations=1))

    def as_uint8(x: torch.Tensor) -> np.ndarray:
        return (x.permute(1, 2, 0) * 255).round().numpy().astype(np.uint8)

    as_numpy = [(as_uint8(blurry), sharp.permute(1, 2, 0).numpy().astype(np.float64))]
    as_big_endian = [((as_uint8(blurry).astype(np.uint16) * 257).astype(">u2"), as_uint8(sharp))]
    assert psnr_column(evaluate_pairs(tiny_golf(), as_big_endian, iterations=1)) == pytest.approx(expected, abs=1e-4)
    assert psnr_column(evaluate_pairs(tiny_golf(), as_numpy, iterations=1)) == pytest.approx(expected, abs=1e-4)
    batched = evaluate_pairs(tiny_golf(), [(blurry[None], sharp[None])], iterations=1)
    assert psnr_column(batched) == expected and batched.crops[0][1].shape == (3, 24, 24)


@pytest.mark.parametrize(
    "iterations, message",
    [(2.5, "iterations 2.5: must be a whole number, 0 or more"), (True, "iterations True: must be a whole number"),
     (-1, "iterations -1: must be a whole number"), (65, "iterations 65: at most 64 (applications of D)")],
)  # fmt: skip
def test_bad_iterations_are_refused_as_deblur_refuses_them(iterations, message):
    with pytest.raises(DeblurSettingsError) as refusal:
        evaluate_pairs(tiny_golf(), pairs(1), iterations=iterations)
    assert str(refusal.value).startswith(message)


def test_a_models_own_t_past_the_bound_is_refused_as_deblur_refuses_it():
    with pytest.raises(DeblurSettingsError) as refusal:
        evaluate_pairs(tiny_golf(iterations=65), pairs(1), iterations=None)
    assert str(refusal.value) == (
        "model's config.iterations 65: at most 64 (applications of D); pass iterations= to run fewer"
    )


def test_iterations_none_scores_the_models_t_and_device_auto_is_taken():
    result = evaluate_pairs(tiny_golf(iterations=2), pairs(1), iterations=None, device="auto")
    assert result.iterations == 2 and [row["iterate"] for row in result.rows] == ["blurry", "G", "D1", "D2"]


def test_a_single_network_is_refused_naming_what_evaluate_needs():
    with pytest.raises(DeblurSettingsError, match="^model ResidualCNN: evaluate_pairs scores G and each D iterate"):
        evaluate_pairs(tiny_golf().G, pairs(1), iterations=1)


def test_an_unknown_device_is_one_line_naming_it():
    with pytest.raises(DeblurSettingsError, match=r"^device 'gpu0': not a device name \(use auto, cpu"):
        evaluate_pairs(tiny_golf(), pairs(1), iterations=1, device="gpu0")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_a_pair_image_of_another_float_dtype_comes_back_float32(dtype):
    image = pair_image(torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(0)).to(dtype))
    assert image.dtype == torch.float32 and image.shape == (3, 5, 4)
