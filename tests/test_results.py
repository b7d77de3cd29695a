import csv
import json

import pytest
import torch

from golfdeblur import release as release_module
from golfdeblur.cli import main
from golfdeblur.data import validation as validation_module
from golfdeblur.data.validation import validation_set
from golfdeblur.models import GolfConfig, GolfOptimizer, save_golf, weights_io
from golfdeblur.models.weights_io import sha256_of
from golfdeblur.release import ReleaseError, release
from golfdeblur.results import (
    SCORED_WEIGHTS_FILE,
    describe_weights,
    record_scored_weights,
    reference_rows,
    write_results,
)


def test_references_beat_blurry_with_the_true_kernel(data_root):
    data = validation_set(data_root, kernel_min_size=7, kernel_max_size=9, noise_sigma_max=0.0)
    rows = reference_rows([(*data[i][:2], data.kernel(i), data[i][2]) for i in range(len(data))])
    by = {(r["image"], r["iterate"]): r["PSNR-RGB-8bit"] for r in rows}
    for name in data.names:
        assert by[(name, "RL (true kernel)")] > by[(name, "blurry")]


def test_report_with_weights_has_every_iterate(data_root, tmp_path):
    data = validation_set(data_root, kernel_min_size=7, kernel_max_size=9)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=2))  # identity: equals the blurry input
    path = write_results({"validation": data}, tmp_path / "out", model=model, weights_label="tiny", iterations=2)
    text = path.read_text()
    assert "UpToShift" not in text and "Levin09" not in text  # the Levin09-only column, with no Levin09 scored
    assert "| Golf T = 2 - G alone | PSNR-RGB-8bit | 2 | +0.000 | [+0.000, +0.000] | 0/2 |" in text  # identity D
    for method in ("blurry", "RL (true kernel)", "Wiener (true kernel)", "G alone", "Golf T = 1", "Golf T = 2"):
        assert f"| {method} |" in text
    rows = list(csv.DictReader(open(tmp_path / "out" / "results" / "validation.csv")))
    assert len(rows) == 2 * 6  # blurry, RL, Wiener, G, D1, D2
    blurry = {r["image"]: r["PSNR-RGB-8bit"] for r in rows if r["iterate"] == "blurry"}
    assert all(r["PSNR-RGB-8bit"] == blurry[r["image"]] for r in rows if r["iterate"] == "D2")


def tiny_items(count: int = 2) -> list:
    """(blurry, sharp, delta kernel, name) items of 16 px, as ``with_kernels`` yields them."""
    sharp = torch.rand(count, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    blurry = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1, count_include_pad=False)
    delta = torch.zeros(1, 3, 3)
    delta[0, 1, 1] = 1.0
    return [(blurry[i], sharp[i], delta, f"img{i}") for i in range(count)]


def test_gaps_are_for_the_model_s_own_t_when_more_iterations_are_scored(tmp_path):
    model = GolfOptimizer(GolfConfig(4, 2, 2))  # trained for T = 2
    text = write_results({"validation": tiny_items()}, tmp_path, model=model, iterations=3, weights_label="w")
    text = text.read_text()
    assert "| Golf T = 3 |" in text  # scored, as asked
    assert "| Golf T = 2 - G alone |" in text and "| Golf T = 3 - G alone |" not in text


def test_a_limit_one_short_of_the_set_is_partial(tmp_path):
    items = tiny_items(2)
    text = write_results({"validation": items}, tmp_path, limit=len(items) - 1).read_text()
    assert "**Partial (--limit 1)**" in text and "## validation (1 of 2 images;" in text


def test_scored_weights_record_the_limit(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "validation.csv").write_text("image\n")
    path = record_scored_weights(tmp_path, ["validation"], "w", "ab" * 32, iterations=5, limit=3)
    assert json.loads(path.read_text())["limit"] == 3


