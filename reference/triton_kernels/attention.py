"""Flash attention forward: softmax(Q K^T * scale) V without the N x N score matrix."""

from .common import *  # noqa: F401,F403

LOG2E = 1.4426950408889634


@triton.jit
def attention_key_loop(
    acc, row_sum, row_max,    # running state of the BLOCK_M query rows (see the kernel)
    q,                        # (BLOCK_M, HEAD_DIM) queries of this program
    k_ptrs, v_ptrs,           # (BLOCK_N, HEAD_DIM) pointers to the first key / value block
    stride_kn, stride_vn,     # elements between two keys / values
    key_start, key_end,       # the loop visits keys [key_start, key_end) in BLOCK_N steps
    query_idx,                # (BLOCK_M,) query positions
    n_keys,                   # Nk
    diagonal,                 # Nk - Nq: query i sees keys j <= i + diagonal when causal
    qk_scale,                 # sm_scale * log2(e): logits in base 2, so exp2 replaces exp
    MASK_KEYS: tl.constexpr,    # some keys of a block may lie past Nk
    MASK_CAUSAL: tl.constexpr,  # some keys of a block may lie after a query's diagonal
    BLOCK_N: tl.constexpr,
):
    """Folds key blocks into the running (acc, row_sum, row_max) with the online softmax.

    For each block: s = q k^T * scale (base 2); new_max = max(row_max, max_j s);
    p = 2^(s - new_max); the state computed under the old maximum is rescaled by
    alpha = 2^(row_max - new_max): row_sum = alpha * row_sum + sum_j p and
    acc = alpha * acc + p @ v. Masks are compiled in only for the blocks that need them.
    """
    ### BEGIN SOLUTION
    key_idx = tl.arange(0, BLOCK_N)
    for start in range(key_start, key_end, BLOCK_N):
        keys = start + key_idx
        if MASK_KEYS:
            in_range = keys[:, None] < n_keys
            k = tl.load(k_ptrs + start * stride_kn, mask=in_range, other=0.0)
            v = tl.load(v_ptrs + start * stride_vn, mask=in_range, other=0.0)
        else:
            k = tl.load(k_ptrs + start * stride_kn)
            v = tl.load(v_ptrs + start * stride_vn)
        s = tl.dot(q, tl.trans(k)) * qk_scale  # (BLOCK_M, BLOCK_N)
        if MASK_KEYS or MASK_CAUSAL:
            allowed = keys[None, :] < n_keys
            if MASK_CAUSAL:
                allowed = allowed & (keys[None, :] <= query_idx[:, None] + diagonal)
            s = tl.where(allowed, s, -float("inf"))
        new_max = tl.maximum(row_max, tl.max(s, axis=1))
        if MASK_KEYS or MASK_CAUSAL:
            # A row with no visible key so far keeps max -inf: shift by 0 to avoid inf - inf.
            new_max_safe = tl.where(new_max == -float("inf"), 0.0, new_max)
        else:
            new_max_safe = new_max
        p = tl.exp2(s - new_max_safe[:, None])
        alpha = tl.exp2(row_max - new_max_safe)
        row_sum = row_sum * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        row_max = new_max
    return acc, row_sum, row_max
    ### END SOLUTION


