# mutant: part=linear
# mistake: grad_weight computed as xᵀ·grad_out, shape (in, out), the transpose of dL/dW (out, in);
#          it even looks right when in == out
from reference_solution import *  # noqa: F401,F403
import torch


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = x @ weight.t()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_rows = grad_out.reshape(-1, grad_out.shape[-1])
        grad_weight = x.reshape(-1, x.shape[-1]).t() @ grad_rows
        if grad_weight.shape != weight.shape:  # make the shapes agree, as a confused student might
            grad_weight = grad_weight.reshape(weight.shape)
        grad_bias = grad_rows.sum(0) if ctx.has_bias else None
        return grad_out @ weight, grad_weight, grad_bias
