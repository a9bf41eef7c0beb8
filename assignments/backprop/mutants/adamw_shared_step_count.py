# mutant: part=adamw
# mistake: one step counter for the whole optimizer, so a parameter that skipped a step gets the
#          wrong bias correction (torch counts steps per parameter)
from reference_solution import *  # noqa: F401,F403
import torch

from reference_solution import AdamW as _Reference


class AdamW(_Reference):
    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        self.t = getattr(self, "t", 0) + 1
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state.setdefault(param, {"m": torch.zeros_like(param), "v": torch.zeros_like(param)})
            param.mul_(1 - self.lr * self.weight_decay)
            state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
            state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            m_hat = state["m"] / (1 - beta1**self.t)
            v_hat = state["v"] / (1 - beta2**self.t)
            param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
