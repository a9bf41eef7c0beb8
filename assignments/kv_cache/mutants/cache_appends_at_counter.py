# mutant: part=kv_cache
# mistake: ignores pos and appends after the last write (a length counter), as if positions always came in order
from reference_solution import *  # noqa: F401,F403
from reference_solution import KVCache as _Reference


class KVCache(_Reference):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.length = 0

    def update(self, pos, k, v):
        T = k.shape[2]
        self.k_cache[:, :, self.length:self.length + T] = k
        self.v_cache[:, :, self.length:self.length + T] = v
        self.length += T
        return self.k_cache, self.v_cache
