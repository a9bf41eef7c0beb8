# mutant: part=ddp
# mistake: no_sync() averages the gradients accumulated inside it when the block ends, so the
# micro-batches under no_sync() are sent instead of only accumulating locally
import contextlib

from reference_solution import *  # noqa: F401,F403
import reference_solution.ddp as _ddp


class BucketedDDP(_ddp.BucketedDDP):
    @contextlib.contextmanager
    def no_sync(self):
        with super().no_sync():
            yield
        self.finish_gradient_synchronization()
