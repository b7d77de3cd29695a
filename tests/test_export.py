"""ONNX export: the file runs in ONNX Runtime at any size and batch, equals deblur_tensor, and carries provenance."""

import contextlib
import dataclasses
import io
import json
import math
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from golfdeblur import atomic, export
from golfdeblur.cli import main
from golfdeblur.export import ExportError, export_onnx
from golfdeblur.infer import deblur_tensor, prepare_model
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.receptive_field import receptive_field
from golfdeblur.models.weights_io import WeightsError, save_golf, sha256_of


def random_model(seed: int = 0) -> GolfOptimizer:
    """Narrow networks with non-zero last layers, so the graph does real work (a zero start is the identity)."""
    torch.manual_seed(seed)
    model = GolfOptimizer(GolfConfig(4, 4, 3), zero_init_last=False)
    for module in model.modules():  # non-trivial BatchNorm statistics, so folding matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def fake_exporter(monkeypatch, graph: Path | None = None) -> dict:
    """Replace torch's ONNX export (seconds) by one whose program saves ``graph``'s bytes (else a few bytes that are
    no ONNX); returns the metadata export_onnx gives it."""
    metadata: dict = {}

    def save(path, **kwargs):
        Path(path).write_bytes(graph.read_bytes() if graph is not None else b"not onnx")

    program = SimpleNamespace(model=SimpleNamespace(metadata_props=metadata), save=save)
    monkeypatch.setattr(export.torch.onnx, "export", lambda *args, **kwargs: program)
    return metadata


