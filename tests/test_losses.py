"""Losses: known values, the VGG-11-BN layout against torchvision's keys, loading a saved state dict, clear errors."""

import os
import re
from pathlib import Path

import pytest
import torch

from golfdeblur.losses import (
    LossError,
    PerceptualLoss,
    TrainingLoss,
    VGGFeatures,
    build_loss,
    find_vgg_weights,
    frequency_l1_loss,
    mse_loss,
    vgg11_bn_features,
)
from golfdeblur.train.config import LossSection

# torchvision's vgg11_bn: conv indices of `features` and the 5 max-pools.
TORCHVISION_CONV_INDICES = (0, 4, 8, 11, 15, 18, 22, 25)
TORCHVISION_POOL_INDICES = (3, 7, 14, 21, 28)


def test_mse_known_value():
    assert float(mse_loss(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5))) == pytest.approx(0.25)


def test_frequency_l1_known_values():
    shape = (1, 3, 8, 6)
    # A constant offset c has only a DC term c * sqrt(H W) (orthonormal FFT) among H * (W // 2 + 1) coefficients.
    c = 0.2
    expected = c * (8 * 6) ** 0.5 / (8 * (6 // 2 + 1))
    assert float(frequency_l1_loss(torch.full(shape, c), torch.zeros(shape))) == pytest.approx(expected, rel=1e-5)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    assert float(frequency_l1_loss(x, x)) == 0.0


def test_vgg_layout_matches_torchvision_indices():
    features = vgg11_bn_features()
    assert len(features) == 29  # up to and including the 5th max-pool
    assert [i for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d)] == list(TORCHVISION_CONV_INDICES)
    assert [i for i, m in enumerate(features) if isinstance(m, torch.nn.MaxPool2d)] == list(TORCHVISION_POOL_INDICES)
    # torchvision's vgg11_bn has 132,868,840 parameters, of which its classifier holds 123,642,856.
    assert sum(p.numel() for p in features.parameters()) == 132_868_840 - 123_642_856


def saved_state_dict(path: Path, seed: int = 0) -> dict:
    """A random-weight state dict with torchvision's vgg11_bn keys, classifier included, saved with torch.save."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in vgg11_bn_features().state_dict().items()}
    for key in state:
        if key.endswith("running_var"):
            state[key] = torch.rand_like(state[key]) + 0.5
    state["classifier.0.weight"] = torch.randn(8, 8)
    state["classifier.0.bias"] = torch.randn(8)
    torch.save(state, path)
    return state


def test_load_torchvision_state_dict(tmp_path: Path):
    path = tmp_path / "vgg11_bn-0123abcd.pth"
    state = saved_state_dict(path)
    phi = VGGFeatures.from_torchvision_file(path)
    assert torch.equal(phi.features[25].weight, state["features.25.weight"])
    assert torch.equal(phi.features[26].running_var, state["features.26.running_var"])
    assert not any(p.requires_grad for p in phi.parameters())
    phi.train()
    assert not phi.training  # stays frozen
    x = torch.rand(1, 3, 64, 64)
    assert phi(x).shape == (1, 512, 2, 2)
    loss = PerceptualLoss(phi)
    pred = x.clone().requires_grad_(True)
    assert float(loss(pred, x).detach()) == 0.0
    value = loss(pred * 0.5, x)
    value.backward()
    assert float(value.detach()) > 0 and pred.grad is not None


def random_vgg(seed: int = 0) -> VGGFeatures:
    """VGGFeatures with random He-initialised convolutions (features of order 1, unlike PyTorch's default init)."""
    torch.manual_seed(seed)
    phi = VGGFeatures()
    for module in phi.features:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return phi


def test_vgg_features_normalise_inputs_with_imagenet_mean_and_std():
    """phi(x) is the VGG layers applied to (x - ImageNet mean) / ImageNet std, torchvision's input convention."""
    phi = random_vgg()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected, unnormalised = phi.features((x - mean) / std), phi.features(x)
        got = phi(x)
    assert (expected - unnormalised).abs().max() > 0.1 * expected.abs().max()  # the check tells the two apart
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_bad_vgg_files_are_clear_errors(tmp_path: Path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(LossError, match="not a VGG-11-BN state dict"):
        VGGFeatures.from_torchvision_file(wrong)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(LossError, match="not a readable torch state dict"):
        VGGFeatures.from_torchvision_file(garbage)
    with pytest.raises(LossError, match="no such file"):
        find_vgg_weights(tmp_path / "missing.pth")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_vgg_weights_that_are_a_folder_pipe_or_device_are_named_for_what_they_are(special_files):
    # these read "VGG weights ...: no such file"
    for path, what in special_files(".pth").items():
        with pytest.raises(LossError) as info:
            find_vgg_weights(path)
        assert str(info.value) == f"VGG weights {path}: {what}; name torchvision's vgg11_bn-*.pth file"


def test_perceptual_without_weights_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(LossError, match="--vgg-weights"):
        build_loss(LossSection(perceptual_weight=0.01))
    # ... and the hub cache is searched when no path is given
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    saved_state_dict(tmp_path / "hub" / "checkpoints" / "vgg11_bn-6002323d.pth")
    loss = build_loss(LossSection(perceptual_weight=0.01))
    assert loss.perceptual is not None
    saved_state_dict(tmp_path / "hub" / "checkpoints" / "vgg11_bn-00000000.pth")  # first by name, listed last here
    assert find_vgg_weights() == tmp_path / "hub" / "checkpoints" / "vgg11_bn-6002323d.pth"


def test_vgg_weights_named_on_the_command_line_win_over_the_recipes(tmp_path: Path):
    # --vgg-weights replaces loss.vgg_weights (check_paths_exist does not even look at the recipe's file)
    recipe_state = saved_state_dict(tmp_path / "vgg11_bn-recipe.pth", seed=0)
    given_state = saved_state_dict(tmp_path / "vgg11_bn-given.pth", seed=1)
    assert not torch.equal(recipe_state["features.0.weight"], given_state["features.0.weight"])
    section = LossSection(perceptual_weight=0.01, vgg_weights=str(tmp_path / "vgg11_bn-recipe.pth"))
    loss = build_loss(section, vgg_weights=tmp_path / "vgg11_bn-given.pth")
    assert torch.equal(loss.perceptual.phi.features[0].weight, given_state["features.0.weight"])
    missing = LossSection(perceptual_weight=0.01, vgg_weights=str(tmp_path / "missing.pth"))
    assert build_loss(missing, vgg_weights=tmp_path / "vgg11_bn-given.pth").perceptual is not None


def test_vgg_weights_under_a_home_folder_tilde_are_found(tmp_path: Path, monkeypatch):
    # a recipe's loss.vgg_weights is not expanded by a shell: "~/vgg11_bn-x.pth" must not read "no such file"
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "vgg11_bn-x.pth").write_bytes(b"x")
    assert find_vgg_weights("~/vgg11_bn-x.pth") == tmp_path / "vgg11_bn-x.pth"


def test_a_perceptual_only_loss_trains_with_that_term_alone():
    # a perceptual weight alone enables a term: not "every term has weight 0"
    loss = TrainingLoss(mse_weight=0.0, perceptual_weight=1.0, perceptual=PerceptualLoss(random_vgg()))
    total, terms = loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert set(terms) == {"perceptual"} and float(total) == pytest.approx(float(terms["perceptual"]))


def test_a_perceptual_module_with_weight_0_is_not_run():
    # weight 0 disables the term: no VGG forward pass per step, and no 0-weighted "perceptual" in the logs
    loss = TrainingLoss(mse_weight=1.0, perceptual_weight=0.0, perceptual=PerceptualLoss(random_vgg()))
    assert loss.perceptual is None
    assert set(loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))[1]) == {"mse"}


