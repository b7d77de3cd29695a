"""golfdeblur: blind image deblurring with the Golf Optimizer, Golf(y) = D^T(G(y))."""

from golfdeblur.infer import deblur
from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN

__version__ = "0.2.0"  # 0.2.0: the first packaged weights, golf-synthetic-v1

__all__ = ["GolfConfig", "GolfOptimizer", "ResidualCNN", "__version__", "deblur"]
