import torch


class LayerNormFunction(torch.autograd.Function):
    """y = x̂ · w + b with x̂ = (x − μ) / √(σ² + eps), statistics over the last dimension.

    Backward, with g = dL/dy · w and means over the last dimension (D features):
        dL/dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(σ² + eps)
        dL/dw = Σ over rows of dL/dy · x̂,   dL/db = Σ over rows of dL/dy
    So the backward needs x̂ (one tensor the size of x), w, and 1/√(σ² + eps) per row: nothing
    else is saved.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        ### BEGIN SOLUTION
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        centered = x - mean
        # Two passes (mean first, then the mean of squares of the centred values): E[x²] − E[x]²
        # cancels catastrophically when |mean| >> std.
        var = (centered * centered).mean(dim=-1, keepdim=True)  # (..., 1), biased as torch
        rstd = torch.rsqrt(var + eps)  # (..., 1); eps inside the square root
        x_hat = centered * rstd  # (..., D)
        ctx.save_for_backward(x_hat, weight, rstd)
        return x_hat * weight + bias
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        x_hat, weight, rstd = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            g = grad_out * weight  # (..., D) = dL/dx̂
            mean_g = g.mean(dim=-1, keepdim=True)
            mean_gx = (g * x_hat).mean(dim=-1, keepdim=True)
            grad_x = (g - mean_g - x_hat * mean_gx) * rstd
        rows = grad_out.reshape(-1, grad_out.shape[-1])  # (rows, D)
        if ctx.needs_input_grad[1]:
            grad_weight = (rows * x_hat.reshape(rows.shape)).sum(dim=0)
        if ctx.needs_input_grad[2]:
            grad_bias = rows.sum(dim=0)
        return grad_x, grad_weight, grad_bias, None
        ### END SOLUTION
