# mutant: part=activations
# mistake: GELU backward re-runs the forward under enable_grad and asks autograd for the gradient
from reference_solution import *  # noqa: F401,F403
import math

import torch


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return _gelu(x, approximate)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_()
            (grad_x,) = torch.autograd.grad(_gelu(leaf, ctx.approximate), leaf, grad_out)
        return grad_x, None
