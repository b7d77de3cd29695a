import torch

from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN, fuse_for_inference


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
