# mutant: part=flash_attention
# mistake: the last key block (Nk not a multiple of BLOCK_N) loads zeros past Nk but does not mask
# their scores, so each missing key adds e^(0 - max) to the softmax
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def unmasked_tail_key_loop(acc, row_sum, row_max, q, k_ptrs, v_ptrs, stride_kn, stride_vn, key_start, key_end,
                           query_idx, n_keys, diagonal, qk_scale, MASK_KEYS: tl.constexpr,
                           MASK_CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr):
    key_idx = tl.arange(0, BLOCK_N)
    for start in range(key_start, key_end, BLOCK_N):
        keys = start + key_idx
        in_range = keys[:, None] < n_keys
        k = tl.load(k_ptrs + start * stride_kn, mask=in_range, other=0.0)
        v = tl.load(v_ptrs + start * stride_vn, mask=in_range, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        if MASK_CAUSAL:
            s = tl.where(keys[None, :] <= query_idx[:, None] + diagonal, s, -float("inf"))
        new_max = tl.maximum(row_max, tl.max(s, axis=1))
        new_max_safe = tl.where(new_max == -float("inf"), 0.0, new_max)
        p = tl.exp2(s - new_max_safe[:, None])
        alpha = tl.exp2(row_max - new_max_safe)
        row_sum = row_sum * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        row_max = new_max
    return acc, row_sum, row_max


# flash_attention_kernel in reference_solution/attention.py calls the loop by its module-level name
reference_solution.attention.attention_key_loop = unmasked_tail_key_loop
