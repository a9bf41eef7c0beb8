# mutant: part=kv_cache
# mistake: with per-row positions pos (B, T), writes every row at row 0's positions
from reference_solution import *  # noqa: F401,F403
from reference_solution import KVCache as _Reference


class KVCache(_Reference):
    def update(self, pos, k, v):
        if pos.dim() == 2:
            pos = pos[0]
        self.k_cache[:, :, pos] = k
        self.v_cache[:, :, pos] = v
        return self.k_cache, self.v_cache
