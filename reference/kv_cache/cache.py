"""A static key/value cache for one attention layer (the shape of gpt-fast's KVCache)."""

from __future__ import annotations

import torch
import torch.nn as nn


class KVCache(nn.Module):
    """Keys and values of one layer for `batch` sequences of up to `max_len` positions.

    The buffers are allocated once, at full size, and written in place: the slot of position
    p is index p along dim 2. Nothing is ever concatenated, so a decoding step allocates no
    memory and always sees tensors of the same shape.
    """

    def __init__(self, batch: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        ### BEGIN SOLUTION
        shape = (batch, n_kv_heads, max_len, head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        ### END SOLUTION

    def update(self, pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (B, n_kv_heads, T, head_dim) at positions `pos` and return the whole
        buffers (B, n_kv_heads, max_len, head_dim).

        pos (T,): the same positions for every row (a batch decoding in lockstep);
        pos (B, T): each row's own positions (prompts of different lengths).
        """
        ### BEGIN SOLUTION
        if pos.dim() == 1:
            self.k_cache[:, :, pos] = k
            self.v_cache[:, :, pos] = v
        else:
            rows = torch.arange(k.shape[0], device=pos.device)[:, None]  # (B, 1), broadcast with pos (B, T)
            # Two index tensors around a slice: the indexed dims come first, (B, T, n_kv_heads, head_dim).
            self.k_cache[rows, :, pos] = k.transpose(1, 2)
            self.v_cache[rows, :, pos] = v.transpose(1, 2)
        return self.k_cache, self.v_cache
        ### END SOLUTION
