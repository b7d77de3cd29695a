"""The training loop: a tiny run end to end, resume after SIGTERM and after SIGKILL (bitwise equal weights), the
NaN stop, the time budget, --init-from, EMA + bf16 + channels_last, and two processes under torchrun (gloo)."""

import csv
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from golfdeblur.errors import GolfdeblurError
from golfdeblur.models.golf import GolfConfig, GolfOptimizer
from golfdeblur.models.weights_io import load_golf, save_golf
from golfdeblur.train.checkpoints import checkpoint_meta, read_checkpoint
from golfdeblur.train.config import load_recipe, recipe_to_dict
from golfdeblur.train.loop import train, validate
from golfdeblur.train.options import RunOptions
from golfdeblur.train.schedule import learning_rate
from golfdeblur.train.stages import make_stage
from golfdeblur.train.stopping import TrainingDiverged

# The datasets of these tests, also written into the scripts that run in subprocesses.
DATA_CODE = textwrap.dedent(
    """
    import skimage.data
    import torch
    from torch.utils.data import Dataset


    class TinyPairs(Dataset):
        \"\"\"n 32 px crops of scikit-image's astronaut, box-blurred; with names when `named` (validation).\"\"\"

        def __init__(self, n=16, size=32, named=False, offset=0):
            image = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255
            corners = [(offset + 23 * i % 480, 37 * i % 480) for i in range(n)]
            self.sharp = torch.stack([image[:, t : t + size, l : l + size] for t, l in corners])
            box = torch.full((3, 1, 5, 5), 1 / 25)
            self.blurry = torch.nn.functional.conv2d(self.sharp, box, padding=2, groups=3)
            self.named = named

        def __len__(self):
            return len(self.sharp)

        def __getitem__(self, i):
            pair = (self.blurry[i], self.sharp[i])
            return (*pair, f"crop{i}") if self.named else pair
    """
)
namespace: dict = {}
exec(DATA_CODE, namespace)  # noqa: S102 - one definition shared with the subprocess scripts
TinyPairs = namespace["TinyPairs"]

SCRIPT = DATA_CODE + textwrap.dedent(
    """
    import os
    import sys
    from pathlib import Path

    from safetensors.torch import save_file

    from golfdeblur.train.config import load_recipe
    from golfdeblur.train.loop import train
    from golfdeblur.train.options import RunOptions

    torch.set_num_threads(1)
    run_dir = Path(sys.argv[1])
    recipe = load_recipe("tiny", [a for a in sys.argv[2:] if "=" in a])
    options = RunOptions(run_dir, ("g", "d"), resume="--resume" in sys.argv)
    outcome = train(recipe, options, TinyPairs(), TinyPairs(2, named=True, offset=200))
    rank = int(os.environ.get("RANK", "0"))
    state = {k: v.contiguous() for k, v in outcome.model.state_dict().items()}
    save_file(state, str(run_dir / f"rank{rank}.safetensors"))
    """
)


def run_tiny(run_dir: Path, overrides=(), stages=("g", "d"), **options):
    recipe = load_recipe("tiny", list(overrides))
    return train(recipe, RunOptions(run_dir, stages, **options), TinyPairs(), TinyPairs(2, named=True, offset=200))


def tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def log_losses(run_dir: Path) -> list[tuple[str, str, str]]:
    with open(run_dir / "log.csv", newline="") as handle:
        return [(r["stage"], r["step"], r["loss"]) for r in csv.DictReader(handle) if r["loss"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted tiny run of both stages, shared by the tests that compare against it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_dir = tmp_path_factory.mktemp("reference")
        outcome = run_tiny(run_dir)
    finally:  # conftest's per-test restore runs inside this module fixture and would keep 1 for the session
        torch.set_num_threads(threads)
    assert outcome.status == "finished"
    return run_dir


def test_tiny_run_writes_everything(reference: Path):
    names = ["config.yaml", "log.csv", "summary.json", "golf.safetensors", "golf.json", "checkpoint-g.safetensors"]
    names += ["checkpoint-d.safetensors", "weights-g.safetensors", "best-g.safetensors", "best-d.safetensors"]
    for name in names:
        assert (reference / name).is_file(), name
    assert load_recipe(reference / "config.yaml") == load_recipe("tiny")
    model = load_golf(reference / "golf.safetensors")
    assert (model.config.g_width, model.config.d_width) == (4, 4)
    # G is frozen in stage D: the final G equals G at the end of stage G
    g_stage = load_golf(reference / "weights-g.safetensors")
    assert tensors_equal(model.G.state_dict(), g_stage.G.state_dict())
    assert not tensors_equal(model.D.state_dict(), g_stage.D.state_dict())
    rows = log_losses(reference)
    assert [(s, int(n)) for s, n, _ in rows] == [("g", 2), ("g", 4), ("g", 6), ("d", 2), ("d", 4), ("d", 6)]
    with open(reference / "log.csv", newline="") as handle:
        assert any(r["val_psnr"] for r in csv.DictReader(handle))
    tensors, metadata = read_checkpoint(reference / "checkpoint-d.safetensors")
    assert json.loads(metadata["meta"])["step"] == 6 and "optim.0.exp_avg" in tensors
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["status"] == "finished" and [s["stage"] for s in summary["stages"]] == ["g", "d"]


def test_resume_after_sigterm_is_bitwise_equal(reference: Path, tmp_path: Path):
    def send_sigterm(stage, step: int) -> None:
        if (stage.name, step) == ("g", 3):
            os.kill(os.getpid(), signal.SIGTERM)

    recipe = load_recipe("tiny")
    data = TinyPairs(), TinyPairs(2, named=True, offset=200)
    first = train(recipe, RunOptions(tmp_path, ("g", "d")), *data, on_step=send_sigterm)
    assert first.status == "interrupted" and first.stages[-1].step == 3
    assert first.stages[-1].signal_number == signal.SIGTERM
    assert json.loads(read_checkpoint(tmp_path / "checkpoint-g.safetensors")[1]["meta"])["step"] == 3
    with pytest.raises(GolfdeblurError, match="already holds checkpoint-g.safetensors: pass --resume"):
        train(recipe, RunOptions(tmp_path, ("g", "d")), *data)  # never overwrite a run by mistake
    second = train(recipe, RunOptions(tmp_path, ("g", "d"), resume=True), *data)
    assert second.status == "finished"
    assert tensors_equal(load_file(tmp_path / "golf.safetensors"), load_file(reference / "golf.safetensors"))
    assert log_losses(tmp_path) == log_losses(reference)


def test_sighup_stops_a_run_after_a_checkpoint_unless_ignored(tmp_path: Path, monkeypatch):
    """A closed terminal stops a run as SIGTERM does (a checkpoint, then --resume); under nohup it trains on."""
    from golfdeblur.train import stopping

    monkeypatch.setattr(stopping, "terminal_outputs", tuple)  # under pytest -s, pytest's own terminal stays its output

    def send_sighup(stage, step: int) -> None:
        if (stage.name, step) == ("g", 2):
            os.kill(os.getpid(), signal.SIGHUP)

    recipe = load_recipe("tiny", ["train.val_every=0", "train.g_steps=3"])
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # whatever pytest was started with (nohup ignores it)
    try:
        outcome = train(recipe, RunOptions(tmp_path / "hup", ("g",)), TinyPairs(), on_step=send_sighup)
        assert outcome.status == "interrupted" and outcome.stages[-1].signal_number == signal.SIGHUP
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        outcome = train(recipe, RunOptions(tmp_path / "nohup", ("g",)), TinyPairs(), on_step=send_sighup)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # and put back as it was
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert outcome.status == "finished"


def test_a_run_whose_terminal_closes_saves_its_checkpoint_and_summary_and_exits_129(
    tmp_path: Path, run_until_its_terminal_closes
):
    """Closing the terminal of `golfdeblur train` (SIGHUP from the kernel) made every later write to it fail (EIO):
    the handler's note, the progress bar and 'stopped by signal 1' raised OSError, so the run died with exit 1,
    without the checkpoint at the signal and without summary.json. As nohup, its output now goes to /dev/null."""
    run_dir = tmp_path / "run"
    command = ["-m", "golfdeblur.cli", "train", "--recipe", "tiny", "--stage", "g", "--out", str(run_dir)]
    command += ["--set", "train.g_steps=100000", "--set", "train.val_every=0", "--set", "train.progress=true"]

    def ready(shown: bytes) -> bool:
        return (run_dir / "checkpoint-g.safetensors").is_file()

    assert run_until_its_terminal_closes(command, ready) == 129
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["stages"][-1]["signal_number"] == signal.SIGHUP
    step = summary["stages"][-1]["step"]
    assert 2 <= step < 100000 and checkpoint_meta(run_dir / "checkpoint-g.safetensors")["step"] == step
    # what the run said after its terminal closed went to /dev/null, and train.log still has it
    said = transcript_lines(run_dir)
    assert HEADER.fullmatch(said[0])["command"] == shlex.join(["golfdeblur", *command[2:]])
    assert said[1].startswith("training data: ") and said[2].startswith("stage g: step 2/100000 loss=")
    checkpoint = run_dir / "checkpoint-g.safetensors"
    assert said[-2:] == [
        f"signal {signal.SIGHUP}: saving a checkpoint after this step, then stopping",
        f"stage g: interrupted at step {step}/100000; checkpoint {checkpoint}",
    ]


def test_a_run_resumed_in_stage_d_keeps_its_whole_history(tmp_path: Path):
    # stage D interrupted, then resumed by another call: the cards still name stage G's chunk, the minutes add up,
    # and stage G alone cannot be resumed any more (it would rewrite golf.safetensors with an untrained D)
    def send_sigterm(stage, step: int) -> None:
        if (stage.name, step) == ("d", 3):
            os.kill(os.getpid(), signal.SIGTERM)

    recipe = load_recipe("tiny", ["train.val_every=0"])
    first = train(recipe, RunOptions(tmp_path, ("g", "d")), TinyPairs(), on_step=send_sigterm)
    assert [(s.stage, s.status) for s in first.stages] == [("g", "finished"), ("d", "interrupted")]
    minutes_before = json.loads(read_checkpoint(tmp_path / "checkpoint-d.safetensors")[1]["meta"])["minutes"]
    with pytest.raises(GolfdeblurError, match="stage d has started on this run's G"):
        train(recipe, RunOptions(tmp_path, ("g",), resume=True), TinyPairs())
    assert not (tmp_path / "golf.safetensors").exists()
    second = train(recipe, RunOptions(tmp_path, ("g", "d"), resume=True), TinyPairs())
    assert [(s.stage, s.status) for s in second.stages] == [("d", "finished")]
    for card_file in ("golf.json", "weights-d.json"):
        chunks = json.loads((tmp_path / card_file).read_text())["campaign"]["chunks"]
        assert [(c["stage"], c["steps"]) for c in chunks] == [("g", 6), ("d", 6)], card_file
        assert chunks[1]["minutes"] >= round(minutes_before, 2)


def test_stage_d_run_after_stage_g_trains_on_gs_ema_and_names_its_chunk(tmp_path: Path, capsys):
    recipe = load_recipe("tiny", ["train.val_every=0", "optim.ema_decay=0.5", "train.g_steps=4"])
    train(recipe, RunOptions(tmp_path, ("g",), max_minutes=1e-6), TinyPairs())  # stops after G's first step
    seen = {}

    def keep_g(stage, step: int) -> None:
        seen.setdefault("g", {k: v.clone() for k, v in stage.model.G.state_dict().items()})

    train(recipe, RunOptions(tmp_path, ("d",), resume=True), TinyPairs(), on_step=keep_g)
    expected = f"stage d trains on G from {tmp_path / 'checkpoint-g.safetensors'} at step 1 of 4"
    assert expected in capsys.readouterr().err
    tensors, _ = read_checkpoint(tmp_path / "checkpoint-g.safetensors")
    ema = {k[len("ema.") :]: v for k, v in tensors.items() if k.startswith("ema.")}
    raw = {k[len("model.G.") :]: v for k, v in tensors.items() if k.startswith("model.G.")}
    assert tensors_equal(seen["g"], ema) and not tensors_equal(ema, raw)
    chunks = json.loads((tmp_path / "golf.json").read_text())["campaign"]["chunks"]
    assert [(c["stage"], c["steps"]) for c in chunks] == [("g", 1), ("d", 6)]


def test_resume_after_sigkill_is_bitwise_equal(reference: Path, tmp_path: Path):
    script = tmp_path / "tiny_run.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(run_dir)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint-g.safetensors").is_file():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.kill()  # SIGKILL: no handler runs, no file is finished
    process.wait()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "golf.safetensors").exists()  # it was killed mid-run
    resumed = run_tiny(run_dir, resume=True)  # in this process (one thread, as the killed one): saves a start-up
    assert resumed.status == "finished"
    assert tensors_equal(load_file(run_dir / "golf.safetensors"), load_file(reference / "golf.safetensors"))
    assert log_losses(run_dir) == log_losses(reference)


