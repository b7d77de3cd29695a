"""Where training batches come from: a DataLoader over a Dataset (any device), or synthetic pairs made on the device.

Both give the batch of a given step deterministically: the sampler order depends on (seed, stream, epoch) only,
every random draw of the loop (flips, on-device crops, kernels, noise) comes from a generator seeded by (seed, stream,
step, rank), and a dataset's own draws (synthetic crops, kernels and noise; random crops of pairs) by (seed, stream,
epoch, index). A resumed run therefore sees exactly the batches an uninterrupted run would, with no generator state to
save. The stream names the stage, so stage D does not retrace stage G's batches (nor, on the DataLoader path, train on
the samples stage G drew; ``LoaderBatches.batches``' ``dataset_stream``); the step counts from where the campaign of
the ``--init-from`` weights left off (``checkpoints.CampaignPosition``), so a chunk never replays an earlier chunk's
batches.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import TypeVar, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from golfdeblur.data.datasets import SharedDraws, random_crop_flip
from golfdeblur.data.degrade import degrade, pad_to_fit, random_grey
from golfdeblur.data.kernels import KernelRealism, derived_seed, random_kernels
from golfdeblur.errors import DeblurSettingsError, GolfdeblurError

T = TypeVar("T")


def to_device_async(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small CPU tensor on ``device`` without waiting: a plain CPU-to-CUDA copy synchronises the stream, so the
    CPU could never prepare the next step while the GPU runs this one. Pinned memory makes the copy asynchronous."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def random_flips(blurry: torch.Tensor, sharp: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Flip each pair horizontally and vertically, each with probability 1/2 (the same flips for both images).

    Shape:
        blurry, sharp (B, 3, H, W) -> the same shapes.
    """
    flips = to_device_async(torch.rand(blurry.shape[0], 2, generator=generator) < 0.5, blurry.device)
    horizontal = flips[:, 0].view(-1, 1, 1, 1)
    vertical = flips[:, 1].view(-1, 1, 1, 1)
    out = []
    for image in (blurry, sharp):
        image = torch.where(horizontal, image.flip(-1), image)
        out.append(torch.where(vertical, image.flip(-2), image))
    return tuple(out)


def leave_stopping_to_the_main_process(worker_id: int) -> None:
    """A DataLoader's ``worker_init_fn``: the worker ignores SIGINT (and SIGHUP where there is one), which a terminal
    sends to the whole process group, so that the training process alone decides when to stop (after a step, with a
    checkpoint). Otherwise spawned workers (macOS, Windows) die of a Ctrl-C, which the loader reports as a crash,
    and forked ones inherit the training loop's handler. torch
    has seeded the worker before calling this. Module-level, so that it pickles for spawned workers.

    Where there are process groups (not Windows) the worker also leaves the training process's group: a signal sent
    to the whole group (``timeout``, ``kill -TERM -PGID``) reached the workers too, and torch's workers die of a
    SIGTERM not sent by their parent, which the loader reported as a crash at any point of the step (a checkpoint's
    write included), so the run lost its checkpoint at the signal. The parent still ends them directly, and they end
    themselves when it dies. And a SIGTERM sent to each process (Slurm, systemd) ends a worker quietly, as torch ends
    one its parent stops (exit status 0): the loader then fails in ``next``, which the training loop reads as the
    stop it was sent too, not as a crash wherever the step was."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGTERM, _end_quietly)
    for name in ("SIGINT", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)


def _end_quietly(signum: int, frame: object) -> None:
    """A worker's SIGTERM handler: exit at once with status 0, as torch's own does for its parent's SIGTERM."""
    os._exit(0)


