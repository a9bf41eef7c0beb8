# mutant: part=activations
# mistake: GELU backward ignores `approximate` and always uses the exact (erf) derivative
from reference_solution import *  # noqa: F401,F403
import math

import torch


class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.save_for_backward(x)
        if approximate == "tanh":
            return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_out * (cdf + x * pdf), None
