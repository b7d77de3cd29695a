"""The release gate: weights ship only with whole-set results where G and Golf T=3 beat the blurry input, with a full
model card that says whether the campaign's goal (Golf T=3 > G > blurry) is met."""

import contextlib
import csv
import json
import shutil

import pytest
import torch

from golfdeblur import release as release_module
from golfdeblur.cli import main
from golfdeblur.deblur_defaults import DEFAULT_WEIGHTS
from golfdeblur.evaluate import EVAL_CONVENTIONS, rows_to_csv
from golfdeblur.folder_lock import held_by_another_process
from golfdeblur.models import weights_io
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import load_golf, save_golf, sha256_of
from golfdeblur.release import ReleaseError, read_scores, release
from golfdeblur.results import SCORED_WEIGHTS_FILE, record_scored_weights
from golfdeblur.tile_overlap import TILE_OVERLAP_RULE

PSNR, *SSIMS = [c.label for c in EVAL_CONVENTIONS]


@pytest.fixture(autouse=True)
def small_reference_photos(monkeypatch):
    """The tile overlap is measured on two 64 px images here, not the demo's eight photos (tests/test_tile_overlap.py
    covers the measuring)."""
    photos = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(release_module, "reference_photos", lambda: photos)


@pytest.fixture(autouse=True)
def installed(tmp_path, monkeypatch):
    """The package's weights/ folder, empty unless a test ships a default there (``ship_default``): releases are
    compared with the default weights installed, which must not be this checkout's real ones here."""
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")
    return tmp_path / "installed"


def write_results(folder, psnr_by_iterate, counts=None, scored_on=None):
    """results/<set>.csv as `golfdeblur results` writes them, every image scoring the given PSNR per iterate, and
    (given the weights file they were scored on) results/scored_weights.json, as `golfdeblur results --weights`."""
    counts = counts or {"validation": 92, "levin09": 32}
    for name, count in counts.items():
        rows = []
        for image in range(count):
            for t, (iterate, value) in enumerate(psnr_by_iterate.items(), start=-1):
                rows.append({"image": f"{name}/{image}", "iterate": iterate, "t": max(t, -1), PSNR: value}
                            | {label: 0.5 for label in SSIMS})  # fmt: skip
        (folder / "results").mkdir(parents=True, exist_ok=True)
        (folder / "results" / f"{name}.csv").write_text(rows_to_csv(rows))
    if scored_on is not None:
        record_scored_weights(folder, list(counts), str(scored_on), sha256_of(scored_on), iterations=5)
    return folder


def make_weights(path, seed=0):
    torch.manual_seed(seed)
    model = GolfOptimizer(GolfConfig(2, 2, 3))
    card = {"campaign": {"g_steps": 10, "d_steps": 5, "minutes": 1.5}, "training": {"stage": "d"}}
    return save_golf(model, path, card)


def command_line(weights, results, dest, name="golf-test"):
    """`golfdeblur release WEIGHTS --results RESULTS --name NAME --dest DEST`, as main takes it."""
    return ["release", str(weights), "--results", str(results), "--name", name, "--dest", str(dest)]


@pytest.fixture
def weights(tmp_path):
    return make_weights(tmp_path / "chunk.safetensors")


GOOD = {"blurry": 21.0, "G": 22.0, "D1": 22.5, "D2": 22.8, "D3": 23.0}


