"""The training processes: one process without torchrun, or one per GPU (or CPU worker) under torchrun.

Rank 0 alone writes files; these helpers let every process agree on what it must (sums for logging, BatchNorm
statistics at a checkpoint, barriers) and are no-ops with a single process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from golfdeblur.device import resolve_device
from golfdeblur.train.launch_env import environment_int, first_process_by_environment


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes (world_size 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def writes_files() -> bool:
    """Whether this process is rank 0, the one that writes the run's files, asked before ``start_distributed``
    joins the processes: torchrun's RANK (when WORLD_SIZE is over 1), as ``start_distributed`` takes it."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return first_process_by_environment()


def start_distributed(device_name: str) -> ProcessGroup:
    """Join the process group torchrun describes in the environment (``backend_for``: NCCL on GPUs where torch
    has it, else gloo)."""
    world_size = environment_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return ProcessGroup()
    local_rank = environment_int("LOCAL_RANK", 0)
    device = resolve_device(device_name, local_rank)
    started = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend_for(device))
        started = True
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank, started, device)


def backend_for(device: torch.device) -> str:
    """The process group's backend for ``device``: "nccl" for CUDA where this torch build has NCCL (Windows builds
    have none), else "gloo" (which also runs on CUDA tensors, more slowly)."""
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def broadcast_buffers(module: nn.Module, group: ProcessGroup) -> None:
    """Give every process rank 0's BatchNorm statistics.

    DistributedDataParallel broadcasts them at the start of each forward pass, but each process then updates them
    from its own shard; at a checkpoint (and at the end) all processes must hold rank 0's, which is what is saved.
    """
    broadcast_tensors(list(module.buffers()), group)


def broadcast_tensors(tensors: list[torch.Tensor], group: ProcessGroup) -> None:
    """Overwrite ``tensors`` in place with rank 0's (e.g. the EMA of the weights, whose BatchNorm statistics each
    process averages from its own shard); a no-op with one process."""
    if group.world_size > 1:
        for tensor in tensors:
            dist.broadcast(tensor, src=0)


def barrier(group: ProcessGroup) -> None:
    if group.world_size > 1:
        dist.barrier()


def describe_device(device: torch.device, world_size: int = 1) -> str:
    """E.g. "2 x NVIDIA H100 80GB HBM3" or "cpu (2 threads)", for model cards and logs."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        name = "Apple GPU (MPS)"
    else:
        name = f"cpu ({torch.get_num_threads()} threads)"
    return f"{world_size} x {name}" if world_size > 1 else name


def all_reduce_sum(values: list[torch.Tensor], group: ProcessGroup) -> list[torch.Tensor]:
    """Sum scalar tensors over processes; a no-op with one process."""
    if group.world_size == 1:
        return values
    stacked = torch.stack([v.float() for v in values])
    dist.all_reduce(stacked)
    return list(stacked)


def all_reduce_mean(values: list[torch.Tensor], group: ProcessGroup) -> list[torch.Tensor]:
    """Average scalar tensors over processes (for logging); a no-op with one process."""
    if group.world_size == 1:
        return values
    stacked = torch.stack([v.float() for v in values])
    dist.all_reduce(stacked)
    return list(stacked / group.world_size)
