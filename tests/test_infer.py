"""golfdeblur.deblur: tiling equals no tiling, any size, numpy and torch in and out, settings and errors."""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import golfdeblur
from golfdeblur import infer, input_values
from golfdeblur.infer import (
    DeblurSettingsError,
    blend_weights,
    deblur,
    deblur_tensor,
    prepare_model,
    tile_spans,
)
from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN, WeightsError, receptive_field
from golfdeblur.models.weights_io import NO_WEIGHTS_HINT, save_golf


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A model that does something: random last layers and random BatchNorm statistics, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def golf() -> GolfOptimizer:
    torch.manual_seed(0)
    return randomised(GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1), zero_init_last=False))


@pytest.fixture(scope="module")
def cnn() -> ResidualCNN:
    torch.manual_seed(1)
    return randomised(ResidualCNN(4, zero_init_last=False))


def reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).clamp(0, 1)


# ---------------------------------------------------------------------------------------------------------- tiling


def test_tiled_equals_untiled_with_overlap_of_the_receptive_field(golf):
    assert receptive_field(golf) == 185
    x = torch.rand(1, 3, 300, 260, generator=torch.Generator().manual_seed(2))
    ready = prepare_model(golf, device="cpu")
    whole = deblur_tensor(x, ready, tile=0)
    assert (whole - x).abs().mean() > 0.05  # the model changes the image, so equality below means something
    np.testing.assert_allclose(whole, reference(golf, x), atol=1e-5)
    tiled_calls = []
    tiled = deblur_tensor(x, ready, tile=250, on_tile=lambda done, total: tiled_calls.append((done, total)))
    assert tiled_calls[-1] == (4, 4)  # 2 x 2 tiles, each far from covering the image
    assert (tiled - whole).abs().max() < 1e-5


@pytest.mark.parametrize("height, width, tile, overlap", [(150, 130, 125, 93), (211, 97, 160, 95)])
def test_tiled_equals_untiled_for_one_residual_cnn(cnn, height, width, tile, overlap):
    x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height))
    ready = prepare_model(cnn, device="cpu")
    whole = deblur_tensor(x, ready, tile=0)
    assert (deblur_tensor(x, ready, tile=tile, tile_overlap=overlap) - whole).abs().max() < 1e-5
    small_overlap = deblur_tensor(x, ready, tile=tile, tile_overlap=20)  # inexact but blended, no holes
    assert torch.isfinite(small_overlap).all() and (small_overlap - whole).abs().mean() < 0.05


def test_tile_spans_cover_the_image_with_weights_that_never_vanish():
    for length in [1, 2, 5, 37, 100, 101, 255, 400, 2160]:
        for tile in [3, 16, 64, 100, 370, 1536]:
            for overlap in [0, 1, 7, 50, 93, 369]:
                if tile <= overlap:
                    continue
                spans = tile_spans(length, tile, overlap)
                if len(spans) > 40:
                    continue
                assert spans[0].start == 0 and spans[-1].stop == length
                for before, after in zip(spans, spans[1:], strict=False):
                    assert before.stop - after.start == before.overlap_after == after.overlap_before >= overlap
                for radius in [0, 3, 46, 184]:
                    total = torch.zeros(length)
                    for span in spans:
                        assert 0 < span.stop - span.start <= tile
                        total[span.start : span.stop] += blend_weights(span, radius)
                    assert total.min() > 0, (length, tile, overlap, radius)
                    separate = all(a.stop <= b.start for a, b in zip(spans, spans[2:], strict=False))
                    if overlap >= 2 * radius and separate:  # only neighbours overlap: their ramps sum to one
                        assert torch.allclose(total, torch.ones(length))


def test_blend_weights_are_zero_within_the_radius_of_inner_edges():
    span = tile_spans(500, 350, 200)[1]
    weight = blend_weights(span, radius=90)
    assert span.overlap_before >= 200 and span.overlap_after == 0
    assert (weight[:90] == 0).all() and (weight[90:] > 0).all() and weight[-1] == 1


# --------------------------------------------------------------------------------------------- sizes and types


@pytest.mark.parametrize("height, width", [(1, 1), (1, 9), (9, 1), (7, 3), (33, 18)])
def test_any_size_matches_the_model(cnn, height, width):
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(3))
    out = deblur(x, model=cnn, device="cpu")
    assert out.shape == x.shape
    np.testing.assert_allclose(out, reference(cnn, x), atol=1e-5)


def test_numpy_uint8_uint16_float_and_tensor_agree(cnn):
    rng = np.random.default_rng(4)
    rgb8 = rng.integers(0, 256, size=(21, 34, 3), dtype=np.uint8)
    tensor = torch.from_numpy(rgb8.astype(np.float32) / 255).permute(2, 0, 1)
    expected = reference(cnn, tensor[None])[0]

    out8 = deblur(rgb8, model=cnn, device="cpu")
    assert out8.dtype == np.uint8 and out8.shape == rgb8.shape
    np.testing.assert_array_equal(out8, np.rint(expected.permute(1, 2, 0).numpy() * 255).astype(np.uint8))

    out16 = deblur(rgb8.astype(np.uint16) * 257, model=cnn, device="cpu")
    assert out16.dtype == np.uint16
    np.testing.assert_allclose(out16 / 65535, expected.permute(1, 2, 0).numpy(), atol=1e-5)

    outf = deblur(rgb8.astype(np.float64) / 255, model=cnn, device="cpu")
    assert outf.dtype == np.float64
    np.testing.assert_allclose(outf, expected.permute(1, 2, 0).numpy(), atol=1e-5)

    out_chw = deblur(tensor, model=cnn, device="cpu")
    assert out_chw.shape == tensor.shape and out_chw.dtype == torch.float32
    np.testing.assert_allclose(out_chw, expected, atol=1e-5)
    batch = torch.stack([tensor, tensor.flip(-1)])
    out_batch = deblur(batch.double(), model=cnn, device="cpu")
    assert out_batch.dtype == torch.float64
    np.testing.assert_allclose(out_batch[0].float(), expected, atol=1e-5)


def test_alpha_passes_through_and_greyscale_comes_back_greyscale(cnn):
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 65536, size=(17, 12, 4), dtype=np.uint16)
    out = deblur(rgba, model=cnn, device="cpu")
    assert out.shape == rgba.shape and out.dtype == np.uint16
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], deblur(rgba[..., :3], model=cnn, device="cpu"))

    grey = rng.random((17, 12), dtype=np.float32)
    out_grey = deblur(grey, model=cnn, device="cpu")
    assert out_grey.shape == grey.shape
    colour = reference(cnn, torch.from_numpy(grey)[None, None].expand(1, 3, -1, -1))
    np.testing.assert_allclose(out_grey, colour[0].mean(0).numpy(), atol=1e-5)
    grey_alpha = np.stack([grey, rng.random((17, 12), dtype=np.float32)], axis=2)
    out_ga = deblur(grey_alpha, model=cnn, device="cpu")
    np.testing.assert_allclose(out_ga[..., 0], out_grey, atol=1e-6)
    np.testing.assert_array_equal(out_ga[..., 1], grey_alpha[..., 1])


