# mutant: part=layernorm
# mistake: saves x, x̂ and the output for backward (three tensors the size of x) instead of one
from reference_solution import *  # noqa: F401,F403
import torch


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        x_hat = (x - mean) * rstd
        out = x_hat * weight + bias
        ctx.save_for_backward(x, x_hat, out, weight, mean, rstd)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, x_hat, out, weight, mean, rstd = ctx.saved_tensors
        g = grad_out * weight
        grad_x = (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True)) * rstd
        rows = grad_out.reshape(-1, grad_out.shape[-1])
        return grad_x, (rows * x_hat.reshape(rows.shape)).sum(0), rows.sum(0), None
