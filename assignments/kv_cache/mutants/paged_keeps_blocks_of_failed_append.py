# mutant: part=paged
# mistake: append takes free blocks one at a time and raises when the pool runs dry, keeping the blocks it took
import heapq

from reference_solution import *  # noqa: F401,F403
from reference_solution import PagedKVCache as _Reference


class PagedKVCache(_Reference):
    def append(self, seq_id, k, v):
        table = self.tables[seq_id]
        end = self.lengths[seq_id] + k.shape[1]
        while len(table) * self.block_size < end:
            if not self.free_blocks:
                raise RuntimeError(f"out of blocks: sequence {seq_id}")
            table.append(heapq.heappop(self.free_blocks))
        super().append(seq_id, k, v)  # every block it needs is in the table now