class LoaderBatches:
    """Batches of a map-style Dataset of (blurry, sharp) pairs, sharded over processes with a DistributedSampler.

    ``batch_size`` is per process. The epoch of step s is s // steps_per_epoch; resuming at step s restarts that
    epoch's sampler order and skips the batches already seen. Datasets with ``set_epoch(epoch)`` (e.g. synthetic
    data that draws new crops and kernels each epoch) are told the epoch, and those with ``set_stream(name)`` the
    stream (or ``batches``' ``dataset_stream``), so that each stream draws its own samples.

    Shape:
        each batch: blurry, sharp (batch_size, 3, H, W) on ``device``.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 0,
        flips: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.flips = flips
        self.workers = workers
        self.device = torch.device(device)
        self.sampler: DistributedSampler[int] = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // batch_size
        if self.steps_per_epoch < 1:
            count = len(cast(Sized, dataset))
            raise GolfdeblurError(
                f"training data: {count} pair{'s are' if count != 1 else ' is'} fewer than one batch of {batch_size} "
                f"on each of {world_size} process(es)"
            )

    def batches(
        self, start_step: int, stream: str = "", dataset_stream: str | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the batches of steps start_step, start_step + 1, ... (endless) of ``stream``, which reorders the
        samples, redraws the flips and, in a dataset with ``set_stream``, its own draws (e.g. synthetic crops,
        kernels and noise). One stream at a time: the dataset holds the stream of the last epoch started.

        ``dataset_stream`` (default ``stream``) is the stream told to the dataset: "" keeps the draws datasets made
        before they had streams, which the training loop asks for stage G, so that a stage G checkpointed by that
        code resumes on the batches it would have seen (docs/TRAINING.md)."""
        self.sampler.seed = derived_seed(self.seed, stream) & 0x7FFFFFFF if stream else self.seed
        dataset_stream = stream if dataset_stream is None else dataset_stream
        step = start_step
        while True:
            epoch, skip = divmod(step, self.steps_per_epoch)
            self.sampler.set_epoch(epoch)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            if hasattr(self.dataset, "set_stream"):
                self.dataset.set_stream(dataset_stream)
            indices = list(self.sampler)[skip * self.batch_size : self.steps_per_epoch * self.batch_size]
            loader = DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                sampler=indices,
                num_workers=self.workers,
                drop_last=True,
                pin_memory=self.device.type == "cuda",
                worker_init_fn=leave_stopping_to_the_main_process,
            )
            for item in one_line_errors(loader):
                blurry, sharp = item[0], item[1]
                # Copy first, then flip on the device: flipping makes new, unpinned CPU tensors, and a copy from
                # unpinned memory would make the CPU wait for the GPU at every step.
                blurry = blurry.to(self.device, non_blocking=True).float()
                sharp = sharp.to(self.device, non_blocking=True).float()
                if self.flips:
                    generator = torch.Generator().manual_seed(derived_seed(self.seed, stream, step, self.rank, "flips"))
                    blurry, sharp = random_flips(blurry, sharp, generator)
                yield blurry, sharp
                step += 1


def one_line_errors(loader: Iterable[T]) -> Iterator[T]:
    """The loader's items; a GolfdeblurError raised in a DataLoader worker (e.g. an unreadable image) comes out as it
    would without workers: torch re-raises it with the worker's whole traceback in its message, and the command line
    prints messages as one line."""
    try:
        yield from loader
    except GolfdeblurError as exc:
        lines = str(exc).strip().splitlines()
        if len(lines) < 2 or "Original Traceback" not in str(exc):
            raise
        kind, _, message = lines[-1].partition(": ")  # "golfdeblur.data.image_data.ImageReadError: x.png: truncated"
        raise type(exc)(message if message and " " not in kind else lines[-1]) from None


