# mutant: part=ddp
# mistake: the constructor copies rank 0's parameters but not its buffers (running statistics stay per rank)
import torch

from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def __init__(self, module, bucket_mb=25):
        torch.nn.Module.__init__(self)
        self.module = module
        self.require_sync = True
        for tensors in _ddp._group_by_dtype(list(module.parameters())).values():
            flat = torch.cat([t.detach().reshape(-1) for t in tensors])
            _ddp.tree_broadcast(flat)
            _ddp._unflatten_into(flat, [t.data for t in tensors])
        self.buckets = _ddp._make_buckets([p for p in module.parameters() if p.requires_grad], bucket_mb)
