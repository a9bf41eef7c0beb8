"""A paged key/value cache: one pool of fixed-size blocks shared by many sequences, a block
table per sequence and attention that reads through it (the idea of vLLM's PagedAttention)."""

from __future__ import annotations

import heapq
import math

import torch


class PagedKVCache:
    """Keys and values of many sequences in `num_blocks` blocks of `block_size` positions.

    Position p of a sequence lives in block table[p // block_size], slot p % block_size. A
    sequence holds ceil(length / block_size) blocks, taken when its first position in them
    is appended and returned to the pool by `free`. The allocator hands out the
    lowest-numbered free block first, so block tables are deterministic.
    """

    def __init__(self, num_blocks: int, block_size: int, n_kv_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device=None):
        ### BEGIN SOLUTION
        self.num_blocks, self.block_size = num_blocks, block_size
        shape = (num_blocks, n_kv_heads, block_size, head_dim)
        self.k_blocks = torch.zeros(shape, dtype=dtype, device=device)
        self.v_blocks = torch.zeros(shape, dtype=dtype, device=device)
        self.free_blocks = list(range(num_blocks))  # a min-heap of free block ids
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}
        ### END SOLUTION

    def add_sequence(self, seq_id: int) -> None:
        ### BEGIN SOLUTION
        if seq_id in self.tables:
            raise ValueError(f"sequence {seq_id} already exists")
        self.tables[seq_id], self.lengths[seq_id] = [], 0
        ### END SOLUTION

    def append(self, seq_id: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Append k, v (n_kv_heads, T, head_dim): the sequence's next T positions. Raises
        RuntimeError, changing nothing, when the pool has too few free blocks."""
        ### BEGIN SOLUTION
        table, start = self.tables[seq_id], self.lengths[seq_id]
        end = start + k.shape[1]
        needed = math.ceil(end / self.block_size) - len(table)
        if needed > len(self.free_blocks):
            raise RuntimeError(f"out of blocks: sequence {seq_id} needs {needed} more, "
                               f"{len(self.free_blocks)} free")
        for _ in range(needed):
            table.append(heapq.heappop(self.free_blocks))
        pos = torch.arange(start, end, device=self.k_blocks.device)                       # (T,)
        blocks = torch.tensor(table, device=self.k_blocks.device)[pos // self.block_size]  # (T,)
        slots = pos % self.block_size                                                      # (T,)
        # Two index tensors around a slice: the indexed dim comes first, (T, n_kv_heads, head_dim).
        self.k_blocks[blocks, :, slots] = k.transpose(0, 1)
        self.v_blocks[blocks, :, slots] = v.transpose(0, 1)
        self.lengths[seq_id] = end
        ### END SOLUTION

    def free(self, seq_id: int) -> None:
        ### BEGIN SOLUTION
        for block in self.tables.pop(seq_id):
            heapq.heappush(self.free_blocks, block)
        del self.lengths[seq_id]
        ### END SOLUTION

    def block_table(self, seq_id: int) -> list[int]:
        ### BEGIN SOLUTION
        return list(self.tables[seq_id])
        ### END SOLUTION

    def seq_len(self, seq_id: int) -> int:
        ### BEGIN SOLUTION
        return self.lengths[seq_id]
        ### END SOLUTION

    def num_free_blocks(self) -> int:
        ### BEGIN SOLUTION
        return len(self.free_blocks)
        ### END SOLUTION


def paged_attention(q: torch.Tensor, cache: PagedKVCache, seq_ids: list[int]) -> torch.Tensor:
    """One decoding query per sequence against all of its cached positions.

    q: (B, H, D), the newest query of sequence seq_ids[b], whose key is already appended;
    it attends to every position 0..seq_len-1 of that sequence (at least one). H is a
    multiple of the cache's n_kv_heads; query head h reads key/value head h // (H // Hkv).
    Returns (B, H, D).
    """
    ### BEGIN SOLUTION
    B, H, D = q.shape
    Hkv, block_size = cache.k_blocks.shape[1], cache.block_size
    tables = [cache.block_table(seq_id) for seq_id in seq_ids]
    lengths = torch.tensor([cache.seq_len(seq_id) for seq_id in seq_ids], device=q.device)  # (B,)
    n_blocks = max(len(table) for table in tables)
    # Short tables are padded with block 0, which belongs to someone else: masked below.
    table = torch.zeros(B, n_blocks, dtype=torch.long, device=q.device)                 # (B, n_blocks)
    for row, blocks in enumerate(tables):
        table[row, :len(blocks)] = torch.tensor(blocks, dtype=torch.long)
    S = n_blocks * block_size
    k = cache.k_blocks[table].transpose(1, 2).reshape(B, Hkv, S, D)  # (B, Hkv, S, D): position p in slot p
    v = cache.v_blocks[table].transpose(1, 2).reshape(B, Hkv, S, D)
    q = q.reshape(B, Hkv, H // Hkv, D)                                 # (B, Hkv, g, D)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)                    # (B, Hkv, g, S)
    valid = torch.arange(S, device=q.device) < lengths[:, None]        # (B, S): the sequence's own positions
    scores = scores.masked_fill(~valid[:, None, None], float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    return (weights @ v).reshape(B, H, D)                              # (B, Hkv, g, D) -> (B, H, D)
    ### END SOLUTION
