# mutant: part=softmax_perf
# mistake: (correct, slow) streams every row in 1024-element chunks with the online softmax even when the row fits in registers: two reads of the input instead of one
from reference_solution import *  # noqa: F401,F403
import reference_solution


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    reference_solution.softmax_online_kernel[(n_rows,)](out, x, x.stride(0), x.stride(1), n_cols, BLOCK=1024, num_warps=4)
    return out
