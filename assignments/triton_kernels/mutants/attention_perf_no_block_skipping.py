# mutant: part=flash_attention_perf
# mistake: (correct, slow) the causal kernel visits every key block and masks, instead of skipping the blocks above the diagonal and masking only the diagonal ones
from reference_solution import *  # noqa: F401,F403
import math

import torch
import triton
import triton.language as tl


@triton.jit
def attention_masks_every_block_kernel(out_ptr, lse_ptr, q_ptr, k_ptr, v_ptr,
                                       stride_qb, stride_qh, stride_qm, stride_qd, stride_kb, stride_kh, stride_kn, stride_kd,
                                       stride_vb, stride_vh, stride_vn, stride_vd, n_heads, n_queries, n_keys, qk_scale,
                                       HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # One loop over every key block, masking each one (simpler than the reference's split).
    tile = tl.program_id(0)
    batch_head = tl.program_id(1)
    batch = batch_head // n_heads
    head = batch_head % n_heads
    q_base = q_ptr + batch.to(tl.int64) * stride_qb + head.to(tl.int64) * stride_qh
    k_base = k_ptr + batch.to(tl.int64) * stride_kb + head.to(tl.int64) * stride_kh
    v_base = v_ptr + batch.to(tl.int64) * stride_vb + head.to(tl.int64) * stride_vh
    query_idx = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    key_idx = tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(q_base + query_idx[:, None] * stride_qm + dims[None, :] * stride_qd,
                mask=query_idx[:, None] < n_queries, other=0.0)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)
    row_sum = tl.zeros((BLOCK_M,), dtype=tl.float32)
    row_max = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)
    diagonal = n_keys - n_queries
    for start in range(0, n_keys, BLOCK_N):
        keys = start + key_idx
        k = tl.load(k_base + keys[:, None] * stride_kn + dims[None, :] * stride_kd, mask=keys[:, None] < n_keys, other=0.0)
        v = tl.load(v_base + keys[:, None] * stride_vn + dims[None, :] * stride_vd, mask=keys[:, None] < n_keys, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        allowed = keys[None, :] < n_keys
        if CAUSAL:
            allowed = allowed & (keys[None, :] <= query_idx[:, None] + diagonal)
        s = tl.where(allowed, s, -float("inf"))
        new_max = tl.maximum(row_max, tl.max(s, axis=1))
        new_max_safe = tl.where(new_max == -float("inf"), 0.0, new_max)
        p = tl.exp2(s - new_max_safe[:, None])
        alpha = tl.exp2(row_max - new_max_safe)
        row_sum = row_sum * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        row_max = new_max
    seen = row_sum > 0.0
    out = acc / tl.where(seen, row_sum, 1.0)[:, None]
    lse = tl.where(seen, (row_max + tl.log2(tl.where(seen, row_sum, 1.0))) * 0.6931471805599453, -float("inf"))
    row_offset = batch_head.to(tl.int64) * n_queries
    tl.store(out_ptr + (row_offset + query_idx[:, None]) * HEAD_DIM + dims[None, :], out.to(out_ptr.dtype.element_ty),
             mask=query_idx[:, None] < n_queries)
    tl.store(lse_ptr + row_offset + query_idx, lse, mask=query_idx < n_queries)


def flash_attention(q, k, v, causal=False, sm_scale=None):
    batch, heads, n_queries, head_dim = q.shape
    n_keys = k.shape[2]
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(head_dim)
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty((batch, heads, n_queries), dtype=torch.float32, device=q.device)
    block_m, block_n = (16, 16) if INTERPRET else (128, 64)
    grid = (triton.cdiv(n_queries, block_m), batch * heads)
    attention_masks_every_block_kernel[grid](out, lse, q, k, v, *q.stride(), *k.stride(), *v.stride(), heads, n_queries, n_keys,
                                            sm_scale * 1.4426950408889634, HEAD_DIM=head_dim, CAUSAL=bool(causal), BLOCK_M=block_m, BLOCK_N=block_n,
                                            num_warps=4, num_stages=3)
    return out, lse
