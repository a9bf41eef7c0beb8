"""Recursive doubling (butterfly) all-reduce: log2(w) rounds of pairwise exchange.

In round k every rank swaps its whole vector with the partner whose rank differs in bit k, and
both add. After round k each rank holds the sum over a group of 2^(k+1) ranks; after log2(w)
rounds, over everyone. Few rounds (good for small messages, where latency dominates) but each
rank sends n elements per round (bad for large ones).

A world that is not a power of two is folded first: with p the largest power of two ≤ w and
rem = w - p, the first 2·rem ranks pair up, each even one hands its vector to the odd one
next to it and sits out; the p remaining ranks run the butterfly; the odd ones hand the result
back at the end.
"""

import torch
import torch.distributed as dist

from .common import check_op, flat_view


def recursive_doubling_all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    ### BEGIN SOLUTION
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    power = 1 << (world_size.bit_length() - 1)  # largest power of two <= world_size
    remainder = world_size - power
    with flat_view(tensor) as flat:  # (n,)
        incoming = torch.empty_like(flat)

        # Fold: ranks 0, 2, ..., 2·rem-2 give their vector to the odd rank above them.
        if rank < 2 * remainder:
            if rank % 2 == 0:
                dist.send(flat, dst=rank + 1)
            else:
                dist.recv(incoming, src=rank - 1)
                flat += incoming
        # Butterfly over p virtual ranks; virtual rank v lives on real rank real(v).
        if rank >= 2 * remainder or rank % 2 == 1:
            virtual = rank // 2 if rank < 2 * remainder else rank - remainder

            def real(v: int) -> int:
                return 2 * v + 1 if v < remainder else v + remainder

            mask = 1
            while mask < power:
                partner = real(virtual ^ mask)
                request = dist.isend(flat, dst=partner)
                dist.recv(incoming, src=partner)
                request.wait()
                flat += incoming  # a+b here, b+a there: the same bits, addition commutes
                mask <<= 1
            if op == "avg":
                flat /= world_size
        # Unfold: the odd ranks hand the result back.
        if rank < 2 * remainder:
            if rank % 2 == 1:
                dist.send(flat, dst=rank - 1)
            else:
                dist.recv(flat, src=rank + 1)
    return tensor
    ### END SOLUTION
