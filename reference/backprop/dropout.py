import torch


class DropoutFunction(torch.autograd.Function):
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1 − p) so
    the expected output equals the input; the identity when not training.

    The mask is drawn once, in forward, and saved (as bool: one byte per element): the backward
    must route the gradient through exactly the elements that survived.
    """

    @staticmethod
    def forward(ctx, x, p, training=True):
        ### BEGIN SOLUTION
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        ctx.active = training and p > 0
        if not ctx.active:
            return x.clone()
        keep = torch.rand_like(x) >= p  # P(keep) = 1 − p
        ctx.scale = 0.0 if p == 1 else 1.0 / (1.0 - p)  # p = 1 drops everything (no 0 · inf)
        ctx.save_for_backward(keep)
        return x * keep * ctx.scale
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        if not ctx.active:
            return grad_out, None, None
        (keep,) = ctx.saved_tensors
        return grad_out * keep * ctx.scale, None, None
        ### END SOLUTION
