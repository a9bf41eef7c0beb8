# mutant: part=dropout
# mistake: draws one coin per row (the mask has shape (..., 1)), so a row is kept or dropped whole
from reference_solution import *  # noqa: F401,F403
import torch


class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, training=True):
        ctx.active = training and p > 0
        if not ctx.active:
            return x.clone()
        keep = (torch.rand(x.shape[:-1] + (1,), dtype=x.dtype) >= p).expand_as(x)
        ctx.scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        return x * keep * ctx.scale

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.active:
            return grad_out, None, None
        (keep,) = ctx.saved_tensors
        return grad_out * keep * ctx.scale, None, None
