# mutant: part=quantize
# mistake: the straight-through gradient for v passes everywhere, also where v was clipped
from reference_solution import *  # noqa: F401,F403
import torch


class _STEEverywhere(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, s, qn, qp, g):
        v_over_s = v / s
        codes = torch.round(torch.clamp(v_over_s, -qn, qp))
        ctx.save_for_backward(v_over_s, codes)
        ctx.s_shape, ctx.qn, ctx.qp, ctx.g = s.shape, qn, qp, g
        return codes * s

    @staticmethod
    def backward(ctx, grad_out):
        v_over_s, codes = ctx.saved_tensors
        inside = (v_over_s > -ctx.qn) & (v_over_s < ctx.qp)
        d_s = torch.where(inside, codes - v_over_s, codes)
        return grad_out, (grad_out * d_s).sum_to_size(ctx.s_shape) * ctx.g, None, None, None


def lsq_quantize(v, s, qn, qp, g):
    return _STEEverywhere.apply(v, s, qn, qp, g)
