"""Naive all-reduce: everyone sends to rank 0, rank 0 adds and sends the total back.

Rank 0 receives (w-1)·n elements and sends (w-1)·n: its link carries everything, so the time
grows linearly with the world size while every other link sits idle.
"""

import torch
import torch.distributed as dist

from .common import check_op, flat_view


def naive_all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    ### BEGIN SOLUTION
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:  # (n,)
        if rank == 0:
            incoming = torch.empty_like(flat)
            for source in range(1, world_size):  # a fixed order: the same sum on every run
                dist.recv(incoming, src=source)
                flat += incoming
            if op == "avg":
                flat /= world_size  # before sending, so every rank gets the same bits
            for destination in range(1, world_size):
                dist.send(flat, dst=destination)
        else:
            dist.send(flat, dst=0)
            dist.recv(flat, src=0)
    return tensor
    ### END SOLUTION
