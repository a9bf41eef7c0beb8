# mutant: part=kv_cache
# mistake: allocates the buffers on the default device, ignoring `device` (found by the mutation report)
import torch

from reference_solution import *  # noqa: F401,F403
import reference_solution


class KVCache(reference_solution.KVCache):
    def __init__(self, batch, n_kv_heads, max_len, head_dim, dtype=torch.float32, device=None):
        super().__init__(batch, n_kv_heads, max_len, head_dim, dtype)