def test_big_endian_arrays_are_read_like_native_ones(cnn):
    image = np.random.default_rng(7).integers(0, 65536, size=(13, 17, 3), dtype=np.uint16)
    out = deblur(image.astype(">u2"), model=cnn, device="cpu")
    assert out.dtype == np.uint16  # in native byte order
    np.testing.assert_array_equal(out, deblur(image, model=cnn, device="cpu"))


class _ArrayInterfaceOnly:
    """A buffer from another library that offers numpy's array interface and nothing else."""

    def __init__(self, array: np.ndarray) -> None:
        self.__array_interface__ = array.__array_interface__
        self._keep = array


class _ArrayMethodOnly:
    """An array of another library (CuPy, JAX, xarray) that numpy takes through ``__array__``."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.array


@pytest.mark.parametrize("wrapper", [_ArrayInterfaceOnly, _ArrayMethodOnly], ids=["__array_interface__", "__array__"])
def test_an_object_with_the_array_interface_is_taken_as_numpy(cnn, wrapper):
    image = np.random.default_rng(3).random((5, 6, 3), dtype=np.float32)
    out = deblur(wrapper(image), model=cnn, device="cpu")
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, deblur(image, model=cnn, device="cpu"))


def test_pillow_images_come_back_as_pillow_images_in_their_mode(cnn):
    rng = np.random.default_rng(6)
    rgb8 = rng.integers(0, 256, size=(19, 23, 3), dtype=np.uint8)
    expected = deblur(rgb8, model=cnn, device="cpu")
    picture = Image.fromarray(rgb8)
    tagged = picture.copy()
    rgb_profile = bytes(16) + b"RGB " + bytes(108)  # an ICC header naming the RGB colour space
    display_p3 = {"color_primaries": 12, "transfer_characteristics": 13}  # as pillow-heif reads a HEIF's nclx box
    tagged.info.update(
        icc_profile=rgb_profile, exif=b"Exif\x00\x00", dpi=(300, 300), transparency=0, nclx_profile=display_p3
    )
    out = deblur(tagged, model=cnn, device="cpu")
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (23, 19)
    np.testing.assert_array_equal(np.asarray(out), expected)
    assert out.info == {
        "icc_profile": rgb_profile,
        "exif": b"Exif\x00\x00",
        "dpi": (300, 300),
        "nclx_profile": display_p3,
    }
    cmyk = picture.convert("CMYK")  # comes back as RGB: its CMYK profile would mis-colour it
    cmyk.info["icc_profile"] = rgb_profile.replace(b"RGB ", b"CMYK")
    out_cmyk = deblur(cmyk, model=cnn, device="cpu")
    assert out_cmyk.mode == "RGB" and "icc_profile" not in out_cmyk.info
    rgba = Image.fromarray(np.dstack([rgb8, rng.integers(0, 256, size=(19, 23), dtype=np.uint8)]))
    out_rgba = deblur(rgba, model=cnn, device="cpu")
    assert out_rgba.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out_rgba), deblur(np.asarray(rgba), model=cnn, device="cpu"))
    grey16 = Image.fromarray(rng.integers(0, 65536, size=(19, 23), dtype=np.uint16))
    out16 = deblur(grey16, model=cnn, device="cpu")
    assert out16.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(out16), deblur(np.asarray(grey16), model=cnn, device="cpu"))
    for mode, back in (("L", "L"), ("LA", "LA"), ("P", "RGB"), ("1", "L"), ("CMYK", "RGB")):
        assert deblur(picture.convert(mode), model=cnn, device="cpu").mode == back, mode
    with pytest.raises(DeblurSettingsError, match="Pillow image mode F: use L, LA, RGB, RGBA or I;16"):
        deblur(picture.convert("F"), model=cnn, device="cpu")


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I;16N"])
def test_16_bit_pillow_images_of_any_byte_order_come_back_in_their_mode(cnn, mode):
    """Pillow in, Pillow out, mode kept: I;16B came back as I;16. The values are those of the same pixels as I;16."""
    grey16 = np.random.default_rng(9).integers(0, 65536, size=(11, 14), dtype=np.uint16)
    picture = Image.frombytes(
        mode, (14, 11), grey16.astype({"I;16B": ">u2", "I;16L": "<u2"}.get(mode, "=u2")).tobytes()
    )
    assert np.array_equal(np.asarray(picture), grey16)  # the same pixels in that byte order
    out = deblur(picture, model=cnn, device="cpu")
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == (14, 11)
    expected = deblur(grey16, model=cnn, device="cpu")
    np.testing.assert_array_equal(np.asarray(out).astype(np.uint16), expected)
    assert [out.getpixel((x, 3)) for x in range(14)] == expected[3].tolist()


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_greyscale_pillow_images_grey_icc_profile_is_kept(mode):
    """A greyscale picture comes back greyscale, so its GRAY profile still describes it (as an RGB one does an RGB
    picture's); an RGB profile would not, and is dropped."""
    grey = Image.new(mode, (12, 10))
    grey.info["icc_profile"] = bytes(16) + b"GRAY" + bytes(108)  # an ICC header naming the grey colour space
    out = golfdeblur.deblur(grey, model=_identity(), device="cpu")
    assert out.mode == mode and out.info.get("icc_profile") == grey.info["icc_profile"]
    grey.info["icc_profile"] = bytes(16) + b"RGB " + bytes(108)
    assert "icc_profile" not in golfdeblur.deblur(grey, model=_identity(), device="cpu").info


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_runs_on_cpu_and_is_close(golf, precision):
    x = torch.rand(1, 3, 24, 31, generator=torch.Generator().manual_seed(6))
    out = deblur(x, model=golf, device="cpu", precision=precision)
    assert out.dtype == torch.float32
    assert (out - reference(golf, x)).abs().max() < 0.05


def test_fp32_stays_fp32_inside_a_callers_autocast_and_half_precision_keeps_its_own(golf):
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(8))
    plain = deblur(x, model=golf, device="cpu")
    tiled = deblur(x, model=golf, device="cpu", tile=30, tile_overlap=20)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(deblur(x, model=golf, device="cpu"), plain)  # was 2e-3 off: bf16 inside
        assert torch.equal(deblur(x, model=golf, device="cpu", tile=30, tile_overlap=20), tiled)  # per tile too
    ready = prepare_model(golf, device="cpu")
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
            expected = infer._run(ready, x, None).float().clamp(0, 1)
        half = deblur(x, model=ready, device="cpu", precision=precision)
        assert (half - plain).abs().max() > 1e-4  # really in half precision
        torch.testing.assert_close(half, expected, atol=0, rtol=0)
        with torch.autocast("cpu", dtype=torch.float16 if dtype == torch.bfloat16 else torch.bfloat16):
            torch.testing.assert_close(
                deblur(x, model=ready, device="cpu", precision=precision), expected, atol=0, rtol=0
            )


