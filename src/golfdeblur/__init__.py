"""golfdeblur: blind image deblurring with the Golf Optimizer, Golf(y) = D^T(G(y)).

The names below load on first use (PEP 562), so that ``import golfdeblur`` and ``golfdeblur --help`` do not pay
for importing torch (about 2 s) until a model or image is touched. The errors ``deblur`` raises are here too
(``GolfdeblurError``, ``DeblurSettingsError``, ``WeightsError``, from golfdeblur.errors, which needs no torch). The
submodules load on first use too: after a bare ``import golfdeblur``, ``golfdeblur.infer.clear_prepared_models()``
or ``golfdeblur.metrics.psnr`` imports the module it names.
"""

from __future__ import annotations

import importlib

# typing is not imported at run time (7 ms): the console script's Ctrl-C handling starts after this module has run
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    # the submodules users reach as golfdeblur.infer, ... (loaded by __getattr__), typed for a checker
    from golfdeblur import infer as infer
    from golfdeblur import metrics as metrics
    from golfdeblur import models as models
    from golfdeblur.errors import DeblurSettingsError, GolfdeblurError, WeightsError
    from golfdeblur.infer import deblur, prepare_model
    from golfdeblur.models import GolfConfig, GolfOptimizer, ResidualCNN

__version__ = "0.2.0"  # 0.2.0: the first packaged weights, golf-synthetic-v1

# Public name -> the module that defines it.
_HOME_OF = {
    "DeblurSettingsError": "golfdeblur.errors",
    "GolfdeblurError": "golfdeblur.errors",
    "WeightsError": "golfdeblur.errors",
    "deblur": "golfdeblur.infer",
    "prepare_model": "golfdeblur.infer",
    "GolfConfig": "golfdeblur.models",
    "GolfOptimizer": "golfdeblur.models",
    "ResidualCNN": "golfdeblur.models",
}

__all__ = [
    "DeblurSettingsError",
    "GolfConfig",
    "GolfOptimizer",
    "GolfdeblurError",
    "ResidualCNN",
    "WeightsError",
    "__version__",
    "deblur",
    "prepare_model",
]


def __getattr__(name: str) -> Any:
    if name in _HOME_OF:
        value = getattr(importlib.import_module(_HOME_OF[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    # A submodule not imported yet (golfdeblur.infer after a bare `import golfdeblur`): importing it sets it here.
    # Private and dunder names are never modules to import (doctest and inspect probe __wrapped__ and the like).
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":  # the module exists, and what it imports does not: say that
                raise
    raise AttributeError(f"module 'golfdeblur' has no attribute {name!r}")


# This module's own tools: not the package's names (they showed in dir() and tab completion).
_OWN_TOOLS = {"annotations", "importlib", "TYPE_CHECKING"}


def __dir__() -> list[str]:
    return sorted((set(globals()) - _OWN_TOOLS) | set(__all__))
