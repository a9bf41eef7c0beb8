import math

import torch

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
TANH_COEF = 0.044715  # the cubic term of GELU's tanh approximation (Hendrycks & Gimpel, 2016)


class ReLUFunction(torch.autograd.Function):
    """relu(x) = max(x, 0); its derivative is 1 where x > 0 and 0 elsewhere (0 at x = 0, as torch)."""

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        out = x.clamp_min(0)
        # out > 0 exactly where x > 0, so the output is all the backward needs.
        ctx.save_for_backward(out)
        return out
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad_out * (out > 0)
        ### END SOLUTION


class GELUFunction(torch.autograd.Function):
    """gelu(x) = x Φ(x), Φ the standard normal CDF.

    exact ("none"): Φ(x) = ½(1 + erf(x/√2)),  gelu'(x) = Φ(x) + x φ(x),  φ(x) = e^{-x²/2}/√(2π)
    "tanh":         gelu(x) ≈ ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³)
                    gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh²u) √(2/π)(1 + 3·0.044715x²)
    """

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ### BEGIN SOLUTION
        if approximate == "none":
            out = x * (0.5 * (1.0 + torch.erf(x * SQRT_HALF)))
        elif approximate == "tanh":
            inner = SQRT_2_OVER_PI * (x + TANH_COEF * x * x * x)
            out = 0.5 * x * (1.0 + torch.tanh(inner))
        else:
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        return out
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        if ctx.approximate == "none":
            cdf = 0.5 * (1.0 + torch.erf(x * SQRT_HALF))
            pdf = torch.exp(-0.5 * x * x) * INV_SQRT_2PI
            local_grad = cdf + x * pdf
        else:
            x_sq = x * x
            tanh_inner = torch.tanh(SQRT_2_OVER_PI * x * (1.0 + TANH_COEF * x_sq))
            d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_COEF * x_sq)
            local_grad = 0.5 * (1.0 + tanh_inner) + 0.5 * x * (1.0 - tanh_inner * tanh_inner) * d_inner
        return grad_out * local_grad, None
        ### END SOLUTION
