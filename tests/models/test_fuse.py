import pytest
import torch

from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN, fuse_for_inference
from golfdeblur.models.fuse import fold_bn_after_conv, fold_bn_before_conv1x1


def _randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(shape, generator=generator) * 0.1)


@torch.no_grad()
def test_fused_residual_cnn_equals_unfused():
    torch.manual_seed(0)
    net = ResidualCNN(8, zero_init_last=False)
    _randomise_batchnorm(net)
    net.eval()
    fused = fuse_for_inference(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(2, 3, 23, 17)
    reference = net(x)
    relative = (fused(x) - reference).abs().max() / reference.abs().max()
    assert relative < 1e-5


@torch.no_grad()
def test_fused_golf_optimizer_equals_unfused_and_leaves_original_alone():
    torch.manual_seed(1)
    golf = GolfOptimizer(GolfConfig(g_width=6, d_width=4, iterations=2), zero_init_last=False)
    _randomise_batchnorm(golf, seed=1)
    golf.eval()
    fused = fuse_for_inference(golf)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in golf.modules())
    y = torch.rand(1, 3, 20, 20)
    reference = golf(y)
    assert ((fused(y) - reference).abs().max() / reference.abs().max()) < 1e-5
    again = fuse_for_inference(fused)  # folding a folded model: an unchanged copy, not an AttributeError
    assert again is not fused and torch.equal(again(y), fused(y))


@torch.no_grad()
@pytest.mark.parametrize(
    "conv",
    [
        torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, bias=False),
        torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True),
        torch.nn.Conv2d(4, 6, 5, padding=2, padding_mode="reflect", bias=False),
    ],
    ids=["dilated", "grouped-strided", "reflect-padded"],
)
def test_fold_bn_after_conv_keeps_every_convolution_setting(conv):
    bn = torch.nn.BatchNorm2d(6)
    _randomise_batchnorm(bn, seed=2)
    bn.eval()
    x = torch.rand(2, 4, 13, 11, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(fold_bn_after_conv(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_fold_bn_before_conv1x1_keeps_the_stride_and_refuses_what_it_cannot_fold():
    bn = torch.nn.BatchNorm2d(4)
    _randomise_batchnorm(bn, seed=4)
    bn.eval()
    strided = torch.nn.Conv2d(4, 6, 1, stride=2, bias=False)
    x = torch.rand(2, 4, 13, 11, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(fold_bn_before_conv1x1(bn, strided)(x), strided(bn(x)), rtol=1e-5, atol=1e-5)
    for conv in (torch.nn.Conv2d(4, 6, 3), torch.nn.Conv2d(4, 6, 1, padding=1), torch.nn.Conv2d(4, 6, 1, groups=2)):
        with pytest.raises(ValueError, match="unpadded, ungrouped 1x1"):
            fold_bn_before_conv1x1(bn, conv)


@torch.no_grad()
def test_fold_bn_after_conv_keeps_the_eps_of_a_channel_with_zero_variance():
    """A channel that never varied in training (running_var 0) is scaled by 1/sqrt(eps), as BatchNorm does, not by
    1/0."""
    conv = torch.nn.Conv2d(2, 2, 3, padding=1, bias=False)
    bn = torch.nn.BatchNorm2d(2).eval()
    bn.running_var[0] = 0.0
    x = torch.rand(1, 2, 5, 6, generator=torch.Generator().manual_seed(6))
    folded = fold_bn_after_conv(conv, bn)(x)
    assert torch.isfinite(folded).all()
    torch.testing.assert_close(folded, bn(conv(x)), rtol=1e-4, atol=1e-4)
