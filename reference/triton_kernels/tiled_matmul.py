"""Tiled matrix multiplication with a fused activation."""

from .common import *  # noqa: F401,F403


def _matmul_configs():
    # The four best of a wider sweep on an H200 (fp16, 4096^3 and 8192^3): 0.96-1.00x cuBLAS.
    gpu = [
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=4, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=5, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=4, num_warps=4),
    ]
    interpreter = triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4}, num_warps=4)
    return tuning_configs(gpu, interpreter)


# Autotuning compiles and times every configuration for each new (M, N, K): worth it where
# speed counts, seconds of compilation wasted on small problems that run in microseconds.
# Below this many multiply-adds, one small tile and no tuning.
AUTOTUNE_FROM_VOLUME = 2048**3
SMALL_PROBLEM_CONFIG = dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=3)


@triton.autotune(configs=_matmul_configs(), key=["M", "N", "K"])
@triton.jit
def matmul_kernel(
    c_ptr,              # (M, N) output, contiguous
    a_ptr,              # (M, K) left operand, any strides
    b_ptr,              # (K, N) right operand, any strides
    M, N, K,            # problem size
    stride_am, stride_ak,  # elements between rows / columns of a
    stride_bk, stride_bn,  # elements between rows / columns of b
    ACTIVATION: tl.constexpr,  # "" (none), "relu" or "gelu" (exact, erf)
    BLOCK_M: tl.constexpr,     # rows of C per program
    BLOCK_N: tl.constexpr,     # columns of C per program
    BLOCK_K: tl.constexpr,     # depth of one step along K
    GROUP_M: tl.constexpr,     # programs sharing a column of B tiles (L2 reuse)
):
    """One program computes one BLOCK_M x BLOCK_N tile of C = act(A @ B).

    Teaches: the K loop that streams a row of A tiles and a column of B tiles through the
    tensor cores (tl.dot) into an fp32 accumulator; masking the K tail (K = 4097) with zeros,
    which add nothing to the dot product; the grouped launch order that makes programs running
    at the same time share tiles in L2; fusing the activation into the epilogue, where the
    tile is still in registers, instead of a second pass over C in memory.
    """
    ### BEGIN SOLUTION
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    # Grouped order: walk GROUP_M tile-rows down one tile-column before moving right, so the
    # programs in flight read GROUP_M tiles of A and few tiles of B, all hot in L2.
    programs_per_group = GROUP_M * tiles_n
    group = pid // programs_per_group
    first_tile_m = group * GROUP_M
    group_rows = min(tiles_m - first_tile_m, GROUP_M)
    tile_m = first_tile_m + (pid % programs_per_group) % group_rows
    tile_n = (pid % programs_per_group) // group_rows

    # Rows and columns past the edge are wrapped back in range (% M, % N): their loads stay
    # in bounds without a mask, and the store below drops them.
    rows = (tile_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    cols = (tile_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    ks = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak  # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn  # (BLOCK_K, BLOCK_N)

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K  # the last step may be partial: zeros beyond K
        a = tl.load(a_ptrs, mask=ks[None, :] < k_left, other=0.0)
        b = tl.load(b_ptrs, mask=ks[:, None] < k_left, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    if ACTIVATION == "relu":
        acc = tl.maximum(acc, 0.0)
    elif ACTIVATION == "gelu":
        acc = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))  # x * Phi(x)

    out_rows = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    out_cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + out_rows[:, None] * N + out_cols[None, :]
    mask = (out_rows[:, None] < M) & (out_cols[None, :] < N)
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


def matmul(a: torch.Tensor, b: torch.Tensor, activation: str | None = None) -> torch.Tensor:
    """act(a @ b) for 2-D fp16/bf16 tensors of any shape and strides, accumulated in fp32."""
    ### BEGIN SOLUTION
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul expects (M, K) @ (K, N), got {tuple(a.shape)} @ {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"matmul expects operands of one dtype, got {a.dtype} and {b.dtype}")
    if activation not in (None, "relu", "gelu"):
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {activation!r}")
    M, K = a.shape
    N = b.shape[1]
    if max(a.numel(), b.numel(), M * N) >= 2**31:
        raise ValueError("matmul uses 32-bit offsets: every operand must hold fewer than 2**31 elements")
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    if M == 0 or N == 0:
        return c
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)  # noqa: E731
    args = (c, a, b, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1))
    if INTERPRET or M * N * K >= AUTOTUNE_FROM_VOLUME:
        matmul_kernel[grid](*args, ACTIVATION=activation or "")
    else:  # the jitted kernel under the autotuner, launched with one configuration
        matmul_kernel.fn[grid](*args, ACTIVATION=activation or "", **SMALL_PROBLEM_CONFIG)
    return c
    ### END SOLUTION
