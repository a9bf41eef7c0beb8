# mutant: part=layer_norm
# mistake: the backward reads dy as if it were contiguous (row stride N, column stride 1), which is
# wrong for the stride-0 gradient y.sum().backward() hands it
from reference_solution import *  # noqa: F401,F403
import reference_solution
import reference_solution.layer_normalization as _ln
import torch


class ContiguousDyLayerNorm(_ln.LayerNormFunction):
    @staticmethod
    def backward(ctx, dy):
        x2d, weight, mean, rstd = ctx.saved_tensors
        n_rows, n_cols = x2d.shape
        dy2d = dy.reshape(n_rows, n_cols)
        dx = torch.empty_like(x2d)
        block, num_warps = _ln._layer_norm_block(n_cols, x2d.element_size())
        n_programs = max(1, min(n_rows, 4 * _ln.multiprocessor_count(x2d.device)))
        partial_dw = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        partial_db = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        _ln.layer_norm_bwd_kernel[(n_programs,)](
            dx, partial_dw, partial_db, dy2d, x2d, weight, mean, rstd,
            n_cols, 1, n_rows, n_cols, BLOCK=block, num_warps=num_warps,
        )
        dweight = partial_dw.sum(dim=0).to(weight.dtype)
        dbias = partial_db.sum(dim=0).to(ctx.bias_dtype)
        return dx.reshape(ctx.x_shape), dweight, dbias, None


reference_solution.layer_normalization.LayerNormFunction = ContiguousDyLayerNorm