def test_two_processes_hold_identical_weights(tmp_path: Path):
    script = tmp_path / "tiny_run.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun leaves a folder in the temp dir
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               str(run_dir), "train.g_steps=4", "train.d_steps=2"]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    rank0, rank1 = load_file(run_dir / "rank0.safetensors"), load_file(run_dir / "rank1.safetensors")
    assert tensors_equal(rank0, rank1)
    assert tensors_equal(rank0, load_file(run_dir / "golf.safetensors"))  # rank 0 wrote the run's files
    said = transcript_lines(run_dir)  # rank 0's alone: one header, and each stage's end said once
    assert [line for line in said if HEADER.fullmatch(line)] == [said[0]]
    assert [line.split(":")[0] for line in said if " at step " in line] == ["stage g", "stage d"]
    initial = GolfOptimizer(GolfConfig(4, 4)).state_dict()
    assert not torch.equal(rank0["G.head.weight"], initial["G.head.weight"])  # it trained


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    def poison(stage, step: int) -> None:
        if step == 3:  # after the checkpoint of step 2; the loss of step 4 is NaN, found at the log of step 4
            with torch.no_grad():
                stage.model.G.head.weight.fill_(float("nan"))

    recipe = load_recipe("tiny")
    expected = r"stage g: the loss became NaN or inf at step 4.*last good checkpoint kept"
    with pytest.raises(TrainingDiverged, match=expected):
        train(recipe, RunOptions(tmp_path, ("g",)), TinyPairs(), TinyPairs(2, named=True), on_step=poison)
    tensors, metadata = read_checkpoint(tmp_path / "checkpoint-g.safetensors")
    assert json.loads(metadata["meta"])["step"] == 2
    assert all(torch.isfinite(v.float()).all() for v in tensors.values())


def test_a_nan_loss_at_the_very_first_step_is_reported(tmp_path: Path):
    # the first bad step is kept 0-based: step 0's NaN must count, or the run trains on and saves NaN weights
    data = TinyPairs()
    data.blurry = torch.full_like(data.blurry, math.nan)
    expected = r"stage g: the loss became NaN or inf at step 1;.*no checkpoint had been saved yet"
    with pytest.raises(TrainingDiverged, match=expected):
        train(load_recipe("tiny", ["train.val_every=0"]), RunOptions(tmp_path, ("g",)), data)
    assert not (tmp_path / "checkpoint-g.safetensors").exists() and not (tmp_path / "weights-g.safetensors").exists()


def test_time_budget_init_from_ema_bf16_channels_last(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    torch.manual_seed(1)
    start = GolfOptimizer(GolfConfig(4, 4))
    torch.nn.init.normal_(start.G.tail.weight, std=0.01)
    save_golf(start, tmp_path / "start.safetensors", {"note": "test"})
    overrides = ["optim.ema_decay=0.9", "train.precision=bf16", "train.channels_last=true", "train.d_steps=3"]
    outcome = run_tiny(tmp_path / "run", overrides, ("d",), init_from=str(tmp_path / "start.safetensors"))
    assert outcome.status == "finished"
    assert "note: this CPU has no native bf16" in capsys.readouterr().err  # bf16 on this CPU: said once, at the start
    final = load_golf(outcome.weights)
    assert tensors_equal(final.G.state_dict(), start.G.state_dict())  # G came from --init-from and stayed frozen
    assert all(torch.isfinite(v.float()).all() for v in final.D.state_dict().values())
    budget = run_tiny(tmp_path / "budget", (), ("g", "d"), max_minutes=1e-6)
    assert budget.status == "time budget" and budget.stages[-1].step == 1 and len(budget.stages) == 1
    assert (tmp_path / "budget" / "weights-g.safetensors").is_file()


def test_save_file_roundtrip_of_scalar_tensors(tmp_path: Path):
    # Adam keeps its step count as a 0-d tensor: safetensors must store it
    save_file({"step": torch.tensor(3.0)}, str(tmp_path / "s.safetensors"))
    assert load_file(tmp_path / "s.safetensors")["step"].shape == ()


def test_recipe_data_packed_builtin_and_real_pairs(tmp_path: Path):
    import numpy as np
    from PIL import Image

    from golfdeblur.data.packed import save_packed_images

    rng = np.random.default_rng(0)
    save_packed_images([("noise", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))], tmp_path / "pack.npz")
    for folder in ("blur", "sharp"):  # real pairs mixed in (e.g. GoPro-protocol pairs)
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / folder / "a.png")
    overrides = ["data.root=" + str(tmp_path / "pack.npz"), "data.dead_leaves_count=1", "data.dead_leaves_size=48",
                 "data.pairs_blur_dir=" + str(tmp_path / "blur"), "data.pairs_sharp_dir=" + str(tmp_path / "sharp"),
                 "data.pairs_fraction=0.5", "train.g_steps=2", "train.val_every=0"]  # fmt: skip
    for on_device in ("true", "false"):  # crops made on the device, or SyntheticBlur + pairs through a DataLoader
        recipe = load_recipe("tiny", overrides + [f"data.on_device={on_device}"])
        outcome = train(recipe, RunOptions(tmp_path / on_device, ("g",)))  # the recipe's own data
        assert outcome.status == "finished" and outcome.stages[0].step == 2
        assert json.loads((tmp_path / on_device / "weights-g.json").read_text())["training"]["step"] == 2
    # one pack holding the sharp images and the real pairs (what `golfdeblur pack-data` writes), no folders named
    from golfdeblur.data.packed import pack_image_files

    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "sharp.png")
    pairs = [("a", tmp_path / "blur" / "a.png", tmp_path / "sharp" / "a.png")]
    pack_image_files([("s", tmp_path / "sharp.png")], pairs, tmp_path / "both.npz")
    packed_only = [o for o in overrides if not o.startswith(("data.pairs_blur_dir", "data.pairs_sharp_dir"))]
    packed_only = [o.replace("pack.npz", "both.npz") for o in packed_only]
    for on_device in ("true", "false"):
        recipe = load_recipe("tiny", packed_only + [f"data.on_device={on_device}"])
        outcome = train(recipe, RunOptions(tmp_path / f"packed-{on_device}", ("g",)))
        assert outcome.status == "finished" and outcome.stages[0].step == 2
    with pytest.raises(GolfdeblurError, match="holds no real pairs"):
        train(load_recipe("tiny", overrides[:3] + ["data.pairs_fraction=0.5"]), RunOptions(tmp_path / "none", ("g",)))


def test_model_cards_carry_the_campaign_history(tmp_path: Path):
    recipe = load_recipe("tiny", ["train.g_steps=3", "train.d_steps=2", "train.val_every=0"])
    train(recipe, RunOptions(tmp_path / "chunk1", ("g",)))
    first = tmp_path / "chunk1" / "weights-g.safetensors"
    train(recipe, RunOptions(tmp_path / "chunk2", ("d",), init_from=str(first)))
    card = json.loads((tmp_path / "chunk2" / "weights-d.json").read_text())
    campaign = card["campaign"]
    assert card["recipe_settings"] == json.loads(json.dumps(recipe_to_dict(recipe)))  # data, loss, optim, train
    assert card["recipe_settings"]["train"]["d_steps"] == 2
    assert [(c["stage"], c["steps"]) for c in campaign["chunks"]] == [("g", 3), ("d", 2)]
    assert (campaign["g_steps"], campaign["d_steps"]) == (3, 2)
    assert campaign["minutes"] == pytest.approx(sum(c["minutes"] for c in campaign["chunks"]))


def test_a_chunk_continues_the_campaign_batches_and_schedule(tmp_path: Path, monkeypatch):
    # Every chunk is a fresh run from the last weights: its batches go on where the campaign's history left off instead
    # of replaying chunk 1's, stage D draws its own stream, and with train.continue_schedule the learning-rate decay
    # goes on too (the warm-up restarts with the fresh optimiser).
    starts = record_batch_starts(monkeypatch)
    recipe = load_recipe("tiny", ["train.g_steps=3", "train.d_steps=2", "train.val_every=0"])
    train(recipe, RunOptions(tmp_path / "chunk1", ("g", "d")))
    first = str(tmp_path / "chunk1" / "golf.safetensors")
    overrides = ["train.g_steps=4", "train.d_steps=2", "train.val_every=0", "train.log_every=1"]
    train(load_recipe("tiny", overrides), RunOptions(tmp_path / "restart", ("g",), init_from=first))
    continuing = load_recipe("tiny", overrides + ["train.continue_schedule=true", "optim.warmup_steps=1"])
    train(continuing, RunOptions(tmp_path / "chunk2", ("g",), init_from=first))
    assert starts == [(0, "g"), (0, "d"), (3, "g"), (3, "g")]

    def rates(run: str) -> list[float]:
        with open(tmp_path / run / "log.csv", newline="") as handle:
            return [float(row["lr"]) for row in csv.DictReader(handle)]

    lr, lr_end = continuing.optim.lr, continuing.optim.lr_end
    assert rates("restart") == pytest.approx([learning_rate(s, 4, lr, lr_end) for s in range(4)], rel=1e-3)
    assert rates("restart")[0] == pytest.approx(lr)  # without continue_schedule the decay starts again
    assert rates("chunk2") == pytest.approx([lr_end / 2, lr_end, lr_end, lr_end], rel=1e-3)  # 3 of 4 steps done