def test_prepared_model_is_reused_and_iterations_are_honoured(golf):
    ready = prepare_model(golf, device="cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ready.modules())
    assert prepare_model(ready, device="cpu") is ready
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(golfdeblur.deblur(x, model=ready), deblur(x, model=golf), atol=1e-6)
    with torch.no_grad():
        zero = golf(x, iterations=0).clamp(0, 1)
    np.testing.assert_allclose(deblur(x, model=ready, iterations=0), zero, atol=1e-5)


def test_default_tiles_grow_with_an_overlap_past_the_default_tile(golf):
    """High T: the receptive field (1933 px at T = 20) outgrows DEFAULT_TILE; a default tile still works, exactly."""
    ready = prepare_model(golf, device="cpu")
    assert receptive_field(ready, 20) == 1933 > infer.DEFAULT_TILE
    out = deblur(np.zeros((1600, 24), np.uint8), model=ready, device="cpu", iterations=20)  # fits: one piece
    assert out.shape == (1600, 24) and out.dtype == np.uint8
    x = torch.rand(1, 3, 2000, 12, generator=torch.Generator().manual_seed(9))
    calls = []
    tiled = deblur_tensor(x, ready, tile_overlap=900, on_tile=lambda done, total: calls.append(total))
    assert calls == [2, 2]  # tiles of 1800 px (twice the overlap), not of DEFAULT_TILE
    assert (tiled - deblur_tensor(x, ready, tile=0)).abs().max() < 1e-5
    assert infer.default_tile(1536, 900, 2000) == 0 and infer.default_tile(1537, 10, 369) == infer.DEFAULT_TILE
    with pytest.raises(DeblurSettingsError, match="tile 1536 must be larger than the tile overlap 1933"):
        deblur_tensor(torch.rand(1, 3, 1600, 24), ready, iterations=20, tile=1536)  # a given tile is as given


@pytest.mark.parametrize("iterations", [-1, 2.5, True, "3", 3.0])
def test_bad_iterations_are_one_line_settings_errors(golf, iterations):
    x = torch.rand(1, 3, 8, 8)
    message = f"iterations {iterations!r}: must be a whole number, 0 or more (applications of D)"
    with pytest.raises(DeblurSettingsError) as info:
        deblur(x, model=golf, device="cpu", iterations=iterations)
    assert str(info.value) == message
    with pytest.raises(DeblurSettingsError, match="must be a whole number, 0 or more"):
        deblur_tensor(x, prepare_model(golf, device="cpu"), iterations=iterations)
    assert deblur(x, model=golf, device="cpu", iterations=np.int64(0)).shape == x.shape  # numpy integers are whole


@pytest.mark.parametrize("cast", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bf16_and_double_models_run_in_float32(golf, cast):
    """precision sets the arithmetic, not the dtype the model comes in: a .half() model was a raw dtype mismatch."""
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(10))
    expected = deblur(x, model=golf, device="cpu")
    with_batchnorm = copy.deepcopy(golf).to(cast)
    out = deblur(x, model=with_batchnorm, device="cpu")
    assert out.dtype == torch.float32 and (out - expected).abs().max() < (1e-6 if cast == torch.float64 else 0.02)
    assert next(with_batchnorm.parameters()).dtype == cast  # folded in a copy: the caller's module is left as it was
    assert deblur(np.zeros((16, 16, 3), np.uint8), model=with_batchnorm, device="cpu").dtype == np.uint8
    folded = prepare_model(golf, device="cpu").to(cast)
    assert prepare_model(folded, device="cpu") is folded  # an already folded model is cast in place, like a move
    assert next(folded.parameters()).dtype == torch.float32
    for precision in ("fp32", "fp16", "bf16"):
        assert deblur(x, model=copy.deepcopy(golf).to(cast), device="cpu", precision=precision).shape == x.shape
    with pytest.raises(
        DeblurSettingsError, match=f"^model parameters are {cast}: pass the model through prepare_model"
    ):
        deblur_tensor(x, prepare_model(golf, device="cpu").to(cast))  # not prepared: one line, not a dtype mismatch


def test_a_float64_default_dtype_does_not_break_the_packaged_or_a_new_model():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    infer.clear_prepared_models()  # the packaged model is loaded here, under float64, not taken from an earlier test
    try:
        model = GolfOptimizer(GolfConfig(4, 2, 1), zero_init_last=False)  # built in float64
        assert next(model.parameters()).dtype == torch.float64
        assert deblur(np.zeros((16, 16, 3), np.uint8), model=model, device="cpu").dtype == np.uint8
        if infer.DEFAULT_WEIGHTS in infer.packaged_weights():
            assert deblur(np.zeros((16, 16, 3), np.uint8), device="cpu").shape == (16, 16, 3)
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("tile", [None, 30])  # whole image, and 2 x 2 tiles
def test_non_finite_model_output_is_a_weights_error_not_nan_or_zeros(cnn, tile):
    """clamp_ keeps NaN and a uint8 cast makes it 0: such an output is refused, naming the weights."""
    broken = copy.deepcopy(cnn)
    with torch.no_grad():
        broken.tail.weight[0, 0, 0, 0] = float("nan")
    image = np.full((40, 40, 3), 128, np.uint8)
    settings = {"device": "cpu", "tile": tile, "tile_overlap": None if tile is None else 10}
    message = "^model output includes NaN or infinity: so do the model's weights (tail.weight); use finite weights$"
    for item in (image, torch.rand(1, 3, 40, 40)):
        with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            deblur(item, model=broken, **settings)
    huge = copy.deepcopy(cnn)
    with torch.no_grad():
        huge.tail.weight.fill_(3e38)  # finite weights whose output overflows float32
    with pytest.raises(WeightsError, match="^model output includes NaN or infinity for a finite image: the model's "):
        deblur(image, model=huge, **settings)
    with pytest.raises(WeightsError, match=r", or fp16 overflowed \(try precision fp32\)$"):
        deblur(image, model=huge, precision="fp16", **settings)


@pytest.mark.parametrize(
    "name, value", [("tile", "64"), ("tile", 100.5), ("tile", True), ("tile", -1), ("tile_overlap", "2"),
                    ("tile_overlap", 2.0), ("tile_overlap", False), ("tile_overlap", -5)],
)  # fmt: skip
def test_bad_tiles_are_one_line_settings_errors(golf, name, value):
    x = torch.rand(1, 3, 8, 8)
    message = f"{name} {value!r}: must be a whole number of pixels, 0 or more"
    with pytest.raises(DeblurSettingsError) as info:
        deblur(x, model=golf, device="cpu", **{name: value})
    assert str(info.value) == message
    with pytest.raises(DeblurSettingsError) as info:
        deblur_tensor(x, prepare_model(golf, device="cpu"), **{name: value})
    assert str(info.value) == message
    whole = {"tile": np.int64(6), "tile_overlap": np.int32(2)}  # numpy integers are whole numbers
    assert deblur(x, model=golf, device="cpu", **whole).shape == x.shape


# ---------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((4, 4, 3), np.int32), "dtype int32"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "at least one pixel"),
        (np.zeros(4, np.uint8), r"^image shape \(4,\): expected \(H, W\), or \(H, W, C\) with C = 1, 2"),
        (np.zeros((), np.uint8), r"^image shape \(\): expected \(H, W\)"),
        (torch.zeros(1, 1, 4, 4), "tensor shape"),
        (torch.zeros(3, 4, 4, dtype=torch.uint8), "tensor dtype"),
        (np.full((4, 4, 3), 200.0, np.float32), r"values span \[200, 200\]: expected \[0, 1\] \(a \[-1, 1\] or 0-255"),
        (np.full((4, 4), np.nan), "NaN or infinity"),
        (torch.full((1, 3, 4, 4), -float("inf")), "NaN or infinity"),
        (torch.full((1, 3, 4, 4), -1.5), r"values span \[-1.5, -1.5\]"),
        (
            torch.rand(1, 3, 4, 4).to_sparse(),
            r"^tensor layout torch.sparse_coo: use a dense tensor on cpu, cuda or mps",
        ),
        (torch.empty(1, 3, 4, 4, device="meta"), r"^tensor on device meta: use a dense tensor on cpu, cuda or mps"),
        ("photo.jpg", r"image 'photo.jpg' is a path: pass the image itself .* or run `golfdeblur deblur PATH -o OUT`"),
        (Path("photo.jpg"), "image 'photo.jpg' is a path"),
        # "image dtype object: use uint8, uint16 or float in [0, 1]", as np.asarray made it; a list came back an array
        (None, r"^image of type NoneType: expected a numpy array, a torch tensor or a Pillow image$"),
        ([[0.5] * 3], r"^image of type list: expected a numpy array, a torch tensor or a Pillow image \(np.asarray"),
        (0.5, r"^image of type float: expected a numpy array, a torch tensor or a Pillow image$"),
    ],
)
def test_bad_images_raise_one_line_errors(cnn, image, match):
    with pytest.raises(DeblurSettingsError, match=match):
        deblur(image, model=cnn, device="cpu")


