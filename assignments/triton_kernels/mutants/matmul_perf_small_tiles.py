# mutant: part=matmul_perf
# mistake: (correct, slow) one fixed 32x32x32 tile per program, no software pipelining and no autotuning: little reuse of each loaded tile
from reference_solution import *  # noqa: F401,F403
import reference_solution

small_tile_matmul_kernel = reference_solution.matmul_kernel.fn  # the jitted kernel without its autotuner


def matmul(a, b, activation=None):
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    if M == 0 or N == 0:
        return c
    grid = (triton.cdiv(M, 32) * triton.cdiv(N, 32),)
    small_tile_matmul_kernel[grid](c, a, b, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                                   ACTIVATION=activation or "", BLOCK_M=32, BLOCK_N=32, BLOCK_K=32, GROUP_M=8,
                                   num_warps=4, num_stages=1)
    return c
