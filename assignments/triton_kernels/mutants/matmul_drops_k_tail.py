# mutant: part=matmul
# mistake: runs K // BLOCK_K steps along K, silently dropping the last partial block when K is not a multiple of BLOCK_K (K = 4097)
from reference_solution import *  # noqa: F401,F403
import torch
import triton
import triton.language as tl


@triton.jit
def matmul_without_k_tail(c_ptr, a_ptr, b_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
                          ACTIVATION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    tile_m = tl.program_id(0)
    tile_n = tl.program_id(1)
    rows = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K // BLOCK_K):
        a = tl.load(a_ptr + rows[:, None] * stride_am + (k * BLOCK_K + ks[None, :]) * stride_ak, mask=rows[:, None] < M, other=0.0)
        b = tl.load(b_ptr + (k * BLOCK_K + ks[:, None]) * stride_bk + cols[None, :] * stride_bn, mask=cols[None, :] < N, other=0.0)
        acc = tl.dot(a, b, acc)
    if ACTIVATION == "relu":
        acc = tl.maximum(acc, 0.0)
    elif ACTIVATION == "gelu":
        acc = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    tl.store(c_ptr + rows[:, None] * N + cols[None, :], acc.to(c_ptr.dtype.element_ty), mask=mask)


def matmul(a, b, activation=None):
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    block = 32 if INTERPRET else 64
    grid = (triton.cdiv(M, block), triton.cdiv(N, block))
    matmul_without_k_tail[grid](c, a, b, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                                ACTIVATION=activation or "", BLOCK_M=block, BLOCK_N=block, BLOCK_K=32)
    return c
