# mutant: part=softmax
# mistake: the online softmax rescales by exp(old max - new max) even while both are -inf, so a
# long row whose lane starts with -inf logits gets NaN (exp(-inf - -inf)) instead of probability 0
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def unguarded_online_kernel(out_ptr, in_ptr, in_row_stride, in_col_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    row_in = in_ptr + row * in_row_stride
    row_out = out_ptr + row * n_cols
    cols = tl.arange(0, BLOCK)
    lane_max = tl.full((BLOCK,), -float("inf"), tl.float32)
    lane_sum = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        new_max = tl.maximum(lane_max, x)
        lane_sum = lane_sum * tl.exp(lane_max - new_max) + tl.exp(x - new_max)
        lane_max = new_max
    row_max = tl.max(lane_max, axis=0)
    row_sum = tl.sum(lane_sum * tl.exp(lane_max - row_max), axis=0)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        tl.store(row_out + start + cols, (tl.exp(x - row_max) / row_sum).to(out_ptr.dtype.element_ty), mask=mask)


reference_solution.row_softmax.softmax_online_kernel = unguarded_online_kernel
