"""Shared test set-up."""

import builtins
import io
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from golfdeblur.errors import GolfdeblurError

# A pytest started in the background by a script (`make test & wait`) inherits SIGINT ignored, and so would every
# command a test starts: the tests of Ctrl-C need it as a terminal gives it (a handler, which exec resets to default).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture
def data_root(tmp_path):
    """A shared-data folder holding a one-image CBSD68 and a one-image Kodak24 (eval/cbsd68, eval/kodak24)."""
    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((14, 14, 1))).astype(np.uint8)  # blocky: blur shows
    for folder, name in (("cbsd68", "1"), ("kodak24", "kodim01")):
        (tmp_path / "eval" / folder).mkdir(parents=True)
        Image.fromarray(base).save(tmp_path / "eval" / folder / f"{name}.png")
    return tmp_path


@pytest.fixture
def levin_root(data_root):
    """data_root plus a one-image Levin09 (eval/levin09: sharp/, blurred/, kernels.npz)."""
    levin = data_root / "eval" / "levin09"
    (levin / "sharp").mkdir(parents=True)
    (levin / "blurred").mkdir()
    # 48 px: the up-to-shift column cuts a 15 px border
    sharp = np.kron(np.random.default_rng(1).integers(0, 256, (6, 6)), np.ones((8, 8))).astype(np.uint8)
    Image.fromarray(sharp).save(levin / "sharp" / "im_1.png")
    Image.fromarray(sharp).save(levin / "blurred" / "im_1_ker_1.png")
    np.savez(levin / "kernels.npz", k1=np.full((3, 3), 1 / 9))
    return data_root


@pytest.fixture
def snapshot():
    """``snapshot(folder, name, seed, step, config=None)``: a weights file like a chunk's snapshots (a small
    GolfOptimizer with seeded random weights, its card recording the training step); returns its path."""
    from golfdeblur.models.golf import GolfConfig, GolfOptimizer
    from golfdeblur.models.weights_io import save_golf

    def make(folder, name: str, seed: int, step: int, config: GolfConfig | None = None):
        torch.manual_seed(seed)
        model = GolfOptimizer(config or GolfConfig(g_width=4, d_width=2))
        with torch.no_grad():
            for tensor in model.parameters():
                tensor.normal_()
        card = {"training": {"step": step}, "campaign": {"g_steps": step, "d_steps": 0, "chunks": []}}
        return save_golf(model, folder / f"{name}.safetensors", card)

    return make


@pytest.fixture
def damaged_copies_fail_in_one_line():
    """check(path, load, match): ``load`` of every cut of ``path``'s bytes raises a GolfdeblurError matching
    ``match``, and of every one-byte change either loads or raises a GolfdeblurError (never another exception)."""

    def check(path: Path, load, match: str) -> None:
        data = path.read_bytes()
        broken = path.with_name("broken" + path.suffix)
        for cut in range(1, len(data), max(1, len(data) // 40)):
            broken.write_bytes(data[:cut])
            with pytest.raises(GolfdeblurError, match=match):
                load(broken)
        for position in range(0, len(data), max(1, len(data) // 60)):
            changed = bytearray(data)
            changed[position] ^= 0xFF
            broken.write_bytes(bytes(changed))
            try:
                load(broken)
            except GolfdeblurError:
                pass

    return check


@pytest.fixture
def run_until_its_terminal_closes():
    """A function running python with ``argv`` on a new terminal, its controlling one (as a command typed in a terminal
    window), until ``ready(shown)`` (``shown``: the bytes the terminal has shown); it then closes the terminal, which
    makes the kernel send the command SIGHUP, and returns the command's exit code."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    def run(argv: list[str], ready) -> int:
        # a session leader (start_new_session) that opens a terminal takes it as its controlling one, then runs argv
        # SIGHUP at its default, as in a terminal window: a pytest started under nohup passes its SIG_IGN on
        on_terminal = "import os, signal, sys\nsignal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
        on_terminal += "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        on_terminal += "for target in (0, 1, 2):\n    os.dup2(fd, target)\n"
        on_terminal += "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
        master, slave = pty.openpty()
        command = [sys.executable, "-c", on_terminal, os.ttyname(slave), *argv]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline, shown = time.monotonic() + 120, b""
            while not ready(shown):
                assert process.poll() is None and time.monotonic() < deadline, f"exit {process.returncode} before ready"
                if select.select([master], [], [], 0.05)[0]:
                    shown += os.read(master, 65536)  # a terminal shows what it is sent: a full one would block it
            os.close(master)  # the terminal closes: its slave end hangs up, its session leader gets SIGHUP
            master = -1
            return process.wait(timeout=60)
        finally:
            process.kill()
            process.wait()
            os.close(slave)
            if master >= 0:
                os.close(master)

    return run


@pytest.fixture
def never_opened(monkeypatch):
    """``never_opened(*paths)`` makes opening any of ``paths`` fail the test (builtins.open, io.open: what Path.open
    and read_text call), so that a regression that opens a named pipe fails instead of hanging the suite. An open
    that goes round both (os.open, a C library) is caught by a watchdog: 120 s into the test, the stacks are printed
    and the run ends, rather than hanging CI."""
    import faulthandler

    real_open = builtins.open
    faulthandler.dump_traceback_later(120, exit=True)

    def block(*paths) -> None:
        blocked = {Path(p).absolute() for p in paths}

        def guarded_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(file).absolute() in blocked:
                raise AssertionError(f"opened {file}")
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(io, "open", guarded_open)

    yield block
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def hide_pillow_heif(monkeypatch):
    """A function that makes this process, from its call on, look like an install without golfdeblur[heif]:
    image_formats' flag down, Pillow without pillow-heif's opener and saver. A function, so that a test can make its
    HEIC photos with pillow-heif first."""

    def hide() -> None:
        from golfdeblur.data import image_formats

        monkeypatch.setattr(image_formats, "HEIF_AVAILABLE", False)
        Image.init()  # every plugin registered first, or those registered meanwhile would be lost with the copy
        monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
        monkeypatch.delitem(Image.SAVE, "HEIF")

    return hide


@pytest.fixture
def special_files(tmp_path, never_opened):
    """``special_files(suffix)``: {path: what errors.not_a_regular_file says of it} for a folder and a named pipe
    named like a ``suffix`` file in tmp_path (the pipe guarded by ``never_opened``), and /dev/null. POSIX only."""

    def make(suffix: str) -> dict[Path, str]:
        (tmp_path / f"dir{suffix}").mkdir()
        os.mkfifo(tmp_path / f"fifo{suffix}")
        never_opened(tmp_path / f"fifo{suffix}")
        device = "not a regular file (a pipe, socket or device)"
        return {tmp_path / f"dir{suffix}": "is a folder", tmp_path / f"fifo{suffix}": device, Path(os.devnull): device}

    return make