def test_sparse_and_meta_tensors_are_refused_by_deblur_tensor_too(cnn):
    ready = prepare_model(cnn, device="cpu")
    with pytest.raises(DeblurSettingsError, match="^tensor layout torch.sparse_coo: use a dense tensor"):
        deblur_tensor(torch.rand(1, 3, 4, 4).to_sparse(), ready)
    with pytest.raises(DeblurSettingsError, match="^tensor on device meta: "):
        deblur_tensor(torch.empty(1, 3, 4, 4, device="meta"), ready)


def test_float_values_a_little_outside_0_1_are_taken_and_the_result_clamped(cnn):
    """A resize's overshoot is not an error (only values beyond [-0.5, 1.5], such as a 0-255 float image, are)."""
    image = np.linspace(-0.2, 1.2, 48, dtype=np.float32).reshape(4, 4, 3)
    out = deblur(image, model=cnn, device="cpu")
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0


def test_bad_settings_raise(cnn):
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(DeblurSettingsError, match="precision 'fp8'"):
        deblur(x, model=cnn, device="cpu", precision="fp8")
    with pytest.raises(DeblurSettingsError, match="larger than the tile overlap"):
        deblur(torch.rand(1, 3, 40, 40), model=cnn, device="cpu", tile=20, tile_overlap=30)
    with pytest.raises(DeblurSettingsError, match="not a device"):
        deblur(x, model=cnn, device="tpu-please")
    with pytest.raises(DeblurSettingsError, match="GolfOptimizer or ResidualCNN"):
        deblur(x, model=torch.nn.Identity(), device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeblurSettingsError, match="CUDA is not available"):
            deblur(x, model=cnn, device="cuda")


def test_a_model_and_weights_together_are_a_settings_error_not_one_silently_ignored():
    """Which of the two should run is not for deblur to guess, nor may it ignore the weights without a word."""
    with pytest.raises(DeblurSettingsError, match="^pass either a model or weights, not both$"):
        deblur(
            np.zeros((8, 8, 3), np.uint8),
            model=GolfOptimizer(GolfConfig(4, 2, 1)),
            weights=infer.DEFAULT_WEIGHTS,
            device="cpu",
        )


def test_a_tile_equal_to_its_overlap_is_a_settings_error(cnn):
    """A tile must be strictly larger than the overlap: tile == tile_overlap is refused, not a division by zero."""
    ready = prepare_model(cnn, device="cpu")
    with pytest.raises(DeblurSettingsError, match="^tile 20 must be larger than the tile overlap 20$"):
        deblur_tensor(torch.rand(1, 3, 40, 40), ready, tile=20, tile_overlap=20)


def test_a_given_tile_that_covers_the_image_runs_it_in_one_piece_whatever_the_overlap(golf):
    """'A given tile must be larger than the overlap unless it covers the image': tile=40 on a 20 x 30 image is the
    whole image in one piece, not 'tile 40 must be larger than the tile overlap 185'; on_tile hears of that piece."""
    ready = prepare_model(golf, device="cpu")
    x = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(15))
    calls = []
    out = deblur_tensor(x, ready, tile=40, on_tile=lambda done, total: calls.append((done, total)))
    assert torch.equal(out, deblur_tensor(x, ready, tile=0))
    assert calls == [(1, 1)]  # a progress bar counting tiles reaches its end for an untiled image too


def test_without_model_or_packaged_weights_the_hint_is_given(monkeypatch):
    monkeypatch.setattr(infer, "packaged_weights", lambda: [])
    with pytest.raises(WeightsError) as info:
        deblur(np.zeros((4, 4, 3), np.uint8), device="cpu")
    assert str(info.value) == NO_WEIGHTS_HINT


@pytest.mark.parametrize(
    "inference, iterations, message",
    [
        ({"iterations": 3, "tile_overlap": "abc"}, None, 'inference.tile_overlap "abc" is not a whole number'),
        ({"iterations": 3, "tile_overlap": -8}, None, "inference.tile_overlap -8 is not a whole number of at least 0"),
        ({"tile_overlap": 64}, 2, "model card has no inference.iterations"),  # the T it was measured at
        ({"tile_overlap": 64}, None, "model card has no inference.iterations"),
        ("oops", None, "model card's inference is not an object"),
    ],
)
def test_a_malformed_measured_overlap_is_a_weights_error_naming_the_field(inference, iterations, message):
    with pytest.raises(WeightsError) as info:
        infer.card_tile_overlap({"inference": inference}, iterations, weights="w.safetensors")
    assert str(info.value).startswith("weights w.safetensors: ") and message in str(info.value)
    with pytest.raises(WeightsError, match="^weights x.safetensors: "):  # without a path: the card's own file name
        infer.card_tile_overlap({"inference": inference, "weights_file": "x.safetensors"}, iterations)
    assert infer.card_tile_overlap({"inference": {"iterations": 3}}) is None  # nothing measured is no error


def _identity() -> GolfOptimizer:
    """An untrained GolfOptimizer: its last layers are zero, so it gives back its input exactly."""
    return GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=1))


