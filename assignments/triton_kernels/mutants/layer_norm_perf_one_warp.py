# mutant: part=layer_norm_perf
# mistake: (correct, slow) launches the forward kernel with one warp whatever the row length, so each thread holds hundreds of values and the registers spill
from reference_solution import *  # noqa: F401,F403
import reference_solution


class LayerNormFunction(reference_solution.LayerNormFunction):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        n_cols = x.shape[-1]
        x2d = x.reshape(-1, n_cols)
        n_rows = x2d.shape[0]
        y = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
        mean = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        rstd = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        layer_norm_fwd_kernel[(n_rows,)](y, x2d, weight, bias, mean, rstd, x2d.stride(0), x2d.stride(1), n_cols, eps,
                                         BLOCK=triton.next_power_of_2(n_cols), num_warps=1)
        ctx.save_for_backward(x2d.contiguous(), weight, mean, rstd)
        ctx.x_shape = x.shape
        ctx.bias_dtype = bias.dtype
        return y.reshape(x.shape)


def layer_norm(x, weight, bias, eps=1e-5):
    return LayerNormFunction.apply(x, weight.contiguous(), bias.contiguous(), eps)
