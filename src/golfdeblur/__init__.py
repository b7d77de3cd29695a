"""golfdeblur: blind image deblurring with the Golf Optimizer, Golf(y) = D^T(G(y))."""

from golfdeblur.infer import deblur
from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN

__version__ = "0.1.0"

__all__ = ["GolfConfig", "GolfOptimizer", "ResidualCNN", "__version__", "deblur"]