def test_resume_applies_the_recipes_adam_settings_and_refuses_other_widths(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0"], ("g",))
    config = (run_dir / "config.yaml").read_text()
    with pytest.raises(GolfdeblurError, match=r"cannot resume with other networks \(model.g_width 4 -> 8\)"):
        run_tiny(run_dir, ["train.g_steps=4", "model.g_width=8"], ("g",), resume=True)
    assert (run_dir / "config.yaml").read_text() == config  # refused before anything was rewritten
    overrides = ["train.g_steps=4", "train.val_every=0", "optim.beta1=0.5", "optim.weight_decay=0.1"]
    run_tiny(run_dir, overrides, ("g",), resume=True)
    _, metadata = read_checkpoint(run_dir / "checkpoint-g.safetensors")
    (group,) = json.loads(metadata["optim_groups"])
    assert group["betas"] == [0.5, 0.999] and group["weight_decay"] == 0.1  # not the checkpoint's old settings


def test_a_stale_log_blocks_a_fresh_run_and_a_cut_row_does_not_block_resume(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.csv").write_text("stage,step,loss\ng,5,0.1\n")  # a run killed before its first checkpoint
    with pytest.raises(GolfdeblurError, match="already holds log.csv"):
        run_tiny(run_dir, ["train.g_steps=2"], ("g",))
    other = tmp_path / "other"
    run_tiny(other, ["train.g_steps=4", "train.val_every=0", "train.checkpoint_every=2"], ("g",))
    with open(other / "log.csv", "a") as handle:
        handle.write("g,\n")  # a row cut short by a kill
    run_tiny(other, ["train.g_steps=6", "train.val_every=0"], ("g",), resume=True)
    assert [step for stage, step, _ in log_losses(other)] == ["2", "4", "6"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_run_file_that_is_a_pipe_or_a_folder_is_refused_before_anything_opens_it(tmp_path: Path, never_opened):
    # A named pipe as log.csv blocked the run for good in open(log.csv, "a"), with or without --resume.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fifo = run_dir / "log.csv"
    os.mkfifo(fifo)
    never_opened(fifo)  # a regression fails here instead of hanging the suite
    for resume in (True, False):
        with pytest.raises(GolfdeblurError) as info:
            run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0"], ("g",), resume=resume)
        assert str(info.value) == (
            f"{fifo}: not a regular file (a pipe, socket or device), where the run keeps its log.csv; move it away "
            "or choose another --out"
        )
        assert sorted(p.name for p in run_dir.iterdir()) == ["log.csv"]  # not even the lock file was made
    fifo.unlink()
    os.mkfifo(run_dir / "train.log")  # appended to as log.csv is: refused as it is
    with pytest.raises(GolfdeblurError, match=r"train.log: not a regular file .*, where the run keeps its train.log"):
        run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0"], ("g",))
    (run_dir / "train.log").unlink()
    (run_dir / "checkpoint-g.safetensors").mkdir()
    with pytest.raises(GolfdeblurError, match=r"checkpoint-g.safetensors: is a folder, where the run keeps its"):
        run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0"], ("g",), resume=True)


def test_missing_init_from_fails_before_creating_the_run_folder(tmp_path: Path):
    recipe = load_recipe("tiny", ["train.g_steps=1"])
    with pytest.raises(GolfdeblurError, match="no such file"):
        train(recipe, RunOptions(tmp_path / "run", ("d",), init_from=str(tmp_path / "missing.safetensors")))
    assert not (tmp_path / "run").exists()


def test_stage_g_budget_hands_over_to_stage_d_in_one_run(tmp_path: Path):
    # --g-minutes: stage G stops on its own budget (here after its first step) and stage D follows in the same run;
    # every card names both chunks of the run, after the --init-from weights' history.
    recipe = load_recipe("tiny", ["train.g_steps=3", "train.val_every=0"])
    train(recipe, RunOptions(tmp_path / "chunk1", ("g",)))
    first = str(tmp_path / "chunk1" / "weights-g.safetensors")
    overrides = ["train.g_steps=50", "train.d_steps=2", "optim.ema_decay=0.9"]
    outcome = run_tiny(tmp_path / "run", overrides, ("g", "d"), init_from=first, g_minutes=1e-6, max_minutes=60)
    assert [(s.stage, s.status, s.step) for s in outcome.stages] == [("g", "stage budget", 1), ("d", "finished", 2)]
    assert outcome.status == "finished" and outcome.weights is not None
    for card_file in ("golf.json", "weights-d.json"):
        campaign = json.loads((tmp_path / "run" / card_file).read_text())["campaign"]
        assert [(c["stage"], c["steps"]) for c in campaign["chunks"]] == [("g", 3), ("g", 1), ("d", 2)]
        assert (campaign["g_steps"], campaign["d_steps"]) == (4, 2)
    final = load_golf(outcome.weights)
    stopped_g = load_golf(tmp_path / "run" / "weights-g.safetensors")
    assert tensors_equal(final.G.state_dict(), stopped_g.G.state_dict())  # D trained on the G that stage G saved
    # the run's own budget still ends the run, in stage G, whatever g_minutes says
    budget = run_tiny(tmp_path / "budget", ["train.g_steps=50"], ("g", "d"), g_minutes=30, max_minutes=1e-6)
    assert [(s.stage, s.status) for s in budget.stages] == [("g", "time budget")]


def test_train_command_refuses_g_minutes_without_stage_g(tmp_path: Path, capsys):
    from golfdeblur.cli import main

    code = main(["train", "--recipe", "tiny", "--stage", "d", "--g-minutes", "1", "--out", str(tmp_path / "run")])
    assert code == 2 and "--g-minutes limits stage g" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("weights", ["", "  "])
def test_train_command_refuses_an_empty_init_from(tmp_path: Path, capsys, weights):
    from golfdeblur.cli import main

    # "" was taken as no --init-from: the run trained from scratch
    assert main(["train", "--recipe", "tiny", "--init-from", weights, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == (
        "golfdeblur: error: --init-from: is empty; name the weights to start from, or leave the option out"
    )
    assert not (tmp_path / "run").exists()


def test_train_refuses_stage_d_with_no_iterations(tmp_path: Path, capsys, monkeypatch):
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    for stage in ("both", "d"):  # D was trained, then never applied (best-d validated G alone)
        code = main(["train", "--recipe", "tiny", "--stage", stage, "--set", "model.iterations=0", "--out", "run"])
        assert code == 2
        assert capsys.readouterr().err.strip() == (
            "golfdeblur: error: recipe key model.iterations: is 0, so the model never applies D and stage d would "
            "train it for nothing (and validate G alone); give it iterations, or leave stage d out with --stage g"
        )
    assert list(tmp_path.iterdir()) == []
    recipe = load_recipe("tiny", ["model.iterations=0"])
    with pytest.raises(GolfdeblurError, match="never applies D"):  # the library's train() too
        loop.train(recipe, RunOptions(run_dir=tmp_path / "lib", stages=("g", "d")))
    with pytest.raises(AssertionError, match="the data set-up ran"):  # stage g alone: G(y), no D, is fine
        main(["train", "--recipe", "tiny", "--stage", "g", "--set", "model.iterations=0", "--out", "run"])


def test_train_command_refuses_an_empty_out(tmp_path: Path, capsys, monkeypatch):
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--recipe", "tiny", "--out", ""]) == 2  # trained into the current folder
    assert capsys.readouterr().err.strip() == "golfdeblur: error: --out: is empty; name the run folder"
    assert list(tmp_path.iterdir()) == []


def test_train_command_refuses_a_recipe_path_that_does_not_exist_before_the_data(tmp_path: Path, capsys, monkeypatch):
    """The campaign recipe run outside a checkout: its relative data.root names the folder it was read from."""
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--recipe", "campaign", "--stage", "g", "--out", "run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "golfdeblur: error: recipe key data.root: local/campaign/data.npz does not exist "
        f"(a relative path is read from the current folder, {tmp_path}); write a pack with golfdeblur pack-data (the "
        "campaign's: make campaign-data in a checkout)"
    )
    absent = tmp_path / "absent"
    assert main(["train", "--recipe", "tiny", "--set", f"data.validation_root={absent}", "--out", "run"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"data.validation_root: {absent} does not exist")
    assert list(tmp_path.iterdir()) == []


def test_train_command_checks_only_the_recipe_paths_the_run_reads(tmp_path: Path):
    """A stale loss.vgg_weights that --vgg-weights replaces, and a data.validation_root with validation off."""
    from golfdeblur.train import config

    vgg, data = tmp_path / "gone" / "vgg.pth", tmp_path / "gone" / "data"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"loss:\n  perceptual_weight: 0.01\n  vgg_weights: {vgg}\ndata:\n  validation_root: {data}\n")
    with pytest.raises(config.RecipeError, match=f"data.validation_root: {data} does not exist"):
        config.check_paths_exist(config.load_recipe(str(recipe), []), vgg_weights_given=True)
    quiet = config.load_recipe(str(recipe), ["train.val_every=0"])
    config.check_paths_exist(quiet, vgg_weights_given=True)  # neither path is read: no error
    with pytest.raises(config.RecipeError, match=f"loss.vgg_weights: {vgg} does not exist"):
        config.check_paths_exist(quiet)


def test_train_command_refuses_an_out_that_is_a_file_before_the_data(tmp_path: Path, capsys, monkeypatch):
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["train", "--recipe", "tiny", "--out", "file"]) == 2  # refused after the data set-up
    assert capsys.readouterr().err.strip() == "golfdeblur: error: --out file: is a file, not a folder"
    assert main(["train", "--recipe", "tiny", "--out", "file/run"]) == 2
    assert capsys.readouterr().err.strip() == "golfdeblur: error: --out file/run: file is a file, not a folder"


def test_a_stage_asked_for_with_zero_steps_is_refused(tmp_path: Path):
    # it "finished at step 0/0; checkpoint ..." with no checkpoint written, and shipped untrained weights
    recipe = load_recipe("tiny", ["train.g_steps=0", "train.val_every=0"])
    for stages in (("g",), ("g", "d")):
        with pytest.raises(GolfdeblurError, match=r"^recipe key train.g_steps: is 0, so stage g would train nothing"):
            train(recipe, RunOptions(tmp_path / "run", stages))
    assert not (tmp_path / "run").exists()
    # 0 steps for a stage the run leaves out is fine
    outcome = run_tiny(tmp_path / "g", ["train.g_steps=1", "train.d_steps=0", "train.val_every=0"], ("g",))
    assert [(s.stage, s.step) for s in outcome.stages] == [("g", 1)]


def test_two_processes_with_an_ema_hold_identical_weights(tmp_path: Path):
    # each process averages its own shard's BatchNorm statistics into the EMA: rank 0's must reach every process
    # before the EMA becomes the stage's result, or stage D trains on another G in each process
    script = tmp_path / "tiny_run.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun leaves a folder in the temp dir
    overrides = ["train.g_steps=2", "train.d_steps=2", "optim.ema_decay=0.5", "train.val_every=0"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               str(run_dir), *overrides]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    rank0, rank1 = load_file(run_dir / "rank0.safetensors"), load_file(run_dir / "rank1.safetensors")
    assert tensors_equal(rank0, rank1)
    assert tensors_equal(rank0, load_file(run_dir / "golf.safetensors"))


def record_batch_starts(monkeypatch) -> list[tuple[int, str]]:
    """(start step, stream) of every batch iterator the loop opens from now on."""
    import golfdeblur.train.loop as loop

    starts = []
    make_batches = loop.make_batches

    def recording_make_batches(*args, **kwargs):
        source = make_batches(*args, **kwargs)
        batches = source.batches

        def recorded(start_step, stream="", dataset_stream=None):
            starts.append((start_step, stream))
            return batches(start_step, stream, dataset_stream)

        source.batches = recorded
        return source

    monkeypatch.setattr(loop, "make_batches", recording_make_batches)
    return starts


def chunks_of(card_file: Path) -> list[tuple[str, int]]:
    return [(c["stage"], c["steps"]) for c in json.loads(card_file.read_text())["campaign"]["chunks"]]


def test_a_run_folder_keeps_where_its_init_from_weights_left_off(tmp_path: Path, monkeypatch):
    # `--stage g --init-from W`, then `--stage d --resume` into the same folder: stage D goes on with W's history
    # (its batches after W's D steps, the cards listing W's chunks) though the second command names no --init-from;
    # other weights named there would drop the G this folder trained, so they are refused
    starts = record_batch_starts(monkeypatch)
    run_tiny(tmp_path / "chunk1", ["train.g_steps=3", "train.d_steps=2", "train.val_every=0"])
    first = str(tmp_path / "chunk1" / "golf.safetensors")
    run_dir = tmp_path / "run"
    run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0"], ("g",), init_from=first)
    trained_g = load_golf(run_dir / "weights-g.safetensors").G.state_dict()
    stage_d = ["train.d_steps=2", "train.val_every=0"]
    other = str(tmp_path / "chunk1" / "weights-g.safetensors")
    expected = (
        f"^--init-from {re.escape(other)}: {re.escape(str(run_dir))} already holds checkpoint-g.safetensors, "
        r"started from other weights \(.+\); drop"
    )
    with pytest.raises(GolfdeblurError, match=expected):
        run_tiny(run_dir, stage_d, ("d",), resume=True, init_from=other)
    outcome = run_tiny(run_dir, stage_d, ("d",), resume=True)
    assert starts == [(0, "g"), (0, "d"), (3, "g"), (2, "d")]  # stage D's batches after chunk 1's 2 steps of D
    for card_file in ("golf.json", "weights-d.json"):
        assert chunks_of(run_dir / card_file) == [("g", 3), ("d", 2), ("g", 2), ("d", 2)], card_file
        assert json.loads((run_dir / card_file).read_text())["training"]["init_from"] == first
    assert tensors_equal(load_golf(outcome.weights).G.state_dict(), trained_g)  # D trained on this folder's G


def test_a_resumed_chunk_goes_on_with_its_campaign_without_init_from(tmp_path: Path, monkeypatch):
    # a chunk started from W with train.continue_schedule and resumed without repeating --init-from: the decay and
    # the batches go on where the interrupted chunk was (they restarted from the campaign's step 0)
    run_tiny(tmp_path / "chunk1", ["train.g_steps=3", "train.val_every=0"], ("g",))
    first = str(tmp_path / "chunk1" / "weights-g.safetensors")
    overrides = ["train.g_steps=6", "train.val_every=0", "train.log_every=1", "train.continue_schedule=true"]
    recipe = load_recipe("tiny", overrides)

    def send_sigterm(stage, step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    run_dir = tmp_path / "run"
    first_run = train(recipe, RunOptions(run_dir, ("g",), init_from=first), TinyPairs(), on_step=send_sigterm)
    assert first_run.status == "interrupted"
    starts = record_batch_starts(monkeypatch)
    run_tiny(run_dir, overrides, ("g",), resume=True)
    assert starts == [(3 + 2, "g")]
    with open(run_dir / "log.csv", newline="") as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    lr, lr_end = recipe.optim.lr, recipe.optim.lr_end
    assert rates == pytest.approx([learning_rate(s, 6, lr, lr_end, 0, 3) for s in range(6)], rel=1e-3)
    assert chunks_of(run_dir / "weights-g.json") == [("g", 3), ("g", 6)]


def test_resuming_a_finished_stage_changes_none_of_its_files(tmp_path: Path):
    # it used to save the EMA as the checkpoint's raw weights and rewrite the cards (images per second 0.0)
    run_dir = tmp_path / "run"
    overrides = ["train.g_steps=2", "train.val_every=0", "optim.ema_decay=0.5"]
    run_tiny(run_dir, overrides, ("g",))
    names = ["checkpoint-g.safetensors", "weights-g.safetensors", "weights-g.json", "log.csv", "golf.safetensors"]
    before = {name: (run_dir / name).read_bytes() for name in names}
    outcome = run_tiny(run_dir, overrides, ("g",), resume=True)
    assert outcome.status == "finished"
    assert {name: (run_dir / name).read_bytes() for name in names} == before
    card = json.loads(before["weights-g.json"])
    assert outcome.stages[0].images_per_s == card["training"]["images_per_s"] > 0
    (run_dir / "weights-g.safetensors").unlink()  # a missing weights file is written again, from the checkpoint
    run_tiny(run_dir, overrides, ("g",), resume=True)
    assert tensors_equal(load_file(run_dir / "weights-g.safetensors"), load_file(run_dir / "golf.safetensors"))
    assert (run_dir / "checkpoint-g.safetensors").read_bytes() == before["checkpoint-g.safetensors"]


def test_images_per_second_after_a_resume_count_only_the_steps_made_since(tmp_path: Path, monkeypatch):
    # the checkpoint keeps a logging window of 2 steps; the resumed run makes 2 more in 2 s (a fake clock): 2 steps
    # x 2 images / 2 s, not 4 steps / 2 s
    import types

    import golfdeblur.train.loop as loop
    import golfdeblur.train.stopping as stopping

    recipe = load_recipe(
        "tiny", ["train.g_steps=4", "train.val_every=0", "train.log_every=4", "train.checkpoint_every=2"]
    )

    def crash(stage, step: int) -> None:
        if step == 3:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(recipe, RunOptions(tmp_path, ("g",)), TinyPairs(), on_step=crash)
    clock = [1000.0]
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(stopping, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))  # StopFlags.agree's clock

    def tick(stage, step: int) -> None:
        clock[0] += 1.0

    train(recipe, RunOptions(tmp_path, ("g",), resume=True), TinyPairs(), on_step=tick)
    with open(tmp_path / "log.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["step"] == "4" and float(row["images_per_s"]) == pytest.approx(2.0)


def test_a_resume_refused_for_its_ema_leaves_the_run_folder_as_it_was(tmp_path: Path):
    run_tiny(tmp_path, ["train.g_steps=1", "train.val_every=0"], ("g",))
    config, said = (tmp_path / "config.yaml").read_text(), transcript_lines(tmp_path)
    expected = r"checkpoint-g.safetensors: the recipe has an EMA.* but the checkpoint holds none"
    with pytest.raises(GolfdeblurError, match=expected):
        run_tiny(tmp_path, ["train.g_steps=2", "train.val_every=0", "optim.ema_decay=0.5"], ("g",), resume=True)
    assert (tmp_path / "config.yaml").read_text() == config  # refused before anything was rewritten
    assert transcript_lines(tmp_path) == said  # not even a header: the run never started


def test_cards_name_the_loss_terms_used_and_needless_vgg_weights_are_refused(tmp_path: Path):
    run_tiny(tmp_path / "run", ["train.g_steps=1", "train.val_every=0", "loss.name=mse+vgg11bn-pool5"], ("g",))
    assert json.loads((tmp_path / "run" / "weights-g.json").read_text())["training"]["loss"] == "mse+fft-l1"
    (tmp_path / "vgg11_bn.pth").write_bytes(b"")
    with pytest.raises(GolfdeblurError, match="--vgg-weights .*has no effect with loss.perceptual_weight 0"):
        run_tiny(tmp_path / "vgg", ["train.g_steps=1"], ("g",), vgg_weights=str(tmp_path / "vgg11_bn.pth"))
    assert not (tmp_path / "vgg").exists()


def test_validation_leaves_out_an_image_equal_to_its_target_but_not_a_nan():
    class GAlone:  # the Stage attributes validate reads
        validation_iterations = 0

        def prepare(self):
            pass

    model = GolfOptimizer(GolfConfig(g_width=4, d_width=2))  # zero-initialised last convolutions: the identity
    sharp = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    other = (sharp * 0.5, sharp, "darker")
    psnr, _ = validate(model, [(sharp, sharp, "same"), other], GAlone(), torch.device("cpu"))
    assert psnr == validate(model, [other], GAlone(), torch.device("cpu"))[0] < math.inf
    psnr, ssim = validate(
        model, [other, (torch.full_like(sharp, math.nan), sharp, "nan")], GAlone(), torch.device("cpu")
    )
    assert math.isnan(psnr) and math.isnan(ssim)


def validation_scores(run_dir: Path) -> dict[int, float]:
    """{step: val_psnr} of a run's log (stage G)."""
    with open(run_dir / "log.csv", newline="") as handle:
        return {int(r["step"]): float(r["val_psnr"]) for r in csv.DictReader(handle) if r["val_psnr"]}


def test_the_best_weights_are_those_of_the_highest_validation_score(tmp_path: Path):
    outcome = run_tiny(tmp_path, ["train.val_every=1"], ("g",))
    scores = validation_scores(tmp_path)
    assert sorted(scores) == [1, 2, 3, 4, 5, 6] and len(set(scores.values())) > 1
    best_step = max(scores, key=lambda step: scores[step])
    best = checkpoint_meta(tmp_path / "checkpoint-g.safetensors")["best_psnr"]
    assert best == pytest.approx(scores[best_step], abs=1e-4) == outcome.stages[-1].best_psnr
    card = json.loads((tmp_path / "best-g.json").read_text())["training"]
    assert card["step"] == best_step and card["val_psnr"] == best


def test_validation_scores_the_ema_weights_it_saves(tmp_path: Path):
    run_tiny(tmp_path, ["optim.ema_decay=0.9"], ("g",))
    card = json.loads((tmp_path / "best-g.json").read_text())["training"]
    logged = validation_scores(tmp_path)[card["step"]]
    model = load_golf(tmp_path / "best-g.safetensors")
    items = list(TinyPairs(2, named=True, offset=200))  # what run_tiny validates on
    psnr, _ = validate(model, items, make_stage("g", model, 2), torch.device("cpu"))
    assert psnr == pytest.approx(logged, abs=1e-4)  # the score of the weights saved, not of the raw ones


def test_stage_d_after_stage_g_from_init_weights_starts_from_their_d(tmp_path: Path, monkeypatch, capsys):
    # `--stage g --init-from W` then `--stage d --resume`: D starts from W's D, as with `--stage both --init-from W`
    # (it started from a fresh D while the cards and the schedule said it went on from W's)
    import golfdeblur.train.loop as loop

    run_tiny(tmp_path / "chunk1", ["train.g_steps=2", "train.d_steps=2", "train.val_every=0"])
    first = tmp_path / "chunk1" / "golf.safetensors"
    run_dir = tmp_path / "run"
    capsys.readouterr()
    run_tiny(run_dir, ["train.g_steps=1", "train.val_every=0"], ("g",), init_from=str(first))
    # W's trained D stays in this run's weights, on a G it did not learn on: said before the training
    assert f"note: --stage g trains G further, while D stays the D of {first}" in capsys.readouterr().err
    g_only = ["train.g_steps=1", "train.val_every=0"]
    run_tiny(tmp_path / "g1", g_only, ("g",))
    run_tiny(tmp_path / "g2", g_only, ("g",), init_from=str(tmp_path / "g1" / "golf.safetensors"))
    assert "note: --stage g" not in capsys.readouterr().err  # weights whose D is the identity: nothing to say
    seen = {}
    make_stage = loop.make_stage

    def recording_make_stage(name, model, t_train):
        seen[name] = {k: v.clone() for k, v in model.D.state_dict().items()}
        return make_stage(name, model, t_train)

    monkeypatch.setattr(loop, "make_stage", recording_make_stage)
    run_tiny(run_dir, ["train.d_steps=1", "train.val_every=0"], ("d",), resume=True)
    assert tensors_equal(seen["d"], load_golf(first).D.state_dict())


def test_a_no_op_resume_rewrites_a_golf_file_an_earlier_stage_g_wrote(tmp_path: Path):
    # stage D stopped by the budget at its last step leaves golf.safetensors as stage G's command wrote it (an
    # untrained D); resuming the finished stage D must not keep that file
    run_tiny(tmp_path, ["train.g_steps=2", "train.val_every=0"], ("g",))
    stage_d = ["train.d_steps=1", "train.val_every=0"]
    budget = run_tiny(tmp_path, stage_d, ("d",), resume=True, max_minutes=1e-6)
    assert budget.status == "time budget" and budget.stages[-1].step == 1
    assert chunks_of(tmp_path / "golf.json") == [("g", 2)]
    outcome = run_tiny(tmp_path, stage_d, ("d",), resume=True)
    assert outcome.status == "finished"
    assert chunks_of(tmp_path / "golf.json") == [("g", 2), ("d", 1)]
    assert tensors_equal(load_file(tmp_path / "golf.safetensors"), load_file(tmp_path / "weights-d.safetensors"))
    golf = (tmp_path / "golf.safetensors").read_bytes()
    run_tiny(tmp_path, stage_d, ("d",), resume=True)  # now current: kept as it is
    assert (tmp_path / "golf.safetensors").read_bytes() == golf


def test_stage_d_with_an_ema_after_a_stage_g_without_one_is_not_refused(tmp_path: Path):
    # stage D alone only reads stage G's checkpoint (its G): G's lack of an EMA does not matter there
    run_tiny(tmp_path, ["train.g_steps=1", "train.val_every=0"], ("g",))
    overrides = ["train.d_steps=1", "train.val_every=0", "optim.ema_decay=0.5"]
    with pytest.raises(GolfdeblurError, match=r"checkpoint-g.safetensors: the recipe has an EMA"):
        run_tiny(tmp_path, overrides, ("g", "d"), resume=True)  # stage G is resumed there: refused
    assert run_tiny(tmp_path, overrides, ("d",), resume=True).status == "finished"


def test_the_same_command_plus_resume_continues_a_run_started_with_init_from(tmp_path: Path):
    # the hint after a stop says so; --init-from naming the same weights (or a copy of them) is ignored: the
    # checkpoint holds everything, and the resumed run ends bitwise where an uninterrupted one does
    run_tiny(tmp_path / "chunk1", ["train.g_steps=2", "train.val_every=0"], ("g",))
    first = tmp_path / "chunk1" / "weights-g.safetensors"
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(first.read_bytes())
    copy.with_suffix(".json").write_bytes(first.with_suffix(".json").read_bytes())
    overrides = ["train.g_steps=3", "train.val_every=0"]
    recipe = load_recipe("tiny", overrides)
    whole = run_tiny(tmp_path / "whole", overrides, ("g",), init_from=str(first))

    def send_sigterm(stage, step: int) -> None:
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    run_dir = tmp_path / "run"
    stopped = train(recipe, RunOptions(run_dir, ("g",), init_from=str(first)), TinyPairs(), on_step=send_sigterm)
    assert stopped.status == "interrupted"
    outcome = run_tiny(run_dir, overrides, ("g",), resume=True, init_from=str(copy))
    assert outcome.status == "finished"
    assert tensors_equal(load_file(outcome.weights), load_file(str(whole.weights)))
    card = json.loads((run_dir / "golf.json").read_text())
    assert card["training"]["init_from"] == str(first) and chunks_of(run_dir / "golf.json") == [("g", 2), ("g", 3)]


def test_the_paper_recipe_builds_the_text_s_block_and_runs_do_not_mix_the_two(tmp_path: Path):
    assert load_recipe("paper", []).model.relu_before_add and not load_recipe("campaign", []).model.relu_before_add
    run_dir = tmp_path / "run"
    run_tiny(run_dir, ["train.g_steps=2", "train.val_every=0", "model.relu_before_add=true"], ("g",))
    refused = r"cannot resume with other networks \(model.relu_before_add true -> false"
    with pytest.raises(GolfdeblurError, match=refused):
        run_tiny(run_dir, ["train.g_steps=4"], ("g",), resume=True)
    with pytest.raises(GolfdeblurError, match="its blocks apply their last ReLU before the shortcut's addition, the "):
        run_tiny(tmp_path / "other", ["train.g_steps=1"], ("g",), init_from=str(run_dir / "weights-g.safetensors"))
    assert load_golf(run_dir / "weights-g.safetensors").config.relu_before_add


def test_a_finished_stage_s_result_is_its_ema_even_when_the_resumed_recipe_has_none(tmp_path: Path):
    # stage D trained on G's raw weights (the checkpoint's model.G) when the resume turned the EMA off, while
    # `--stage d --resume` (load_g_from_run) took G's EMA
    run_tiny(tmp_path, ["train.g_steps=2", "train.val_every=0", "optim.ema_decay=0.5"], ("g",))
    tensors, _ = read_checkpoint(tmp_path / "checkpoint-g.safetensors")
    ema = {k[len("ema.") :]: v for k, v in tensors.items() if k.startswith("ema.")}
    overrides = ["train.g_steps=2", "train.d_steps=1", "train.val_every=0", "optim.ema_decay=0"]
    outcome = run_tiny(tmp_path, overrides, ("g", "d"), resume=True)
    assert [(s.stage, s.status) for s in outcome.stages] == [("g", "finished"), ("d", "finished")]
    assert tensors_equal(load_golf(outcome.weights).G.state_dict(), ema)


@pytest.mark.parametrize("kill", ["between the weights and their card", "between the checkpoint and the weights"])
def test_a_resume_rewrites_a_finished_stage_s_weights_its_last_save_left_unfinished(tmp_path: Path, monkeypatch, kill):
    # a kill in the last save of a stage left weights-g unloadable (checksum mismatch) or of an older step for good
    import golfdeblur.models.weights_io as weights_io
    import golfdeblur.train.loop as loop

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for kill -9: the write after it never happens

    if kill == "between the weights and their card":
        write_card = weights_io.write_card

        def write_card_or_die(path, card, sha256):
            if path.name == "weights-g.safetensors" and card["training"]["step"] == 4:
                killed()
            write_card(path, card, sha256)

        monkeypatch.setattr(weights_io, "write_card", write_card_or_die)
    else:
        save_checkpoint = loop.save_checkpoint

        def save_checkpoint_then_die(path, model, optimizer, ema, meta):
            save_checkpoint(path, model, optimizer, ema, meta)
            if meta["step"] == 4:
                killed()

        monkeypatch.setattr(loop, "save_checkpoint", save_checkpoint_then_die)
    overrides = ["train.g_steps=4", "train.val_every=0", "optim.ema_decay=0.5"]
    with pytest.raises(KeyboardInterrupt):
        run_tiny(tmp_path, overrides, ("g",))
    monkeypatch.undo()
    assert run_tiny(tmp_path, overrides, ("g",), resume=True).stages[0].start_step == 4  # it had finished
    weights = load_golf(tmp_path / "weights-g.safetensors")  # whole: its card names its sha256
    assert json.loads((tmp_path / "weights-g.json").read_text())["training"]["step"] == 4
    assert tensors_equal(weights.state_dict(), load_golf(tmp_path / "golf.safetensors").state_dict())


def test_a_resume_on_another_validation_set_starts_the_best_score_again(tmp_path: Path, monkeypatch, capsys):
    # without data.validation_root the validation set is found from the current folder; a resume from elsewhere
    # validated on other images while the best score (and best-g) stayed those of the first set
    import numpy as np
    from PIL import Image

    import golfdeblur.data.validation as validation

    data_root = tmp_path / "data"
    for name in ("kodim01", "kodim02"):  # flat images: blur changes little, a high PSNR
        (data_root / "eval" / "kodak24").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((96, 96, 3), 120, dtype=np.uint8)).save(data_root / "eval" / "kodak24" / f"{name}.png")
    run_dir = tmp_path / "run"
    recipe = ["train.g_steps=3", "train.val_every=3"]
    monkeypatch.setattr(validation, "default_data_root", lambda: data_root)
    train(load_recipe("tiny", recipe), RunOptions(run_dir, ("g",)), TinyPairs())
    first_best = json.loads(read_checkpoint(run_dir / "checkpoint-g.safetensors")[1]["meta"])["best_psnr"]
    monkeypatch.setattr(validation, "default_data_root", lambda: None)  # another folder: the dead-leaves stand-in
    capsys.readouterr()
    with pytest.warns(UserWarning, match="using dead-leaves images instead"):
        train(
            load_recipe("tiny", ["train.g_steps=6", "train.val_every=3"]),
            RunOptions(run_dir, ("g",), True),
            TinyPairs(),
        )
    expected = (
        "note: stage g validates on 2 dead-leaves stand-in images, its checkpoint on 2 images from "
        f"{data_root / 'eval'}: the best score starts again, so best-g follows the new set"
    )
    assert expected in capsys.readouterr().err
    with open(run_dir / "log.csv", newline="") as handle:
        scores = {int(row["step"]): float(row["val_psnr"]) for row in csv.DictReader(handle) if row["val_psnr"]}
    assert scores[6] < first_best  # the new set is harder: only a restarted best score follows it
    meta = json.loads(read_checkpoint(run_dir / "checkpoint-g.safetensors")[1]["meta"])
    assert meta["best_psnr"] == pytest.approx(scores[6], abs=1e-4)  # the log rounds to 4 decimals
    assert meta["validation"]["names"] == ["dead_leaves_000", "dead_leaves_001"]
    assert json.loads((run_dir / "best-g.json").read_text())["training"]["step"] == 6


def test_a_resume_removes_the_temporaries_of_writes_killed_in_the_run_folder(tmp_path: Path):
    # kill -9 during an atomic write leaves its hidden temporary (5.8 MiB for a checkpoint at paper widths)
    run_tiny(tmp_path, ["train.g_steps=1", "train.val_every=0"], ("g",))
    stale = [".checkpoint-g.71ly1etz.tmp.safetensors", ".weights-d.a_b1c2d3.tmp.json", ".log.q0w9e8r7.tmp.csv"]
    others = [".checkpoint-g.mine.safetensors", "notes.tmp.safetensors", ".pack.71ly1etz.tmp.npz"]
    for name in stale + others:
        (tmp_path / name).write_bytes(b"x")
    run_tiny(tmp_path, ["train.g_steps=1", "train.val_every=0"], ("g",), resume=True)
    names = {path.name for path in tmp_path.iterdir()}
    assert not names & set(stale) and set(others) <= names


def test_more_g_steps_after_stage_d_started_are_said_to_take_no_effect(tmp_path: Path, capsys):
    def send_sigterm(stage, step: int) -> None:
        if (stage.name, step) == ("d", 1):
            os.kill(os.getpid(), signal.SIGTERM)

    overrides = ["train.g_steps=2", "train.d_steps=2", "train.val_every=0"]
    train(load_recipe("tiny", overrides), RunOptions(tmp_path, ("g", "d")), TinyPairs(), on_step=send_sigterm)
    capsys.readouterr()
    outcome = run_tiny(tmp_path, ["train.g_steps=4", "train.d_steps=2", "train.val_every=0"], resume=True)
    assert [(s.stage, s.status) for s in outcome.stages] == [("d", "finished")]
    assert (
        f"note: train.g_steps 4 cannot take effect: stage d has started in {tmp_path} on G from step 2 of stage g, "
        "so G trains no further (train G further into another --out)"
    ) in capsys.readouterr().err


def test_train_command_refuses_an_out_that_takes_no_file_before_the_data(tmp_path: Path, capsys, monkeypatch):
    # a read-only --out failed only after the data set-up, naming the hidden temporary of config.yaml
    import errno

    from golfdeblur import atomic
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    mkstemp = atomic.tempfile.mkstemp

    def read_only(*args, dir, **kwargs):  # root writes in a chmod-ed folder: a read-only file system, simulated
        if Path(dir).name == "run":
            raise OSError(errno.EROFS, "Read-only file system", dir)
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--recipe", "tiny", "--out", "run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "golfdeblur: error: run/config.yaml: cannot write in its folder run (read-only file system)"
    )
    assert list(tmp_path.iterdir()) == []  # the folder it made for the run is gone again


def test_a_second_run_into_a_folder_a_run_holds_is_refused_and_a_killed_run_s_lock_blocks_nothing(tmp_path: Path):
    # two runs into one --out were both let through while the first did its data set-up (before any log.csv)
    import fcntl

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    overrides = ["train.g_steps=1", "train.d_steps=1", "train.val_every=0"]
    refused = f"^{re.escape(str(run_dir))}: another golfdeblur train is running into this folder"
    with open(run_dir / ".lock", "w") as held:  # a run training into it: flock excludes other opens of the file
        held.write("4242\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in (False, True):
            with pytest.raises(GolfdeblurError, match=refused + r" \(pid 4242\)$"):
                run_tiny(run_dir, overrides, resume=resume)
        assert [path.name for path in run_dir.iterdir()] == [".lock"]  # nothing read, written or removed
    # the lock file a run killed by kill -9 leaves behind blocks nothing: the kernel released its lock
    second_runs = []

    def start_another(stage, step: int) -> None:  # the lock lasts the whole run: stage d too
        with pytest.raises(GolfdeblurError, match=refused + rf" \(pid {os.getpid()}\)$"):
            run_tiny(run_dir, overrides, resume=True)
        second_runs.append(stage.name)

    train(load_recipe("tiny", overrides), RunOptions(run_dir), TinyPairs(), on_step=start_another)
    assert second_runs == ["g", "d"]
    assert not (run_dir / ".lock").exists()  # removed as the run ended
    run_tiny(run_dir, overrides, resume=True)  # and a resume goes on


def test_a_run_folder_whose_name_is_not_utf8_is_refused_before_the_data(tmp_path: Path, capsys, monkeypatch):
    # it trained, but safetensors cannot open such a path: its resume failed as if the checkpoint were corrupt
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    for resume in ([], ["--resume"]):
        assert main(["train", "--recipe", "tiny", "--out", os.fsdecode(b"run\xff"), *resume]) == 2
        assert capsys.readouterr().err.strip() == (
            r"golfdeblur: error: run\xff: path is not valid UTF-8, which safetensors cannot open; choose another --out"
        )
    assert list(tmp_path.iterdir()) == []


def test_train_command_expands_a_tilde_in_out(tmp_path: Path, monkeypatch):
    # a quoted ~ (or zsh's --out=~/runs) made a folder named ~ in the current folder; deblur -o and export expand it
    from golfdeblur.commands.train import check_out

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert check_out("~/runs/a") == tmp_path / "home" / "runs" / "a"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "runs").write_text("x")
    with pytest.raises(GolfdeblurError, match=rf"^--out {re.escape(str(tmp_path))}/home/runs/a: .* is a file"):
        check_out("~/runs/a")


def test_workers_that_a_ctrl_c_killed_stop_the_run_as_the_signal_does(tmp_path: Path, monkeypatch, capsys):
    # macOS/Windows spawn a DataLoader's workers: a terminal's Ctrl-C killed them as well, and the run, which had only
    # flagged 'stop after this step', crashed on 'DataLoader worker (pid(s) ...) exited unexpectedly' with no checkpoint
    from golfdeblur.train import loop

    make_batches = loop.make_batches
    sigint = [True]

    class DyingWorkers:
        def __init__(self, *args) -> None:
            self.source = make_batches(*args)

        def batches(self, start_step: int, stream: str = "", dataset_stream: str | None = None):
            for step, batch in enumerate(self.source.batches(start_step, stream, dataset_stream), start_step):
                if step == 3:  # the batch after step 3, whose checkpoint is not due (checkpoint_every 2)
                    if sigint[0]:
                        os.kill(os.getpid(), signal.SIGINT)
                    raise RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly")
                yield batch

    monkeypatch.setattr(loop, "make_batches", DyingWorkers)
    recipe = load_recipe("tiny", ["train.val_every=0"])
    outcome = train(recipe, RunOptions(tmp_path / "run", ("g", "d")), TinyPairs())
    assert outcome.status == "interrupted" and len(outcome.stages) == 1
    assert (outcome.stages[-1].step, outcome.stages[-1].signal_number) == (3, signal.SIGINT)  # so the command: 130
    assert checkpoint_meta(tmp_path / "run" / "checkpoint-g.safetensors")["step"] == 3
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "interrupted"
    assert "the data loader stopped after signal 2 (DataLoader worker (pid(s) 4242) exited" in capsys.readouterr().err
    sigint[0] = False
    with pytest.raises(RuntimeError, match="exited unexpectedly"):  # with no signal flagged, an error stays one
        train(recipe, RunOptions(tmp_path / "other", ("g",)), TinyPairs())


def test_torchrun_on_gpus_takes_gloo_where_torch_has_no_nccl(monkeypatch):
    # torch's Windows builds have no NCCL: init_process_group("nccl") failed there; the group is not started here
    from golfdeblur.train import distributed

    backends = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "resolve_device", lambda name, local_rank: torch.device("cuda", local_rank))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: backends.append(backend))
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 0)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 2)
    for nccl in (False, True):
        monkeypatch.setattr(distributed.dist, "is_nccl_available", lambda nccl=nccl: nccl)
        assert distributed.start_distributed("cuda").world_size == 2
    assert backends == ["gloo", "nccl"]


