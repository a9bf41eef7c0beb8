# mutant: part=recursive_doubling
# mistake: no fold for world sizes that are not powers of two: a rank whose partner rank^mask
# does not exist skips that round and misses part of the sum
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def recursive_doubling_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:
        incoming = torch.empty_like(flat)
        mask = 1
        while mask < world_size:
            partner = rank ^ mask
            if partner < world_size:
                request = dist.isend(flat, dst=partner)
                dist.recv(incoming, src=partner)
                request.wait()
                flat += incoming
            mask <<= 1
        if op == "avg":
            flat /= world_size
    return tensor
