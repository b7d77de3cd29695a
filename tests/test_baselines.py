import torch

from golfdeblur.baselines import richardson_lucy, wiener
from golfdeblur.data.degrade import degrade
from golfdeblur.data.kernels import camera_shake_kernel
from golfdeblur.data.sources import skimage_images
from golfdeblur.metrics import psnr


def test_non_blind_references_sharpen_a_known_blur():
    sharp = skimage_images()[0][:, 100:196, 150:246]
    kernel = camera_shake_kernel(11, torch.Generator().manual_seed(3))
    blurry = degrade(sharp[None], kernel[None], noise_sigma_max=0.0)[0]
    before = psnr(blurry, sharp)
    for restore in (richardson_lucy, wiener):
        out = restore(blurry, kernel)
        assert out.shape == sharp.shape and out.min() >= 0 and out.max() <= 1
        assert psnr(out, sharp) > before + 2.0
