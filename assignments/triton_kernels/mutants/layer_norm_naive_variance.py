# mutant: part=layer_norm
# mistake: computes the variance as mean(x^2) - mean^2, which cancels catastrophically in float32 when |mean| >> std
from reference_solution import *  # noqa: F401,F403
import reference_solution
import triton
import triton.language as tl


@triton.jit
def one_pass_layer_norm_fwd_kernel(y_ptr, x_ptr, weight_ptr, bias_ptr, mean_ptr, rstd_ptr, x_row_stride, x_col_stride,
                                   n_cols, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / n_cols
    var = tl.sum(x * x, axis=0) / n_cols - mean * mean
    rstd = 1.0 / tl.sqrt(var + eps)
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = (x - mean) * rstd * weight + bias
    tl.store(y_ptr + row * n_cols + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


# The reference's autograd Function looks its forward kernel up by name in its module.
reference_solution.layer_normalization.layer_norm_fwd_kernel = one_pass_layer_norm_fwd_kernel
