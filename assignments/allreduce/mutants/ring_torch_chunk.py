# mutant: part=ring
# mistake: cuts the vector with torch.chunk, which makes fewer than w chunks when n is not a
# multiple of w (n=7, w=5 gives four chunks of 2, 2, 2, 1), so chunk indices run past the end
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def ring_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    with flat_view(tensor) as flat:
        chunks = torch.chunk(flat, world_size)
        for step in range(world_size - 1):
            send_chunk, receive_chunk = chunks[(rank - step) % world_size], chunks[(rank - step - 1) % world_size]
            incoming = torch.empty_like(receive_chunk)
            request = dist.isend(send_chunk, dst=right)
            dist.recv(incoming, src=left)
            request.wait()
            receive_chunk += incoming
        owned = chunks[(rank + 1) % world_size]
        if op == "avg":
            owned /= world_size
        for step in range(world_size - 1):
            send_chunk, receive_chunk = chunks[(rank + 1 - step) % world_size], chunks[(rank - step) % world_size]
            request = dist.isend(send_chunk, dst=right)
            dist.recv(receive_chunk, src=left)
            request.wait()
    return tensor