@triton.jit
def flash_attention_kernel(
    out_ptr,            # (B, H, Nq, D) output, contiguous
    lse_ptr,            # (B, H, Nq) fp32 log-sum-exp of each row's scaled logits, natural log
    q_ptr, k_ptr, v_ptr,  # (B, H, Nq, D), (B, H, Nk, D), (B, H, Nk, D), any strides
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    n_heads,            # H
    n_queries,          # Nq
    n_keys,             # Nk
    qk_scale,           # sm_scale * log2(e)
    HEAD_DIM: tl.constexpr,  # D in {16, 32, 64, 128}
    CAUSAL: tl.constexpr,    # bottom-right aligned causal mask
    BLOCK_M: tl.constexpr,   # queries per program
    BLOCK_N: tl.constexpr,   # keys per step
):
    """One program computes BLOCK_M rows of the output of one (batch, head).

    Teaches: tiling attention so that Q, K and V are each read once per query block and the
    Nq x Nk scores never reach memory; the online softmax carried across key blocks; with a
    causal mask, skipping the key blocks above the diagonal entirely and masking only the
    blocks that straddle it; the log-sum-exp saved for a backward pass.
    """
    ### BEGIN SOLUTION
    tile = tl.program_id(0)
    batch_head = tl.program_id(1)
    batch = batch_head // n_heads
    head = batch_head % n_heads
    q_base = q_ptr + batch.to(tl.int64) * stride_qb + head.to(tl.int64) * stride_qh
    k_base = k_ptr + batch.to(tl.int64) * stride_kb + head.to(tl.int64) * stride_kh
    v_base = v_ptr + batch.to(tl.int64) * stride_vb + head.to(tl.int64) * stride_vh

    first_query = tile * BLOCK_M
    query_idx = first_query + tl.arange(0, BLOCK_M)
    key_idx = tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(q_base + query_idx[:, None] * stride_qm + dims[None, :] * stride_qd,
                mask=query_idx[:, None] < n_queries, other=0.0)  # (BLOCK_M, HEAD_DIM)
    k_ptrs = k_base + key_idx[:, None] * stride_kn + dims[None, :] * stride_kd  # (BLOCK_N, HEAD_DIM)
    v_ptrs = v_base + key_idx[:, None] * stride_vn + dims[None, :] * stride_vd  # (BLOCK_N, HEAD_DIM)

    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)          # unnormalised output
    row_sum = tl.zeros((BLOCK_M,), dtype=tl.float32)               # sum of 2^(s - row_max)
    row_max = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)  # running max of s
    diagonal = n_keys - n_queries

    if CAUSAL:
        # Keys j <= first_query + diagonal are visible to every row of this tile: the whole
        # blocks among them need no mask. Keys past the last row's diagonal are skipped.
        unmasked_end = tl.maximum(first_query + diagonal + 1, 0) // BLOCK_N * BLOCK_N
        key_end = tl.minimum(first_query + BLOCK_M + diagonal, n_keys)
    else:
        unmasked_end = n_keys // BLOCK_N * BLOCK_N
        key_end = n_keys
    acc, row_sum, row_max = attention_key_loop(
        acc, row_sum, row_max, q, k_ptrs, v_ptrs, stride_kn, stride_vn, 0, unmasked_end,
        query_idx, n_keys, diagonal, qk_scale, MASK_KEYS=False, MASK_CAUSAL=False, BLOCK_N=BLOCK_N,
    )
    acc, row_sum, row_max = attention_key_loop(
        acc, row_sum, row_max, q, k_ptrs, v_ptrs, stride_kn, stride_vn, unmasked_end, key_end,
        query_idx, n_keys, diagonal, qk_scale, MASK_KEYS=True, MASK_CAUSAL=CAUSAL, BLOCK_N=BLOCK_N,
    )

    # A query that sees no key at all (causal with Nq > Nk) gets output 0 and lse -inf.
    seen = row_sum > 0.0
    out = acc / tl.where(seen, row_sum, 1.0)[:, None]
    lse = tl.where(seen, (row_max + tl.log2(tl.where(seen, row_sum, 1.0))) * 0.6931471805599453, -float("inf"))
    row_offset = batch_head.to(tl.int64) * n_queries
    out_ptrs = out_ptr + (row_offset + query_idx[:, None]) * HEAD_DIM + dims[None, :]
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=query_idx[:, None] < n_queries)
    tl.store(lse_ptr + row_offset + query_idx, lse, mask=query_idx < n_queries)
    ### END SOLUTION


def _attention_launch_config(head_dim: int) -> dict:
    """Block sizes, warps and pipeline depth, chosen by measurement on an H200."""
    ### BEGIN SOLUTION
    if INTERPRET:
        return dict(BLOCK_M=16, BLOCK_N=16, num_warps=4, num_stages=1)
    if head_dim <= 64:  # B=4, H=32, N=4096, D=64: 0.89x SDPA (64x64) against 0.84x (128x64, 4 warps)
        return dict(BLOCK_M=64, BLOCK_N=64, num_warps=4, num_stages=3)
    return dict(BLOCK_M=128, BLOCK_N=64, num_warps=8, num_stages=3)  # D=128: 4 warps spill, 0.31x
    ### END SOLUTION


def flash_attention(q, k, v, causal: bool = False, sm_scale: float | None = None):
    """Attention forward. q (B, H, Nq, D), k and v (B, H, Nk, D) -> (out, lse).

    out has q's shape and dtype; lse (B, H, Nq) fp32 is log(sum_j exp(sm_scale * q_i . k_j))
    over the keys query i sees. With causal=True the mask is aligned bottom-right: query i
    sees keys j <= i + Nk - Nq.
    """
    ### BEGIN SOLUTION
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise ValueError(f"expected q (B, H, Nq, D) and k, v (B, H, Nk, D), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    batch, heads, n_queries, head_dim = q.shape
    n_keys = k.shape[2]
    if head_dim not in (16, 32, 64, 128):
        raise ValueError(f"head dimension must be 16, 32, 64 or 128, got {head_dim}")
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(head_dim)
    out = torch.empty((batch, heads, n_queries, head_dim), dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads, n_queries), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    config = _attention_launch_config(head_dim)
    grid = (triton.cdiv(n_queries, config["BLOCK_M"]), batch * heads)
    flash_attention_kernel[grid](
        out, lse, q, k, v,
        *q.stride(), *k.stride(), *v.stride(),
        heads, n_queries, n_keys, sm_scale * LOG2E,
        HEAD_DIM=head_dim, CAUSAL=bool(causal), **config,
    )
    return out, lse
    ### END SOLUTION