def test_cli_writes_report(levin_root, tmp_path, monkeypatch):
    data_root = levin_root
    torch.manual_seed(0)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    code = main(["results", "--root", str(data_root), "--out", str(tmp_path / "o"), "--weights", str(weights),
                 "--iterations", "1"])  # fmt: skip
    assert code == 0
    text = (tmp_path / "o" / "RESULTS.md").read_text()
    assert "## levin09 (1 images" in text and "## validation (2 images" in text and "w.safetensors" in text
    assert f"sha256 {sha256_of(weights)[:12]}..." in text and "not a release" in text  # what was scored, said once
    identity = json.loads((tmp_path / "o" / "results" / SCORED_WEIGHTS_FILE).read_text())
    assert identity["sha256"] == sha256_of(weights) and identity["weights"] == str(weights)
    for name in ("validation", "levin09"):
        assert identity["tables"][name]["sha256"] == sha256_of(tmp_path / "o" / "results" / f"{name}.csv")
    # Levin09 alone is also scored up to a shift (its authors' protocol), in its CSV and its table
    columns = {
        name: next(csv.reader(open(tmp_path / "o" / "results" / f"{name}.csv"))) for name in ("validation", "levin09")
    }
    assert "PSNR-UpToShift-RGB-8bit" in columns["levin09"] and "PSNR-UpToShift-RGB-8bit" not in columns["validation"]
    validation_table, levin_table = text.split("## validation")[1].split("## levin09")
    assert "| PSNR-UpToShift-RGB-8bit |" in levin_table and "PSNR-UpToShift" not in validation_table
    assert "- PSNR-UpToShift-RGB-8bit (levin09 only):" in text and "goal read PSNR-RGB-8bit on whole images" in text
    # paired gaps under each table: Levin09's also resampled by kernel, in both of its PSNR columns
    assert "Paired gaps (below each table)" in text  # the fixture's Levin09 is one image, so one kernel:
    assert "for Levin09, over its 1 kernel (a single kernel: nothing to resample)" in text
    assert "| Golf T = 1 - G alone | PSNR-RGB-8bit | 2 |" in validation_table and "by kernel" not in validation_table
    assert "| 95 % interval, by kernel |" in levin_table
    # this Levin09 image's "blur" is the sharp image itself: infinite PSNR everywhere, so no finite gap to report
    assert "| Golf T = 1 - G alone | PSNR-UpToShift-RGB-8bit | 0 | - | - | - | - |" in levin_table
    # a second run into the same folder (say a --limit 1 trial) does not replace that report unless asked
    code = main(["results", "--root", str(data_root), "--out", str(tmp_path / "o"), "--limit", "1"])
    assert code == 2 and (tmp_path / "o" / "results" / SCORED_WEIGHTS_FILE).is_file()
    assert (tmp_path / "o" / "RESULTS.md").read_text() == text