def test_release_writes_weights_with_the_measured_card(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    assert read_scores(results, "levin09").psnr("D3") == pytest.approx(23.0)
    path, gate = release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert gate.lines == ["validation: blurry 21.000 dB, G 22.000 dB, Golf T=3 23.000 dB",
                          "levin09: blurry 21.000 dB, G 22.000 dB, Golf T=3 23.000 dB"]  # fmt: skip
    assert gate.goal_not_met == []
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["release"]["gate"]["lines"] == gate.lines
    assert card["release"]["campaign_goal"]["met"] is True and card["release"]["campaign_goal"]["not_met_on"] == []
    assert card["campaign"]["g_steps"] == 10 and card["release"]["name"] == "golf-test"
    assert path.read_bytes() == weights.read_bytes() and card["sha256"] == sha256_of(weights)  # shipped as scored
    gaps = card["release"]["metrics"]["levin09"]["paired_gaps"]
    assert [(g["first"], g["second"], g["label"]) for g in gaps] == [("G", "blurry", PSNR), ("D3", "G", PSNR)]
    assert gaps[1]["mean"] == pytest.approx(1.0) and gaps[1]["by_image"] == pytest.approx([1.0, 1.0])
    assert gaps[1]["by_group"] == pytest.approx([1.0, 1.0]) and gaps[1]["positive"] == 32  # Levin09: by kernel too
    assert card["release"]["metrics"]["validation"]["paired_gaps"][0]["by_group"] is None
    assert card["release"]["metrics"]["validation"]["images"] == 92
    assert card["release"]["metrics"]["levin09"]["mean_per_iterate"]["D3"][PSNR] == pytest.approx(23.0)
    assert PSNR in card["release"]["metric_conventions"]
    assert "--init-from golf-test" in card["release"]["continue_campaign"]
    # zero-initialised weights reach no neighbour: the smallest step passes, and deblur gets one step more
    assert card["inference"] == {"iterations": 3, "tile_overlap": 48, "rule": TILE_OVERLAP_RULE}
    assert load_golf(path).config.g_width == 2
    with pytest.raises(ReleaseError, match=r"already holds these weights \(pass --overwrite to rewrite its card\)"):
        release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    with pytest.raises(ReleaseError, match="release name '../golf-test': use lower-case letters, digits"):
        release(weights, results, name="../golf-test", dest_dir=tmp_path / "pkg")  # a name, not a path
    assert not (tmp_path / "golf-test.safetensors").exists()


def test_release_refuses_weights_that_run_another_t_than_the_gate_judges(tmp_path):
    two = save_golf(GolfOptimizer(GolfConfig(2, 2, 2)), tmp_path / "t2.safetensors", {"training": {"stage": "d"}})
    results = write_results(tmp_path / "eval", GOOD, scored_on=two)
    with pytest.raises(ReleaseError, match="runs Golf T=2 by default, but the gate judges Golf T=3"):
        release(two, results, name="golf-test", dest_dir=tmp_path / "pkg")


@pytest.mark.parametrize(
    ("psnr", "counts", "message"),
    [
        ({**GOOD, "G": 20.5}, None, "needs G > blurry and Golf T=3 > blurry"),  # G worse than its input
        ({**GOOD, "D3": 20.9}, None, "needs G > blurry and Golf T=3 > blurry"),  # the default output is worse
        ({**GOOD, "D3": 21.0}, None, "G 22.000 dB, Golf T=3 21.000 dB"),  # a tie with the input is not better
        ({**GOOD, "G": 21.0}, None, r"blurry 21.000 dB, G 21.000 dB, .* \(needs G > blurry"),  # for G neither
        (GOOD, {"validation": 10, "levin09": 32}, "results cover 10 images"),  # a --limit report
        (GOOD, {"validation": 93, "levin09": 32}, "results cover 93 images, the whole set has 92"),  # not the set
        ({"blurry": 21.0}, None, "no 'G' row"),  # a report made without --weights
        ({"blurry": 21.0, "G": 22.0, "D1": 22.5, "D2": 22.8}, None, "no 'D3' row .* --iterations 3 or more"),
    ],
)
def test_release_refuses(tmp_path, weights, psnr, counts, message):
    results = write_results(tmp_path / "eval", psnr, counts, scored_on=weights)
    with pytest.raises(ReleaseError, match=message):
        release(weights, results, dest_dir=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def edit_card(weights, **fields):
    card_file = weights_io.card_path_for(weights)
    card_file.write_text(json.dumps(json.loads(card_file.read_text()) | fields))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"training": "x"}, 'training "x" is not an object'),
        ({"campaign": "oops"}, 'campaign "oops" is not an object'),  # released, it would fail `golfdeblur weights`
    ],
)
def test_release_refuses_a_malformed_history_in_one_line(tmp_path, weights, fields, message):
    edit_card(weights, **fields)
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    with pytest.raises(weights_io.WeightsError, match=message):
        release(weights, results, dest_dir=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def test_release_takes_a_card_whose_sha256_is_in_capitals(tmp_path, weights):
    edit_card(weights, sha256=sha256_of(weights).upper())  # load_golf accepts it, so release must too
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    target, _ = release(weights, results, dest_dir=tmp_path / "pkg")
    assert load_golf(target) is not None and json.loads(weights_io.card_path_for(target).read_text())["sha256"] == (
        sha256_of(weights)
    )


def test_release_refuses_weights_that_diverge_on_most_images(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD)
    for table in (results / "results").glob("*.csv"):
        rows = list(csv.DictReader(table.open()))
        for row in rows:
            if row["iterate"] in ("G", "D3") and not row["image"].endswith("/0"):
                row[PSNR] = "nan"  # a diverged model: only image 0 keeps a score
        table.write_text(rows_to_csv(rows))
    record_scored_weights(results, ["validation", "levin09"], str(weights), sha256_of(weights), iterations=5)
    with pytest.raises(ReleaseError, match="not released: validation: blurry 21.000 dB, G nan dB"):
        release(weights, results, dest_dir=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


@pytest.mark.parametrize("golf_t3", [21.9, 21.993])  # D does not help; a near tie shows its side (chunk 2)
def test_release_below_the_goal_ships_and_says_so(tmp_path, weights, golf_t3, capsys):
    results = write_results(tmp_path / "eval", {**GOOD, "D3": golf_t3}, scored_on=weights)
    path, gate = release(weights, results, dest_dir=tmp_path / "pkg")
    line = f"blurry 21.000 dB, G 22.000 dB, Golf T=3 {golf_t3:.3f} dB"
    assert gate.goal_not_met == [f"validation: {line}", f"levin09: {line}"]
    goal = json.loads(path.with_suffix(".json").read_text())["release"]["campaign_goal"]
    assert goal == {"rule": "Golf T=3 > G > blurry on validation and levin09, PSNR-RGB-8bit on whole images",
                    "met": False, "not_met_on": gate.goal_not_met}  # fmt: skip
    command = ["release", str(weights), "--results", str(results), "--dest", str(tmp_path / "cli")]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert f"campaign goal not met yet (Golf T=3 > G > blurry): levin09: {line}" in out
    gap = golf_t3 - 22.0  # every image scores the same here, so every interval is that one value
    assert f"levin09: Golf T=3 - G {gap:+.3f} dB, 95 % interval [{gap:+.3f}, {gap:+.3f}], by kernel [" in out
    assert "validation: G - blurry +1.000 dB, 95 % interval [+1.000, +1.000]\n" in out
    assert (tmp_path / "cli" / "golf-synthetic-v1.safetensors").is_file()


def test_release_command(tmp_path, weights, capsys):
    missing = ["release", str(weights), "--results", str(tmp_path / "none"), "--dest", str(tmp_path / "pkg")]
    assert main(missing) == 2
    assert "not found" in capsys.readouterr().err
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    assert main(["release", str(weights), "--results", str(results), "--dest", str(tmp_path / "pkg")]) == 0
    out = capsys.readouterr().out
    assert "levin09: blurry 21.000 dB, G 22.000 dB, Golf T=3 23.000 dB" in out and "goal not met" not in out
    assert (tmp_path / "pkg" / "golf-synthetic-v1.safetensors").is_file()


def test_release_refuses_results_scored_on_other_weights(tmp_path, weights, capsys):
    other = make_weights(tmp_path / "other.safetensors", seed=1)
    assert sha256_of(other) != sha256_of(weights)
    results = write_results(tmp_path / "eval", GOOD, scored_on=other)
    with pytest.raises(ReleaseError, match=r"results were scored on other weights \(.*other.safetensors"):
        release(weights, results, dest_dir=tmp_path / "pkg")
    assert main(["release", str(weights), "--results", str(results), "--dest", str(tmp_path / "pkg")]) == 2
    err = capsys.readouterr().err
    assert "scored on other weights" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pkg").exists()
    release(other, results, dest_dir=tmp_path / "pkg")  # the weights they were scored on pass


def test_release_refuses_results_without_a_weights_identity(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD)  # tables alone, as before scored_weights.json existed
    with pytest.raises(ReleaseError, match=f"{SCORED_WEIGHTS_FILE}: not found, so nothing says which weights"):
        release(weights, results, dest_dir=tmp_path / "pkg")
    (results / "results" / SCORED_WEIGHTS_FILE).write_text("{}")
    with pytest.raises(ReleaseError, match="not a scored-weights record"):
        release(weights, results, dest_dir=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def test_release_refuses_tables_rewritten_after_scoring(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    write_results(tmp_path / "eval", {**GOOD, "D3": 24.0}, counts={"levin09": 32})  # another run's levin09 table
    with pytest.raises(ReleaseError, match=r"levin09.csv: changed since it was scored"):
        release(weights, results, dest_dir=tmp_path / "pkg")
    record_scored_weights(results, ["validation"], str(weights), sha256_of(weights), iterations=5)
    with pytest.raises(ReleaseError, match="records no levin09 table"):
        release(weights, results, dest_dir=tmp_path / "pkg")


def test_release_takes_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")
    packaged = make_weights(tmp_path / "installed" / "golf-chunk.safetensors")
    results = write_results(tmp_path / "eval", GOOD, scored_on=packaged)
    path, _ = release("golf-chunk", results, name="golf-test", dest_dir=tmp_path / "pkg")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["campaign"]["g_steps"] == 10 and card["release"]["source_weights"] == "golf-chunk"


def ship_default(golf_t3_psnr):
    """Default weights installed (in the package's weights/, as monkeypatched by ``installed``) whose card says Golf
    T=3 measured ``golf_t3_psnr`` dB on both sets."""
    shipped = make_weights(weights_io.PACKAGED_DIR / f"{DEFAULT_WEIGHTS}.safetensors", seed=1)
    card = json.loads(shipped.with_suffix(".json").read_text())
    card["release"] = {
        "metrics": {name: {"mean_per_iterate": {"D3": {PSNR: golf_t3_psnr}}} for name in ("validation", "levin09")}
    }
    shipped.with_suffix(".json").write_text(json.dumps(card))


@pytest.mark.parametrize("into", ["the package", "another folder"])
def test_release_refuses_weights_below_what_ships_unless_asked(tmp_path, weights, capsys, installed, into):
    """With --dest, the weights were compared with DEST/golf-synthetic-v1 (absent): released without a word, the help
    saying they were refused. They are compared with the installed default wherever they go."""
    # GOOD's Golf T=3 is 23.0 dB on both sets: the goal is met, but the installed default weights measured 23.1
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    ship_default(23.1)
    pkg = installed if into == "the package" else tmp_path / "pkg"
    with pytest.raises(ReleaseError, match=r"validation: Golf T=3 23\.000 dB, below golf-synthetic-v1 \(23\.100 dB\)"):
        release(weights, results, name="golf-next", dest_dir=pkg)
    assert not (pkg / "golf-next.safetensors").exists()
    args = command_line(weights, results, pkg, name="golf-next")
    assert main(args) == 2
    assert capsys.readouterr().err == (  # both sets named (only the first was)
        "golfdeblur: error: not released: validation: Golf T=3 23.000 dB, below golf-synthetic-v1 (23.100 dB); "
        "levin09: Golf T=3 23.000 dB, below golf-synthetic-v1 (23.100 dB) (pass --allow-below-shipped to ship it all "
        "the same)\n"
    )
    assert main([*args, "--allow-below-shipped"]) == 0
    card = json.loads((pkg / "golf-next.json").read_text())
    assert card["release"]["campaign_goal"]["met"] and len(card["release"]["below_shipped"]) == 2
    shipped = installed / f"{DEFAULT_WEIGHTS}.safetensors"
    assert card["release"]["compared_with"] == {"name": DEFAULT_WEIGHTS, "sha256": sha256_of(shipped)}
    out = capsys.readouterr().out
    assert "shipped although below the default weights: levin09" in out and "not compared" not in out


def test_a_release_with_no_default_installed_says_it_compared_with_none(tmp_path, weights, capsys):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    assert main(command_line(weights, results, tmp_path / "pkg", name="golf-next")) == 0
    out = capsys.readouterr().out
    installed = tmp_path / "installed"
    assert f"not compared with the default weights: no {DEFAULT_WEIGHTS} is installed in {installed}\n" in out
    assert json.loads((tmp_path / "pkg" / "golf-next.json").read_text())["release"]["compared_with"] is None


def test_release_at_the_shipped_level_passes(tmp_path, weights):
    # the same weights re-released with results scored elsewhere differ in the last decimals: not "below"
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    ship_default(23.0004)
    path, _ = release(weights, results, name="golf-next", dest_dir=tmp_path / "pkg")
    assert "below_shipped" not in json.loads(path.with_suffix(".json").read_text())["release"]


def test_release_just_beyond_the_tolerance_below_what_ships_is_refused(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)  # Golf T=3 23.000 dB on both sets
    ship_default(23.002)  # 0.002 dB better: more than the printed precision apart
    with pytest.raises(ReleaseError, match=r"validation: Golf T=3 23\.000 dB, below golf-synthetic-v1 \(23\.002 dB\)"):
        release(weights, results, name="golf-next", dest_dir=tmp_path / "pkg")
    assert not (tmp_path / "pkg" / "golf-next.safetensors").exists()


def test_overwrite_rewrites_the_card_of_the_same_weights_only(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    path, _ = release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    path.with_suffix(".json").write_text(path.with_suffix(".json").read_text().replace('"golf-test"', '"stale"'))
    release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg", overwrite=True)  # the same bytes
    assert json.loads(path.with_suffix(".json").read_text())["release"]["name"] == "golf-test"
    other = make_weights(tmp_path / "other.safetensors", seed=3)
    other_results = write_results(tmp_path / "eval-other", GOOD, scored_on=other)
    card_before = path.with_suffix(".json").read_bytes()
    for overwrite in (False, True):  # said at once: --overwrite would not help
        with pytest.raises(ReleaseError, match=r"holds other weights \(sha256 [0-9a-f]{12}\.\.\.\); .* new --name"):
            release(other, other_results, name="golf-test", dest_dir=tmp_path / "pkg", overwrite=overwrite)
    assert path.read_bytes() == weights.read_bytes() and path.with_suffix(".json").read_bytes() == card_before
    assert load_golf(path).config.g_width == 2  # the release is whole: weights and card still agree


def test_a_release_stopped_between_its_writes_leaves_no_weights_without_a_card(tmp_path, weights, monkeypatch):
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    write_weights, write_card, writes = release_module.atomic_write_bytes, release_module.write_card, []

    def first_only(write):
        def once(*args, **kwargs):
            if writes:  # the run stops before the second of its two writes
                raise KeyboardInterrupt
            writes.append(write)
            write(*args, **kwargs)

        return once

    monkeypatch.setattr(release_module, "atomic_write_bytes", first_only(write_weights))
    monkeypatch.setattr(release_module, "write_card", first_only(write_card))
    with pytest.raises(KeyboardInterrupt):
        release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert writes == [write_card] and not (tmp_path / "pkg" / "golf-test.safetensors").exists()
    monkeypatch.setattr(release_module, "atomic_write_bytes", write_weights)
    monkeypatch.setattr(release_module, "write_card", write_card)
    # the card alone is no release: the rerun (no --overwrite) replaces it, though cards are written without replacing
    path, _ = release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert load_golf(path).config.g_width == 2


def test_a_card_alone_of_a_release_still_writing_is_not_taken_for_a_stopped_ones(tmp_path, weights, monkeypatch):
    """The other release had written its card, not yet its weights, when this one checked: this one removed that card
    as a stopped release's, and the folder ended with this card beside the other's weights (checksum mismatch). The
    card alone is judged under the folder's lock, which a release holds through both writes."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    other = make_weights(tmp_path / "other.safetensors", seed=3)
    target = tmp_path / "pkg" / "golf-test.safetensors"
    target.parent.mkdir()
    shutil.copyfile(other.with_suffix(".json"), target.with_suffix(".json"))  # the other release, between its writes
    locked = release_module.folder_locked

    @contextlib.contextmanager
    def after_the_other_release_ends(folder):  # it held the lock; its weights are written once this one gets it
        shutil.copyfile(other, target)
        with locked(folder):
            yield

    monkeypatch.setattr(release_module, "folder_locked", after_the_other_release_ends)
    with pytest.raises(ReleaseError, match="appeared meanwhile; not replaced"):
        release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert load_golf(target).config.g_width == 2 and target.read_bytes() == other.read_bytes()  # whole, the other's


def test_a_card_alone_that_is_a_link_to_nothing_is_a_stopped_release_s_and_replaced(tmp_path, weights):
    """A card that is a dangling link names no weights either: left there, this release's card write failed
    'appeared meanwhile'."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "golf-test.json").symlink_to(tmp_path / "missing.json")
    path, _ = release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert load_golf(path).config.g_width == 2 and not weights_io.card_path_for(path).is_symlink()


def test_weights_another_run_wrote_between_this_release_s_card_and_weights_are_not_replaced(
    tmp_path, weights, monkeypatch
):
    """A writer that takes no lock (cp) can still put weights at the name between the two writes: they are kept, and
    this release fails at its weights."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    target = tmp_path / "pkg" / "golf-test.safetensors"
    write_card = release_module.write_card

    def and_then_another_writer(*args, **kwargs):
        write_card(*args, **kwargs)
        target.write_bytes(b"someone else's file")

    monkeypatch.setattr(release_module, "write_card", and_then_another_writer)
    with pytest.raises(ReleaseError, match="appeared meanwhile; not replaced") as refusal:
        release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg")
    assert str(refusal.value).startswith(f"{target}: ") and target.read_bytes() == b"someone else's file"


def test_a_release_into_a_new_folder_holds_the_folder_locked_through_its_writes(tmp_path, weights, monkeypatch):
    """A folder that does not exist yet cannot be locked: it is made first, or another release could judge this
    one's card, written before its weights, a stopped release's and remove it."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    write_weights, held = release_module.atomic_write_bytes, []

    def watched(target, *args, **kwargs):
        held.append(held_by_another_process(target.parent))
        return write_weights(target, *args, **kwargs)

    monkeypatch.setattr(release_module, "atomic_write_bytes", watched)
    path, _ = release(weights, results, name="golf-test", dest_dir=tmp_path / "new" / "pkg")
    assert held == [True] and load_golf(path).config.g_width == 2


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
def test_a_release_another_run_wrote_meanwhile_is_replaced_only_with_overwrite(
    tmp_path, weights, monkeypatch, overwrite, capsys
):
    """Two releases under one name: the other wrote its card and weights after this one's check, before its writes.
    They were replaced silently; without --overwrite they are kept now, and this one fails at its card."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    other = make_weights(tmp_path / "other.safetensors", seed=3)
    target = tmp_path / "pkg" / "golf-test.safetensors"
    measure = release_module.measure_tile_overlap

    def measure_as_the_other_run_finishes(*args):  # the last work before the writes
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(other.with_suffix(".json"), target.with_suffix(".json"))
        shutil.copyfile(other, target)
        return measure(*args)

    monkeypatch.setattr(release_module, "measure_tile_overlap", measure_as_the_other_run_finishes)
    if overwrite:
        release(weights, results, name="golf-test", dest_dir=tmp_path / "pkg", overwrite=True)
        assert target.read_bytes() == weights.read_bytes()
    else:
        # a refusal, as README says of an existing output (exit 2): it exited 1, as a system error
        assert main(command_line(weights, results, target.parent)) == 2
        assert capsys.readouterr().err == (
            f"golfdeblur: error: {target.with_suffix('.json')}: a file of that name appeared meanwhile; not replaced "
            "(written by another run after this release's check; rerun to see what it holds)\n"
        )
        assert target.read_bytes() == other.read_bytes()
        assert target.with_suffix(".json").read_bytes() == other.with_suffix(".json").read_bytes()
    assert load_golf(target).config.g_width == 2  # whichever release is there is whole: weights and card agree
    assert sorted(p.name for p in target.parent.iterdir()) == ["golf-test.json", "golf-test.safetensors"]


def test_a_dest_that_is_a_file_is_refused_before_the_gate_work(tmp_path, weights, monkeypatch):
    """It failed with 'File exists' (exit 1) after the gate and the two-minute tile-overlap measurement."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    monkeypatch.setattr(release_module, "load_golf_and_card", lambda *a, **kw: pytest.fail("weights loaded"))
    with pytest.raises(ReleaseError) as refusal:
        release(weights, results, name="golf-test", dest_dir=tmp_path / "afile")
    said = f"{tmp_path / 'afile'}: exists and is not a folder (the release is written into a folder)"
    assert str(refusal.value) == said
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("where", ["under a file", "a link to nothing at the name"])
def test_a_release_that_cannot_be_written_there_is_refused_before_the_gate_work(tmp_path, weights, monkeypatch, where):
    """Both failed after the gate and the tile-overlap measurement: a raw NotADirectoryError, or "appeared meanwhile"
    for a link that was there before the run (and the card it left then failed the rerun)."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "golf-test.safetensors").symlink_to(tmp_path / "missing")
    dest = tmp_path / "afile" / "sub" if where == "under a file" else tmp_path / "pkg"
    monkeypatch.setattr(release_module, "load_golf_and_card", lambda *a, **kw: pytest.fail("weights loaded"))
    with pytest.raises(ReleaseError) as refusal:
        release(weights, results, name="golf-test", dest_dir=dest)
    assert str(refusal.value) == (
        f"{dest}: cannot be made ({tmp_path / 'afile'} is no folder) (the release is written into a folder)"
        if where == "under a file"
        else f"{dest / 'golf-test.safetensors'}: is a link to nothing; remove it or choose another --name"
    )
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["golf-test.safetensors"]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("golf.safetensors", "release name 'golf.safetensors': ends in .safetensors; give the name without it"),
        ("golf.json", "release name 'golf.json': ends in .json; give the name without it"),
        ("Golf-V2", "release name 'Golf-V2': has capitals; use 'golf-v2'"),
        ("g" * 244, f"release name {'g' * 24!r}...: 244 characters, over the 243 a file name leaves for it"),
        ("", "release name '': is empty; give one such as golf-synthetic-v2"),
    ],
)
def test_a_name_that_is_no_packaged_name_is_refused_in_one_line_before_any_work(
    tmp_path, weights, monkeypatch, capsys, name, said
):
    """golf.safetensors was released as golf.safetensors.safetensors, which `--weights golf.safetensors` then took for
    the user's own golf.safetensors; capitals could not be typed in lower case; a name too long failed (exit 1) after
    the work."""
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    monkeypatch.setattr(release_module, "load_golf_and_card", lambda *a, **kw: pytest.fail("weights loaded"))
    assert main(command_line(weights, results, tmp_path, name=name)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"golfdeblur: error: {said}") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk.json", "chunk.safetensors", "eval"]


def test_a_release_without_a_name_of_new_weights_is_refused_before_the_results_are_read(
    tmp_path, weights, monkeypatch, capsys, installed
):
    """--name defaults to golf-synthetic-v1, which is released: new weights released without --name were refused only
    after the gate, with no word that the name was the default."""
    ship_default(22.0)
    monkeypatch.setattr(release_module, "check_scored_weights", lambda *a: pytest.fail("results read"))
    assert main(["release", str(weights), "--results", str(tmp_path / "no-results")]) == 2
    shipped = installed / f"{DEFAULT_WEIGHTS}.safetensors"
    assert capsys.readouterr().err == (
        f"golfdeblur: error: {shipped}: holds other weights (sha256 {sha256_of(shipped)[:12]}...); release these under "
        "a new --name (golf-synthetic-v1, the default --name, is the first release; --overwrite only rewrites the "
        "card of the same weights)\n"
    )
    assert sorted(p.name for p in installed.iterdir()) == ["golf-synthetic-v1.json", "golf-synthetic-v1.safetensors"]


@pytest.mark.parametrize(
    ("history", "command"),
    [
        ({"recipe": "campaign", "training": {"stage": "g"}},
         "golfdeblur train --recipe campaign --stage g --out RUN --max-minutes 8 --init-from golf-test "
         "(see docs/TRAINING_CAMPAIGN.md)"),
        ({"recipe": "tiny", "training": {"stage": "d"}},
         "golfdeblur train --recipe tiny --stage d --out RUN --init-from golf-test (see docs/TRAINING.md)"),
        ({"recipe": "my recipes/x.yaml", "training": {"stage": "d"}},
         "golfdeblur train --recipe 'my recipes/x.yaml' --stage d --out RUN --init-from golf-test "
         "(see docs/TRAINING.md)"),
        ({"training": {"stage": "d"}},
         "golfdeblur train --recipe RECIPE --stage d --out RUN --init-from golf-test (RECIPE: what trained these "
         "weights, which their card does not say; see docs/TRAINING.md)"),
    ],
)  # fmt: skip
def test_the_card_s_continuing_command_names_the_recipe_that_trained_the_weights(tmp_path, history, command):
    """It was the campaign's command, --recipe campaign and stage d when the card named none, whatever trained them."""
    weights = save_golf(GolfOptimizer(GolfConfig(2, 2, 3)), tmp_path / "w.safetensors", history)
    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    path, _ = release(weights, results, "golf-test", dest_dir=tmp_path / "pkg")
    assert json.loads(path.with_suffix(".json").read_text())["release"]["continue_campaign"] == command


def test_results_scored_with_a_limit_are_refused_saying_so(tmp_path, weights):
    results = write_results(tmp_path / "eval", GOOD, {"validation": 2, "levin09": 2})
    record_scored_weights(results, ["validation", "levin09"], str(weights), sha256_of(weights), iterations=5, limit=2)
    with pytest.raises(ReleaseError) as refusal:
        release(weights, results, "golf-test", dest_dir=tmp_path / "pkg")
    assert str(refusal.value) == (
        "validation: results cover 2 images, the whole set has 92: scored with --limit 2; rescore without it "
        f"(golfdeblur results --weights {weights} --out {results})"
    )


def test_an_installed_package_is_no_place_to_release_into(tmp_path, weights, installed, capsys, monkeypatch):
    """From a wheel, `release` without --dest wrote into site-packages: files pip does not know of, which outlive an
    uninstall and which later installs list as packaged weights. Refused before any work now (--dest still writes
    anywhere); from a source checkout the package's weights/ is still the default."""
    from golfdeblur import checkout

    results = write_results(tmp_path / "eval", GOOD, scored_on=weights)
    command = ["release", str(weights), "--results", str(results), "--name", "golf-test"]
    monkeypatch.setattr(checkout, "PACKAGE_DIR", tmp_path / "venv" / "lib" / "site-packages" / "golfdeblur")
    assert main(command) == 2
    assert capsys.readouterr().err == (
        f"golfdeblur: error: release: golfdeblur runs from an installed package ({installed}); weights released "
        "into it are unknown to pip and outlive an uninstall: pass --dest DIR, or release from a source checkout "
        "(pip install -e .)\n"
    )
    assert not installed.exists()
    with pytest.raises(ReleaseError, match=r"^release: golfdeblur runs from an installed package"):
        release(weights, results, name="golf-test")  # the function's default too, not only the command's
    assert main([*command, "--dest", str(tmp_path / "chosen")]) == 0
    assert (tmp_path / "chosen" / "golf-test.safetensors").is_file()
    (tmp_path / "repo" / "src" / "golfdeblur").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text('[project]\nname = "golfdeblur"\n')
    monkeypatch.setattr(checkout, "PACKAGE_DIR", tmp_path / "repo" / "src" / "golfdeblur")
    assert main(command) == 0
    assert (installed / "golf-test.safetensors").is_file()