def test_progress_in_a_log_file_is_plain_lines_not_a_bars_updates(tmp_path: Path, capsys):
    """stderr in a file or a pipe (capsys is neither a terminal): a line per logged step, at most every 30 s and the
    last step's always, rather than tqdm's carriage-return updates, which made one long line of bars in a log."""
    run_tiny(tmp_path / "run", ["train.progress=true", "train.log_every=1"], stages=("g",))
    err = capsys.readouterr().err
    steps = load_recipe("tiny").train.g_steps
    lines = [line for line in err.splitlines() if line.startswith("stage g: step")]
    assert "\r" not in err and "%|" not in err
    assert lines[0].startswith(f"stage g: step 1/{steps} loss=") and " lr=" in lines[0] and " img_s=" in lines[0]
    assert lines[-1].startswith(f"stage g: step {steps}/{steps} loss=") and len(lines) == 2  # tiny runs in < 30 s


def test_progress_disabled_on_a_log_file_prints_nothing(monkeypatch):
    """A run with its progress off (not the main process) writing to a log file: no lines either, not only no bar."""
    import io

    from golfdeblur.train.loop import make_progress

    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    progress = make_progress("g", 10, 0, enabled=False)
    progress.update(10)
    progress.set_postfix(loss=1)
    progress.close()
    assert log.getvalue() == ""


