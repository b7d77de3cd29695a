import errno
import io
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from golfdeblur.device import DeviceError
from golfdeblur.models import GolfConfig, GolfOptimizer, WeightsError, load_golf, save_golf, weights_io
from golfdeblur.models.weights_io import (
    card_field,
    card_path_for,
    read_card,
    sha256_of,
    write_card,
    write_safetensors,
)


def _tiny(seed: int = 0) -> GolfOptimizer:
    torch.manual_seed(seed)
    return GolfOptimizer(GolfConfig(g_width=4, d_width=3, iterations=2), zero_init_last=False)


def test_round_trip_keeps_weights_architecture_and_card(tmp_path):
    model = _tiny()
    path = save_golf(model, tmp_path / "m.safetensors", card={"training_data": "unit test"})
    card = json.loads(card_path_for(path).read_text())
    assert card["g_width"] == 4 and card["d_width"] == 3 and card["iterations"] == 2
    assert card["training_data"] == "unit test" and len(card["sha256"]) == 64
    loaded = GolfOptimizer.from_pretrained(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert not loaded.training


def test_weights_file_is_safetensors_not_pickle(tmp_path):
    data = save_golf(_tiny(), tmp_path / "m.safetensors").read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])  # safetensors: u64 length, then a JSON header
    assert "G.head.weight" in header and header["__metadata__"]["architecture"] == "GolfOptimizer"


