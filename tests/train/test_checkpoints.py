"""Checkpoints: a restored optimiser keeps its parameters' memory layout."""

from pathlib import Path

import torch

from golfdeblur.train.checkpoints import load_checkpoint, save_checkpoint
from golfdeblur.train.config import load_recipe, recipe_to_dict
from golfdeblur.train.distributed import ProcessGroup


def test_restored_adam_state_keeps_the_channels_last_layout(tmp_path: Path):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 3, bias=False).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3, 8, 8)).square().mean().backward()
    optimizer.step()
    recipe = load_recipe("tiny")
    save_checkpoint(tmp_path / "c.safetensors", model, optimizer, None, {"step": 1, "recipe": recipe_to_dict(recipe)})
    restored = torch.optim.Adam(model.parameters())
    load_checkpoint(tmp_path / "c.safetensors", model, restored, None, torch.device("cpu"), recipe, ProcessGroup())
    state = restored.state[model.weight]
    assert model.weight.stride() != model.weight.contiguous().stride()  # the case that matters: not contiguous
    for key in ("exp_avg", "exp_avg_sq"):
        assert state[key].stride() == model.weight.stride()
        assert torch.equal(state[key], optimizer.state[model.weight][key])