def test_progress_lines_count_from_the_step_resumed_at(monkeypatch):
    import io

    from golfdeblur.train.loop import ProgressLines

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    progress = ProgressLines("g", 10, 5)
    progress.update(1)
    progress.set_postfix(loss=1)
    assert log.getvalue() == "stage g: step 6/10 loss=1\n"


def test_a_run_leaves_its_callers_random_state_alone(tmp_path: Path):
    """train() seeds torch's global generator for the initial weights: a library caller's next draw was the run's."""
    torch.manual_seed(11)
    expected = torch.rand(4, generator=torch.Generator().manual_seed(11))
    outcome = run_tiny(tmp_path / "run", ["train.g_steps=2", "train.d_steps=2"])
    assert outcome.status == "finished" and torch.equal(torch.rand(4), expected)


def test_a_resume_whose_stage_steps_fall_below_its_checkpoint_is_refused_naming_the_steps(tmp_path: Path, capsys):
    """A resume that left out the first run's --set train.g_steps=20 (giving fewer steps than the checkpoint's)
    ended stage G at once ("finished at step 3/2") and started D on it, for good; and the note did not say which
    settings differed."""
    recipe = load_recipe("tiny", ["train.g_steps=20", "train.val_every=0"])

    def stop_after_three(stage, step: int) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: a checkpoint after this step, then stop

    train(recipe, RunOptions(tmp_path, ("g", "d")), TinyPairs(), on_step=stop_after_three)
    checkpoint = tmp_path / "checkpoint-g.safetensors"
    with pytest.raises(GolfdeblurError) as refusal:
        train(load_recipe("tiny", ["train.g_steps=2", "train.val_every=0"]), RunOptions(tmp_path, resume=True))
    assert str(refusal.value) == (
        f"checkpoint {checkpoint}: at step 3 of stage g, past the recipe's train.g_steps 2 (the run was started with "
        "20: resume with --set train.g_steps=20); to end stage g here, --set train.g_steps=3"
    )
    capsys.readouterr()
    outcome = train(load_recipe("tiny", ["train.g_steps=20", "train.val_every=0", "optim.lr=0.001"]),
                    RunOptions(tmp_path, ("g",), resume=True, max_minutes=1e-6), TinyPairs())  # fmt: skip
    assert outcome.status != "finished"
    assert f"{checkpoint} was written with a different recipe (optim.lr 0.002 -> 0.001)" in capsys.readouterr().err


