import torch


class LinearFunction(torch.autograd.Function):
    """y = x Wᵀ + b for x of shape (..., in) and W of shape (out, in).

    Backward, with g = dL/dy of shape (..., out):
        dL/dx = g W                      (..., in)
        dL/dW = Σ over rows of gᵀ x      (out, in): every leading dimension is a row
        dL/db = Σ over rows of g         (out,)
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = x @ weight.t()  # (..., out)
        if bias is not None:
            out = out + bias
        return out
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        # Fold every leading dimension into one "rows" dimension; reshape (not view) copes with
        # non-contiguous inputs and gradients.
        grad_rows = grad_out.reshape(-1, grad_out.shape[-1])  # (rows, out)
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ weight  # (..., in)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_rows.t() @ x.reshape(-1, x.shape[-1])  # (out, rows) @ (rows, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_rows.sum(dim=0)  # (out,)
        return grad_x, grad_weight, grad_bias
        ### END SOLUTION