def no_export(monkeypatch):
    """Fail the test if the (slow) export is reached: what is checked must be refused before it."""
    monkeypatch.setattr(export.torch.onnx, "export", lambda *args, **kwargs: pytest.fail("exported all the same"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export through the command line (the slow part, about 10 s): weights file, ONNX file, printed lines."""
    folder = tmp_path_factory.mktemp("export")
    model = random_model()
    model.config = dataclasses.replace(model.config, iterations=2)  # the weights' own T, the export's default
    weights = save_golf(model, folder / "golf.safetensors", {"inference": {"iterations": 2, "tile_overlap": 64}})
    out = folder / "golf.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", str(out), "--weights", str(weights)])
    return weights, out, code, printed.getvalue()


def test_export_command_writes_a_checked_file(exported):
    _, out, code, printed = exported
    assert code == 0 and out.is_file()
    assert f"wrote {out}" in printed and "G + 2 D" in printed
    difference = float(printed.split("matches PyTorch to ")[1].split()[0])
    assert difference <= export.CHECK_TOLERANCE


@pytest.mark.parametrize("shape", [(1, 3, 20, 150), (3, 3, 33, 17), (1, 3, 1, 1)])
def test_onnx_runtime_equals_deblur_tensor_at_any_size(exported, shape):
    weights, out, _, _ = exported
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(2))
    (got,) = session.run(["deblurred"], {"blurry": x.numpy()})
    expected = deblur_tensor(x, prepare_model(weights=weights, device="cpu"), iterations=2, tile=0).numpy()
    assert got.shape == shape
    assert np.abs(got - expected).max() < 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_graph_inputs_are_dynamic_and_metadata_names_the_weights(exported):
    weights, out, _, _ = exported
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    (blurry,) = graph.graph.input
    dims = [d.dim_param or d.dim_value for d in blurry.type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) and d for d in (dims[0], dims[2], dims[3]))
    metadata = {entry.key: entry.value for entry in graph.metadata_props}
    assert metadata["weights"] == f"golf.safetensors sha256:{sha256_of(weights)}"
    architecture = json.loads(metadata["architecture"])
    assert architecture == {
        "architecture": "GolfOptimizer",
        "g_width": 4,
        "d_width": 4,
        "iterations": 2,
        "relu_before_add": False,
    }
    assert "RGB in [0, 1]" in metadata["input"]
    assert metadata["tile_overlap"] == "64"  # what the card measured at T = 2, as deblur would use


def test_existing_file_is_kept(exported, capsys):
    weights, out, _, _ = exported
    before = out.read_bytes()
    assert main(["export", str(out), "--weights", str(weights)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "iterations", "message"),
    [("model.pt", 3, "must end in .onnx"), ("model.onnx", -1, "between 0 and 64"), ("model.onnx", 65, "between")],
)
def test_bad_settings_fail_before_exporting(tmp_path, name, iterations, message):
    with pytest.raises(ExportError, match=message):
        export_onnx(tmp_path / name, model=random_model(), iterations=iterations)
    assert not (tmp_path / name).exists()


def test_missing_weights_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        export_onnx(tmp_path / "m.onnx", weights=tmp_path / "missing.safetensors")


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import now raises ImportError
    with pytest.raises(ExportError, match=r"needs onnxscript .*golfdeblur\[onnx\]"):
        export_onnx(tmp_path / "m.onnx", model=random_model())
    monkeypatch.delitem(sys.modules, "onnxscript")  # importable again; the runtime is not
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match="needs onnxruntime"):  # said before the export, not after it
        export_onnx(tmp_path / "m.onnx", model=random_model())
    assert not (tmp_path / "m.onnx").exists()


def test_a_folder_at_the_output_is_refused_before_exporting(tmp_path):
    (tmp_path / "m.onnx").mkdir()
    for overwrite in (False, True):
        with pytest.raises(ExportError, match="m.onnx is a folder; name the .onnx file"):
            export_onnx(tmp_path / "m.onnx", model=random_model(), overwrite=overwrite)


@pytest.mark.parametrize("kind", ["missing", "loop"])
def test_a_link_to_nothing_at_the_output_is_refused_unless_overwriting_then_replaced(tmp_path, monkeypatch, kind):
    """It was replaced silently without --overwrite; with it, the link itself is replaced, nothing made through it."""
    out = tmp_path / "m.onnx"
    out.symlink_to(tmp_path / ("nowhere.onnx" if kind == "missing" else "m.onnx"))
    no_export(monkeypatch)
    with pytest.raises(ExportError) as refusal:
        export_onnx(out, model=random_model(), check=False)
    assert str(refusal.value) == f"export: {out} already exists (a link to nothing); pass --overwrite to replace it"
    fake_exporter(monkeypatch)
    assert export_onnx(out, model=random_model(), check=False, overwrite=True).path == out
    assert not out.is_symlink() and out.read_bytes() == b"not onnx" and not (tmp_path / "nowhere.onnx").exists()


def test_an_output_folder_that_cannot_be_made_is_refused_before_exporting(tmp_path, monkeypatch):
    blocking = tmp_path / "a.png"
    blocking.write_bytes(b"a file where the folder would go")
    monkeypatch.setattr(export.torch.onnx, "export", lambda *args, **kwargs: pytest.fail("exported all the same"))
    with pytest.raises(ExportError, match=f"cannot make its folder {blocking} .{blocking} is a file"):
        export_onnx(blocking / "m.onnx", model=random_model())


def test_weights_refused_leave_no_folder_made_for_the_file(tmp_path):
    with pytest.raises(WeightsError, match="missing.safetensors"):
        export_onnx(tmp_path / "new" / "a" / "m.onnx", weights=tmp_path / "missing.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_check_leaves_no_file(tmp_path, monkeypatch):
    fake_exporter(monkeypatch)
    monkeypatch.setattr(export, "_check", lambda path, wrapped: 0.5)
    with pytest.raises(ExportError, match="differs from PyTorch by 0.5"):
        export_onnx(tmp_path / "m.onnx", model=random_model(), iterations=0)
    assert list(tmp_path.iterdir()) == []


def test_no_check_skips_onnx_runtime(tmp_path, monkeypatch, capsys):
    fake_exporter(monkeypatch)  # a file that is no ONNX: any check would fail on it
    monkeypatch.setattr(export, "_check", lambda path, wrapped: pytest.fail("checked despite --no-check"))
    weights = save_golf(GolfOptimizer(GolfConfig(2, 2, 1)), tmp_path / "w.safetensors")
    assert main(["export", str(tmp_path / "m.onnx"), "--weights", str(weights), "--no-check"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'm.onnx'}" in printed and "ONNX Runtime matches" not in printed


def test_a_lone_residual_cnn_exports_too(tmp_path):
    network = random_model().G
    report = export_onnx(tmp_path / "g.onnx", model=network)
    assert report.max_difference <= export.CHECK_TOLERANCE
    metadata = {entry.key: entry.value for entry in onnx.load(str(report.path)).metadata_props}
    assert json.loads(metadata["architecture"]) == {"architecture": "ResidualCNN", "width": 4, "relu_before_add": False}
    assert metadata["weights"] == ""  # an in-memory model has no file to name
    assert metadata["tile_overlap"] == "93"  # nor a card: the receptive field of one ResidualCNN, exact


class NanSession:
    """An ONNX Runtime session whose output is all NaN."""

    def __init__(self, *args, **kwargs):
        pass

    def run(self, names, feeds):
        return [np.full_like(feeds["blurry"], np.nan)]


@pytest.mark.parametrize(("onnx_nan", "torch_nan"), [(True, False), (False, True), (True, True)])
def test_a_non_finite_output_on_either_side_is_an_infinite_difference(exported, monkeypatch, onnx_nan, torch_nan):
    _, out, _, _ = exported
    if onnx_nan:
        monkeypatch.setattr(onnxruntime, "InferenceSession", NanSession)
    wrapped = export._ClampedGolf(prepare_model(random_model(), device="cpu"), 2)
    if torch_nan:
        wrapped = lambda x: torch.full_like(x, math.nan)  # noqa: E731
    assert export._check(out, wrapped) == math.inf  # not max(0, nan) == 0: "matches PyTorch to 0"


def test_an_export_giving_nan_is_refused_and_leaves_no_file(exported, tmp_path, monkeypatch):
    _, out, _, _ = exported
    fake_exporter(monkeypatch, graph=out)  # a real graph for ONNX Runtime; the PyTorch model gives NaN
    model = random_model()
    with torch.no_grad():
        next(model.parameters()).fill_(math.nan)  # G's first convolution
    with pytest.raises(ExportError, match="not finite .NaN or infinite.*the file was not written"):
        export_onnx(tmp_path / "m.onnx", model=model)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_takes_no_file_is_refused_before_exporting(tmp_path, monkeypatch):
    no_export(monkeypatch)

    def refused(*args, **kwargs):  # as in a read-only or immutable folder, which root cannot write either
        raise PermissionError(13, "Permission denied", str(tmp_path / ".m.x1y2z3.tmp.onnx"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    path = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as refusal:
        export_onnx(path, model=random_model())
    assert str(refusal.value) == f"export: {path}: cannot write in its folder {tmp_path} (permission denied)"
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    metadata = fake_exporter(monkeypatch)
    program = export.torch.onnx.export()

    def full(path, **kwargs):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(program, "save", full)
    path = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as refusal:
        export_onnx(path, model=random_model(), check=False)
    assert str(refusal.value) == f"export: {path}: cannot write it (no space left on device); the file was not written"
    assert list(tmp_path.iterdir()) == [] and metadata  # the temporary file is removed too


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
def test_a_file_another_export_wrote_meanwhile_is_replaced_only_with_overwrite(tmp_path, monkeypatch, overwrite):
    """Two exports to one name: the other wrote its file after this one's check, before its write. It was replaced
    silently (both said they wrote it); without --overwrite it is kept now and this export fails."""
    fake_exporter(monkeypatch)
    program = export.torch.onnx.export()
    path = tmp_path / "m.onnx"

    def save_as_the_other_export_finishes(tmp, **kwargs):
        Path(tmp).write_bytes(b"this export")
        path.write_bytes(b"the other export")

    monkeypatch.setattr(program, "save", save_as_the_other_export_finishes)
    if overwrite:
        assert export_onnx(path, model=random_model(), check=False, overwrite=True).path == path
        assert path.read_bytes() == b"this export"
    else:
        with pytest.raises(ExportError) as refusal:
            export_onnx(path, model=random_model(), check=False)
        assert str(refusal.value) == (
            f"export: {path}: cannot write it (a file of that name appeared meanwhile; not replaced); the file was "
            "not written"
        )
        assert path.read_bytes() == b"the other export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left


@pytest.mark.parametrize("iterations", ["3", 2.5, True, -1, np.int64(65)])
def test_iterations_that_are_not_a_whole_number_in_range_are_refused_before_exporting(
    tmp_path, monkeypatch, iterations
):
    no_export(monkeypatch)
    with pytest.raises(ExportError, match=r"^export: iterations must be a whole number between 0 and 64, got "):
        export_onnx(tmp_path / "m.onnx", model=random_model(), iterations=iterations)
    assert list(tmp_path.iterdir()) == []


def test_a_numpy_integer_iterations_is_a_plain_int(tmp_path, monkeypatch):
    metadata = fake_exporter(monkeypatch)
    report = export_onnx(tmp_path / "m.onnx", model=random_model(), iterations=np.int64(0), check=False)
    assert report.iterations == 0 and type(report.iterations) is int
    assert json.loads(metadata["architecture"])["iterations"] == 0


def test_the_models_own_iterations_are_held_to_the_same_range(tmp_path, monkeypatch):
    no_export(monkeypatch)
    model = random_model()
    model.config = dataclasses.replace(model.config, iterations=1000)
    weights = save_golf(model, tmp_path / "golf.safetensors")
    with pytest.raises(WeightsError) as refusal:  # such a card is refused by every loader now
        export_onnx(tmp_path / "out" / "m.onnx", weights=weights)
    assert str(refusal.value) == f"weights {weights}: model card's iterations 1000 is over the limit of 64"
    with pytest.raises(ExportError, match="the model's config.iterations must be a whole number .* 64, got 1000"):
        export_onnx(tmp_path / "out" / "m.onnx", model=model)
    assert not (tmp_path / "out").exists()


def test_a_malformed_inference_section_is_refused_before_exporting(tmp_path, monkeypatch):
    no_export(monkeypatch)
    card = {"inference": {"iterations": 3, "tile_overlap": "big"}}
    weights = save_golf(random_model(), tmp_path / "golf.safetensors", card)
    with pytest.raises(WeightsError) as refusal:
        export_onnx(tmp_path / "out" / "m.onnx", weights=weights)
    assert f"weights {weights}: " in str(refusal.value)  # the path given, not the card's file name
    assert "tile_overlap" in str(refusal.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("failure", ["check", "interrupt"])
def test_a_failed_export_leaves_no_folder_made_for_the_file(tmp_path, monkeypatch, failure):
    fake_exporter(monkeypatch)
    if failure == "check":
        monkeypatch.setattr(export, "_check", lambda path, wrapped: 0.5)
        expected: type[BaseException] = ExportError
    else:

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt  # Ctrl-C during the export

        monkeypatch.setattr(export.torch.onnx, "export", interrupted)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        export_onnx(tmp_path / "new" / "sub" / "m.onnx", model=random_model())
    assert list(tmp_path.iterdir()) == []


def test_a_tilde_in_the_output_is_the_home_folder(tmp_path, monkeypatch):
    fake_exporter(monkeypatch)
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "work")
    report = export_onnx("~/m.onnx", model=random_model(), check=False)
    assert report.path == tmp_path / "home" / "m.onnx" and report.path.is_file()
    assert list((tmp_path / "work").iterdir()) == []  # no literal folder "~"


def test_the_tile_overlap_metadata_is_for_the_exported_t(tmp_path, monkeypatch):
    """The card measured its overlap at its own T (2): an export at another T names the receptive field at that T."""
    model = random_model()
    model.config = dataclasses.replace(model.config, iterations=2)
    weights = save_golf(model, tmp_path / "golf.safetensors", {"inference": {"iterations": 2, "tile_overlap": 64}})
    metadata = fake_exporter(monkeypatch)
    export_onnx(tmp_path / "t3.onnx", weights=weights, iterations=3, check=False)
    assert metadata["tile_overlap"] == str(receptive_field(model, 3)) != "64"
    export_onnx(tmp_path / "t2.onnx", weights=weights, iterations=2, check=False)
    assert metadata["tile_overlap"] == "64"  # at the card's own T: what it measured


class WrongForTheFirstShape:
    """An ONNX Runtime session that answers 0.5 for the first input it is given, and the right output after it."""

    def __init__(self, *args, **kwargs):
        self.calls = 0

    def run(self, names, feeds):
        self.calls += 1
        x = feeds["blurry"]
        return [np.full_like(x, 0.5) if self.calls == 1 else x.copy()]


def test_the_check_reports_the_worst_shape_not_the_last(tmp_path, monkeypatch):
    monkeypatch.setattr(onnxruntime, "InferenceSession", WrongForTheFirstShape)
    identity = lambda x: x  # noqa: E731 - the PyTorch side: the session's later answers match it exactly
    empty_model = tmp_path / "empty.onnx"  # read, and handed to the fake session, which ignores it
    empty_model.write_bytes(b"")
    difference = export._check(empty_model, identity)
    assert 0.45 < difference <= 0.5  # the first shape's error: inputs in [0, 1) against 0.5 everywhere


def test_a_file_name_that_is_not_utf8_is_exported_and_checked(exported, tmp_path, monkeypatch):
    # ONNX Runtime refuses a path that is not valid UTF-8 (a file name's undecodable bytes, held as surrogates)
    weights, graph, _, _ = exported
    fake_exporter(monkeypatch, graph)  # the real graph of these weights, without the seconds of exporting it
    out = tmp_path / os.fsdecode(b"golf\xff.onnx")
    report = export_onnx(out, weights=weights)
    assert report.max_difference is not None and report.max_difference <= export.CHECK_TOLERANCE
    assert out.read_bytes() == graph.read_bytes() and sorted(tmp_path.iterdir()) == [out]


def test_the_callers_model_is_left_as_it_was(tmp_path):
    """export_onnx(model=m) with m already prepared (no BatchNorm left: prepare_model works in place) put m in eval
    mode and contiguous layout for good (and a model prepared on a GPU on the CPU)."""
    model = prepare_model(random_model(), device="cpu")
    model.train()
    export_onnx(tmp_path / "m.onnx", model=model, check=False)
    weight = next(model.parameters())
    assert model.training and weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
