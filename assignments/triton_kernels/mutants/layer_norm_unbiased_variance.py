# mutant: part=layer_norm
# mistake: the unbiased variance (divides by N - 1) where torch's layer norm uses the biased one (N)
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def unbiased_fwd_kernel(y_ptr, x_ptr, weight_ptr, bias_ptr, mean_ptr, rstd_ptr, x_row_stride, x_col_stride,
                        n_cols, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / n_cols
    centered = tl.where(mask, x - mean, 0.0)
    var = tl.sum(centered * centered, axis=0) / tl.maximum(n_cols - 1, 1)
    rstd = 1.0 / tl.sqrt(var + eps)
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + row * n_cols + cols, (centered * rstd * weight + bias).to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


reference_solution.layer_normalization.layer_norm_fwd_kernel = unbiased_fwd_kernel
