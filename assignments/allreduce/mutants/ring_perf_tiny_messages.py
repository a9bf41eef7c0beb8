# mutant: part=ring_perf
# mistake: "pipelines" every ring step as messages of 4096 elements (16 KB), so a 4 MB all-reduce costs
# thousands of per-message latencies (the α in α + n·β) instead of 2(w-1)
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist

SEGMENT = 4096


def ring_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    with flat_view(tensor) as flat:
        chunks = torch.tensor_split(flat, world_size)
        incoming = torch.empty_like(chunks[0])

        def exchange(send_index, receive_index):
            send, received = chunks[send_index], incoming[: chunks[receive_index].numel()]
            for start in range(0, max(send.numel(), received.numel()), SEGMENT):
                request = dist.isend(send[start : start + SEGMENT], dst=right)
                dist.recv(received[start : start + SEGMENT], src=left)
                request.wait()
            return received

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
