"""LSQ's quantizer (Esser et al., 2019, "Learned Step Size Quantization"): the fake-quant
function with the paper's gradients, and the module that owns a learned step size."""

import math

import torch
import torch.nn as nn


class LSQFunction(torch.autograd.Function):
    """v_hat = round(clip(v / s, -qn, qp)) * s, with LSQ's gradients (paper, eq. 3).

    Inside the range (-qn < v/s < qp, strictly) the rounding is treated as the identity
    (straight-through), so d v_hat / d v = 1 and d v_hat / d s = round(v/s) - v/s. At or beyond
    an end, v_hat is the constant -qn*s or qp*s: d v_hat / d v = 0 and d v_hat / d s = -qn or qp.
    The step size's gradient is multiplied by g.
    """

    @staticmethod
    def forward(ctx, v, s, qn, qp, g):
        ### BEGIN SOLUTION
        v_over_s = v / s                                   # a division, not v * (1/s)
        codes = torch.round(torch.clamp(v_over_s, -qn, qp))  # torch.round: half to even
        ctx.save_for_backward(v_over_s, codes)
        ctx.s_shape, ctx.qn, ctx.qp, ctx.g = s.shape, qn, qp, g
        return codes * s
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        v_over_s, codes = ctx.saved_tensors
        inside = (v_over_s > -ctx.qn) & (v_over_s < ctx.qp)
        grad_v = grad_out * inside
        # Outside the range the clamped code is exactly -qn or qp, which is the gradient there.
        d_vhat_d_s = torch.where(inside, codes - v_over_s, codes)
        # s was broadcast over v: its gradient sums over every element that shares it.
        grad_s = (grad_out * d_vhat_d_s).sum_to_size(ctx.s_shape) * ctx.g
        return grad_v, grad_s, None, None, None
        ### END SOLUTION


def lsq_quantize(v, s, qn, qp, g):
    """Fake-quantize v with step size s (a tensor broadcastable to v) on the integer grid
    [-qn, qp]; the gradient reaching s is scaled by g."""
    ### BEGIN SOLUTION
    return LSQFunction.apply(v, s, qn, qp, g)
    ### END SOLUTION


class LSQQuantizer(nn.Module):
    """A uniform quantizer whose step size s is learned.

    bits: 2..8. signed: codes in [-2^(b-1), 2^(b-1)-1] (weights), else [0, 2^b-1] (activations
    after a ReLU). per_channel: one step size per index of `channel_dim`. batch_dim: for
    activations, the dimension that counts samples; it is left out of N in g = 1/sqrt(N*qp).
    """

    def __init__(self, bits, signed, per_channel=False, channel_dim=0, batch_dim=None):
        super().__init__()
        ### BEGIN SOLUTION
        if not 2 <= bits <= 8:
            raise ValueError(f"bits must be between 2 and 8, got {bits}")
        self.bits, self.signed = bits, signed
        self.per_channel, self.channel_dim, self.batch_dim = per_channel, channel_dim, batch_dim
        self.qn = 2 ** (bits - 1) if signed else 0
        self.qp = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        # Created now so that an optimizer built before the first forward already holds it;
        # the first forward sets its value (and, per channel, its shape).
        self.s = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))  # saved with the state_dict
        ### END SOLUTION

    @torch.no_grad()
    def initialize(self, v):
        """s = 2 * mean|v| / sqrt(qp), over the whole tensor or per channel."""
        ### BEGIN SOLUTION
        if self.per_channel:
            channel_dim = self.channel_dim % v.dim()
            other_dims = [d for d in range(v.dim()) if d != channel_dim]
            mean_abs = v.abs().mean(dim=other_dims, keepdim=True)  # (1, .., C, .., 1)
        else:
            mean_abs = v.abs().mean()                               # ()
        init = 2 * mean_abs / math.sqrt(self.qp)
        self.s.data = init.clamp_min(torch.finfo(init.dtype).tiny)  # same Parameter object
        self.initialized.fill_(True)
        ### END SOLUTION

    def grad_scale(self, v):
        """g = 1 / sqrt(N * qp); N counts the elements of one sample that share one step size."""
        ### BEGIN SOLUTION
        elements_per_step = v.numel() // self.s.numel()
        if self.batch_dim is not None:
            elements_per_step //= v.shape[self.batch_dim]
        return 1.0 / math.sqrt(elements_per_step * self.qp)
        ### END SOLUTION

    def forward(self, v):
        ### BEGIN SOLUTION
        if not self.initialized:
            self.initialize(v)
        return lsq_quantize(v, self.s, self.qn, self.qp, self.grad_scale(v))
        ### END SOLUTION

    def extra_repr(self):
        return f"bits={self.bits}, signed={self.signed}, per_channel={self.per_channel}"
