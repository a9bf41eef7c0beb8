# mutant: part=ddp
# mistake: no buckets: one ring all-reduce per parameter gradient (right values, 2(w-1) messages
# per parameter instead of per bucket)
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def finish_gradient_synchronization(self):
        if not self.require_sync:
            return
        for parameter in self.module.parameters():
            if parameter.requires_grad:
                if parameter.grad is None:
                    parameter.grad = parameter.detach().new_zeros(parameter.shape)
                ring_all_reduce(parameter.grad, op="avg")
