"""Checkpoints: a restored optimiser keeps its parameters' memory layout; resuming with another number of
processes says so."""

import gc
import os
from pathlib import Path

import pytest
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
    load_checkpoint(tmp_path / "c.safetensors", model, restored, None, recipe, ProcessGroup())
    state = restored.state[model.weight]
    assert model.weight.stride() != model.weight.contiguous().stride()  # the case that matters: not contiguous
    for key in ("exp_avg", "exp_avg_sq"):
        assert state[key].stride() == model.weight.stride()
        assert torch.equal(state[key], optimizer.state[model.weight][key])


def test_resuming_with_another_number_of_processes_says_so(tmp_path: Path, capsys):
    model = torch.nn.Conv2d(3, 4, 3, bias=False)
    recipe = load_recipe("tiny")
    path = tmp_path / "c.safetensors"
    meta = {"step": 1, "recipe": recipe_to_dict(recipe), "processes": 2}
    save_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, meta)
    load_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, recipe, ProcessGroup(world_size=2))
    assert capsys.readouterr().err == ""
    load_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, recipe, ProcessGroup())
    assert capsys.readouterr().err.splitlines() == [
        f"golfdeblur: note: {path} was written by 2 training process(es) and resumes with 1: each step now takes 1 x "
        "train.batch_size images, other batches than an uninterrupted run's"
    ]
    load_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, recipe, ProcessGroup(rank=1, world_size=4))
    assert capsys.readouterr().err == ""  # only the main process speaks


def test_a_resumed_run_keeps_no_mapping_of_its_checkpoint(tmp_path: Path):
    """Windows refuses to replace a file a process holds memory-mapped: the restored optimiser state must be copied
    out of the checkpoint file, or the resumed run cannot save its next checkpoint over it."""
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("needs /proc/self/maps")
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 3, bias=False)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3, 8, 8)).square().mean().backward()
    optimizer.step()
    recipe = load_recipe("tiny")
    path = tmp_path / "checkpoint-g.safetensors"
    save_checkpoint(path, model, optimizer, None, {"step": 1, "recipe": recipe_to_dict(recipe)})
    restored = torch.optim.Adam(model.parameters())
    load_checkpoint(path, model, restored, None, recipe, ProcessGroup())
    gc.collect()
    assert restored.state[model.weight]["exp_avg"].shape == model.weight.shape  # the state is restored and kept
    maps = Path("/proc/self/maps").read_text()
    assert os.path.realpath(path) not in maps


def test_a_position_knows_its_weights_by_contents_or_for_older_checkpoints_by_file(tmp_path: Path):
    from golfdeblur.models.golf import GolfConfig, GolfOptimizer
    from golfdeblur.models.weights_io import save_golf
    from golfdeblur.train.checkpoints import CampaignPosition, campaign_position

    first = str(save_golf(GolfOptimizer(GolfConfig(4, 4)), tmp_path / "a.safetensors", {}))
    torch.manual_seed(5)
    other = str(save_golf(GolfOptimizer(GolfConfig(4, 4)), tmp_path / "b.safetensors", {}))
    copy = tmp_path / "c.safetensors"
    copy.write_bytes(Path(first).read_bytes())
    copy.with_suffix(".json").write_bytes(Path(first).with_suffix(".json").read_bytes())
    position = campaign_position(first)
    assert position.same_weights(first) and position.same_weights(str(copy)) and not position.same_weights(other)
    older = CampaignPosition(first, ())  # a checkpoint that kept no sha256: the same file only
    assert older.same_weights(str(tmp_path / "." / "a.safetensors")) and not older.same_weights(str(copy))
    assert not CampaignPosition().same_weights(first)  # the folder started from no weights


def test_loading_a_checkpoint_restores_the_torch_random_state(tmp_path: Path):
    """The global generator goes on where the checkpoint left it (a Dataset may draw from it)."""
    model = torch.nn.Conv2d(3, 4, 3, bias=False)
    recipe = load_recipe("tiny")
    path = tmp_path / "c.safetensors"
    torch.manual_seed(3)
    save_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, {"step": 1})
    expected = torch.rand(4)  # what the saved state draws next
    torch.manual_seed(4)
    load_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, recipe, ProcessGroup())
    assert torch.equal(torch.rand(4), expected)


def test_a_resume_with_nothing_to_train_keeps_a_current_weights_file_and_replaces_a_stale_one(tmp_path: Path):
    from safetensors.torch import load_file

    from golfdeblur.models.weights_io import load_golf, read_card, save_golf
    from golfdeblur.train.loop import train
    from golfdeblur.train.options import RunOptions

    recipe = load_recipe("tiny", ["train.g_steps=1", "train.val_every=0"])
    run_dir = tmp_path / "run"
    train(recipe, RunOptions(run_dir, ("g",)))
    golf = run_dir / "golf.safetensors"
    trained = load_file(golf)

    def identity() -> tuple[int, int]:
        return golf.stat().st_ino, golf.stat().st_mtime_ns

    before = identity()
    assert train(recipe, RunOptions(run_dir, ("g",), resume=True)).weights == str(golf)
    assert identity() == before  # already these weights with this campaign: not rewritten
    stale = load_golf(golf)
    with torch.no_grad():
        next(stale.parameters()).add_(1.0)  # other weights under the same card (chunks, stages, steps)
    save_golf(stale, golf, read_card(golf))
    assert train(recipe, RunOptions(run_dir, ("g",), resume=True)).weights == str(golf)
    replaced = load_file(golf)
    assert replaced.keys() == trained.keys() and all(torch.equal(replaced[k], trained[k]) for k in trained)