def test_stage_d_alone_on_a_fresh_folder_says_how_to_go_on_after_stage_g(tmp_path: Path):
    with pytest.raises(GolfdeblurError, match=r"run stage g into .* first \(then --stage d --resume\)$"):
        run_tiny(tmp_path / "run", ["train.val_every=0"], ("d",))


def test_a_continued_campaign_names_no_warm_up_where_there_is_none(tmp_path: Path, capsys):
    first = run_tiny(tmp_path / "first", ["train.val_every=0", "train.g_steps=2"], ("g",))
    assert first.status == "finished"
    for warmup, said in ((0, False), (2, True)):
        capsys.readouterr()
        run_tiny(tmp_path / f"w{warmup}", ["train.val_every=0", "train.g_steps=2", f"optim.warmup_steps={warmup}"],
                 ("g",), init_from=str(tmp_path / "first" / "golf.safetensors"))  # fmt: skip
        line = next(text for text in capsys.readouterr().err.splitlines() if "continues a campaign" in text)
        assert line.endswith("after warm-up") is said, line


def failing_batches(monkeypatch, at: tuple[str, int], error: Exception) -> None:
    """From now on the loop's batch source raises ``error`` for the batch of step ``at`` = (stage, step), as a
    DataLoader does for an image that cannot be read any more."""
    from golfdeblur.train import loop

    make_batches = loop.make_batches

    class FailingBatches:
        def __init__(self, *args) -> None:
            self.source = make_batches(*args)

        def batches(self, start_step: int, stream: str = "", dataset_stream: str | None = None):
            for step, batch in enumerate(self.source.batches(start_step, stream, dataset_stream), start_step):
                if (stream, step) == at:
                    raise error
                yield batch

    monkeypatch.setattr(loop, "make_batches", FailingBatches)