def test_the_total_carries_the_gradient_and_the_logged_terms_do_not():
    # logged terms that keep their graphs would hold each step's activations alive for as long as the log keeps them
    pred = torch.rand(1, 3, 8, 8, requires_grad=True)
    total, terms = TrainingLoss(mse_weight=1.0, frequency_weight=0.1)(pred, torch.rand(1, 3, 8, 8))
    assert total.requires_grad and set(terms) == {"mse", "fft_l1"}
    assert not any(value.requires_grad for value in terms.values())


def test_training_loss_weights_and_terms():
    pred, target = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5)
    loss = TrainingLoss(mse_weight=2.0, frequency_weight=0.5)
    total, terms = loss(pred, target)
    assert set(terms) == {"mse", "fft_l1"}
    assert float(total) == pytest.approx(2.0 * float(terms["mse"]) + 0.5 * float(terms["fft_l1"]))
    with pytest.raises(LossError, match="every term has weight 0"):
        TrainingLoss(mse_weight=0.0)
    with pytest.raises(LossError, match="needs a PerceptualLoss"):
        TrainingLoss(perceptual_weight=1.0)


def test_training_loss_weights_the_perceptual_term():
    """With a perceptual term, total == mse_w * mse + freq_w * fft_l1 + perceptual_w * perceptual."""
    generator = torch.Generator().manual_seed(1)
    target = torch.rand(1, 3, 32, 32, generator=generator)
    pred = (target + 0.2 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    loss = TrainingLoss(
        mse_weight=1.0, frequency_weight=0.1, perceptual_weight=0.01, perceptual=PerceptualLoss(random_vgg())
    )
    total, terms = loss(pred, target)
    assert set(terms) == {"mse", "fft_l1", "perceptual"}
    assert float(terms["perceptual"]) > float(terms["mse"])  # so that a weight of 1 instead of 0.01 shows
    expected = float(terms["mse"]) + 0.1 * float(terms["fft_l1"]) + 0.01 * float(terms["perceptual"])
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_vgg_weights_without_the_perceptual_term_are_refused_and_the_label_names_the_terms_used(tmp_path: Path):
    saved_state_dict(tmp_path / "vgg11_bn.pth")
    with pytest.raises(
        LossError,
        match=f"--vgg-weights {re.escape(str(tmp_path / 'vgg11_bn.pth'))}: has no effect with loss.perceptual_weight 0",
    ):
        build_loss(LossSection(), tmp_path / "vgg11_bn.pth")  # would be ignored: no perceptual term
    assert build_loss(LossSection(perceptual_weight=0.01), tmp_path / "vgg11_bn.pth").perceptual is not None
    from golfdeblur.losses import loss_label

    assert loss_label(LossSection(name="mse+vgg11bn-pool5", frequency_weight=0.1)) == "mse+fft-l1"
    assert loss_label(LossSection(name="mse+fft-l1")) == "mse"  # the default section's name says more than it uses
    assert loss_label(LossSection(perceptual_weight=0.01)) == "mse+vgg11bn-pool5"