def test_a_position_reads_the_history_of_the_weights_now_at_the_path(tmp_path: Path):
    """Weights replaced at the same path within one process (the API training twice): their own history, not the
    one read for the file there before."""
    from golfdeblur.models.golf import GolfConfig, GolfOptimizer
    from golfdeblur.models.weights_io import save_golf
    from golfdeblur.train.checkpoints import campaign_position

    path = tmp_path / "w.safetensors"

    def chunk(stage, steps):
        return {"stage": stage, "steps": steps, "minutes": 1.0, "device": "cpu"}

    save_golf(
        GolfOptimizer(GolfConfig(4, 2)), path, {"campaign": {"g_steps": 5, "d_steps": 0, "chunks": [chunk("g", 5)]}}
    )
    assert [c["steps"] for c in campaign_position(str(path)).history] == [5]
    chunks = [chunk("g", 9), chunk("d", 7)]
    save_golf(GolfOptimizer(GolfConfig(4, 2)), path, {"campaign": {"g_steps": 9, "d_steps": 7, "chunks": chunks}})
    assert [c["steps"] for c in campaign_position(str(path)).history] == [9, 7]


@pytest.mark.parametrize(
    "campaign, message",
    [
        ("oops", 'model card\'s campaign "oops" is not an object'),
        ({"chunks": "abc"}, 'model card\'s campaign.chunks "abc" is not a list'),
        ({"chunks": [3]}, "model card's campaign.chunks[0] 3 is not an object"),
        ({"chunks": [{"stage": "g"}]}, "model card has no campaign.chunks[0].steps"),
        ({"chunks": [{"stage": "g", "steps": "x"}]}, 'chunks[0].steps "x" is not a whole number of at least 0'),
        ({"chunks": [{"stage": "g", "steps": -1}]}, "chunks[0].steps -1 is not a whole number of at least 0"),
        ({"chunks": [{"stage": 7, "steps": 1}]}, "model card's campaign.chunks[0].stage 7 is not a string"),
        ({"chunks": [{"steps": 1, "minutes": 1}]}, "model card has no campaign.chunks[0].stage"),
        ({"chunks": [{"stage": "g", "steps": 1}]}, "model card has no campaign.chunks[0].minutes"),
        ({"chunks": [{"stage": "d", "steps": 1, "minutes": "2"}]}, 'campaign.chunks[0].minutes "2" is not a number'),
        # every chunk is checked, not the first only
        ({"chunks": [{"stage": "g", "steps": 1, "minutes": 1}, {"stage": "d"}]}, "has no campaign.chunks[1].steps"),
    ],
)
def test_a_malformed_history_in_the_init_from_card_is_refused_before_the_run_folder_is_made(
    tmp_path: Path, campaign, message
):
    # --init-from W: the history was read unchecked, an AttributeError, TypeError, KeyError or ValueError traceback
    # (the last ones after the run folder and its config.yaml were written)
    from golfdeblur.errors import WeightsError
    from golfdeblur.models.golf import GolfConfig, GolfOptimizer
    from golfdeblur.models.weights_io import save_golf
    from golfdeblur.train.checkpoints import campaign_position
    from golfdeblur.train.loop import train
    from golfdeblur.train.options import RunOptions

    chunk = {"stage": "g", "steps": 2, "minutes": 0.5, "device": "cpu"}
    recipe = load_recipe("tiny", ["train.g_steps=1", "train.val_every=0"])
    weights = tmp_path / "w.safetensors"
    save_golf(GolfOptimizer(GolfConfig(4, 4, 2)), weights, {"campaign": {"chunks": [chunk]}})
    assert campaign_position(str(weights)).steps("g") == 2  # a well-formed history is taken
    save_golf(GolfOptimizer(GolfConfig(4, 4, 2)), weights, {"campaign": campaign})
    run_dir = tmp_path / "run"
    with pytest.raises(WeightsError) as refusal:
        train(recipe, RunOptions(run_dir, ("g",), init_from=str(weights)))
    assert str(refusal.value).startswith(f"weights {weights}: ") and str(refusal.value).endswith(message)
    assert not run_dir.exists()


def test_a_stage_d_checkpoint_is_held_to_the_recipes_d_steps_not_its_g_steps(tmp_path: Path):
    """The tiny recipe has as many G steps as D steps, so a stage D checkpoint checked against train.g_steps passed:
    a D checkpoint at step 4 resumed with --set train.d_steps=3 (of the 6 it was started with) would end stage D at
    once ("stage d: finished at step 4/3") instead of being refused."""
    from golfdeblur.errors import GolfdeblurError
    from golfdeblur.train.checkpoints import check_resumable

    model = torch.nn.Conv2d(3, 4, 3, bias=False)
    started = load_recipe("tiny", ["train.g_steps=2", "train.d_steps=6"])
    path = tmp_path / "checkpoint-d.safetensors"
    meta = {"stage": "d", "step": 4, "recipe": recipe_to_dict(started)}
    save_checkpoint(path, model, torch.optim.Adam(model.parameters()), None, meta)
    with pytest.raises(GolfdeblurError) as refusal:
        check_resumable(path, load_recipe("tiny", ["train.g_steps=6", "train.d_steps=3"]))  # more G steps than 4
    assert str(refusal.value) == (
        f"checkpoint {path}: at step 4 of stage d, past the recipe's train.d_steps 3 (the run was started with 6: "
        "resume with --set train.d_steps=6); to end stage d here, --set train.d_steps=4"
    )
    check_resumable(path, started)  # fewer G steps than 4 but D steps to go: resumed, not refused
