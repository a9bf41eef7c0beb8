# mutant: part=layernorm
# mistake: eps added outside the square root: 1 / (sqrt(var) + eps) instead of 1 / sqrt(var + eps)
from reference_solution import *  # noqa: F401,F403
import torch

from reference_solution.layernorm import LayerNormFunction as _Reference


class LayerNormFunction(_Reference):
    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        centered = x - x.mean(dim=-1, keepdim=True)
        var = (centered * centered).mean(dim=-1, keepdim=True)
        rstd = 1.0 / (var.sqrt() + eps)
        x_hat = centered * rstd
        ctx.save_for_backward(x_hat, weight, rstd)
        return x_hat * weight + bias
