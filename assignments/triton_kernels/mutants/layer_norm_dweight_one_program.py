# mutant: part=layer_norm
# mistake: takes dweight and dbias from the first backward program's partial sums only, forgetting to add the other programs' rows
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch


class LayerNormFunction(reference_solution.LayerNormFunction):
    @staticmethod
    def backward(ctx, dy):
        x2d, weight, mean, rstd = ctx.saved_tensors
        n_rows, n_cols = x2d.shape
        dy2d = dy.reshape(n_rows, n_cols)
        dx = torch.empty_like(x2d)
        block, num_warps = reference_solution.layer_normalization._layer_norm_block(n_cols, x2d.element_size())
        n_programs = max(1, min(n_rows, 4 * multiprocessor_count(x2d.device)))
        partial_dw = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        partial_db = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        layer_norm_bwd_kernel[(n_programs,)](
            dx, partial_dw, partial_db, dy2d, x2d, weight, mean, rstd,
            dy2d.stride(0), dy2d.stride(1), n_rows, n_cols, BLOCK=block, num_warps=num_warps,
        )
        return dx.reshape(ctx.x_shape), partial_dw[0].to(weight.dtype), partial_db[0].to(ctx.bias_dtype), None


def layer_norm(x, weight, bias, eps=1e-5):
    return LayerNormFunction.apply(x, weight.contiguous(), bias.contiguous(), eps)