def test_a_palette_with_alpha_in_the_palette_keeps_its_transparency():
    """rgba.quantize() puts the alpha in the palette (no info['transparency']): it came back RGB, opaque."""
    rgba = Image.new("RGBA", (40, 30), (200, 50, 50, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 20, 30))
    palette = rgba.quantize(16)
    assert palette.mode == "P" and palette.palette.mode == "RGBA" and "transparency" not in palette.info
    out = golfdeblur.deblur(palette, model=_identity(), device="cpu")
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(palette.convert("RGBA")))
    assert np.asarray(out)[:, :20, 3].max() == 0 and np.asarray(out)[:, 20:, 3].min() == 255


@pytest.mark.parametrize(
    "mode, fill, key, back",
    [("L", 200, 0, "LA"), ("RGB", (200, 50, 50), (0, 0, 0), "RGBA"), ("1", 1, 0, "LA")],
)
def test_a_key_colour_becomes_alpha_as_on_the_command_line(tmp_path, mode, fill, key, back):
    """An L or RGB image's info['transparency'] was dropped, so saving made its transparent pixels opaque."""
    from golfdeblur.data.imageio import read_image

    picture = Image.new(mode, (40, 30), fill)
    picture.paste(key, (0, 0, 20, 30))
    picture.save(tmp_path / "key.png", transparency=key)
    with Image.open(tmp_path / "key.png") as opened:
        out = golfdeblur.deblur(opened, model=_identity(), device="cpu")
    assert out.mode == back and "transparency" not in out.info
    pixels = np.asarray(out)
    np.testing.assert_array_equal(pixels[..., -1], read_image(tmp_path / "key.png").alpha)  # as the CLI reads it
    np.testing.assert_array_equal(pixels[..., :-1].squeeze(-1) if back == "LA" else pixels[..., :3],
                                  np.asarray(picture.convert("L" if back == "LA" else "RGB")))  # fmt: skip
    assert pixels[:, :20, -1].max() == 0 and pixels[:, 20:, -1].min() == 255
    unused = Image.new(mode, (8, 6), fill)  # a key no pixel has: no alpha, as on the command line
    unused.info["transparency"] = key
    assert golfdeblur.deblur(unused, model=_identity(), device="cpu").mode == mode.replace("1", "L")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="typing.get_overloads is Python 3.11+")
def test_deblur_is_typed_to_return_the_type_it_is_given():
    """A user's mypy reads golfdeblur.deblur(array).shape as an array's, not a union's (the package ships py.typed)."""
    import typing

    from golfdeblur import deblur_defaults

    hints = [typing.get_type_hints(overload) for overload in typing.get_overloads(infer.deblur)]
    assert [(h["image"], h["return"]) for h in hints] == [
        (torch.Tensor, torch.Tensor),
        (Image.Image, Image.Image),
        (infer.SupportsArray, np.ndarray),  # numpy arrays, and CuPy, JAX, xarray: numpy back, as documented
    ]
    # numpy integers are taken (check_iterations, check_tile) and typed so; precision names its values
    for h in hints:
        for name in ("iterations", "tile", "tile_overlap"):
            assert set(typing.get_args(h[name])) == {int, np.integer[typing.Any], type(None)}
        assert h["precision"] == typing.Literal["fp32", "bf16", "fp16"]
    assert typing.get_args(deblur_defaults.Precision) == deblur_defaults.PRECISION_NAMES == tuple(infer.PRECISIONS)


def test_a_model_name_passed_as_model_says_to_pass_it_as_weights(cnn):
    """deblur(img, model="golf-synthetic-v1") said "model must be a GolfOptimizer or ResidualCNN, got str"."""
    for name in ("golf-synthetic-v1", Path("w.safetensors")):
        with pytest.raises(
            DeblurSettingsError,
            match=r"^model '(golf-synthetic-v1|w.safetensors)' is a name or path: "
            r"pass it as weights= \(model= takes a GolfOptimizer or ResidualCNN object\)$",
        ):
            deblur(np.zeros((4, 4, 3), np.uint8), model=name, device="cpu")
        with pytest.raises(DeblurSettingsError, match="pass it as weights="):
            prepare_model(name, device="cpu")


def test_golfdeblur_infer_is_reachable_after_a_bare_import_which_still_loads_no_torch():
    """README's golfdeblur.infer.clear_prepared_models() raised AttributeError after `import golfdeblur` alone."""
    import subprocess

    code = (
        "import sys\nimport golfdeblur\nprint('torch' in sys.modules, hasattr(golfdeblur, 'no_such_module'), "
        "'torch' in sys.modules)\ngolfdeblur.infer.clear_prepared_models()\n"
        "print(golfdeblur.infer is sys.modules['golfdeblur.infer'], callable(golfdeblur.metrics.psnr))\n"
        "try:\n    golfdeblur.no_such_module\nexcept AttributeError as error:\n    print(error)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == [
        "False False False",
        "True True",
        "module 'golfdeblur' has no attribute 'no_such_module'",
    ], result.stderr


def test_deblur_returns_a_contiguous_tensor_for_a_permuted_numpy_view():
    """torch.from_numpy(hwc).permute(2, 0, 1) is channels_last: deblur_tensor keeps that layout, deblur does not
    (a caller's .view() on the result raised)."""
    hwc = torch.from_numpy(np.random.default_rng(0).random((40, 50, 3), dtype=np.float32))
    out = golfdeblur.deblur(hwc.permute(2, 0, 1), model=GolfOptimizer(GolfConfig(4, 4, 1)), device="cpu")
    assert out.is_contiguous() and out.view(-1).shape == (6000,)
    assert torch.equal(out, hwc.permute(2, 0, 1))  # untrained: the identity


@pytest.mark.parametrize("tile", [0, 30])  # whole image, and 2 x 2 tiles
def test_deblur_tensor_gives_back_the_layout_it_is_given(tile):
    """Its documented contract: a channels_last batch (an (H, W, 3) numpy image's view) comes back channels_last, so
    that [0].permute(1, 2, 0) is (H, W, 3) pixels without a copy; a contiguous one comes back contiguous."""
    ready = prepare_model(GolfOptimizer(GolfConfig(4, 2, 1)), device="cpu")
    x = torch.rand(1, 3, 40, 50, generator=torch.Generator().manual_seed(16))
    channels_last = deblur_tensor(x.contiguous(memory_format=torch.channels_last), ready, tile=tile, tile_overlap=10)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert deblur_tensor(x, ready, tile=tile, tile_overlap=10).is_contiguous()


# ----------------------------------------------------------------------------------- models and values refused


def test_deblur_tensor_refuses_a_model_not_passed_through_prepare_model():
    """A fresh model in training mode ran on batch statistics (output off by up to 1.0) and overwrote the caller's
    BatchNorm running statistics; one with BatchNorm in eval mode is not folded either."""
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(4, 4, 1), zero_init_last=False)
    before = copy.deepcopy(model.state_dict())
    x = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(11))
    with pytest.raises(DeblurSettingsError) as info:
        deblur_tensor(x, model)
    assert str(info.value) == (
        "model in training mode: pass it through prepare_model (folds BatchNorm, eval mode), or use golfdeblur.deblur"
    )
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())  # left as it was
    with pytest.raises(DeblurSettingsError, match="^model has BatchNorm: pass it through prepare_model "):
        deblur_tensor(x, model.eval())
    ready = prepare_model(model, device="cpu")
    with pytest.raises(DeblurSettingsError, match="^model in training mode: "):
        deblur_tensor(x, ready.train())
    np.testing.assert_allclose(deblur_tensor(x, ready.eval()), reference(model, x), atol=1e-5)


