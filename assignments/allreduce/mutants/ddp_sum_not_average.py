# mutant: part=ddp
# mistake: all-reduces the gradients with op="sum", so every step is w times too large
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp
from reference_solution import ring_all_reduce as _ring


class BucketedDDP(_ddp.BucketedDDP):
    def finish_gradient_synchronization(self):
        original = _ddp.ring_all_reduce
        _ddp.ring_all_reduce = lambda tensor, op="sum": _ring(tensor, op="sum")
        try:
            super().finish_gradient_synchronization()
        finally:
            _ddp.ring_all_reduce = original
