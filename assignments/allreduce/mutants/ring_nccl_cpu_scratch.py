# mutant: part=ring_nccl
# mistake: allocates the receive buffer with torch.empty(size) on the CPU instead of on the
# tensor's device: fine with gloo, but NCCL only moves CUDA tensors
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def ring_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    with flat_view(tensor) as flat:
        chunks = torch.tensor_split(flat, world_size)
        incoming = torch.empty(chunks[0].numel(), dtype=flat.dtype)

        def exchange(send_index, receive_index):
            received = incoming[: chunks[receive_index].numel()]
            request = dist.isend(chunks[send_index], dst=right)
            dist.recv(received, src=left)
            request.wait()
            return received.to(flat.device)

        for step in range(world_size - 1):
            receive_index = (rank - step - 1) % world_size
            chunks[receive_index].add_(exchange((rank - step) % world_size, receive_index))
        owned = chunks[(rank + 1) % world_size]
        if op == "avg":
            owned /= world_size
        for step in range(world_size - 1):
            receive_index = (rank - step) % world_size
            chunks[receive_index].copy_(exchange((rank + 1 - step) % world_size, receive_index))
    return tensor
