"""Binomial-tree all-reduce: reduce up a tree to rank 0, then broadcast down the same tree.

The tree of w ranks rooted at 0: rank r's parent is r with its lowest set bit cleared, so
rank 0's children are 1, 2, 4, 8, ... and rank 4's are 5 and 6. Both halves take
ceil(log2 w) rounds; every rank but the root sends n elements on the way up, and the root
sends ceil(log2 w)·n on the way down. Latency like recursive doubling, volume like naive.

    w = 8:   0 ─┬─ 1
                ├─ 2 ── 3
                └─ 4 ─┬─ 5
                      └─ 6 ── 7
"""

import torch
import torch.distributed as dist

from .common import check_op, flat_view


def tree_reduce(flat: torch.Tensor) -> None:
    """Sum `flat` over all ranks into rank 0's `flat` (other ranks' are left partial)."""
    ### BEGIN SOLUTION
    rank, world_size = dist.get_rank(), dist.get_world_size()
    incoming = torch.empty_like(flat)
    mask = 1
    while mask < world_size:
        if rank & mask:  # my lowest set bit: hand my subtree's sum to my parent, done
            dist.send(flat, dst=rank - mask)
            return
        if rank + mask < world_size:  # child rank+mask holds its subtree's sum
            dist.recv(incoming, src=rank + mask)
            flat += incoming
        mask <<= 1
    ### END SOLUTION


def tree_broadcast(flat: torch.Tensor) -> None:
    """Copy rank 0's `flat` into every rank's `flat`, down the binomial tree."""
    ### BEGIN SOLUTION
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        mask = 1 << max(world_size - 1, 0).bit_length()  # above the largest child distance
    else:
        mask = rank & -rank  # lowest set bit: my parent is rank - mask
        dist.recv(flat, src=rank - mask)
    mask >>= 1
    while mask > 0:  # children rank+mask, farthest (largest subtree) first
        if rank + mask < world_size:
            dist.send(flat, dst=rank + mask)
        mask >>= 1
    ### END SOLUTION


def tree_all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    ### BEGIN SOLUTION
    check_op(op, tensor)
    with flat_view(tensor) as flat:  # (n,)
        tree_reduce(flat)
        if op == "avg" and dist.get_rank() == 0:
            flat /= dist.get_world_size()  # at the root, once: every rank receives these bits
        tree_broadcast(flat)
    return tensor
    ### END SOLUTION
