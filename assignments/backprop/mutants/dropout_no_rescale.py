# mutant: part=dropout
# mistake: zeroes dropped elements but forgets to scale the survivors by 1 / (1 − p)
from reference_solution import *  # noqa: F401,F403
import torch


class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, training=True):
        ctx.active = training and p > 0
        if not ctx.active:
            return x.clone()
        keep = torch.rand_like(x) >= p
        ctx.save_for_backward(keep)
        return x * keep

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.active:
            return grad_out, None, None
        (keep,) = ctx.saved_tensors
        return grad_out * keep, None, None
