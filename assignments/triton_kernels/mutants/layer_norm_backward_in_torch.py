# mutant: part=layer_norm
# mistake: the backward pass is computed with torch operations on the host; only the forward launches a kernel
from reference_solution import *  # noqa: F401,F403
import reference_solution
import reference_solution.layer_normalization as _ln


class TorchBackwardLayerNorm(_ln.LayerNormFunction):
    @staticmethod
    def backward(ctx, dy):
        x2d, weight, mean, rstd = ctx.saved_tensors
        n_cols = x2d.shape[1]
        dy2d = dy.reshape(-1, n_cols).float()
        xhat = (x2d.float() - mean[:, None]) * rstd[:, None]
        g = dy2d * weight.float()
        dx = rstd[:, None] * (g - g.mean(dim=1, keepdim=True) - xhat * (g * xhat).mean(dim=1, keepdim=True))
        dweight = (dy2d * xhat).sum(dim=0).to(weight.dtype)
        dbias = dy2d.sum(dim=0).to(ctx.bias_dtype)
        return dx.to(x2d.dtype).reshape(ctx.x_shape), dweight, dbias, None


reference_solution.layer_normalization.LayerNormFunction = TorchBackwardLayerNorm
