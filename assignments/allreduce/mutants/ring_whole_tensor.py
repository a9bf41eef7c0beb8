# mutant: part=ring
# mistake: passes the whole vector around the ring w-1 times instead of chunks: right values,
# but each rank sends (w-1)·n elements instead of 2(w-1)/w·n, and ranks add in different orders
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def ring_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    with flat_view(tensor) as flat:
        passing = flat.clone()
        incoming = torch.empty_like(flat)
        for _ in range(world_size - 1):
            request = dist.isend(passing, dst=right)
            dist.recv(incoming, src=left)
            request.wait()
            flat += incoming
            passing.copy_(incoming)
        if op == "avg":
            flat /= world_size
    return tensor
