import torch


class CrossEntropyFunction(torch.autograd.Function):
    """Mean negative log-likelihood of `target` under softmax(logits), over non-ignored rows.

    With m = max_j z_j (subtracted so exp never overflows):
        log p_t = z_t − m − log Σ_j exp(z_j − m)
    and the gradient of one row's loss is softmax(z) − onehot(t), scaled by 1/n_valid.
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100):
        ### BEGIN SOLUTION
        valid = target != ignore_index  # (N,)
        safe_target = target.masked_fill(~valid, 0)  # ignored rows point at class 0, then masked
        shifted = logits - logits.amax(dim=1, keepdim=True)  # (N, C), every entry <= 0
        exp_shifted = shifted.exp()
        sum_exp = exp_shifted.sum(dim=1, keepdim=True)  # (N, 1), in [1, C]: log is safe
        target_shifted = shifted.gather(1, safe_target[:, None])  # (N, 1)
        nll = (sum_exp.log() - target_shifted).squeeze(1)  # (N,) = −log p_target
        n_valid = valid.sum()
        loss = torch.where(valid, nll, 0.0).sum() / n_valid  # NaN when every row is ignored, as torch
        probs = exp_shifted / sum_exp  # (N, C) softmax, what the backward needs
        ctx.save_for_backward(probs, safe_target, valid, n_valid)
        return loss
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_loss):
        ### BEGIN SOLUTION
        probs, safe_target, valid, n_valid = ctx.saved_tensors
        grad = probs.clone()
        grad.scatter_add_(1, safe_target[:, None], torch.full_like(probs[:, :1], -1.0))  # p − onehot
        scale = grad_loss / n_valid  # d(mean)/d(row loss)
        grad.mul_(torch.where(valid, scale, 0.0)[:, None])
        return grad, None, None
        ### END SOLUTION
