import torch


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as torch.optim.AdamW.

    For each parameter θ with gradient g, at its step t (counted per parameter):
        θ ← θ · (1 − lr · λ)                         decay the weights, not the gradient
        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
        θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + eps)
    Parameters without a gradient are skipped and their step count does not advance.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state = {}  # param -> {"step": int, "exp_avg": m, "exp_avg_sq": v}
        ### END SOLUTION

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state.get(param)
            if state is None:
                state = self.state[param] = {
                    "step": 0,
                    "exp_avg": torch.zeros_like(param),
                    "exp_avg_sq": torch.zeros_like(param),
                }
            state["step"] += 1
            step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]

            param.mul_(1.0 - self.lr * self.weight_decay)
            exp_avg.lerp_(grad, 1.0 - beta1)  # m ← β₁ m + (1 − β₁) g
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)

            bias_correction1 = 1.0 - beta1**step
            bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)  # eps outside √
            param.addcdiv_(exp_avg, denom, value=-self.lr / bias_correction1)
        ### END SOLUTION

    def zero_grad(self):
        ### BEGIN SOLUTION
        for param in self.params:
            param.grad = None
        ### END SOLUTION
