# mutant: part=paged
# mistake: off by one in the block count (length // block_size + 1): one block too many at exactly k * block_size
import heapq

import torch

from reference_solution import *  # noqa: F401,F403
from reference_solution import PagedKVCache as _Reference


class PagedKVCache(_Reference):
    def append(self, seq_id, k, v):
        table, start = self.tables[seq_id], self.lengths[seq_id]
        end = start + k.shape[1]
        needed = end // self.block_size + 1 - len(table)
        if needed > len(self.free_blocks):
            raise RuntimeError("out of blocks")
        for _ in range(max(needed, 0)):
            table.append(heapq.heappop(self.free_blocks))
        for t, p in enumerate(range(start, end)):
            block, slot = table[p // self.block_size], p % self.block_size
            self.k_blocks[block, :, slot] = k[:, t]
            self.v_blocks[block, :, slot] = v[:, t]
        self.lengths[seq_id] = end