@pytest.mark.parametrize("torch_input", [False, True])
def test_a_minus_one_to_one_image_is_refused_not_half_clipped_to_black(cnn, torch_input):
    """deblur(2 * a - 1) was taken (INPUT_VALUE_RANGE was [-1, 2]) and half the image came back 0."""
    image = 2 * np.linspace(0.0, 1.0, 48).reshape(4, 4, 3) - 1
    item = torch.from_numpy(image).permute(2, 0, 1) if torch_input else image
    with pytest.raises(DeblurSettingsError) as info:
        deblur(item, model=cnn, device="cpu")
    assert str(info.value) == (
        "image values span [-1, 1]: expected [0, 1] (a [-1, 1] or 0-255 float image? scale it to [0, 1])"
    )
    overshoot = np.clip(image * 0.7 + 0.5, -0.49, 1.49)  # a resize's overshoot of [0, 1] stays well inside
    assert deblur(overshoot, model=cnn, device="cpu").shape == image.shape


def test_zero_height_or_width_is_a_settings_error_saying_why(cnn):
    """deblur_tensor gave torch's conv traceback; deblur's tensor path did not say what was wrong with the shape."""
    ready = prepare_model(cnn, device="cpu")
    for shape in [(1, 3, 0, 20), (2, 3, 5, 0)]:
        with pytest.raises(DeblurSettingsError, match=r"^expected a \(B, 3, H, W\) batch with H, W >= 1, got shape"):
            deblur_tensor(torch.rand(shape), ready)
    for shape in [(1, 3, 0, 20), (3, 5, 0)]:
        with pytest.raises(DeblurSettingsError) as info:
            deblur(torch.rand(shape), model=ready)
        assert str(info.value) == f"tensor shape {shape}: needs at least one pixel"


def test_an_empty_batch_comes_back_empty():
    """(B, 3, H, W) -> (B, 3, H, W) with B = 0 (a filtered list of images that kept none): the value check must not
    take the min and max of no values (torch's 'cannot compute aminmax over an empty dimension')."""
    model = GolfOptimizer(GolfConfig(4, 2, 1))
    assert deblur(torch.empty(0, 3, 8, 8), model=model, device="cpu").shape == (0, 3, 8, 8)
    ready = prepare_model(model, device="cpu")
    assert deblur_tensor(torch.empty(0, 3, 40, 40), ready, tile=30, tile_overlap=10).shape == (0, 3, 40, 40)


@pytest.mark.parametrize("torch_input", [False, True])
def test_float64_values_beyond_float32_are_out_of_range_not_infinity(cnn, torch_input):
    """1e39 was cast to float32 first: a leaked overflow warning, then 'NaN or infinity' for a finite image."""
    image = np.full((4, 4, 3), 1e39)
    item = torch.from_numpy(image).permute(2, 0, 1) if torch_input else image
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DeblurSettingsError, match=r"^image values span \[1e\+39, 1e\+39\]: expected \[0, 1\]"):
            deblur(item, model=cnn, device="cpu")


@pytest.mark.parametrize(
    "dtype, value",
    [(np.float32, -0.5000001), (np.float64, -0.5000001), (np.float32, 1.5000001), (np.float64, -0.50000000001)],
)
def test_a_refused_span_is_printed_outside_the_window(cnn, dtype, value):
    """:g rounded -1.0000001 to 'span [-1, -1]', which reads as inside the window it is refused for."""
    image = np.full((4, 4, 3), 0.5, dtype)
    image[0, 0, 0] = value
    with pytest.raises(DeblurSettingsError) as info:
        deblur(image, model=cnn, device="cpu")
    low, high = (float(v) for v in re.match(r"image values span \[(.*), (.*)\]: ", str(info.value)).groups())
    assert low < input_values.INPUT_VALUE_RANGE[0] if value < 0 else high > input_values.INPUT_VALUE_RANGE[1]
    assert (low if value > 0 else high) == 0.5  # an end inside is printed as :g prints it


def test_a_model_on_the_meta_device_is_refused_in_one_line():
    """prepare_model gave torch's 'Cannot copy out of meta tensor' traceback."""
    message = (
        "model parameters on device meta: use a model on cpu, cuda or mps (one that holds values, e.g. loaded weights)"
    )
    for model in (GolfOptimizer(GolfConfig(4, 4, 1)), prepare_model(GolfOptimizer(GolfConfig(4, 4, 1)), device="cpu")):
        with pytest.raises(DeblurSettingsError) as info:
            deblur(np.zeros((4, 4, 3), np.uint8), model=model.to("meta"), device="cpu")
        assert str(info.value) == message


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("running_var", -1.0, "is negative (-1): a variance must be 0 or more; use intact weights"),
        ("running_mean", float("nan"), "includes NaN or infinity; use finite weights"),
        ("weight", float("inf"), "includes NaN or infinity; use finite weights"),
    ],
)
def test_corrupt_batchnorm_statistics_name_the_real_tensor(golf, field, value, reason):
    """A negative running_var was reported as non-finite weights naming G.layer2.1.conv2.weight, which is finite."""
    broken = copy.deepcopy(golf)
    with torch.no_grad():
        getattr(broken.G.layer2[1].bn2, field)[0] = value
    with pytest.raises(WeightsError) as info:
        deblur(np.zeros((8, 8, 3), np.uint8), model=broken, device="cpu")
    assert str(info.value) == f"model's G.layer2.1.bn2.{field} {reason}"


def test_a_zero_running_variance_is_taken_not_refused_as_corrupt(golf):
    """'a variance must be 0 or more': a channel that was constant over the training data has running_var 0, which
    folding takes (BatchNorm's eps keeps it finite); only a negative one is corrupt."""
    model = copy.deepcopy(golf)
    with torch.no_grad():
        model.D.layer1[0].bn1.running_var[0] = 0.0
    infer.check_batchnorm_statistics(model)
    out = deblur(torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(17)), model=model, device="cpu")
    assert bool(torch.isfinite(out).all())


def test_iterations_are_capped_at_what_an_export_takes(golf):
    """iterations=10**20 (or --iterations 99999999999999999999) ran for ever."""
    from golfdeblur.export import MAX_ITERATIONS

    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(12))
    ready = prepare_model(golf, device="cpu")
    for iterations in (MAX_ITERATIONS + 1, np.uint64(10**19), 10**20):
        message = f"iterations {iterations!r}: at most {MAX_ITERATIONS} (applications of D)"
        with pytest.raises(DeblurSettingsError) as info:
            deblur(x, model=ready, iterations=iterations)
        assert str(info.value) == message
        with pytest.raises(DeblurSettingsError, match=re.escape(message)):
            deblur_tensor(x, ready, iterations=iterations)
    assert deblur(x, model=ready, iterations=MAX_ITERATIONS).shape == x.shape


