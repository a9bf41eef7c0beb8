# mutant: part=linear
# mistake: flattens x with .view(), which raises on non-contiguous inputs (use .reshape())
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
        grad_x = grad_out @ weight
        grad_weight = grad_rows.t() @ x.view(-1, x.shape[-1])
        grad_bias = grad_rows.sum(0) if ctx.has_bias else None
        return grad_x, grad_weight, grad_bias
