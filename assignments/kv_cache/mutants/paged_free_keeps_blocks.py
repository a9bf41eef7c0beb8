# mutant: part=paged
# mistake: free forgets the sequence but never returns its blocks to the pool
from reference_solution import *  # noqa: F401,F403
from reference_solution import PagedKVCache as _Reference


class PagedKVCache(_Reference):
    def free(self, seq_id):
        del self.tables[seq_id], self.lengths[seq_id]