def test_an_input_that_requires_grad_runs_without_a_warning_and_gives_no_gradient():
    """float() of the input's min and max warned 'Converting a tensor with requires_grad=True to a scalar'."""
    model = GolfOptimizer(GolfConfig(4, 4, 1))
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(13)).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = deblur(x, model=model, device="cpu")
        tiled = deblur_tensor(x, prepare_model(model, device="cpu"), tile=0)
    assert out.shape == x.shape and not out.requires_grad and not tiled.requires_grad


def test_a_models_own_t_is_capped_like_the_iterations_argument():
    """A GolfConfig(iterations=100) model ran T = 100 when iterations was None; an export refuses that T."""
    from golfdeblur.export import MAX_ITERATIONS

    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(14))
    message = (
        f"model's config.iterations {MAX_ITERATIONS + 36}: at most {MAX_ITERATIONS} (applications of D); pass "
        "iterations= to run fewer"
    )
    model = GolfOptimizer(GolfConfig(2, 2, MAX_ITERATIONS + 36))
    with pytest.raises(DeblurSettingsError) as info:
        deblur(x, model=model, device="cpu")
    assert str(info.value) == message
    with pytest.raises(DeblurSettingsError, match=re.escape(message)):
        deblur_tensor(x, prepare_model(model, device="cpu"))
    with pytest.raises(DeblurSettingsError, match=re.escape(message)):
        infer.model_iterations(model, None)
    assert deblur(x, model=model, iterations=1, device="cpu").shape == x.shape  # a T given in range still runs
    assert infer.model_iterations(model, np.int64(1)) == 1
    assert infer.model_iterations(GolfOptimizer(GolfConfig(2, 2, 3)), None) == 3


# ------------------------------------------------------------------------------------ preparing once for many calls


@pytest.fixture
def no_prepared_models():
    infer.clear_prepared_models()
    yield
    infer.clear_prepared_models()


def counting_loads(monkeypatch) -> list[str]:
    """The weights files ``deblur`` loads from here on (resolved paths), as infer sees ``load_golf_and_card``."""
    loads: list[str] = []
    real_load = infer.load_golf_and_card
    monkeypatch.setattr(
        infer, "load_golf_and_card", lambda name, *a, **kw: loads.append(str(name)) or real_load(name, *a, **kw)
    )
    return loads


def saved_tiny(path: Path, seed: int, card: dict | None = None) -> tuple[GolfOptimizer, Path]:
    """A small random GolfOptimizer (T = 1), saved as ``path`` with ``card``'s fields in its card."""
    torch.manual_seed(seed)
    model = randomised(GolfOptimizer(GolfConfig(4, 4, 1), zero_init_last=False), seed)
    return model, save_golf(model, path, card)


def test_weights_by_name_or_path_are_prepared_once_for_many_calls(no_prepared_models, monkeypatch, tmp_path):
    """deblur(img) loaded the weights, checked their sha256, built and folded the model on every call (many times
    the cost of a prepared model's call on a small image: bench/deblur_call_overhead.py)."""
    loads = counting_loads(monkeypatch)
    model, path = saved_tiny(tmp_path / "a.safetensors", seed=3)
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    first = deblur(image, weights=path, device="cpu")
    for _ in range(3):
        np.testing.assert_array_equal(deblur(image, weights=str(path), device="cpu"), first)
    assert loads == [str(path)]
    np.testing.assert_array_equal(first, deblur(image, model=model, device="cpu"))
    if infer.DEFAULT_WEIGHTS in infer.packaged_weights():
        packaged = [deblur(image, device="cpu") for _ in range(2)]
        np.testing.assert_array_equal(packaged[0], packaged[1])
        assert loads == [str(path), str(infer.resolve_weights(infer.DEFAULT_WEIGHTS))]


def test_weights_rewritten_or_replaced_since_are_loaded_again(no_prepared_models, monkeypatch, tmp_path):
    """The kept model is never one of weights that have changed since: a new file (same name, same size) or a new
    card (its measured overlap) is read again."""
    loads = counting_loads(monkeypatch)
    path = tmp_path / "w.safetensors"
    image = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    for seed in (4, 5, 4):
        model, _ = saved_tiny(path, seed)
        np.testing.assert_array_equal(
            deblur(image, weights=path, device="cpu"), deblur(image, model=model, device="cpu")
        )
    assert len(loads) == 3
    overlaps: list[int | None] = []
    real_deblur_tensor = infer.deblur_tensor
    monkeypatch.setattr(
        infer, "deblur_tensor", lambda x, **kw: overlaps.append(kw["tile_overlap"]) or real_deblur_tensor(x, **kw)
    )
    card_file = path.with_suffix(".json")
    for overlap in (8, 16):
        card = {**json.loads(card_file.read_text()), "inference": {"iterations": 1, "tile_overlap": overlap}}
        card_file.write_text(json.dumps(card))
        deblur(image, weights=path, device="cpu")
        deblur(image, weights=path, device="cpu")
        deblur(image, weights=path, iterations=2, device="cpu")  # not the T it was measured at: the receptive field
    assert overlaps == [8, 8, None, 16, 16, None] and len(loads) == 5


def test_errors_stay_the_same_on_every_call_and_for_weights_gone_since(no_prepared_models, tmp_path):
    path = tmp_path / "w.safetensors"
    saved_tiny(path, seed=6, card={"inference": "oops"})
    for _ in range(2):  # the model is kept; the card's malformed overlap is said each time it is needed
        with pytest.raises(WeightsError, match=f"^weights {re.escape(str(path))}: model card's inference is not an"):
            deblur(np.zeros((4, 4, 3), np.uint8), weights=path, device="cpu")
    assert deblur(np.zeros((4, 4, 3), np.uint8), weights=path, device="cpu", tile_overlap=0).shape == (4, 4, 3)
    path.unlink()
    with pytest.raises(WeightsError, match="no such file, and not a packaged name"):
        deblur(np.zeros((4, 4, 3), np.uint8), weights=path, device="cpu")
    with pytest.raises(DeblurSettingsError, match="^device 'tpu': not a device name"):
        deblur(np.zeros((4, 4, 3), np.uint8), weights=path, device="tpu")


def test_a_model_is_kept_per_device_and_per_version_of_its_file(tmp_path):
    """The key of a kept model names the device (a CUDA call after a CPU one must not run on the CPU) and the
    file's ctime: a copy that restores the old mtime (cp -p, rsync -t) over the same file and size changes only it."""
    _, path = saved_tiny(tmp_path / "w.safetensors", seed=7)
    on_cpu = infer._weights_version(path, torch.device("cpu"))
    assert on_cpu != infer._weights_version(path, torch.device("cuda", 0))
    assert on_cpu != infer._weights_version(path, torch.device("cuda", 1))
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # another value of one tensor byte: the same size
    with open(path, "r+b") as file:  # in place: the same inode
        file.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert infer._weights_version(path, torch.device("cpu")) != on_cpu


