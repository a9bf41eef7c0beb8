# mutant: part=ddp
# mistake: a parameter whose grad is None on this rank is skipped: its slot in the bucket keeps the
# previous step's values instead of zeros, and its grad stays None while the other ranks average
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def finish_gradient_synchronization(self):
        if not self.require_sync:
            return
        for bucket in self.buckets:
            offset = 0
            for parameter in bucket.parameters:
                n = parameter.numel()
                if parameter.grad is not None:
                    bucket.buffer[offset : offset + n].copy_(parameter.grad.reshape(-1))
                offset += n
            _ddp.ring_all_reduce(bucket.buffer, op="avg")
            offset = 0
            for parameter in bucket.parameters:
                n = parameter.numel()
                if parameter.grad is not None:
                    parameter.grad.copy_(bucket.buffer[offset : offset + n].view_as(parameter))
                offset += n
