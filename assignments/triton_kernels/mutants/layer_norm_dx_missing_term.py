# mutant: part=layer_norm
# mistake: the backward pass drops the xhat * mean(g * xhat) term of dx (it forgets that rstd depends on x)
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def short_dx_bwd_kernel(dx_ptr, partial_dw_ptr, partial_db_ptr, dy_ptr, x_ptr, weight_ptr, mean_ptr, rstd_ptr,
                        dy_row_stride, dy_col_stride, n_rows, n_cols, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    n_programs = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    dw_acc = tl.zeros((BLOCK,), tl.float32)
    db_acc = tl.zeros((BLOCK,), tl.float32)
    for row in range(pid, n_rows, n_programs):
        x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * dy_row_stride + cols * dy_col_stride, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + row)
        rstd = tl.load(rstd_ptr + row)
        xhat = tl.where(mask, (x - mean) * rstd, 0.0)
        g = dy * weight
        dx = (g - tl.sum(g, axis=0) / n_cols) * rstd
        tl.store(dx_ptr + row * n_cols + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw_acc += dy * xhat
        db_acc += dy
    tl.store(partial_dw_ptr + pid * n_cols + cols, dw_acc, mask=mask)
    tl.store(partial_db_ptr + pid * n_cols + cols, db_acc, mask=mask)


reference_solution.layer_normalization.layer_norm_bwd_kernel = short_dx_bwd_kernel