def test_an_unreadable_image_mid_run_saves_the_last_step_and_says_how_to_resume(
    reference: Path, tmp_path: Path, monkeypatch
):
    """An image in data.root truncated after the run started stopped training with one line but no checkpoint: up to
    train.checkpoint_every steps were lost, while Ctrl-C saves them. The last step is now saved, summary.json says
    so, and the resume goes on from it as if nothing had happened."""
    unreadable = GolfdeblurError("photos/a.png: truncated or corrupt image data (image file is truncated)")
    failing_batches(monkeypatch, ("g", 3), unreadable)  # the batch after step 3: no checkpoint due (every 2)
    checkpoint = tmp_path / "checkpoint-g.safetensors"
    with pytest.raises(GolfdeblurError) as failure:
        run_tiny(tmp_path)
    assert str(failure.value) == (
        f"{unreadable}; training stopped at step 3 of stage g, saved in {checkpoint}; fix what it names, or remove it "
        "(a pair's blurry and sharp files together), then run the same command with --resume"
    )
    assert checkpoint_meta(checkpoint)["step"] == 3 and load_golf(tmp_path / "weights-g.safetensors") is not None
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "data error" and summary["weights"] is None
    assert [(s["stage"], s["status"], s["step"]) for s in summary["stages"]] == [("g", "data error", 3)]
    assert transcript_lines(tmp_path)[-1] == f"golfdeblur: error: {failure.value}"  # as the command line says it
    saved = checkpoint.read_bytes()
    with pytest.raises(GolfdeblurError, match="training stopped at step 3 of stage g, saved in"):
        run_tiny(tmp_path, resume=True)  # failing again at once: nothing trained since, the checkpoint stays
    assert checkpoint.read_bytes() == saved
    monkeypatch.undo()  # the file fixed or removed
    assert run_tiny(tmp_path, resume=True).status == "finished"
    assert tensors_equal(load_file(tmp_path / "golf.safetensors"), load_file(reference / "golf.safetensors"))


