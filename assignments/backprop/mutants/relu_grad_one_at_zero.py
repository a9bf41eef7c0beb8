# mutant: part=activations
# mistake: ReLU backward passes the gradient where x >= 0, so relu'(0) = 1 instead of torch's 0
from reference_solution import *  # noqa: F401,F403
import torch


class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * (x >= 0)
