"""Ring all-reduce: reduce-scatter, then all-gather, around a ring of w ranks.

The flat vector is cut into w chunks. Rank r sends only to r+1 and receives only from r-1,
so every link of the ring is busy at every step and each rank sends 2(w-1)/w·n elements in
total, whatever w is: the bandwidth-optimal all-reduce.

    reduce-scatter, step s: send chunk (r-s) to the right, add chunk (r-s-1) from the left.
                            After w-1 steps rank r owns the full sum of chunk (r+1).
    all-gather,     step s: send chunk (r+1-s) to the right, take chunk (r-s) from the left.
                            After w-1 more steps every rank has every summed chunk.
"""

import torch
import torch.distributed as dist

from .common import check_op, flat_view


def ring_all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    ### BEGIN SOLUTION
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    with flat_view(tensor) as flat:  # (n,)
        # w chunks whose sizes differ by at most one; some are empty when n < w.
        chunks = torch.tensor_split(flat, world_size)
        incoming = torch.empty_like(chunks[0])  # the largest chunk is the first

        def exchange(send_index: int, receive_index: int):
            """Send one chunk right while receiving one from the left; return what came."""
            received = incoming[: chunks[receive_index].numel()]
            # Send and receive posted together, as one batch: every rank sends first, and a
            # send around a ring waits for a receive posted after it (NCCL also runs
            # unbatched point-to-point operations one after the other, so isend-then-recv
            # deadlocks there).
            requests = dist.batch_isend_irecv([dist.P2POp(dist.isend, chunks[send_index], right),
                                               dist.P2POp(dist.irecv, received, left)])
            for request in requests:
                request.wait()
            return received

        for step in range(world_size - 1):  # reduce-scatter
            receive_index = (rank - step - 1) % world_size
            chunks[receive_index].add_(exchange((rank - step) % world_size, receive_index))

        owned = chunks[(rank + 1) % world_size]  # fully summed here, and only here
        if op == "avg":
            owned /= world_size  # one division per element, spread over the ranks

        for step in range(world_size - 1):  # all-gather
            receive_index = (rank - step) % world_size
            chunks[receive_index].copy_(exchange((rank + 1 - step) % world_size, receive_index))
    return tensor
    ### END SOLUTION
