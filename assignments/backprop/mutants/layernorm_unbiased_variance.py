# mutant: part=layernorm
# mistake: uses x.var(dim=-1), the unbiased variance (divides by D − 1); LayerNorm divides by D
from reference_solution import *  # noqa: F401,F403
import torch

from reference_solution.layernorm import LayerNormFunction as _Reference


class LayerNormFunction(_Reference):
    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        rstd = torch.rsqrt(x.var(dim=-1, keepdim=True) + eps)
        x_hat = (x - x.mean(dim=-1, keepdim=True)) * rstd
        ctx.save_for_backward(x_hat, weight, rstd)
        return x_hat * weight + bias
