# mutant: part=cross_entropy
# mistake: divides by N (all rows) instead of the number of rows whose target is not ignore_index
from reference_solution import *  # noqa: F401,F403
import torch


class CrossEntropyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100):
        valid = target != ignore_index
        safe_target = target.masked_fill(~valid, 0)
        shifted = logits - logits.amax(dim=1, keepdim=True)
        sum_exp = shifted.exp().sum(dim=1, keepdim=True)
        nll = (sum_exp.log() - shifted.gather(1, safe_target[:, None])).squeeze(1)
        ctx.save_for_backward(shifted.exp() / sum_exp, safe_target, valid)
        return torch.where(valid, nll, 0.0).sum() / len(target)

    @staticmethod
    def backward(ctx, grad_loss):
        probs, safe_target, valid = ctx.saved_tensors
        grad = probs.clone()
        grad[torch.arange(len(grad)), safe_target] -= 1
        grad *= torch.where(valid, grad_loss / len(valid), 0.0)[:, None]
        return grad, None, None
