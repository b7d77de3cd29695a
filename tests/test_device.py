"""resolve_device: auto, cuda:LOCAL_RANK, and one-line DeviceErrors (CUDA availability simulated, no GPU needed);
full_fp32 (no TF32, no enclosing autocast); the note on half precision a CPU runs slower than fp32."""

import pytest
import torch

from golfdeblur import device
from golfdeblur.device import DeviceError, full_fp32, resolve_device, slow_precision_note
from golfdeblur.errors import GolfdeblurError


def test_cpu_names_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("cpu", local_rank=3) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_means_this_processes_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device("auto", local_rank=2) == torch.device("cuda", 2)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:3", local_rank=1) == torch.device("cuda", 3)


def test_bad_names_and_missing_cuda_are_one_line_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="'tpu-please': not a device name") as info:
        resolve_device("tpu-please")
    assert isinstance(info.value, GolfdeblurError) and "\n" not in str(info.value)
    with pytest.raises(DeviceError, match="cuda:1: CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="mps: Apple's MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("name", [None, 1.5])
def test_a_name_of_the_wrong_type_is_a_one_line_device_error(name):
    # a library caller passing None (an unset option): torch.device's TypeError lists its overloads over many lines
    with pytest.raises(DeviceError) as info:
        resolve_device(name)
    assert str(info.value) == f"device {name!r}: not a device name (use auto, cpu, cuda, cuda:N or mps)"


def test_auto_prefers_cuda_then_apple_mps_then_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")
    with pytest.raises(DeviceError, match="cuda: CUDA is not available"):
        resolve_device("cuda")


def test_a_gpu_index_past_the_last_gpu_is_a_one_line_error(monkeypatch):
    """cuda:5 on a one-GPU machine: refused here, not as "invalid device ordinal" from model.to() later."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda:5")
    assert (
        str(info.value)
        == "device cuda:5: no such GPU as cuda:5 (this machine has 1 CUDA GPU, cuda:0; use cuda or auto)"
    )
    with pytest.raises(DeviceError, match=r"device cuda: no such GPU as cuda:2 \(this machine has 1 CUDA GPU"):
        resolve_device("cuda", local_rank=2)  # torchrun with more processes than GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"cuda:2 \(this machine has 2 CUDA GPUs, cuda:0 to cuda:1;"):
        resolve_device(torch.device("cuda", 2))
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["xla", "xpu", "hpu", "meta", "privateuseone", "xla:0", torch.device("meta")])
def test_device_types_other_than_cpu_cuda_and_mps_are_refused_in_one_line(name):
    """torch.device parses them, but nothing here runs on them: refused here, not a traceback from model.to() later."""
    with pytest.raises(DeviceError) as info:
        resolve_device(name)
    kind = str(name).split(":")[0]
    assert str(info.value) == (
        f"device {name}: golfdeblur does not run on {kind} devices (use auto, cpu, cuda, cuda:N or mps)"
    )


def test_only_the_first_cpu_and_mps_device_is_accepted(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("cpu:0") == torch.device("cpu", 0)
    assert resolve_device("mps:0") == torch.device("mps", 0)
    with pytest.raises(DeviceError) as info:
        resolve_device("cpu:1")
    assert str(info.value) == "device cpu:1: there is only one cpu device, cpu (or cpu:0)"
    with pytest.raises(DeviceError, match=r"^device mps:2: there is only one mps device, mps \(or mps:0\)$"):
        resolve_device("mps:2")


def test_full_fp32_turns_tf32_off_for_cuda_convolutions_only_while_inside():
    # cuDNN's default on Ampere and later runs fp32 convolutions in TF32; the flag is global, so this runs on a CPU too
    cudnn = torch.backends.cudnn
    before = cudnn.allow_tf32
    per_op_api = hasattr(cudnn, "conv")  # torch 2.9's per-op precision settings must read consistently too
    guard = full_fp32("cuda")
    for _ in range(2):  # reusable: tiled inference enters it once per tile
        with guard:
            assert cudnn.allow_tf32 is False
            if per_op_api:
                assert cudnn.conv.fp32_precision != "tf32"
        assert cudnn.allow_tf32 == before
        if per_op_api:
            assert cudnn.conv.fp32_precision == "tf32"
    with full_fp32("cpu"):
        assert cudnn.allow_tf32 == before  # other devices are left alone


def test_full_fp32_guards_that_interleave_keep_tf32_off_until_the_last_leaves_then_restore_it(monkeypatch):
    """Two deblurs on one GPU enter and leave their guards tile by tile, interleaved: the flag is one per process."""
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "allow_tf32", True)  # cuDNN's default
    first, second = full_fp32("cuda"), full_fp32("cuda")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert cudnn.allow_tf32 is False  # the second is still inside: its fp32 work must not run in TF32
    second.__exit__(None, None, None)
    assert cudnn.allow_tf32 is True  # not the False the second found on its way in
    guard = full_fp32("cuda")
    with guard, guard:  # re-entrant, as nesting one guard in another is
        pass
    assert cudnn.allow_tf32 is True


def test_full_fp32_guards_in_two_threads_restore_tf32_whichever_leaves_first(monkeypatch):
    import threading

    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "allow_tf32", True)
    inside, leave, seen = threading.Event(), threading.Event(), []

    def other_thread() -> None:
        with full_fp32("cuda"):  # entered while the main thread's guard holds, left after it
            inside.set()
            leave.wait(timeout=60)
            seen.append(cudnn.allow_tf32)  # this thread's fp32 work, after the main thread's guard left

    worker = threading.Thread(target=other_thread)
    with full_fp32("cuda"):
        worker.start()
        inside.wait(timeout=60)
    leave.set()
    worker.join()
    assert seen == [False] and cudnn.allow_tf32 is True


def test_full_fp32_switches_off_an_enclosing_autocast_for_its_device_type_only_while_inside():
    """A caller's bf16 autocast must not turn "fp32" (deblur, evaluation, validation) into bf16."""
    a, b = torch.rand(8, 8), torch.rand(8, 8)
    expected = a @ b
    guard = full_fp32("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.mm(a, b).dtype == torch.bfloat16  # the enclosing autocast is on here
        for _ in range(2):  # reusable
            with guard:
                assert not torch.is_autocast_enabled("cpu")
                assert torch.equal(torch.mm(a, b), expected)  # plain fp32, bit for bit
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        with full_fp32("cuda"):  # a CUDA guard leaves the CPU's autocast alone
            assert torch.is_autocast_enabled("cpu")
    with full_fp32("meta"):  # a device type without autocast: nothing to switch off, no error
        pass


def test_full_fp32_nested_in_itself_keeps_autocast_off_at_each_level_then_gives_back_the_callers():
    """Re-entered, a guard must leave each level as it found it (last in, first out): undone in entry order, the
    inner exit put the caller's bf16 autocast back while still inside the outer guard, and the outer exit left it
    switched off for the caller."""
    guard = full_fp32("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with guard:
            assert not torch.is_autocast_enabled("cpu")
            with guard:
                assert not torch.is_autocast_enabled("cpu")
            assert not torch.is_autocast_enabled("cpu")  # still inside the outer level
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


# torch >= 2.9 sets cuDNN's precision per op too (torch.backends.cudnn.conv.fp32_precision); torch 2.6 has no such API
needs_per_op_api = pytest.mark.skipif(not hasattr(torch.backends.cudnn, "conv"), reason="torch < 2.9: no per-op API")


@pytest.fixture
def per_op_settings():
    """torch.backends.cudnn, whose per-op and cuDNN-wide precisions (torch >= 2.9) are put back after the test (with
    the legacy flag, which sets conv's and rnn's too)."""
    cudnn = torch.backends.cudnn
    objects = (cudnn, cudnn.conv, cudnn.rnn)
    legacy, *precisions = cudnn.allow_tf32, *(o.fp32_precision for o in objects)
    yield cudnn
    cudnn.allow_tf32 = legacy
    for o, precision in zip(objects, precisions, strict=True):
        o.fp32_precision = precision


@needs_per_op_api
def test_full_fp32_works_after_torchs_newer_per_op_api_was_used_and_puts_its_settings_back(per_op_settings):
    """cudnn.conv.fp32_precision = "ieee" (torch's recommended API) makes reading the legacy allow_tf32 raise ("a mix of
    the legacy and new APIs"): the guard read it, so every fp32 deblur, evaluation and validation on CUDA raised."""
    cudnn = per_op_settings
    cudnn.conv.fp32_precision = "ieee"  # rnn's stays "tf32"
    with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
        cudnn.allow_tf32  # noqa: B018 - the read the old guard made
    guard = full_fp32("cuda")
    for _ in range(2):
        with guard:
            assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == ("ieee", "ieee")
        assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == ("ieee", "tf32")
    assert device._tf32_holders == 0


@needs_per_op_api
def test_full_fp32_sets_cudnn_ops_to_ieee_even_where_tf32_is_set_for_all_of_cudnn(per_op_settings):
    """Turning the legacy flag off leaves each op's precision "none", which inherits a TF32 set for all of cuDNN."""
    cudnn = per_op_settings
    cudnn.fp32_precision = "tf32"
    before = (cudnn.allow_tf32, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision)
    with full_fp32("cuda"):
        assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == ("ieee", "ieee")
        assert cudnn.allow_tf32 is False  # the legacy flag still reads, and says so
    assert (cudnn.allow_tf32, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == before


def test_a_guard_whose_tf32_hold_fails_leaves_the_callers_autocast_as_it_was(monkeypatch):
    """__enter__ switched autocast off before holding TF32 off: when that raised, __exit__ never ran and the caller's
    autocast stayed off, with a stale entry on the guard's stack."""

    def failing_hold() -> None:
        raise RuntimeError("cuDNN's settings cannot be read")

    monkeypatch.setattr(device, "_hold_tf32_off", failing_hold)
    guard = full_fp32("cpu")
    guard.cuda = True  # a CUDA guard, watched through the CPU's autocast (CUDA's cannot be switched on without a GPU)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match="cannot be read"), guard:
            pytest.fail("entered")
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert guard.no_autocasts == [] and device._tf32_holders == 0


def test_a_guard_whose_autocast_fails_to_switch_off_lets_go_of_tf32(monkeypatch):
    cudnn = torch.backends.cudnn
    before = cudnn.allow_tf32

    class FailingAutocast:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> None:
            raise RuntimeError("autocast refused")

    monkeypatch.setattr(torch, "autocast", FailingAutocast)
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: True)
    guard = full_fp32("cuda")
    with pytest.raises(RuntimeError, match="autocast refused"), guard:
        pytest.fail("entered")
    assert device._tf32_holders == 0 and cudnn.allow_tf32 == before and guard.no_autocasts == []


def test_leaving_a_guard_not_entered_raises_and_keeps_the_count_of_guards_inside(monkeypatch):
    """The count went to -1, and the settings were set to those the last guard saved, before the guard's own empty
    stack raised IndexError; the next guard then saw 0 holders when one was inside and restored TF32 under it."""
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "allow_tf32", True)
    guard = full_fp32("cuda")
    with pytest.raises(RuntimeError, match="^full_fp32: left without being entered$"):
        guard.__exit__(None, None, None)
    with pytest.raises(RuntimeError, match="^full_fp32: left without being entered$"):
        device._release_tf32()
    assert device._tf32_holders == 0
    with guard:
        assert device._tf32_holders == 1 and cudnn.allow_tf32 is False
    assert device._tf32_holders == 0 and cudnn.allow_tf32 is True


def test_half_precision_on_a_cpu_without_it_gets_a_note(monkeypatch):
    probes = {"_is_avx512_bf16_supported": False, "_is_amx_tile_supported": False, "_is_amx_fp16_supported": False}
    for name in probes:
        monkeypatch.setattr(torch.cpu, name, lambda name=name: probes[name], raising=False)
    assert slow_precision_note("cpu", "bf16").startswith("this CPU has no native bf16 (AVX-512 BF16 or AMX)")
    # fp16 is slower without AMX-FP16 even where the CPU has AVX-512 FP16 (1.4-2x): the note claims no emulation
    assert slow_precision_note("cpu", "fp16").startswith("fp16 runs slower than fp32 on a CPU without AMX-FP16")
    for precision in ("bf16", "fp16"):
        for gpu in ("cuda:0", "mps"):
            assert slow_precision_note(gpu, precision) is None  # GPUs are where half precision pays
    assert slow_precision_note(torch.device("cpu"), "fp32") is None
    probes["_is_avx512_bf16_supported"] = True  # e.g. Cooper Lake or Zen 4: native bf16 without AMX
    assert slow_precision_note("cpu", "bf16") is None
    assert slow_precision_note("cpu", "fp16") is not None
    probes["_is_avx512_bf16_supported"] = False
    probes["_is_amx_tile_supported"] = True  # e.g. a Sapphire Rapids Xeon: bf16 is native, fp16 still is not
    assert slow_precision_note("cpu", "bf16") is None
    assert slow_precision_note("cpu", "fp16") is not None
    probes["_is_amx_fp16_supported"] = True  # Granite Rapids: fp16 too
    assert slow_precision_note("cpu", "fp16") is None
    probes["_is_amx_fp16_supported"] = False
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")  # a torch without the (private) probe: no bf16 assumed
    assert slow_precision_note("cpu", "bf16") is not None