class MixedPairs(SharedDraws, Dataset):
    """Synthetic pairs mixed with real ones: item i is, with probability ``fraction``, a random ``crop_size`` crop
    (with random flips when ``flips``) of a random pair of ``real``, else item i of ``synthetic``. Every choice (real
    or not, which pair, the crop, the flips) depends only on (seed, epoch, i) and the stream (``set_stream``; ""
    by default), so two items of an epoch that draw one real pair get their own crops of it.

    ``real`` gives whole (blurry, sharp) pairs (e.g. ``PairedFolders`` with ``crop_size=None``; a pair smaller than
    the crop is mirror-padded). ``set_epoch`` and ``set_stream`` reach both datasets, and, held in shared memory as
    the datasets hold theirs, persistent DataLoader workers too. ``len`` is the synthetic dataset's.

    Shape:
        item -> (blurry, sharp), (3, crop_size, crop_size) as the synthetic dataset gives them.
    """

    def __init__(
        self, synthetic: Dataset, real: Dataset, fraction: float, seed: int = 0, *, crop_size: int, flips: bool = True
    ) -> None:
        if not 0 <= fraction <= 1:
            raise GolfdeblurError(f"data.pairs_fraction must be in [0, 1], got {fraction}")
        self.synthetic, self.real, self.fraction, self.seed = synthetic, real, fraction, seed
        self.crop_size, self.flips = crop_size, flips
        self._init_draws()

    def set_epoch(self, epoch: int) -> None:
        """Use the random choices of ``epoch`` from now on, here and in both datasets."""
        super().set_epoch(epoch)
        self._pass_on("set_epoch", epoch)

    def set_stream(self, stream: str) -> None:
        """Use the random choices of ``stream`` from now on, here and in both datasets ("": no stream)."""
        super().set_stream(stream)
        self._pass_on("set_stream", stream)

    def _pass_on(self, method: str, value: object) -> None:
        """Call ``method(value)`` on each of the two datasets that has it."""
        for dataset in (self.synthetic, self.real):
            if hasattr(dataset, method):
                getattr(dataset, method)(value)

    def __len__(self) -> int:
        return len(cast(Sized, self.synthetic))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, stream = self._draws_now()
        # no stream (""): seeded as before datasets had streams
        generator = torch.Generator().manual_seed(
            derived_seed(self.seed, epoch, index, "mix", *((stream,) if stream else ()))
        )
        if float(torch.rand((), generator=generator)) < self.fraction:
            blurry, sharp = self.real[int(torch.randint(0, len(cast(Sized, self.real)), (), generator=generator))][:2]
            crops = random_crop_flip([blurry, sharp], self.crop_size, generator, self.flips)
            return crops[0], crops[1]
        item = self.synthetic[index]
        return item[0], item[1]


