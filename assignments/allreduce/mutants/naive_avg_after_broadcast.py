# mutant: part=naive
# mistake: op="avg" divides on rank 0 after broadcasting the sum, so the other ranks keep the sum
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def naive_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:
        if rank == 0:
            incoming = torch.empty_like(flat)
            for source in range(1, world_size):
                dist.recv(incoming, src=source)
                flat += incoming
            for destination in range(1, world_size):
                dist.send(flat, dst=destination)
        else:
            dist.send(flat, dst=0)
            dist.recv(flat, src=0)
        if op == "avg" and rank == 0:
            flat /= world_size
    return tensor
