"""The paper's networks: BasicBlock, ResidualCNN, GolfOptimizer; BN folding; receptive fields; weights I/O."""

from golfdeblur.models.blocks import BasicBlock
from golfdeblur.models.fuse import fuse_for_inference
from golfdeblur.models.golf import GolfConfig, GolfOptimizer, ResidualCNN, count_parameters
from golfdeblur.models.receptive_field import receptive_field
from golfdeblur.models.weights_io import WeightsError, load_golf, save_golf

__all__ = [
    "BasicBlock",
    "GolfConfig",
    "GolfOptimizer",
    "ResidualCNN",
    "WeightsError",
    "count_parameters",
    "fuse_for_inference",
    "load_golf",
    "receptive_field",
    "save_golf",
]
