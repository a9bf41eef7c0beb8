# mutant: part=dropout
# mistake: backward draws a new random mask instead of reusing the one drawn in forward
from reference_solution import *  # noqa: F401,F403
import torch


class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, training=True):
        ctx.p, ctx.active = p, training and p > 0
        if not ctx.active:
            return x.clone()
        keep = torch.rand_like(x) >= p
        return x * keep / (1 - p) if p < 1 else x * 0

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.active:
            return grad_out, None, None
        p = ctx.p
        keep = torch.rand_like(grad_out) >= p
        return (grad_out * keep / (1 - p) if p < 1 else grad_out * 0), None, None
