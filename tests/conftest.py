"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Test tensors are tiny: extra threads only add OpenMP start-up and spin-wait costs, which take seconds (up to
    10x the work) on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def regression_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed, seeded image trained weights must improve: (blurry, sharp), each (1, 3, 192, 192) in [0, 1].

    The centre 192 x 192 of scikit-image's astronaut, blurred by the seeded 13 px camera-shake kernel (seed 7) with no
    noise and 8-bit rounding.
    """
    from golfdeblur.data.degrade import centre_crop, degrade
    from golfdeblur.data.kernels import camera_shake_kernel
    from golfdeblur.data.sources import skimage_images

    photos = skimage_images()
    sharp = centre_crop(photos[photos.names.index("skimage/astronaut")][None], 192)
    kernel = camera_shake_kernel(13, torch.Generator().manual_seed(7))[None]
    return degrade(sharp, kernel, noise_sigma_max=0.0), sharp
