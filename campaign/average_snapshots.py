"""Average the weights snapshots of one campaign chunk into one weights file (docs/TRAINING_CAMPAIGN.md, chunks 5
and 6).

    python campaign/average_snapshots.py OUT.safetensors SNAPSHOT.safetensors [SNAPSHOT.safetensors ...]
    e.g. python campaign/average_snapshots.py local/avg/g-avg.safetensors local/chunk5/snap/weights-g-*.safetensors

Every floating-point tensor of the Golf Optimizer (G's and D's weights and BatchNorm statistics, as the training EMA,
``optim.ema_decay``, averages them) becomes the plain mean of the snapshots' tensors: a uniform average of the weights
along the run (Polyak averaging). Integer buffers (BatchNorm's batch counters) are the last snapshot's. Chunk 5's
G moved by up to 0.2 dB on Levin09 between snapshots two minutes apart, and the average of its five snapshots scored
higher on both sets than any one of them: the campaign recipe trains without an EMA of the weights.

The snapshots must share the architecture their cards name. The output's card is the last snapshot's (its campaign
history covers the steps of all of them; pass the snapshots oldest first) with ``averaged_from`` added: each
snapshot's file name, sha256 and step. The output is written atomically and never replaces a file without
``--overwrite``. Errors are one line on stderr, exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfOptimizer
from golfdeblur.models.weights_io import card_field, load_golf, read_card, resolve_weights, save_golf


def average_models(models: list[GolfOptimizer]) -> GolfOptimizer:
    """A new GolfOptimizer whose floating-point tensors are the means of ``models``' (same architecture); integer
    buffers are the last model's."""
    states = [model.state_dict() for model in models]
    averaged = {
        key: torch.stack([state[key] for state in states]).mean(dim=0) if tensor.is_floating_point() else tensor
        for key, tensor in states[-1].items()
    }
    result = GolfOptimizer(models[-1].config)
    result.load_state_dict(averaged)
    return result.eval()


def average_snapshots(out: Path, snapshots: list[Path], overwrite: bool = False) -> Path:
    """Average ``snapshots`` (.safetensors with their cards, oldest first) into ``out``; returns ``out``."""
    if len(snapshots) < 2:
        raise GolfdeblurError(f"snapshots: give at least two weights files to average, got {len(snapshots)}")
    if out.suffix != ".safetensors":
        raise GolfdeblurError(f"output {out}: must end in .safetensors (its card goes beside it as .json)")
    if out.exists() and not overwrite:
        raise GolfdeblurError(f"output {out}: already exists; pass --overwrite to replace it")
    paths = [resolve_weights(path) for path in snapshots]
    if out.resolve() in {path.resolve() for path in paths}:
        raise GolfdeblurError(f"output {out}: is one of the snapshots; name a new file")
    models = [load_golf(path) for path in paths]
    for path, model in zip(paths[1:], models[1:], strict=True):
        if model.config != models[0].config:
            raise GolfdeblurError(
                f"snapshot {path}: architecture {model.config} differs from {paths[0]}'s {models[0].config}"
            )
    cards = [read_card(path) for path in paths]  # load_golf checked each file against its card's sha256
    card = {key: value for key, value in cards[-1].items() if key not in ("sha256", "weights_file")}
    card["averaged_from"] = [
        {"file": path.name, "sha256": each["sha256"], "step": card_field(each, "training.step", path, int)}
        for path, each in zip(paths, cards, strict=True)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_golf(average_models(models), out, card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the averaged weights (.safetensors; its card is written beside it)")
    parser.add_argument("snapshots", type=Path, nargs="+", help="weights files of one chunk, oldest first")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    try:
        written = average_snapshots(args.out, args.snapshots, args.overwrite)
    except GolfdeblurError as exc:
        print(f"average_snapshots: error: {exc}", file=sys.stderr)
        return 1
    print(f"averaged {len(args.snapshots)} snapshots into {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
