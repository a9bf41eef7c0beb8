# mutant: part=ddp
# mistake: puts every parameter in the buckets, frozen ones too, which then get an averaged (zero) gradient
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def __init__(self, module, bucket_mb=25):
        super().__init__(module, bucket_mb)
        self.buckets = _ddp._make_buckets(list(module.parameters()), bucket_mb)
