# mutant: part=naive
# mistake: rank 0 sends each rank the sum of the others' tensors and the rank adds its own last, so
# the ranks add in different orders and their float results differ in the last bits
from reference_solution import *  # noqa: F401,F403
import torch
import torch.distributed as dist


def naive_all_reduce(tensor, op="sum"):
    check_op(op, tensor)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    with flat_view(tensor) as flat:
        if rank == 0:
            received = [flat.clone()]
            for source in range(1, world_size):
                incoming = torch.empty_like(flat)
                dist.recv(incoming, src=source)
                received.append(incoming)
            for destination in range(1, world_size):
                others = torch.zeros_like(flat)
                for source, part in enumerate(received):
                    if source != destination:
                        others += part
                dist.send(others, dst=destination)
            total = torch.zeros_like(flat)
            for part in received:
                total += part
            flat.copy_(total)
        else:
            dist.send(flat, dst=0)
            others = torch.empty_like(flat)
            dist.recv(others, src=0)
            flat.copy_(others + flat)
        if op == "avg":
            flat /= world_size
    return tensor
