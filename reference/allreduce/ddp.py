"""Data parallelism on top of the ring: every rank trains a replica on its shard of the batch.

If every rank starts from the same parameters and applies the same update, the replicas stay
identical. The update is the same when every rank uses the gradient of the full-batch loss,
and for a loss that is a mean over equal shards that gradient is the average of the ranks'
gradients:  ∇ (1/w) Σ_r L_r = (1/w) Σ_r ∇L_r.

Gradients travel in buckets: many small tensors are packed into a few flat buffers of about
`bucket_mb` MiB, so each all-reduce is large enough to run at link bandwidth instead of paying
the per-message latency once per parameter.
"""

import contextlib
import dataclasses

import torch
import torch.distributed as dist
import torch.nn as nn

from .ring import ring_all_reduce
from .tree import tree_broadcast


@dataclasses.dataclass
class Bucket:
    parameters: list  # the parameters whose gradients share this buffer, in buffer order
    buffer: torch.Tensor  # (sum of their numel,) one flat gradient buffer


class BucketedDDP(nn.Module):
    def __init__(self, module: nn.Module, bucket_mb: float = 25):
        super().__init__()
        self.module = module
        self.require_sync = True
        ### BEGIN SOLUTION
        # Start identical: rank 0's parameters and buffers (e.g. running statistics) win.
        for tensors in _group_by_dtype(list(module.parameters()) + list(module.buffers())).values():
            flat = torch.cat([t.detach().reshape(-1) for t in tensors])  # (total numel,)
            tree_broadcast(flat)
            _unflatten_into(flat, [t.data for t in tensors])
        self.buckets = _make_buckets([p for p in module.parameters() if p.requires_grad], bucket_mb)
        ### END SOLUTION

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate into .grad locally; nothing is sent."""
        previous, self.require_sync = self.require_sync, False
        try:
            yield
        finally:
            self.require_sync = previous

    def finish_gradient_synchronization(self) -> None:
        """Replace every gradient by its average over the ranks (call after backward)."""
        ### BEGIN SOLUTION
        if not self.require_sync:
            return
        for bucket in self.buckets:
            offset = 0
            for parameter in bucket.parameters:  # pack
                n = parameter.numel()
                if parameter.grad is None:  # unused in this rank's forward: it contributed 0
                    bucket.buffer[offset : offset + n].zero_()
                else:
                    bucket.buffer[offset : offset + n].copy_(parameter.grad.reshape(-1))
                offset += n
            ring_all_reduce(bucket.buffer, op="avg")
            offset = 0
            for parameter in bucket.parameters:  # unpack
                n = parameter.numel()
                average = bucket.buffer[offset : offset + n].view_as(parameter)
                if parameter.grad is None:
                    parameter.grad = average.clone()
                else:
                    parameter.grad.copy_(average)
                offset += n
        ### END SOLUTION


def _group_by_dtype(tensors: list) -> dict:
    ### BEGIN SOLUTION
    groups = {}
    for tensor in tensors:
        groups.setdefault(tensor.dtype, []).append(tensor)
    return groups
    ### END SOLUTION


def _unflatten_into(flat: torch.Tensor, tensors: list) -> None:
    ### BEGIN SOLUTION
    offset = 0
    for tensor in tensors:
        tensor.copy_(flat[offset : offset + tensor.numel()].view_as(tensor))
        offset += tensor.numel()
    ### END SOLUTION


def _make_buckets(parameters: list, bucket_mb: float) -> list:
    """Greedy buckets of at most bucket_mb MiB, one dtype each, in reverse registration order:
    backward produces the last layer's gradients first, so (in a version that overlaps
    communication with backward) the first bucket fills first."""
    ### BEGIN SOLUTION
    capacity = bucket_mb * 2**20
    buckets, current, current_bytes = [], [], 0
    for parameter in reversed(parameters):
        size = parameter.numel() * parameter.element_size()
        starts_new = current and (current_bytes + size > capacity or parameter.dtype != current[0].dtype)
        if starts_new:
            buckets.append(current)
            current, current_bytes = [], 0
        current.append(parameter)
        current_bytes += size
    if current:
        buckets.append(current)
    return [
        Bucket(group, torch.zeros(sum(p.numel() for p in group), dtype=group[0].dtype, device=group[0].device))
        for group in buckets
    ]
    ### END SOLUTION