def test_a_data_error_at_a_stages_first_step_says_where_the_run_stands(tmp_path: Path, monkeypatch):
    # stage D's first batch: no checkpoint-d, but stage G's checkpoint is there for --resume
    unreadable = GolfdeblurError("photos/a.png: not an image file")
    failing_batches(monkeypatch, ("d", 0), unreadable)
    with pytest.raises(GolfdeblurError) as failure:
        run_tiny(tmp_path / "run", ["train.val_every=0"])
    assert str(failure.value) == (
        f"{unreadable}; stage d stopped before its first step, the earlier stages' checkpoints are in "
        f"{tmp_path / 'run'}; fix what it names, or remove it (a pair's blurry and sharp files together), then run "
        "the same command with --resume"
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [(s["stage"], s["status"], s["step"]) for s in summary["stages"]] == [
        ("g", "finished", 6),
        ("d", "data error", 0),
    ]
    assert summary["stages"][1]["weights"] is None  # no weights-d.safetensors was written: none named
    assert not (tmp_path / "run" / "checkpoint-d.safetensors").exists()
    assert not (tmp_path / "run" / "weights-d.safetensors").exists()
    # a bug in the data code is no data error: it keeps its traceback, and step 3 is not saved
    failing_batches(monkeypatch, ("g", 3), RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="^a bug$"):
        run_tiny(tmp_path / "bug", ["train.val_every=0"])
    assert checkpoint_meta(tmp_path / "bug" / "checkpoint-g.safetensors")["step"] == 2  # train.checkpoint_every's


def test_a_folder_whose_run_failed_before_its_first_step_takes_a_plain_rerun(tmp_path: Path, monkeypatch):
    """A run that failed at step 0 (its data, after config.yaml and log.csv were written) left a log holding its
    header alone, and the same command again was refused with 'already holds log.csv: pass --resume', though there
    was nothing to resume. A log with rows still refuses (test_a_stale_log_blocks_a_fresh_run_...)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()  # an --out that existed: a run removes only the folders it made, and only while empty
    unreadable = GolfdeblurError("photos/a.png: not an image file")
    failing_batches(monkeypatch, ("g", 0), unreadable)
    with pytest.raises(GolfdeblurError) as failure:
        run_tiny(run_dir, ["train.val_every=0"], ("g",))
    assert str(failure.value) == (
        f"{unreadable}; nothing was trained yet; fix what it names, or remove it (a pair's blurry and sharp files "
        "together), then run the same command again"
    )
    assert sorted(path.name for path in run_dir.iterdir()) == ["config.yaml", "log.csv", "summary.json", "train.log"]
    monkeypatch.undo()
    assert run_tiny(run_dir, ["train.val_every=0"], ("g",)).status == "finished"
    assert [(stage, step) for stage, step, _ in log_losses(run_dir)] == [("g", "2"), ("g", "4"), ("g", "6")]
    (run_dir / "log.csv").write_text("")  # empty, and no checkpoint: no run either
    (run_dir / "checkpoint-g.safetensors").unlink()
    assert run_tiny(run_dir, ["train.val_every=0"], ("g",)).status == "finished"
    assert [(stage, step) for stage, step, _ in log_losses(run_dir)] == [("g", "2"), ("g", "4"), ("g", "6")]


def test_progress_on_a_terminal_of_no_width_is_plain_lines(monkeypatch):
    """A pseudo-terminal of 0 columns (`script`, some CI runners) is a terminal, but tqdm's bar, fitted to its width,
    showed nothing there at all."""
    import io

    from tqdm import tqdm

    from golfdeblur.train import loop

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 2

    monkeypatch.setattr(sys, "stderr", Terminal())
    for columns, kind in ((0, loop.ProgressLines), (80, tqdm)):
        monkeypatch.setattr(os, "get_terminal_size", lambda fd, columns=columns: os.terminal_size((columns, 24)))
        progress = loop.make_progress("g", 10, 0, enabled=True)
        assert isinstance(getattr(progress, "bar", progress), kind), columns  # a bar comes with train.log's lines
        progress.close()

    def no_size(fd):
        raise OSError(25, "Inappropriate ioctl for device")

    monkeypatch.setattr(os, "get_terminal_size", no_size)  # a terminal that gives no size: plain lines too
    assert isinstance(loop.make_progress("g", 10, 0, enabled=True), loop.ProgressLines)


def test_the_summary_lists_the_chunks_before_each_stage_as_its_cards_do(tmp_path: Path):
    """After --init-from W, summary.json's earlier_chunks were empty for stage G, while every card listed W's chunks
    first: they named only the stages this run folder trained before."""
    run_tiny(tmp_path / "chunk1", ["train.g_steps=3", "train.val_every=0"], ("g",))
    first = str(tmp_path / "chunk1" / "golf.safetensors")
    run_dir = tmp_path / "chunk2"
    run_tiny(run_dir, ["train.g_steps=2", "train.d_steps=2", "train.val_every=0"], init_from=first)
    stages = json.loads((run_dir / "summary.json").read_text())["stages"]
    for stage in stages:
        listed = [(c["stage"], c["steps"]) for c in stage["earlier_chunks"]]
        assert listed + [(stage["stage"], stage["step"])] == chunks_of(run_dir / f"weights-{stage['stage']}.json")
    assert [(c["stage"], c["steps"]) for c in stages[-1]["earlier_chunks"]] == [("g", 3), ("g", 2)]
    assert chunks_of(run_dir / "golf.json") == [("g", 3), ("g", 2), ("d", 2)]


# ----------------------------------------------------------------------------------------------------------------------
# train.log

HEADER = re.compile(r"== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<command>.+) ==")


def transcript_lines(run_dir: Path) -> list[str]:
    return (run_dir / "train.log").read_text(encoding="utf-8").splitlines()


def test_train_log_keeps_what_the_run_says_and_a_resume_appends(tmp_path: Path, capsys, monkeypatch):
    """What `golfdeblur train` says about itself (its data, notes, progress, how each stage ended) went to stderr
    alone: a terminal that closed, or a stderr nobody redirected, lost it. train.log keeps it, and a resume's after."""
    from golfdeblur.cli import main

    run_dir = tmp_path / "run"
    argv = ["train", "--recipe", "tiny", "--stage", "g", "--out", str(run_dir), "--set", "train.g_steps=4"]
    argv += ["--set", "train.val_every=0", "--set", "train.progress=true"]
    assert main(argv) == 0
    first = transcript_lines(run_dir)
    assert HEADER.fullmatch(first[0])["command"] == shlex.join(["golfdeblur", *argv])  # cli.main's: as parsed
    assert first[1:] == capsys.readouterr().err.splitlines()  # every line stderr showed, in its order
    assert first[1].startswith("training data: ") and first[2].startswith("stage g: step 2/4 loss=")
    assert first[-2].startswith("stage g: step 4/4 loss=")
    assert first[-1] == f"stage g: finished at step 4/4; checkpoint {run_dir / 'checkpoint-g.safetensors'}"
    # the same command plus --resume, as typed in a shell (sys.argv), with more steps: a header, then what it says
    resume = [*argv[:5], f"--out={run_dir}", *argv[7:], "--set", "train.g_steps=6", "--resume"]
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/golfdeblur", *resume])
    assert main(resume) == 0
    said = transcript_lines(run_dir)
    assert said[: len(first)] == first
    assert HEADER.fullmatch(said[len(first)])["command"] == shlex.join(["golfdeblur", *resume])
    assert said[len(first) + 1 :] == capsys.readouterr().err.splitlines()
    assert any(line.startswith("golfdeblur: note: ") and "different recipe" in line for line in said[len(first) :])
    assert said[-1] == f"stage g: finished at step 6/6; checkpoint {run_dir / 'checkpoint-g.safetensors'}"


def test_train_log_ends_with_the_error_line_of_a_run_that_fails_on_its_data(tmp_path: Path, capsys, monkeypatch):
    from golfdeblur.cli import main

    failing_batches(monkeypatch, ("g", 3), GolfdeblurError("photos/a.png: truncated or corrupt image data"))
    run_dir = tmp_path / "run"
    argv = ["train", "--recipe", "tiny", "--stage", "g", "--out", str(run_dir), "--set", "train.val_every=0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("golfdeblur: error: photos/a.png: truncated or corrupt image data; training stopped")
    assert transcript_lines(run_dir)[1:] == err  # the error line as stderr shows it, and once


def test_on_a_terminal_train_log_gets_progress_lines_and_not_the_bar(tmp_path: Path, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 2

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=2: os.terminal_size((80, 24)))
    run_tiny(tmp_path / "run", ["train.progress=true", "train.log_every=1", "train.val_every=0"], ("g",))
    assert "\r" in terminal.getvalue() and "%|" in terminal.getvalue()  # tqdm's bar, on the terminal
    said = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "\r" not in said and "%|" not in said
    steps = load_recipe("tiny").train.g_steps
    lines = [line for line in said.splitlines() if line.startswith("stage g: step ")]
    assert lines[0].startswith(f"stage g: step 1/{steps} loss=") and lines[-1].startswith(f"stage g: step {steps}/")


def write_random_pairs(folder: Path, names: list[str], seed: int, size: int = 40) -> list[str]:
    """Random sharp PNGs and their box-blurred partners under folder/blur and folder/sharp; returns the overrides
    that name them as held-out validation pairs."""
    import numpy as np
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    box = torch.full((3, 1, 5, 5), 1 / 25)
    for name in names:
        sharp = torch.rand(1, 3, size, size, generator=generator)
        blurry = torch.nn.functional.conv2d(sharp, box, padding=2, groups=3)
        for kind, image in (("blur", blurry), ("sharp", sharp)):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            pixels = (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            Image.fromarray(np.ascontiguousarray(pixels)).save(folder / kind / f"{name}.png")
    return [f"data.validation_blur_dir={folder / 'blur'}", f"data.validation_sharp_dir={folder / 'sharp'}"]


def test_a_run_on_its_own_pairs_validates_on_the_held_out_pairs_its_recipe_names(tmp_path: Path, capsys):
    """log.csv's val_psnr, the best-g choice and the checkpoint's record were of the project's fixed synthetic set,
    whatever pairs the run trained on: with data.validation_blur_dir / validation_sharp_dir they are of those pairs,
    scored as `golfdeblur eval` scores their centre crops."""
    from golfdeblur.data.datasets import PairedFolders
    from golfdeblur.data.degrade import centre_crop
    from golfdeblur.evaluate import PSNR_CONVENTION, evaluate_pairs

    write_random_pairs(tmp_path / "pairs", ["a", "b", "c", "d"], seed=0)
    held = write_random_pairs(tmp_path / "held", ["h1", "h2", "h3"], seed=1)
    paired = ["data.source=paired", f"data.blur_dir={tmp_path / 'pairs/blur'}"]
    paired += [f"data.sharp_dir={tmp_path / 'pairs/sharp'}"]
    run_dir = tmp_path / "run"
    settings = [*paired, *held, "train.g_steps=3", "train.val_every=3", "optim.lr=0.01"]
    capsys.readouterr()
    train(load_recipe("tiny", settings), RunOptions(run_dir, ("g",)))
    said = capsys.readouterr().err.splitlines()
    first = next(index for index, line in enumerate(said) if line.startswith("training data: "))
    assert said[first + 1] == (
        f"validation: 2 pairs from {tmp_path / 'held/blur'} and {tmp_path / 'held/sharp'}, central 32 px crops"
    )
    with open(run_dir / "log.csv", newline="") as handle:
        scores = {int(row["step"]): float(row["val_psnr"]) for row in csv.DictReader(handle) if row["val_psnr"]}
    pairs = PairedFolders(tmp_path / "held/blur", tmp_path / "held/sharp")
    crops = [(*(centre_crop(image, 32) for image in pairs[index]), pairs.name(index)) for index in range(2)]
    model = load_golf(run_dir / "best-g.safetensors")
    rows = evaluate_pairs(model, crops, iterations=0, device="cpu").rows
    expected = [row[PSNR_CONVENTION.label] for row in rows if row["iterate"] == "G"]
    assert len(expected) == 2 and scores[3] == pytest.approx(sum(expected) / 2, abs=1e-4)  # the log keeps 4 decimals
    meta = json.loads(read_checkpoint(run_dir / "checkpoint-g.safetensors")[1]["meta"])
    assert meta["validation"]["names"] == ["h1.png", "h2.png"]
    assert meta["best_psnr"] == pytest.approx(scores[3], abs=5e-5)  # the log's 4 decimals, the checkpoint's all
    card = json.loads((run_dir / "best-g.json").read_text())
    assert card["recipe_settings"]["data"]["validation_blur_dir"] == str(tmp_path / "held/blur")
    assert load_recipe(run_dir / "config.yaml").data.validation_sharp_dir == str(tmp_path / "held/sharp")
    # a resume on other pairs of the same names: the best score of the first set no longer compares
    write_random_pairs(tmp_path / "held", ["h1", "h2", "h3"], seed=2)
    capsys.readouterr()
    train(load_recipe("tiny", [*settings, "train.g_steps=6"]), RunOptions(run_dir, ("g",), resume=True))
    where = f"2 pairs from {tmp_path / 'held/blur'} and {tmp_path / 'held/sharp'}"
    assert (
        f"note: stage g validates on {where}, its checkpoint on {where}: the best score starts again, so best-g "
        "follows the new set"
    ) in capsys.readouterr().err


def test_train_command_refuses_held_out_pairs_among_the_training_pairs_in_one_line(tmp_path, capsys, monkeypatch):
    from golfdeblur.cli import main
    from golfdeblur.train import loop

    def no_data(*args, **kwargs):
        raise AssertionError("the data set-up ran")

    monkeypatch.setattr(loop, "make_batches", no_data)
    monkeypatch.chdir(tmp_path)
    write_random_pairs(tmp_path / "pairs", ["a", "b"], seed=0)
    argv = ["train", "--recipe", "tiny", "--out", "run", "--set", "data.source=paired"]
    argv += ["--set", "data.blur_dir=pairs/blur", "--set", "data.sharp_dir=pairs/sharp"]
    argv += ["--set", "data.validation_blur_dir=pairs/blur", "--set", "data.validation_sharp_dir=pairs/sharp"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "golfdeblur: error: recipe key data.validation_blur_dir: pairs/blur is data.blur_dir (pairs/blur), which the "
        "run trains on; validate on pairs kept out of the training data"
    )
    assert not (tmp_path / "run").exists()


def test_a_run_with_its_stderr_closed_trains_and_keeps_its_progress_in_train_log(tmp_path: Path, capsys, monkeypatch):
    # `golfdeblur train ... 2>&-` (sys.stderr is None) with progress on ended at once in an AttributeError (exit 1,
    # silently); and print(file=None) writes to stdout, where nothing of the run's progress belongs
    monkeypatch.setattr(sys, "stderr", None)
    outcome = run_tiny(tmp_path / "run", ["train.progress=true", "train.log_every=1", "train.val_every=0"], ("g",))
    monkeypatch.undo()
    assert outcome.status == "finished" and capsys.readouterr() == ("", "")
    steps = load_recipe("tiny").train.g_steps
    said = transcript_lines(tmp_path / "run")
    assert said[1].startswith(f"stage g: step 1/{steps} loss=") and said[2].startswith(f"stage g: step {steps}/")
    assert said[-1].startswith(f"stage g: finished at step {steps}/{steps}")


def test_a_run_without_tensorboard_says_so_once_for_both_stages(tmp_path, monkeypatch, capsys):
    """The note was said by each stage's log, twice a run; remembering which logs had said it kept a set for the
    process, so a second run into the same folder said nothing. train says it once a run now."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as where the extra is not installed
    note = "golfdeblur: note: tensorboard is not installed (pip install 'golfdeblur[tensorboard]'); logging to log.csv"
    for run in (tmp_path / "first", tmp_path / "first", tmp_path / "again"):  # a rerun into one folder says it too
        run_tiny(run, ["train.tensorboard=true", "train.g_steps=2", "train.d_steps=2"], resume=run.exists())
        assert capsys.readouterr().err.count(note) == 1


def test_stage_g_tells_its_datasets_the_draws_of_before_streams_and_stage_d_its_own(tmp_path: Path):
    """Stage G's datasets draw as they did before datasets had streams (""), so that a stage G checkpointed by that
    code resumes on the batches it would have seen (tests/train/test_batches.py pins them); stage D draws its own."""
    told: list[str] = []

    class Streams(TinyPairs):
        def set_stream(self, stream: str) -> None:
            told.append(stream)

    recipe = load_recipe("tiny", ["train.val_every=0", "train.g_steps=2", "train.d_steps=2"])
    train(recipe, RunOptions(tmp_path / "run", ("g", "d")), Streams())
    assert told and set(told[: told.index("d")]) == {""} and set(told[told.index("d") :]) == {"d"}
