# mutant: part=layernorm
# mistake: variance as E[x²] − E[x]² in one pass, which cancels catastrophically when |mean| ≫ std
from reference_solution import *  # noqa: F401,F403
import torch

from reference_solution.layernorm import LayerNormFunction as _Reference


class LayerNormFunction(_Reference):
    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        mean = x.mean(dim=-1, keepdim=True)
        var = (x * x).mean(dim=-1, keepdim=True) - mean * mean
        rstd = torch.rsqrt(var.clamp_min(0) + eps)
        x_hat = (x - mean) * rstd
        ctx.save_for_backward(x_hat, weight, rstd)
        return x_hat * weight + bias
