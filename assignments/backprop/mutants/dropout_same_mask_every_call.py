# mutant: part=dropout
# mistake: seeds its own generator in every forward, so every call drops the same elements
from reference_solution import *  # noqa: F401,F403
import torch


class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, training=True):
        ctx.active = training and p > 0
        if not ctx.active:
            return x.clone()
        coins = torch.rand(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
        keep = coins >= p
        ctx.scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        return x * keep * ctx.scale

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.active:
            return grad_out, None, None
        (keep,) = ctx.saved_tensors
        return grad_out * keep * ctx.scale, None, None
