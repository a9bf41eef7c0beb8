"""Causal attention of a chunk of queries against a key/value cache."""

from __future__ import annotations

import math

import torch


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_pos: torch.Tensor, kv_len) -> torch.Tensor:
    """Attention of queries at absolute positions `q_pos` over the first `kv_len` cache slots.

    q: (B, H, Lq, D). k, v: (B, Hkv, Lk, D), Lk >= kv_len, the key of position j in slot j;
    H is a multiple of Hkv and query head h reads key/value head h // (H // Hkv).
    q_pos: (Lq,) or (B, Lq) integer positions. kv_len: int or (B,) integer tensor.
    Query i of row b sees key j iff j <= q_pos[b, i] and j < kv_len[b]. For a chunk that ends
    the cache (q_pos = kv_len - Lq, ..., kv_len - 1) this is the causal mask aligned to the
    bottom-right corner of the (Lq, kv_len) score matrix, not the top-left.
    Returns (B, H, Lq, D) in q's dtype; the softmax runs in float32.
    """
    ### BEGIN SOLUTION
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    group = H // Hkv
    kv_len = torch.as_tensor(kv_len, device=q.device).expand(B)  # (B,)
    n_keys = int(kv_len.max())
    k, v = k[:, :, :n_keys], v[:, :, :n_keys]  # slots past every row's kv_len hold nothing to see
    # Group the query heads by the key/value head they share: no copy of k or v per query head.
    q = q.reshape(B, Hkv, group, Lq, D)                                        # (B, Hkv, g, Lq, D)
    scores = q @ k[:, :, None].transpose(-2, -1) / math.sqrt(D)               # (B, Hkv, g, Lq, n_keys)
    key_pos = torch.arange(n_keys, device=q.device)                            # (n_keys,)
    q_pos = q_pos.expand(B, Lq)                                                # (B, Lq)
    visible = (key_pos <= q_pos[:, :, None]) & (key_pos < kv_len[:, None, None])  # (B, Lq, n_keys)
    scores = scores.masked_fill(~visible[:, None, None], float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    out = weights @ v[:, :, None]                                              # (B, Hkv, g, Lq, D)
    return out.reshape(B, H, Lq, D)
    ### END SOLUTION