def test_the_weights_card_is_read_once_with_the_model(no_prepared_models, monkeypatch, tmp_path):
    """The deblur command and deblur() read the card twice on a first call (once to build the model, once for the
    tile overlap): a card rewritten between the two could give the overlap of another model."""
    from golfdeblur.models import weights_io

    _, path = saved_tiny(tmp_path / "w.safetensors", seed=8)
    reads: list[Path] = []
    for module in (weights_io, infer):
        real_read = module.read_card
        monkeypatch.setattr(module, "read_card", lambda p, real_read=real_read: reads.append(p) or real_read(p))
    model, card, resolved = infer.prepared_weights(path, "cpu")
    assert len(reads) == 1 and resolved == path and card["g_width"] == 4


def test_concurrent_first_calls_for_the_same_weights_load_them_once(no_prepared_models, monkeypatch, tmp_path):
    """Four threads' first calls for the same weights loaded and folded them four times (the kept model was looked
    up and stored under the lock, but the load ran outside it): now one loads and the others take its model."""
    import threading

    _, path = saved_tiny(tmp_path / "w.safetensors", seed=9)
    threads = 4
    loads = counting_loads(monkeypatch)
    looked_up: set[int] = set()
    all_looked_up = threading.Event()
    real_version, real_load = infer._weights_version, infer.load_golf_and_card

    def version(*args):  # every call looks its version up first; the first load waits until all four have
        looked_up.add(threading.get_ident())
        if len(looked_up) == threads:
            all_looked_up.set()
        return real_version(*args)

    def load(*args, **kwargs):
        all_looked_up.wait(timeout=60)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(infer, "_weights_version", version)
    monkeypatch.setattr(infer, "load_golf_and_card", load)
    results: list[tuple] = []
    calls = [
        threading.Thread(target=lambda: results.append(infer.prepared_weights(path, "cpu"))) for _ in range(threads)
    ]
    for call in calls:
        call.start()
    for call in calls:
        call.join(timeout=120)
    assert len(results) == threads and len(loads) == 1
    assert all(model is results[0][0] and card is results[0][1] for model, card, _ in results)
    assert not infer._load_lock.locked()  # nothing left held for the next first call
    image = np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        deblur(image, weights=path, device="cpu"), deblur(image, model=results[0][0], device="cpu")
    )
    assert len(loads) == 1


def test_a_load_that_fails_in_concurrent_first_calls_fails_each_of_them_and_leaves_nothing_behind(
    no_prepared_models, monkeypatch, tmp_path
):
    """A failed load is not kept: each waiting caller tries its own and gets its error; a later call loads anew."""
    import threading

    _, path = saved_tiny(tmp_path / "w.safetensors", seed=10)
    threads = 3
    looked_up: set[int] = set()
    all_looked_up = threading.Event()
    real_version, real_load = infer._weights_version, infer.load_golf_and_card
    tried: list[str] = []

    def version(*args):
        looked_up.add(threading.get_ident())
        if len(looked_up) == threads:
            all_looked_up.set()
        return real_version(*args)

    def failing_load(name, *args, **kwargs):  # the first fails only once every call has come: all are first calls
        tried.append(str(name))
        all_looked_up.wait(timeout=60)
        raise WeightsError(f"weights {name}: corrupt")

    monkeypatch.setattr(infer, "_weights_version", version)
    monkeypatch.setattr(infer, "load_golf_and_card", failing_load)
    errors: list[Exception] = []

    def call() -> None:
        try:
            infer.prepared_weights(path, "cpu")
        except WeightsError as error:
            errors.append(error)

    calls = [threading.Thread(target=call) for _ in range(threads)]
    for each in calls:
        each.start()
    for each in calls:
        each.join(timeout=120)
    assert not any(each.is_alive() for each in calls)
    assert [str(error) for error in errors] == [f"weights {path}: corrupt"] * threads and len(tried) == threads
    assert not infer._load_lock.locked() and not infer._prepared_models
    monkeypatch.setattr(infer, "load_golf_and_card", real_load)  # the file is sound again: loaded, then kept
    loads = counting_loads(monkeypatch)
    model, card, _ = infer.prepared_weights(path, "cpu")
    assert infer.prepared_weights(path, "cpu")[0] is model and loads == [str(path)] and card["g_width"] == 4


def test_the_two_models_used_last_are_the_ones_kept(no_prepared_models, monkeypatch, tmp_path):
    """Two are kept, the least recently used going first: a is used again after b, so c pushes b out (first in, a,
    would go were they kept in the order loaded) and a stays; b is then loaded again (three kept would keep it)."""
    loads = counting_loads(monkeypatch)
    paths = {name: saved_tiny(tmp_path / f"{name}.safetensors", seed)[1] for seed, name in enumerate("abc")}
    for name in "abacab":
        deblur(np.zeros((4, 4, 3), np.uint8), weights=paths[name], device="cpu")
    assert [Path(name).stem for name in loads] == ["a", "b", "c", "b"]


def test_a_model_object_is_prepared_on_every_call_unless_it_is_prepared(monkeypatch, golf):
    """A model passed to deblur may be trained on between calls: it is never kept by identity. A prepared one (no
    BatchNorm, eval, float32) is run as it is, neither copied nor folded again."""
    image = np.random.default_rng(2).random((8, 8, 3), dtype=np.float32)
    model = copy.deepcopy(golf)
    before = deblur(image, model=model, device="cpu")
    with torch.no_grad():
        model.G.tail.weight.add_(0.05)  # a training step
    after = deblur(image, model=model, device="cpu")
    assert not np.array_equal(before, after)
    expected = reference(model, torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(after, expected, atol=1e-5)  # the model as it is now (folding rounds a little)

    prepared = golfdeblur.prepare_model(model, device="cpu")
    run_with: list[torch.nn.Module] = []
    real_deblur_tensor = infer.deblur_tensor
    monkeypatch.setattr(
        infer, "deblur_tensor", lambda x, **kw: run_with.append(kw["model"]) or real_deblur_tensor(x, **kw)
    )
    monkeypatch.setattr(infer, "fuse_for_inference", lambda m: pytest.fail("folded again"))
    monkeypatch.setattr(copy, "deepcopy", lambda *a: pytest.fail("copied"))
    for _ in range(2):
        np.testing.assert_allclose(deblur(image, model=prepared, device="cpu"), after, atol=1e-6)
    assert run_with == [prepared, prepared] and all(m is prepared for m in run_with)


def test_prepare_model_is_a_public_name():
    assert "prepare_model" in golfdeblur.__all__ and golfdeblur.prepare_model is prepare_model


def test_deblur_leaves_the_callers_global_random_generator_alone(no_prepared_models):
    """Loading the weights drew from torch's global generator (a random initialisation, then overwritten)."""
    if infer.DEFAULT_WEIGHTS not in infer.packaged_weights():
        pytest.skip("no packaged weights in this install")
    torch.manual_seed(0)
    expected = torch.get_rng_state()
    deblur(np.zeros((4, 4, 3), np.uint8), device="cpu")
    assert torch.equal(torch.get_rng_state(), expected)
