# mutant: part=matmul
# mistake: passes K and N as the row strides of a and b (and 1 as their column strides), assuming both operands are contiguous
from reference_solution import *  # noqa: F401,F403
import reference_solution


def matmul(a, b, activation=None):
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    if M == 0 or N == 0:
        return c
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)  # noqa: E731
    reference_solution.matmul_kernel[grid](c, a, b, M, N, K, K, 1, N, 1, ACTIVATION=activation or "")
    return c
