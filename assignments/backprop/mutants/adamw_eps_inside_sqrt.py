# mutant: part=adamw
# mistake: eps inside the square root, √(v̂ + eps), instead of √v̂ + eps
from reference_solution import *  # noqa: F401,F403
import torch

from reference_solution import AdamW as _Reference


class AdamW(_Reference):
    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state.setdefault(param, {"step": 0, "m": torch.zeros_like(param), "v": torch.zeros_like(param)})
            state["step"] += 1
            param.mul_(1 - self.lr * self.weight_decay)
            state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
            state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            m_hat = state["m"] / (1 - beta1 ** state["step"])
            v_hat = state["v"] / (1 - beta2 ** state["step"])
            param.sub_(self.lr * m_hat / (v_hat + self.eps).sqrt())
