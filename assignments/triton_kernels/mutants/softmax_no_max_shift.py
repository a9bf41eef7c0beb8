# mutant: part=softmax
# mistake: exponentiates the raw logits without subtracting the row maximum, so exp overflows to inf for large logits
from reference_solution import *  # noqa: F401,F403
import torch
import triton
import triton.language as tl


@triton.jit
def unshifted_softmax_kernel(out_ptr, in_ptr, in_row_stride, in_col_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_row_stride + cols * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
    numerator = tl.exp(x)
    y = numerator / tl.sum(numerator, axis=0)
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    unshifted_softmax_kernel[(n_rows,)](out, x, x.stride(0), x.stride(1), n_cols, BLOCK=triton.next_power_of_2(n_cols))
    return out