class WholePairs(Dataset):
    """In-memory uint8 (blurry, sharp) pairs as whole float32 images in [0, 1] (the real pairs of a pack, for
    ``MixedPairs``, which crops them).

    Shape:
        item -> (blurry, sharp), each (3, H, W).
    """

    def __init__(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        if not pairs:
            raise GolfdeblurError("no image pairs given")
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        blurry, sharp = self.pairs[index]
        return blurry.float() / 255, sharp.float() / 255


def images_to_device(images: Sequence[np.ndarray | torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """Sharp images as uint8 (3, H, W) tensors on ``device`` (4x less memory than float).

    Accepts (H, W, 3) uint8 arrays, or float arrays/tensors in [0, 1] as (H, W, 3) or (3, H, W).
    """
    out = []
    for image in images:
        tensor = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
        if tensor.ndim != 3:
            raise GolfdeblurError(f"sharp image of shape {tuple(tensor.shape)}: expected (H, W, 3) or (3, H, W)")
        if tensor.shape[0] != 3 and tensor.shape[-1] == 3:
            tensor = tensor.permute(2, 0, 1)
        if tensor.is_floating_point():
            tensor = (tensor.clamp(0, 1) * 255).round()
        out.append(tensor.to(torch.uint8).contiguous().to(device))
    return out


class DeviceBatches:
    """Synthetic pairs made where the model runs: crops of sharp images held on the device, blurred there.

    ``images`` are sharp images as uint8 (3, H, W) tensors in 0..255 (``images_to_device`` makes them from arrays or
    float images in [0, 1]), and so are both images of each of ``real_pairs``; anything else is refused with a
    DeblurSettingsError, a ValueError (its crops are divided by 255: float images would train on near-black pairs).

    Each step draws, from a CPU generator seeded by (seed, stream, step, rank), an image (in proportion to its area),
    a crop position, flips, and one kernel from a bank (drawn once with ``random_kernels``, seeded by (seed,
    ``bank_index``), so each chunk of a campaign draws a new bank, with ``kernel_realism`` when given; used under all 8
    flips/rotations); the crop, the
    FFT blur (``degrade``, "valid" padding, so no border effects) and the noise then run on the device. The noise
    comes from a generator on the device, seeded the same way: torch's CPU and CUDA generators give different
    numbers for one seed, so a recipe's batches hold the same crops and kernels on a CPU and a GPU but not the same
    noise (drawing it on the CPU would copy each batch's noise to the device every step). Nothing waits
    on a worker process or a host-to-device copy (the few small index tensors go through pinned memory,
    ``to_device_async``). With ``real_pairs`` (uint8 (3, H, W) tensors, e.g. GoPro-protocol pairs), each sample is
    with probability ``real_fraction`` a random crop of a real pair instead. Images (and pairs) smaller than what a
    step cuts are mirror-padded to fit, as in the DataLoader datasets; they are never left out.

    Shape:
        each batch: blurry, sharp (batch_size, 3, crop_size, crop_size) float32 in [0, 1] on ``device``.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        crop_size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        kernel_min_size: int = 7,
        kernel_max_size: int = 31,
        kernel_bank_size: int = 1024,
        noise_sigma_max: float = 0.02,
        flips: bool = True,
        linear_light: bool = False,
        device: torch.device | str = "cpu",
        real_pairs: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
        real_fraction: float = 0.0,
        bank_index: int = 0,
        kernel_realism: KernelRealism | None = None,
        grey_fraction: float = 0.0,
        clean_fraction: float = 0.0,
    ) -> None:
        self.device = torch.device(device)
        self.grey_fraction, self.clean_fraction = grey_fraction, clean_fraction
        if not images:
            raise GolfdeblurError("on-device data: no sharp image")
        _require_uint8_images({f"images[{i}]": image for i, image in enumerate(images)})
        _require_uint8_images(
            {f"real_pairs[{i}][{j}]": image for i, pair in enumerate(real_pairs) for j, image in enumerate(pair)}
        )
        # an even maximum rounds inward, as random_kernels (the DataLoader path) rounds it: the same blur either way
        self.kernel_size = int(kernel_max_size) - (1 - int(kernel_max_size) % 2)
        self.patch = crop_size + self.kernel_size - 1
        # Images smaller than what a step cuts are mirror-padded, as the DataLoader datasets do (docs/DATA.md).
        self.images = [pad_to_fit(image, self.patch).to(self.device) for image in images]
        self.real_pairs = [
            (pad_to_fit(blurry, crop_size).to(self.device), pad_to_fit(sharp, crop_size).to(self.device))
            for blurry, sharp in real_pairs
        ]
        self.real_fraction = real_fraction if self.real_pairs else 0.0
        # In proportion to area, so every pixel of the data is about equally likely to be trained on. (Weighting by the
        # number of crop positions instead would give a few 2040 px DIV2K images most of the samples, as a 286 px
        # patch fits a 481x321 BSDS500 photo in only 196 x 36 positions.)
        areas = torch.tensor([image.shape[-2] * image.shape[-1] for image in images], dtype=torch.float64)
        self.image_weights = areas / areas.sum()
        self.crop_size = crop_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.noise_sigma_max = noise_sigma_max
        self.flips = flips
        self.linear_light = linear_light
        bank_generator = torch.Generator().manual_seed(derived_seed(seed, "kernel-bank", bank_index))
        bank = random_kernels(
            kernel_bank_size, bank_generator, kernel_min_size, self.kernel_size, pad_to=None, realism=kernel_realism
        )
        bank = _pad_to(bank, self.kernel_size)
        rotations = [torch.rot90(bank, turns, dims=(-2, -1)) for turns in range(4)]
        self.kernels = torch.cat(rotations + [r.flip(-1) for r in rotations]).contiguous().to(self.device)

    def batch(self, step: int, stream: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """The (blurry, sharp) batch of ``step`` in ``stream``; the same step and stream always give the same batch."""
        generator = torch.Generator().manual_seed(derived_seed(self.seed, stream, step, self.rank, "device-batch"))
        which = torch.multinomial(self.image_weights, self.batch_size, replacement=True, generator=generator)
        patches = []
        for index in which.tolist():
            image = self.images[index]
            top = int(torch.randint(0, image.shape[-2] - self.patch + 1, (), generator=generator))
            left = int(torch.randint(0, image.shape[-1] - self.patch + 1, (), generator=generator))
            patches.append(image[:, top : top + self.patch, left : left + self.patch])
        sharp_patches = torch.stack(patches).float().div_(255)
        if self.flips:
            sharp_patches, _ = random_flips(sharp_patches, sharp_patches, generator)
        kernel_index = torch.randint(0, self.kernels.shape[0], (self.batch_size,), generator=generator)
        kernels = self.kernels[to_device_async(kernel_index, self.device)]
        sharp_patches = random_grey(sharp_patches, generator, self.grey_fraction)
        noise_generator = torch.Generator(device=self.device).manual_seed(
            derived_seed(self.seed, stream, step, self.rank, "noise")
        )
        blurry = degrade(
            sharp_patches,
            kernels,
            noise_generator,
            noise_sigma_max=self.noise_sigma_max,
            linear_light=self.linear_light,
            padding="valid",
            clean_fraction=self.clean_fraction,
        )
        margin = self.kernel_size // 2
        sharp = sharp_patches[..., margin : margin + self.crop_size, margin : margin + self.crop_size]
        if self.real_fraction > 0:
            blurry, sharp = self._mix_real_pairs(blurry, sharp.clone(), generator)
        return blurry, sharp.contiguous()

    def _mix_real_pairs(
        self, blurry: torch.Tensor, sharp: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace each sample, with probability real_fraction, by a random crop of a real (blurry, sharp) pair."""
        size = self.crop_size
        for slot in torch.nonzero(torch.rand(self.batch_size, generator=generator) < self.real_fraction).flatten():
            which = int(torch.randint(0, len(self.real_pairs), (), generator=generator))
            real_blurry, real_sharp = self.real_pairs[which]
            top = int(torch.randint(0, real_blurry.shape[-2] - size + 1, (), generator=generator))
            left = int(torch.randint(0, real_blurry.shape[-1] - size + 1, (), generator=generator))
            flip = [d for d, f in zip((-1, -2), (torch.rand(2, generator=generator) < 0.5).tolist(), strict=True) if f]
            for target, source in ((blurry, real_blurry), (sharp, real_sharp)):
                crop = source[:, top : top + size, left : left + size].float().div(255)
                target[int(slot)] = crop.flip(flip) if flip else crop
        return blurry, sharp

    def batches(
        self, start_step: int, stream: str = "", dataset_stream: str | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the batches of steps start_step, start_step + 1, ... (endless) of ``stream``. ``dataset_stream`` is
        unused (no dataset: every draw is of ``stream``); taken so that the training loop calls either source alike."""
        step = start_step
        while True:
            yield self.batch(step, stream)
            step += 1


def _require_uint8_images(images: dict[str, torch.Tensor]) -> None:
    """Refuse, with a DeblurSettingsError (a ValueError) naming the argument (its key, e.g. "images[2]"), an image
    that is no uint8 (3, H, W) tensor."""
    for argument, image in images.items():
        if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            what = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
            raise DeblurSettingsError(
                f"DeviceBatches {argument}: expected a uint8 (3, H, W) tensor in 0..255, got {what} "
                "(images_to_device converts float images in [0, 1] and (H, W, 3) arrays)"
            )


def _pad_to(kernels: torch.Tensor, size: int) -> torch.Tensor:
    pad = (size - kernels.shape[-1]) // 2
    return torch.nn.functional.pad(kernels, (pad, pad, pad, pad)) if pad > 0 else kernels
