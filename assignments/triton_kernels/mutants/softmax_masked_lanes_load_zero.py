# mutant: part=softmax
# mistake: masked lanes (past the row's end) load 0 instead of -inf, so exp(0 - max) adds to the sum
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def zero_padded_softmax_kernel(out_ptr, in_ptr, in_row_stride, in_col_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_row_stride + cols * in_col_stride, mask=mask, other=0.0).to(tl.float32)
    numerator = tl.exp(x - tl.max(x, axis=0))
    y = numerator / tl.sum(numerator, axis=0)
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


# softmax() in reference_solution/row_softmax.py looks the kernel up in its module's globals
reference_solution.row_softmax.softmax_kernel = zero_padded_softmax_kernel
