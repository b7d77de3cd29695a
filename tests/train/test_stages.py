"""Stages: G alone learns (Eq. 6); D learns through T supervised iterates with G frozen and in eval mode (Eq. 4)."""

import pytest
import skimage.data
import torch

from golfdeblur.losses import TrainingLoss
from golfdeblur.models.golf import GolfConfig, GolfOptimizer, ResidualCNN
from golfdeblur.train.stages import Unrolled, make_stage, stage_loss


def fixed_batch(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Two crops of scikit-image's astronaut (bundled, no download), box-blurred."""
    image = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255
    sharp = torch.stack([image[:, 100 : 100 + size, 200 : 200 + size], image[:, 300 : 300 + size, 150 : 150 + size]])
    box = torch.full((3, 1, 5, 5), 1 / 25)
    blurry = torch.nn.functional.conv2d(sharp, box, padding=2, groups=3)
    return blurry, sharp


def train_steps(stage, loss_fn, blurry, sharp, steps: int, lr: float = 1e-3) -> list[float]:
    stage.prepare()
    optimizer = torch.optim.Adam(stage.trainable.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss, _ = stage_loss(stage, stage.network, loss_fn, blurry, sharp)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_stage_g_lowers_its_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    d_before = {k: v.clone() for k, v in model.D.state_dict().items()}
    losses = train_steps(make_stage("g", model, t_train=2), TrainingLoss(), *fixed_batch(), steps=15)
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(v, model.D.state_dict()[k]) for k, v in d_before.items())  # D untouched


def test_stage_d_lowers_its_loss_with_g_frozen():
    torch.manual_seed(0)
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    g_before = {k: v.clone() for k, v in model.G.state_dict().items()}
    stage = make_stage("d", model, t_train=2)
    losses = train_steps(stage, TrainingLoss(), *fixed_batch(), steps=15)
    assert losses[-1] < 0.8 * losses[0]
    assert not model.G.training and model.D.training
    assert all(not p.requires_grad for p in model.G.parameters())
    # frozen: parameters and BatchNorm statistics of G are unchanged
    assert all(torch.equal(v, model.G.state_dict()[k]) for k, v in g_before.items())


def test_stage_d_supervises_every_iterate():
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    stage = make_stage("d", model, t_train=3)
    stage.prepare()
    blurry, sharp = fixed_batch(16)
    calls = []

    def recording_loss(pred, target):
        calls.append(pred.shape)
        return ((pred - target) ** 2).mean(), {"mse": ((pred - target) ** 2).mean().detach()}

    total, terms = stage_loss(stage, stage.network, recording_loss, blurry, sharp)
    assert len(calls) == 3  # one term per iterate D^1, D^2, D^3
    # the untrained D is the identity (zero-initialised last conv): every iterate equals G(y)
    single = ((model.G(blurry) - sharp) ** 2).mean()
    assert float(total.detach()) == pytest.approx(3 * float(single.detach()), rel=1e-5)
    assert float(terms["mse"]) == pytest.approx(float(total.detach()), rel=1e-6)


def test_unrolled_and_bad_stage():
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4))
    assert len(Unrolled(model.D, 4)(torch.rand(1, 3, 8, 8))) == 4
    with pytest.raises(ValueError):
        Unrolled(model.D, 0)
    with pytest.raises(ValueError, match="unknown stage"):
        make_stage("x", model, 1)


def test_unrolled_feeds_each_iterate_back_into_d():
    # paper Eq. 4: the iterates are D(x), D(D(x)), ...; an untrained D is the identity, so a D that is not
    # (a random last convolution) tells D^k(x) from D applied k times to x
    torch.manual_seed(0)
    net = ResidualCNN(4)
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    net.eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        iterates = Unrolled(net, 3)(x)
        assert len(iterates) == 3
        torch.testing.assert_close(iterates[0], net(x))
        for k in range(2):
            torch.testing.assert_close(iterates[k + 1], net(iterates[k]))
        assert not torch.allclose(iterates[1], iterates[0], atol=1e-4)  # each putt moves the image


def test_stage_d_validates_at_the_models_test_iterations():
    model = GolfOptimizer(GolfConfig(g_width=4, d_width=4, iterations=3))
    assert make_stage("d", model, t_train=2).validation_iterations == 3  # the test-time T, not t_train
    assert make_stage("g", model, t_train=2).validation_iterations == 0  # G(y) alone
