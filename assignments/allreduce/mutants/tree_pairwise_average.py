# mutant: part=tree
# mistake: op="avg" halves the partial sum at every level of the tree, which is the average only
# when every subtree has the same size (world sizes that are powers of two)
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def tree_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:
        incoming = torch.empty_like(flat)
        mask = 1
        while mask < world_size:
            if rank & mask:
                dist.send(flat, dst=rank - mask)
                break
            if rank + mask < world_size:
                dist.recv(incoming, src=rank + mask)
                flat += incoming
                if op == "avg":
                    flat /= 2
            mask <<= 1
        tree_broadcast(flat)
    return tensor
