# mutant: part=tree
# mistake: a "tree" of depth one: every rank sends straight to rank 0 and rank 0 sends the result
# to every rank, so rank 0 sends (w-1)·n elements instead of ceil(log2 w)·n
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def tree_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:
        if rank == 0:
            incoming = torch.empty_like(flat)
            for child in range(1, world_size):
                dist.recv(incoming, src=child)
                flat += incoming
            if op == "avg":
                flat /= world_size
            for child in range(1, world_size):
                dist.send(flat, dst=child)
        else:
            dist.send(flat, dst=0)
            dist.recv(flat, src=0)
    return tensor
