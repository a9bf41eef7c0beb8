# mutant: part=softmax
# mistake: in the chunked (online) softmax for long rows, adds exp(x - new_max) to the running sum without rescaling the old sum by exp(old_max - new_max)
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch
import triton
import triton.language as tl


@triton.jit
def online_softmax_without_rescale(out_ptr, in_ptr, in_row_stride, in_col_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    lane_max = tl.full((BLOCK,), -float("inf"), tl.float32)
    lane_sum = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(in_ptr + row * in_row_stride + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        new_max = tl.maximum(lane_max, x)
        shift = tl.where(new_max == -float("inf"), 0.0, new_max)
        lane_sum = lane_sum + tl.exp(x - shift)  # old sum still relative to the old maximum
        lane_max = new_max
    row_max = tl.max(lane_max, axis=0)
    row_sum = tl.sum(lane_sum * tl.exp(lane_max - row_max), axis=0)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(in_ptr + row * in_row_stride + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        tl.store(out_ptr + row * n_cols + start + cols, (tl.exp(x - row_max) / row_sum).to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    if triton.next_power_of_2(n_cols) <= reference_solution.SOFTMAX_MAX_FUSED_COLS:
        return reference_solution.softmax(x)
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    online_softmax_without_rescale[(n_rows,)](out, x, x.stride(0), x.stride(1), n_cols, BLOCK=4096, num_warps=8)
    return out
