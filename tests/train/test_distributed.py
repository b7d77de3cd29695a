"""The helpers that let the training processes agree, with the process group's collectives played in-process."""

import pytest
import torch

from golfdeblur.train import distributed
from golfdeblur.train.distributed import ProcessGroup, all_reduce_mean, all_reduce_sum, describe_device


def test_losses_are_averaged_over_the_processes(monkeypatch):
    # under torchrun the logged losses were the sum over processes, world_size times too large
    monkeypatch.setattr(distributed.dist, "all_reduce", lambda tensor: tensor.mul_(2))  # two processes agreeing
    two = ProcessGroup(world_size=2)
    assert [v.item() for v in all_reduce_mean([torch.tensor(3.0), torch.tensor(1.5)], two)] == [3.0, 1.5]
    assert [v.item() for v in all_reduce_sum([torch.tensor(3.0), torch.tensor(1)], two)] == [6.0, 2.0]


def test_one_process_calls_no_collective(monkeypatch):
    def no_collective(tensor):
        raise AssertionError("all_reduce called with one process")

    monkeypatch.setattr(distributed.dist, "all_reduce", no_collective)
    values = [torch.tensor(3.0)]
    assert all_reduce_mean(values, ProcessGroup()) is values and all_reduce_sum(values, ProcessGroup()) is values


@pytest.mark.parametrize(("world_size", "prefix"), [(1, ""), (2, "2 x ")])
def test_describe_device_counts_devices_only_when_several(world_size, prefix):
    # the model card of a one-process run said "1 x cpu (2 threads)"
    threads = torch.get_num_threads()
    assert describe_device(torch.device("cpu"), world_size) == f"{prefix}cpu ({threads} threads)"
