"""LoRA: Low-Rank Adaptation (Hu et al., 2021).

Fine-tuning changes a pretrained weight W (out x in) by some ΔW. LoRA bets that ΔW has low
rank and trains it as a product B @ A with A (r x in) and B (out x r), r << min(in, out):

    y = x W^T + (alpha / r) * x A^T B^T

W stays frozen, so the optimizer holds state only for r * (in + out) numbers. B starts at
zero, so the adapted model starts exactly at the pretrained one; A starts random (Kaiming
uniform, as nn.Linear initialises its weight) so that the gradient of B is not zero too.
Scaling by alpha / r keeps the size of the update roughly independent of r, so a learning
rate tuned at one rank still works at another.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        if r <= 0:
            raise ValueError(f"LoRA rank r must be positive, got {r}")
        self.base = base
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)  # the pretrained weight is frozen
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, **factory))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, **factory))  # (out, r): starts at ΔW = 0
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own initialisation
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        ### END SOLUTION

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) B @ A, (out, in)."""
        ### BEGIN SOLUTION
        return (self.lora_B @ self.lora_A) * self.scaling
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = self.base(x)
        if self.merged:  # ΔW already lives in base.weight
            return out
        # Dropout acts on the adapter's input only: the frozen path sees x unchanged.
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)  # (..., out)
        return out + update * self.scaling
        ### END SOLUTION

    @torch.no_grad()
    def merge(self):
        """Fold ΔW into the base weight: inference then costs one matmul, as without LoRA."""
        ### BEGIN SOLUTION
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True
        ### END SOLUTION

    @torch.no_grad()
    def unmerge(self):
        """Take ΔW back out of the base weight (to keep training, or to swap adapters)."""
        ### BEGIN SOLUTION
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False
        ### END SOLUTION
