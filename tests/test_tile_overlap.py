"""golfdeblur.tile_overlap: the overlap measured for weights, and deblur using it as its default."""

from __future__ import annotations

import pytest
import torch

from golfdeblur import infer, tile_overlap
from golfdeblur.infer import DEFAULT_WEIGHTS, deblur, prepare_model, weights_tile_overlap
from golfdeblur.models import GolfConfig, GolfOptimizer, receptive_field
from golfdeblur.models.weights_io import packaged_weights, read_card, resolve_weights, save_golf
from golfdeblur.tile_overlap import OVERLAP_LADDER, TOLERANCE_LEVELS, measure_tile_overlap, tiling_error

IMAGES = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reaching_model():
    """Random weights in every layer: a network whose output depends on its neighbourhood."""
    torch.manual_seed(0)
    return prepare_model(GolfOptimizer(GolfConfig(4, 2, 3), zero_init_last=False), device="cpu")


def test_the_overlap_is_one_step_past_the_smallest_that_changes_nothing(reaching_model):
    errors = {step: max(tiling_error(reaching_model, image[None], step) for image in IMAGES) for step in (48, 64)}
    assert errors[48] >= TOLERANCE_LEVELS > errors[64]  # 64 px is the smallest step that passes here
    assert measure_tile_overlap(reaching_model, IMAGES) == 96


def test_without_a_passing_step_the_overlap_is_the_receptive_field(reaching_model, monkeypatch):
    monkeypatch.setattr(tile_overlap, "TOLERANCE_LEVELS", 0.0)  # nothing is below zero
    assert measure_tile_overlap(reaching_model, IMAGES) == receptive_field(reaching_model) == 369


def test_a_pass_at_the_last_step_that_fits_the_photos_leaves_no_margin_step(reaching_model):
    small = IMAGES[:, :, :80, :80]  # 32, 48 and 64 px fit; 64 passes (as above), and 96 would not fit: exact
    assert measure_tile_overlap(reaching_model, small) == receptive_field(reaching_model)


def test_a_step_passes_only_when_every_image_passes(monkeypatch):
    """32 px fails on the second image only: the smallest passing step is 48 px, so the overlap is 64 px."""
    identity = prepare_model(GolfOptimizer(GolfConfig(4, 2)), device="cpu")  # zero-init: deblurs to itself
    images = torch.rand(2, 3, 100, 100, generator=torch.Generator().manual_seed(2))

    def error(model, image, overlap, iterations=None, whole=None):
        return 1.0 if overlap == 32 and torch.equal(image, images[1:]) else 0.0

    monkeypatch.setattr(tile_overlap, "tiling_error", error)
    assert measure_tile_overlap(identity, images) == 64


@pytest.mark.parametrize("passing, expected", [(96, 128), (128, 192), (192, 369), (256, 369)])
def test_the_margin_step_must_fit_the_photos_else_the_overlap_is_exact(reaching_model, monkeypatch, passing, expected):
    """As the docstring says: on 256 px photos a pass at 192 px is the largest step tried, and gives the receptive
    field, not the untried 256 px step; 256 px itself is never tried (tiles could not overlap by it)."""
    tried = []

    def error(model, image, overlap, iterations=None, whole=None):
        tried.append(overlap)
        return 0.0 if overlap >= passing else 1.0

    monkeypatch.setattr(tile_overlap, "tiling_error", error)
    photos = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    assert measure_tile_overlap(reaching_model, photos) == expected
    assert max(tried) == min(passing, 192) and max(tried) < photos.shape[-1]


def test_deblur_defaults_to_the_cards_overlap_at_its_t_only(tmp_path, monkeypatch):
    path = save_golf(GolfOptimizer(GolfConfig(4, 2, 2)), tmp_path / "w.safetensors",
                     card={"inference": {"iterations": 2, "tile_overlap": 64, "rule": "test"}})  # fmt: skip
    bare = save_golf(GolfOptimizer(GolfConfig(4, 2, 2)), tmp_path / "bare.safetensors")
    assert weights_tile_overlap(path) == weights_tile_overlap(path, iterations=2) == 64
    assert weights_tile_overlap(path, iterations=3) is None and weights_tile_overlap(bare) is None
    used = []
    original = infer.deblur_tensor
    monkeypatch.setattr(infer, "deblur_tensor", lambda *a, **kw: used.append(kw["tile_overlap"]) or original(*a, **kw))
    image = torch.rand(1, 3, 40, 40)
    deblur(image, weights=path, device="cpu")
    deblur(image, weights=path, device="cpu", iterations=1)
    deblur(image, weights=path, device="cpu", tile_overlap=100)
    deblur(image, model=GolfOptimizer(GolfConfig(4, 2, 2)), device="cpu")  # a model object has no card: exact
    assert used == [64, None, 100, None]


@pytest.mark.slow
@pytest.mark.skipif(DEFAULT_WEIGHTS not in packaged_weights(), reason=f"no packaged {DEFAULT_WEIGHTS}")
def test_the_shipped_cards_overlap_is_what_measuring_gives():
    card = read_card(resolve_weights(DEFAULT_WEIGHTS))
    model = prepare_model(GolfOptimizer.from_pretrained(DEFAULT_WEIGHTS), device="cpu")
    measured = measure_tile_overlap(model, tile_overlap.reference_photos())
    assert card["inference"] == {"iterations": 3, "tile_overlap": measured, "rule": tile_overlap.TILE_OVERLAP_RULE}
    assert measured in OVERLAP_LADDER and measured < receptive_field(model)
