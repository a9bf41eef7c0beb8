# mutant: part=naive
# mistake: flattens with tensor.reshape(-1), which silently copies a non-contiguous tensor, so the
# result never reaches a transposed or strided input
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def naive_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    flat = tensor.reshape(-1)
    if rank == 0:
        incoming = torch.empty_like(flat)
        for source in range(1, world_size):
            dist.recv(incoming, src=source)
            flat += incoming
        if op == "avg":
            flat /= world_size
        for destination in range(1, world_size):
            dist.send(flat, dst=destination)
    else:
        dist.send(flat.contiguous(), dst=0)
        dist.recv(flat, src=0)
    return tensor