def test_checksum_mismatch_is_an_error(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_golf(path)


def test_missing_file_and_missing_card(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        load_golf(tmp_path / "absent.safetensors")
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card_path_for(path).unlink()
    with pytest.raises(WeightsError, match="model card"):
        load_golf(path)


def test_corrupt_file_with_matching_card_is_an_error(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    path.write_bytes(b"not a safetensors file at all")
    card = json.loads(card_path_for(path).read_text())
    from golfdeblur.models.weights_io import sha256_of

    card["sha256"] = sha256_of(path)
    card_path_for(path).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_golf(path)


def test_card_naming_the_wrong_architecture_is_an_error(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = json.loads(card_path_for(path).read_text())
    card["g_width"] = 8
    card_path_for(path).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="do not fit"):
        load_golf(path)


def test_tensors_that_cannot_go_to_the_device_are_a_one_line_error(tmp_path, monkeypatch):
    """A RuntimeError from safetensors' load_file on a device that exists (e.g. a GPU in a bad state) names the file."""
    from golfdeblur.models import weights_io

    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # cuda:5 passes resolve_device: 8 GPUs simulated
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)

    def no_such_device(filename, device="cpu"):
        raise RuntimeError("CUDA error: invalid device ordinal\nCUDA kernel errors might be asynchronously reported")

    monkeypatch.setattr(weights_io, "load_file", no_such_device)
    with pytest.raises(WeightsError) as info:
        load_golf(path, map_location="cuda:5")
    assert str(info.value) == (
        f"weights {path}: cannot load the tensors onto cuda:5 (CUDA error: invalid device ordinal)"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot put tensors on CUDA")
def test_loading_onto_cuda_without_cuda_is_a_one_line_device_error(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    with pytest.raises(DeviceError) as info:
        load_golf(path, map_location="cuda")
    assert str(info.value) == "device cuda: CUDA is not available on this machine (use cpu or auto)"


def test_map_location_is_resolved_like_every_device_name_and_never_blamed_on_the_file(tmp_path, monkeypatch):
    """ "auto" means what it means everywhere else; a bad name is a DeviceError naming the device, not "not a readable
    safetensors file"."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    model = _tiny()
    path = save_golf(model, tmp_path / "m.safetensors")
    for name in ("auto", torch.device("cpu"), "cpu:0"):
        loaded = GolfOptimizer.from_pretrained(path, map_location=name)
        assert next(loaded.parameters()).device.type == "cpu"
        assert all(
            torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
        )
    expected = {
        "cuda:abc": "device 'cuda:abc': not a device name (use auto, cpu, cuda, cuda:N or mps)",
        "cpu:1": "device cpu:1: there is only one cpu device, cpu (or cpu:0)",
        "meta": "device meta: golfdeblur does not run on meta devices (use auto, cpu, cuda, cuda:N or mps)",
    }
    for name, message in expected.items():
        with pytest.raises(DeviceError) as info:
            load_golf(path, map_location=name)
        assert str(info.value) == message


def test_the_same_weights_and_metadata_give_the_same_bytes(tmp_path):
    # safetensors orders its metadata map at random (the shipped weights once came out under two sha256s)
    tensors = {"b": torch.arange(5.0), "a": torch.ones(2, 3, dtype=torch.bfloat16)}
    metadata = {"format": "golfdeblur-checkpoint-1", "meta": "{}", "optim_groups": "[]", "optim_scalars": "{}"}
    write_safetensors(tensors, tmp_path / "one.safetensors", metadata)
    write_safetensors(tensors, tmp_path / "two.safetensors", dict(reversed(metadata.items())))
    assert sha256_of(tmp_path / "one.safetensors") == sha256_of(tmp_path / "two.safetensors")
    data = (tmp_path / "one.safetensors").read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert list(header["__metadata__"]) == sorted(metadata) and int.from_bytes(data[:8], "little") % 8 == 0
    with safe_open(tmp_path / "one.safetensors", "pt") as handle:  # safetensors reads the rewritten header
        assert handle.metadata() == metadata
        assert all(torch.equal(handle.get_tensor(name), tensor) for name, tensor in tensors.items())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"g_width": 0}, "model card's g_width 0 is not a whole number of at least 1"),
        ({"d_width": "4"}, 'model card\'s d_width "4" is not a whole number of at least 1'),
        ({"iterations": -2}, "model card's iterations -2 is not a whole number of at least 0"),
        ({"iterations": None}, "model card's iterations null is not a whole number of at least 0"),
        ({"sha256": 5}, "model card's sha256 5 is not 64 hexadecimal digits"),
        ({"sha256": "z" * 64}, f'model card\'s sha256 "{"z" * 64}" is not 64 hexadecimal digits'),
    ],
)
def test_a_malformed_card_is_a_weights_error_naming_the_field(tmp_path, changes, message):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = json.loads(card_path_for(path).read_text())
    card_path_for(path).write_text(json.dumps({**card, **changes}))
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value) == f"weights {path}: {message}"
    del card["g_width"]
    card_path_for(path).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="model card has no g_width$"):
        load_golf(path)


def test_tensors_of_another_shape_say_which_tensor_differs(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = json.loads(card_path_for(path).read_text())
    card_path_for(path).write_text(json.dumps({**card, "g_width": 8}))
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value).startswith(
        f"weights {path}: tensors do not fit the architecture in the card (size mismatch for G.head.weight: copying "
        "a param with shape torch.Size([4, 3, 7, 7]) from checkpoint"
    )
    assert "\n" not in str(info.value)


def test_a_folder_given_as_weights_is_called_a_folder(tmp_path):
    save_golf(_tiny(), tmp_path / "m.safetensors")
    with pytest.raises(WeightsError) as info:
        load_golf(tmp_path)
    assert str(info.value) == f"weights {tmp_path}: is a folder; name a .safetensors file (m.safetensors in it)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_weights_or_a_card_that_is_a_pipe_device_or_folder_is_named_for_what_it_is(tmp_path, never_opened):
    # these read "no such file, and not a packaged name" and "model card ... is missing beside it"
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    never_opened(fifo, tmp_path / "m.json")
    for path in (fifo, Path(os.devnull)):
        with pytest.raises(WeightsError) as info:
            load_golf(path)
        assert str(info.value) == (
            f"weights {path}: not a regular file (a pipe, socket or device); name a .safetensors file"
        )
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card_path_for(path).unlink()
    os.mkfifo(card_path_for(path))
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert (
        str(info.value) == f"weights {path}: model card m.json beside it: not a regular file (a pipe, socket or device)"
    )
    card_path_for(path).unlink()
    card_path_for(path).mkdir()
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value) == f"weights {path}: model card m.json beside it: is a folder"


@pytest.mark.parametrize("name", ["", " "])
def test_an_empty_name_is_refused_as_empty_not_as_the_working_folder(tmp_path, monkeypatch, name):
    from golfdeblur.models.weights_io import packaged_weights, resolve_weights

    monkeypatch.chdir(tmp_path)  # Path("") is this folder: it was "weights : is a folder"
    save_golf(_tiny(), tmp_path / "m.safetensors")
    known = ", ".join(packaged_weights()) or "none installed"
    for loader in (load_golf, GolfOptimizer.from_pretrained, resolve_weights):
        with pytest.raises(WeightsError) as info:
            loader(name)
        assert str(info.value) == (
            f"weights {name!r}: the name is empty; name packaged weights ({known}) or a .safetensors path"
        )


def test_a_file_that_is_not_safetensors_is_called_so_not_a_checksum_or_card_error(tmp_path):
    """The card itself, or an ONNX export, passed as weights: the message says which file to pass."""
    from golfdeblur.models.weights_io import resolve_weights

    path = save_golf(_tiny(), tmp_path / "golf.safetensors")
    card = card_path_for(path)
    for loader in (load_golf, GolfOptimizer.from_pretrained, resolve_weights):
        with pytest.raises(WeightsError) as info:
            loader(str(card))
        assert str(info.value) == f"weights {card}: not a .safetensors file (pass {path}, the weights beside it)"
    onnx = tmp_path / "exported" / "golf.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"onnx")
    with pytest.raises(WeightsError) as info:
        load_golf(onnx)
    assert str(info.value) == f"weights {onnx}: not a .safetensors file (pass the .safetensors beside its card)"
    assert load_golf(path).config.g_width == 4 and resolve_weights(path) == path  # .safetensors paths still load


def test_a_card_width_far_from_the_files_is_refused_before_the_model_is_built(tmp_path):
    """g_width 10,000,000 tried to allocate petabytes ("out of memory") before any shape was compared."""
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = json.loads(card_path_for(path).read_text())
    card_path_for(path).write_text(json.dumps({**card, "g_width": 10_000_000}))
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value) == (
        f"weights {path}: tensors do not fit the architecture in the card (size mismatch for G.head.weight: copying "
        "a param with shape torch.Size([4, 3, 7, 7]) from checkpoint, the shape in current model is "
        "torch.Size([10000000, 3, 7, 7]).)"
    )


def _rewrite(path, tensors):
    """Replace the weights at ``path`` with ``tensors``, under a card whose checksum matches them."""
    card = json.loads(card_path_for(path).read_text())
    write_safetensors(tensors, path, {"format": "pt"})
    card_path_for(path).write_text(json.dumps({**card, "sha256": sha256_of(path)}))


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing", 'Missing key\\(s\\) in state_dict: "D.tail.weight"'),
        ("extra", 'Unexpected key\\(s\\) in state_dict: "D.extra"'),
    ],
)
def test_a_missing_or_extra_tensor_is_refused_not_left_at_its_initial_value(tmp_path, change, message):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    tensors = load_file(path)
    if change == "missing":
        del tensors["D.tail.weight"]
    else:
        tensors["D.extra"] = torch.zeros(2)
    _rewrite(path, tensors)
    with pytest.raises(WeightsError, match=f"tensors do not fit the architecture in the card \\({message}"):
        load_golf(path)


def test_an_upper_case_sha256_in_the_card_still_matches(tmp_path):
    model = _tiny()
    path = save_golf(model, tmp_path / "m.safetensors")
    card = json.loads(card_path_for(path).read_text())
    card_path_for(path).write_text(json.dumps({**card, "sha256": card["sha256"].upper()}))
    loaded = load_golf(path)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("kind, wanted", [(int, "a whole number"), ((int, float), "a number")])
def test_card_field_refuses_json_true_where_a_number_is_wanted(kind, wanted):
    card = {"campaign": {"g_steps": True}}
    with pytest.raises(WeightsError) as info:
        card_field(card, "campaign.g_steps", "w.safetensors", kind)
    assert str(info.value) == f"weights w.safetensors: model card's campaign.g_steps true is not {wanted}"
    assert card_field(card, "campaign.g_steps", "w.safetensors", bool) is True


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool])
def test_integer_and_boolean_tensors_are_refused_naming_the_tensor(tmp_path, dtype):
    model = _tiny()
    path = save_golf(model, tmp_path / "m.safetensors")
    state = model.state_dict()
    _rewrite(path, {**state, "D.tail.weight": state["D.tail.weight"].to(dtype)})
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value) == f"weights {path}: tensor D.tail.weight is {dtype}, not floating point"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_and_double_tensors_load_as_float32(tmp_path, dtype):
    model = _tiny()
    path = save_golf(model, tmp_path / "m.safetensors")
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    counters = [v for k, v in state.items() if k.endswith(".num_batches_tracked")]
    assert counters and all(v.dtype == torch.int64 for v in counters)  # BatchNorm's counters: integers by design
    _rewrite(path, state)
    loaded = load_golf(path)
    for key, value in loaded.state_dict().items():
        assert value.dtype == model.state_dict()[key].dtype
        assert torch.equal(value, state[key].to(value.dtype))


def test_weights_whose_path_is_not_utf8_are_refused_as_such_not_as_a_corrupt_file(tmp_path):
    # safetensors opens only UTF-8 paths: --weights and --init-from failed with "not a readable safetensors file"
    import os

    from golfdeblur.models.weights_io import resolve_weights

    path = save_golf(_tiny(), tmp_path / os.fsdecode(b"w\xff") / "m.safetensors")
    expected = f"weights {tmp_path}/w\\xff/m.safetensors: path is not valid UTF-8, which safetensors cannot open"
    for call in (load_golf, resolve_weights):
        with pytest.raises(WeightsError) as info:
            call(path)
        assert str(info.value) == expected


def test_a_model_folded_for_inference_is_refused_before_anything_is_written(tmp_path):
    """save_golf wrote a folded model's state dict (conv biases, no BatchNorm) that load_golf then refused."""
    from golfdeblur.infer import prepare_model
    from golfdeblur.models import fuse_for_inference

    target = tmp_path / "folded.safetensors"
    for folded in (fuse_for_inference(_tiny()), prepare_model(_tiny(), device="cpu")):
        with pytest.raises(WeightsError) as info:
            save_golf(folded, target)
        assert str(info.value) == (
            f"weights {target}: cannot save a model folded for inference (fuse_for_inference, prepare_model): its "
            "BatchNorm is gone and load_golf could not read it back; save the GolfOptimizer before folding"
        )
        assert list(tmp_path.iterdir()) == []


def test_a_weights_name_without_the_safetensors_suffix_is_a_one_line_weights_error(tmp_path):
    target = tmp_path / "golf.pt"
    with pytest.raises(WeightsError) as info:
        save_golf(_tiny(), target)
    assert str(info.value) == f"weights {target}: the file name must end in .safetensors"
    assert list(tmp_path.iterdir()) == []


def test_the_safetensors_suffix_is_taken_in_any_case_as_loading_takes_it(tmp_path):
    # resolve_weights and deblur --weights took W.SafeTensors while save_golf refused to write it
    model = _tiny()
    path = save_golf(model, tmp_path / "golf.SafeTensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golf.SafeTensors", "golf.json"]
    loaded = load_golf(path)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_a_card_whose_t_is_over_what_deblur_runs_is_refused_at_load(tmp_path):
    """Weights of T = 65 loaded, then deblur refused every image ('config.iterations 65: at most 64')."""
    path = save_golf(GolfOptimizer(GolfConfig(g_width=4, d_width=2, iterations=65)), tmp_path / "t65.safetensors")
    with pytest.raises(WeightsError, match=r"model card's iterations 65 is over the limit of 64$"):
        load_golf(path)
    assert (
        load_golf(save_golf(GolfOptimizer(GolfConfig(4, 2, 64)), tmp_path / "t64.safetensors")).config.iterations == 64
    )


def test_a_card_nested_too_deeply_or_holding_a_huge_number_is_a_one_line_weights_error(tmp_path):
    # json.loads raised a RecursionError or a ValueError (Python's digit limit), which no caller caught: a traceback
    import sys

    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    text = card_path_for(path).read_text().rstrip()[:-1]  # the card without its closing brace
    limit = sys.get_int_max_str_digits()
    for extra, reason in [
        ('"x": ' + "[" * 3000 + "]" * 3000, "nested too deeply"),
        ('"x": 1' + "0" * limit, f"a number of more than {limit} digits"),
        ('"g_width": 1' + "0" * limit, f"a number of more than {limit} digits"),
    ]:
        card_path_for(path).write_text(f"{text}, {extra}}}")
        with pytest.raises(WeightsError) as info:
            load_golf(path)
        assert str(info.value) == f"weights {path}: model card m.json is not valid JSON ({reason})"


def test_a_card_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    # a 60 MB card took 35 s and 1.7 GB to read; a card is a few kilobytes
    from golfdeblur.models import weights_io

    packaged = weights_io.card_path_for(weights_io.resolve_weights("golf-synthetic-v1"))
    assert packaged.stat().st_size * 32 < weights_io.MAX_CARD_BYTES  # a wide margin over the packaged card
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = card_path_for(path).read_text().rstrip()
    size = weights_io.MAX_CARD_BYTES + 1
    card_path_for(path).write_text(card + " " * (size - len(card)))  # valid JSON, one byte over the limit
    monkeypatch.setattr(json, "loads", lambda *args, **kwargs: pytest.fail("the card was parsed"))
    with pytest.raises(WeightsError) as info:
        load_golf(path)
    assert str(info.value) == (
        f"weights {path}: model card m.json is {size:,} bytes, over the limit of {weights_io.MAX_CARD_BYTES:,} (a card "
        "is a few kilobytes)"
    )


def test_a_card_far_over_the_size_limit_is_said_at_its_size_having_read_no_more_than_the_limit(tmp_path, monkeypatch):
    # however large the file, one byte past the limit is all that is read; the message gives the file's own size
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = card_path_for(path).read_text().rstrip()
    size = weights_io.MAX_CARD_BYTES + 1000
    card_path_for(path).write_text(card + " " * (size - len(card)))
    asked = []

    class Counted(io.FileIO):
        def read(self, most=-1):
            asked.append(most)
            return super().read(most)

    monkeypatch.setattr(weights_io, "open", lambda file, mode: Counted(file), raising=False)
    with pytest.raises(WeightsError, match=f"model card m.json is {size:,} bytes, over the limit of"):
        load_golf(path)
    assert asked and all(0 <= most <= weights_io.MAX_CARD_BYTES + 1 for most in asked)


def test_a_card_of_exactly_the_size_limit_is_read(tmp_path):
    # the limit is the largest card taken, not the smallest refused
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    card = card_path_for(path).read_text().rstrip()
    card_path_for(path).write_text(card + " " * (weights_io.MAX_CARD_BYTES - len(card)))
    assert card_path_for(path).stat().st_size == weights_io.MAX_CARD_BYTES
    assert load_golf(path).config.g_width == 4


def test_write_card_without_replace_keeps_a_card_already_there(tmp_path):
    # replace=False is how a run never overwrites the card of weights it did not write
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    before = card_path_for(path).read_bytes()
    with pytest.raises(FileExistsError):
        write_card(path, {"other": 1}, "0" * 64, replace=False)
    assert card_path_for(path).read_bytes() == before


def test_a_card_that_cannot_be_read_is_a_one_line_weights_error(tmp_path, monkeypatch):
    # an unreadable card (permissions) is named with its reason, not an OSError traceback
    path = save_golf(_tiny(), tmp_path / "m.safetensors")

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(card_path_for(path)))

    monkeypatch.setattr(weights_io, "open", refused, raising=False)
    with pytest.raises(WeightsError) as info:
        read_card(path)
    assert str(info.value) == f"weights {path}: model card m.json cannot be read (permission denied)"


def test_loading_leaves_the_callers_global_random_generator_alone(tmp_path):
    """load_golf built a randomly initialised GolfOptimizer, drawing from torch's global generator, before overwriting
    it: torch.manual_seed(0); from_pretrained(...); torch.rand(1) gave another number than without the load."""
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    for load in (lambda: load_golf(path), lambda: GolfOptimizer.from_pretrained("golf-synthetic-v1")):
        torch.manual_seed(0)
        expected = torch.get_rng_state()
        load()
        assert torch.equal(torch.get_rng_state(), expected)


def test_a_loaded_model_is_float32_contiguous_in_eval_mode_on_its_device_and_equal_to_the_saved_one(tmp_path):
    model = _tiny()
    with torch.no_grad():  # running statistics and counters that are not the constructor's, to see them loaded
        for index, module in enumerate(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.num_batches_tracked.fill_(index + 7)
    loaded = load_golf(save_golf(model, tmp_path / "m.safetensors"), map_location="cpu")
    assert not loaded.training and all(not m.training for m in loaded.modules())
    for (name, value), (loaded_name, loaded_value) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert loaded_name == name and loaded_value.dtype == value.dtype and loaded_value.shape == value.shape
        assert loaded_value.device == torch.device("cpu") and loaded_value.is_contiguous()
        assert loaded_value.stride() == value.stride() and torch.equal(loaded_value, value)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in loaded.parameters())
    assert all(type(p) is torch.nn.Parameter for p in loaded.parameters())


def test_a_file_without_batchnorm_counters_loads_them_as_zero_as_a_new_model_holds_them(tmp_path):
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    _rewrite(path, {k: v for k, v in load_file(path).items() if not k.endswith(".num_batches_tracked")})
    counters = [v for k, v in load_golf(path).state_dict().items() if k.endswith(".num_batches_tracked")]
    assert counters and all(v.dtype == torch.int64 and int(v) == 0 for v in counters)


def test_a_model_loads_as_float32_under_a_float64_default_dtype_too(tmp_path):
    """ "Half, bfloat16 and double tensors are loaded as float32": under torch.set_default_dtype(torch.float64) the
    model was built, and so loaded, in float64."""
    path = save_golf(_tiny(), tmp_path / "m.safetensors")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        loaded = load_golf(path)
    finally:
        torch.set_default_dtype(previous)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert {v.dtype for v in loaded.state_dict().values()} == {torch.float32, torch.int64}


def test_a_user_s_own_weights_file_is_taken_over_a_packaged_name_ending_in_safetensors(tmp_path, monkeypatch):
    """`golfdeblur release --name golf.safetensors` wrote golf.safetensors.safetensors; `deblur --weights
    golf.safetensors` then loaded it instead of the user's own golf.safetensors (what `golfdeblur train` writes)."""
    from golfdeblur.models.weights_io import resolve_weights

    monkeypatch.setattr(weights_io, "PACKAGED_DIR", tmp_path / "installed")
    packaged = save_golf(_tiny(1), tmp_path / "installed" / "golf.safetensors.safetensors")
    save_golf(_tiny(2), tmp_path / "installed" / "golf-x.safetensors")
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    assert resolve_weights("golf.safetensors") == packaged  # no file of that name here: the packaged one
    save_golf(_tiny(3), tmp_path / "run" / "golf.safetensors")
    assert resolve_weights("golf.safetensors") == Path("golf.safetensors")
    loaded = load_golf("golf.safetensors").state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in _tiny(3).state_dict().items())
    (tmp_path / "run" / "golf-x").mkdir()  # a folder named like a packaged name cannot be weights: the packaged ones
    assert resolve_weights("golf-x") == tmp_path / "installed" / "golf-x.safetensors"