def test_cli_refuses_the_dead_leaves_stand_in(tmp_path, monkeypatch, capsys):
    """RESULTS.md scored on dead-leaves images would read as CBSD68 / Kodak24 numbers: refused, nothing written,
    in one line (no warning that dead leaves are used before the error that they are not)."""
    (tmp_path / "data").mkdir()  # a data folder without eval/: validation_set alone would fall back to dead leaves
    monkeypatch.setenv("GOLFDEBLUR_DATA", str(tmp_path / "data"))
    assert main(["results", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {tmp_path / 'data'}: holds neither eval/cbsd68 nor eval/kodak24 (give the data folder "
        "holding eval/)\n"
    )
    assert not (tmp_path / "o").exists()


def test_cli_without_any_data_folder_is_one_refusal(tmp_path, monkeypatch, capsys):
    """No --root, no $GOLFDEBLUR_DATA, no ../shared/data: one line saying so, not a warning that dead leaves are
    used followed by an error that CBSD68 / Kodak24 were not found."""
    from golfdeblur.data import sources

    monkeypatch.delenv("GOLFDEBLUR_DATA", raising=False)
    monkeypatch.setattr(sources, "default_data_root", lambda: None)  # the machine running the tests has one
    monkeypatch.setattr(validation_module, "default_data_root", lambda: None)
    assert main(["results", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        "golfdeblur: error: results: no data folder found (results scores the real CBSD68 / Kodak24 and Levin09); "
        "give --root, the data folder holding eval/, or set GOLFDEBLUR_DATA\n"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("make", "what"), [(None, "no such folder"), ("file", "not a folder")])
def test_cli_says_a_root_that_is_no_folder_is_none(tmp_path, capsys, make, what):
    """`--root /tmp/nothere` said it "holds neither eval/cbsd68 nor eval/kodak24", as if it were a folder."""
    root = tmp_path / "nothere"
    if make == "file":
        root.write_text("not a folder")
    assert main(["results", "--root", str(root), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"golfdeblur: error: --root {root}: {what}; give the data folder holding eval/\n"
    assert not (tmp_path / "o").exists()


def test_cli_refuses_iterations_without_weights(levin_root, tmp_path, monkeypatch, capsys):
    """Without --weights nothing iterates (the blurry input and the references are scored once): --iterations 3
    was silently ignored."""

    def no_data(*args, **kwargs):
        raise AssertionError("data were loaded before the settings were checked")

    monkeypatch.setattr(validation_module, "validation_set", no_data)
    assert main(["results", "--root", str(levin_root), "--out", str(tmp_path / "o"), "--iterations", "3"]) == 2
    assert capsys.readouterr().err == (
        "golfdeblur: error: --iterations 3: has no effect without --weights (it is the highest Golf T scored; the "
        "blurry input and the references do not iterate); leave it out or give --weights\n"
    )
    assert not (tmp_path / "o").exists()


def test_cli_scores_golf_up_to_t_5_with_weights_and_no_iterations(levin_root, tmp_path):
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    assert main(["results", "--root", str(levin_root), "--out", str(tmp_path / "o"), "--weights", str(weights)]) == 0
    assert json.loads((tmp_path / "o" / "results" / SCORED_WEIGHTS_FILE).read_text())["iterations"] == 5
    assert "| Golf T = 5 |" in (tmp_path / "o" / "RESULTS.md").read_text()


def test_a_malformed_card_is_one_line_before_any_scoring(levin_root, tmp_path, capsys):
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors", {"campaign": "oops"})
    code = main(["results", "--root", str(levin_root), "--out", str(tmp_path / "o"), "--weights", str(weights)])
    assert code == 2 and 'model card\'s campaign "oops" is not an object' in capsys.readouterr().err
    assert not (tmp_path / "o" / "results").exists()


def test_results_then_release_checks_the_weights(levin_root, tmp_path, monkeypatch):
    """End to end: `results --weights` stamps its tables; `release` then takes those weights and no others, also when
    they are named as packaged weights."""
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")
    monkeypatch.setattr(release_module, "REQUIRED_SETS", {"validation": 2, "levin09": 1})
    torch.manual_seed(0)
    scored = save_golf(GolfOptimizer(GolfConfig(4, 4, 3)), tmp_path / "installed" / "golf-w1.safetensors")
    other = save_golf(GolfOptimizer(GolfConfig(4, 4, 3)), tmp_path / "w2.safetensors")
    out = tmp_path / "eval"
    assert (
        main(["results", "--root", str(levin_root), "--out", str(out), "--weights", "golf-w1", "--iterations", "3"])
        == 0
    )
    with pytest.raises(ReleaseError, match="scored on other weights"):
        release(other, out, dest_dir=tmp_path / "pkg")
    # The right weights get past the identity check to the gate (an untrained model does not pass it).
    with pytest.raises(ReleaseError, match="needs G > blurry and Golf T=3 > blurry"):
        release(scored, out, dest_dir=tmp_path / "pkg")
    with pytest.raises(ReleaseError, match="needs G > blurry and Golf T=3 > blurry"):
        release("golf-w1", out, dest_dir=tmp_path / "pkg")
    # Rescoring without weights leaves tables that vouch for no weights.
    write_results({"validation": validation_set(levin_root)}, out)
    assert not (out / "results" / SCORED_WEIGHTS_FILE).exists()
    with pytest.raises(ReleaseError, match="nothing says which weights"):
        release(scored, out, dest_dir=tmp_path / "pkg")


def test_describe_weights_says_history_and_release_state():
    assert (
        describe_weights({}, "ab" * 32) == "sha256 abababababab...; not a release (release: docs/TRAINING_CAMPAIGN.md)"
    )
    card = {"campaign": {"g_steps": 5, "d_steps": 0, "minutes": 0.04, "chunks": [{"device": "cpu"}]}, "release": {}}
    assert describe_weights(card, "ab" * 32).endswith(
        "5 steps of G and 0 of D in 1 chunk, 0.0 minutes on cpu; released"
    )
    assert describe_weights({"release": None}, "ab" * 32).endswith("not a release (release: docs/TRAINING_CAMPAIGN.md)")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--iterations", "-1"], "--iterations -1: must be 0 to 64"),
        (["--iterations", "65"], "--iterations 65: must be 0 to 64"),
        (["--limit", "-1"], "--limit -1: must be 0 (all images) or a positive count"),
    ],
)
def test_cli_refuses_bad_numbers_before_loading_data(tmp_path, monkeypatch, capsys, flags, message):
    def no_data(*args, **kwargs):
        raise AssertionError("data were loaded before the settings were checked")

    monkeypatch.setattr(validation_module, "validation_set", no_data)
    assert main(["results", "--root", str(tmp_path), "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_limit_reads_only_the_images_it_scores(data_root, tmp_path):
    data = validation_set(data_root, kernel_min_size=7, kernel_max_size=9)
    read = []

    class Counting:  # the set, noting which images are read (each is blurred on first access)
        def __len__(self):
            return len(data)

        def __getitem__(self, index):
            read.append(index)
            return data[index]

        def kernel(self, index):
            return data.kernel(index)

    write_results({"validation": Counting()}, tmp_path / "out", limit=1)
    assert len(data) > 1 and read == [0]


class TinyLevin:
    """Levin09-like items: 2 photos x 2 kernels, named im_I_ker_K in the real set's order (48 px: room for the
    up-to-shift column's border)."""

    def __init__(self):
        generator = torch.Generator().manual_seed(3)
        self.names = [f"im_{i}_ker_{k}" for i in (1, 2) for k in (1, 2)]
        self.sharp = torch.rand(len(self.names), 3, 48, 48, generator=generator)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        blurry = torch.nn.functional.avg_pool2d(self.sharp[index : index + 1], 3, 1, 1, count_include_pad=False)[0]
        return blurry, self.sharp[index], torch.full((1, 3, 3), 1 / 9), self.names[index]


def test_a_limited_report_says_it_is_partial_and_which_kernels_it_resampled(tmp_path):
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1))
    full = write_results({"levin09": TinyLevin()}, tmp_path / "full", model=model, weights_label="w", iterations=1)
    text = full.read_text()
    assert "Partial" not in text and "## levin09 (4 images;" in text
    assert "over its 2 kernels (the 2 images of a kernel drawn together: would the gap hold" in text
    part = write_results({"levin09": TinyLevin()}, tmp_path / "part", model=model, weights_label="w", iterations=1,
                         limit=2)  # fmt: skip
    text = part.read_text()
    assert "**Partial (--limit 2)**: only the first images of each set were scored (levin09 2 of 4)" in text
    assert "## levin09 (2 of 4 images;" in text and "its 2 kernels" not in text
    assert "over the 2 kernels scored (one image each: the same as by image)" in text


def test_no_golf_gaps_without_a_d_iterate(tmp_path):
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=3))
    text = write_results({"levin09": TinyLevin()}, tmp_path, model=model, weights_label="w", iterations=0).read_text()
    assert "| G alone - blurry | PSNR-RGB-8bit | 4 |" in text and "| G alone - blurry | PSNR-UpToShift" in text
    assert "Golf T" not in text  # no D iterate was scored: no "Golf T = 0" rows standing for it


def test_results_failing_part_way_leave_the_earlier_report_whole(levin_root, tmp_path, monkeypatch):
    """results --overwrite on a full disk: the tables already rewritten must not stand beside the old RESULTS.md."""
    from golfdeblur import results as results_module

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    weights = save_golf(GolfOptimizer(GolfConfig(4, 4, 1)), tmp_path / "w.safetensors")
    argv = ["results", "--root", str(levin_root), "--out", "~/o"]  # '~': the home folder
    assert main([*argv, "--weights", str(weights), "--iterations", "1"]) == 0
    out = tmp_path / "home" / "o"
    assert not (tmp_path / "~").exists()
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert {"RESULTS.md", "results/validation.csv", f"results/{SCORED_WEIGHTS_FILE}"} <= set(map(str, before))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results_module, "_write_markdown", full_disk)  # the tables are written by then
    assert main([*argv, "--overwrite", "--limit", "1"]) == 1
    assert {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(path.name for path in out.iterdir()) == ["RESULTS.md", "results"]  # no hidden folder left
