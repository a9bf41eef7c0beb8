# mutant: part=ddp
# mistake: finish_gradient_synchronization averages even inside no_sync(), sending every micro-batch
from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    def finish_gradient_synchronization(self):
        previous, self.require_sync = self.require_sync, True
        try:
            super().finish_gradient_synchronization()
        finally:
            self.require_sync = previous
