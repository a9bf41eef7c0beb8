# mutant: part=softmax
# mistake: takes the row length as the distance between rows and ignores the column stride, so strided or transposed views read the wrong elements
from reference_solution import *  # noqa: F401,F403
import reference_solution


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    reference_solution.softmax_kernel[(n_rows,)](out, x, n_cols, 1, n_cols, BLOCK=triton.next_power_of_2(n_cols))
    return out
