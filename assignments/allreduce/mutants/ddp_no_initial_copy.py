# mutant: part=ddp
# mistake: never copies rank 0's parameters at construction, so replicas that were initialised
# differently stay different (their gradients are averaged, their weights are not)
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def __init__(self, module, bucket_mb=25):
        original = _ddp.tree_broadcast
        _ddp.tree_broadcast = lambda flat: None
        try:
            super().__init__(module, bucket_mb)
        finally:
            _ddp.tree_broadcast = original
